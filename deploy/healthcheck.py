"""Container health check of the `qhana` image (stdlib only; installed as /app/healthcheck.py).

    python /app/healthcheck.py            GET /healthz of the edge in this container
    python /app/healthcheck.py /readyz    GET that path instead (compose uses /readyz)

The image's HEALTHCHECK runs it without a path. Only roles that serve HTTP (edge, up)
have an endpoint; for the others -- the entrypoint notes the role in
${TMPDIR:-/tmp}/qhana-role -- it reports "no HTTP endpoint" and succeeds, so a worker
started from the same image is not marked unhealthy. An explicit path always checks.

Port from QHANA_HTTP_PORT (default 5005); exit 0 on a 2xx answer, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

HTTP_ROLES = {"edge", "up", ""}
TIMEOUT_S = 3.0


def current_role() -> str:
    """The role the entrypoint started, or "" when it left no note."""
    note = Path(os.environ.get("TMPDIR") or "/tmp") / "qhana-role"
    try:
        return note.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def check(path: str) -> int:
    port = os.environ.get("QHANA_HTTP_PORT", "5005")
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if 200 <= status < 300:
        print(f"healthy: {url}: {status}")
        return 0
    print(f"unhealthy: {url}: {status}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        return check(argv[1])
    role = current_role()
    if role not in HTTP_ROLES:
        print(f"healthy: role {role} has no HTTP endpoint")
        return 0
    return check("/healthz")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
