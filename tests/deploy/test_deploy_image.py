"""deploy/Containerfile (deploy/Dockerfile links to it) and deploy/healthcheck.py."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ._paths import DEPLOY, ENTRYPOINT, HEALTHCHECK, REPO

CONTAINERFILE = DEPLOY / "Containerfile"

# Top-level paths of the repository layout (shared/DESIGN.md) the image may copy.
REPO_PATHS = {"pyproject.toml", "README.md*", "qhana/", "plugins/", "streams/", "migrations/"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        result.append((keyword.upper(), " ".join(rest.split())))
    return result


def final_stage(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(items) if keyword == "FROM"]
    return items[starts[-1] :]


def args_of(items: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for kw, rest in items if kw == keyword]


@pytest.fixture(scope="module")
def containerfile() -> list[tuple[str, str]]:
    return instructions(CONTAINERFILE)


def test_dockerfile_is_an_identical_copy() -> None:
    assert (DEPLOY / "Dockerfile").read_bytes() == CONTAINERFILE.read_bytes()
    ignore = DEPLOY / "Containerfile.dockerignore"
    assert (DEPLOY / "Dockerfile.dockerignore").read_bytes() == ignore.read_bytes()


def test_base_image_is_python_311_slim(containerfile: list[tuple[str, str]]) -> None:
    assert "PYTHON_IMAGE=python:3.11-slim" in args_of(containerfile, "ARG")
    assert all(rest.startswith("${PYTHON_IMAGE}") for rest in args_of(containerfile, "FROM"))


def test_installs_the_project_with_pip_and_known_extras(
    containerfile: list[tuple[str, str]],
) -> None:
    assert 'pip install ".${EXTRAS:+[$EXTRAS]}"' in args_of(containerfile, "RUN")
    (extras,) = [arg.split("=", 1)[1] for arg in args_of(containerfile, "ARG") if "EXTRAS=" in arg]
    with (REPO / "pyproject.toml").open("rb") as fh:
        optional = tomllib.load(fh)["project"]["optional-dependencies"]
    assert all(extra in optional for extra in extras.split(",") if extra)


def test_the_data_files_the_image_needs_are_installed() -> None:
    """streams.yaml and every migration reach /opt/venv/share/qhana through pip install."""
    with (REPO / "pyproject.toml").open("rb") as fh:
        data_files = tomllib.load(fh)["tool"]["setuptools"]["data-files"]
    installed = {Path(source) for sources in data_files.values() for source in sources}
    needed = {Path("streams/streams.yaml"), Path("migrations/env.py")}
    needed |= {p.relative_to(REPO) for p in (REPO / "migrations" / "versions").glob("*.py")}
    assert needed <= installed, f"missing from [tool.setuptools.data-files]: {needed - installed}"


def test_runtime_is_non_root_and_exposes_the_edge(containerfile: list[tuple[str, str]]) -> None:
    runtime = final_stage(containerfile)
    users = args_of(runtime, "USER")
    assert users, "the runtime stage must switch user"
    assert users[-1] not in {"root", "0"} and not users[-1].startswith("0:")
    assert args_of(runtime, "EXPOSE") == ["5005"]
    env = " ".join(args_of(runtime, "ENV"))
    assert "QHANA_HTTP_HOST=0.0.0.0" in env
    assert "QHANA_HTTP_PORT=5005" in env


def test_healthcheck_and_entrypoint(containerfile: list[tuple[str, str]]) -> None:
    runtime = final_stage(containerfile)
    (healthcheck,) = args_of(runtime, "HEALTHCHECK")
    assert '"/app/healthcheck.py"' in healthcheck
    (entrypoint,) = args_of(runtime, "ENTRYPOINT")
    assert entrypoint.endswith('"/app/entrypoint.sh"]')
    assert not args_of(runtime, "CMD"), "no CMD: CONTAINER_MODE picks the role"


def test_copies_exist_and_pass_the_dockerignore(containerfile: list[tuple[str, str]]) -> None:
    ignore = (DEPLOY / "Containerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    for copy in args_of(containerfile, "COPY"):
        parts = [part for part in copy.split() if not part.startswith("--")]
        if copy.startswith("--from="):
            continue
        for source in parts[:-1]:
            if source.startswith("deploy/"):
                assert (REPO / source).is_file(), source
            else:
                assert source in REPO_PATHS, f"{source} is not in the repository layout"
            assert any(_matches(source, pattern) for pattern in allowed), (
                f"{source} is excluded by Containerfile.dockerignore"
            )


def _matches(source: str, pattern: str) -> bool:
    """A COPY source (may be a glob itself) against a .dockerignore pattern."""
    source, pattern = source.rstrip("/"), pattern.rstrip("/")
    return fnmatch.fnmatch(source, pattern) or fnmatch.fnmatch(pattern, source)


def test_plugin_folders_of_the_entrypoint_exist_in_the_image(
    containerfile: list[tuple[str, str]],
) -> None:
    script = ENTRYPOINT.read_text(encoding="utf-8")
    image = " ".join(rest for _, rest in final_stage(containerfile))
    for folder in ("plugins", "git-plugins", "extra-plugins"):
        assert f"$APP_DIR/{folder}" in script
        assert f"/app/{folder}" in image


# --- healthcheck.py ------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    answers = {"/healthz": 200, "/readyz": 503}

    def do_GET(self) -> None:
        self.send_response(self.answers.get(self.path, 404))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def edge_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def healthcheck(tmp_path: Path, port: int, *args: str, role: str | None = None) -> int:
    if role is not None:
        (tmp_path / "qhana-role").write_text(role + "\n")
    done = subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args],
        env={"QHANA_HTTP_PORT": str(port), "TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode


def test_healthcheck_gets_healthz_by_default(tmp_path: Path, edge_port: int) -> None:
    assert healthcheck(tmp_path, edge_port) == 0
    assert healthcheck(tmp_path, edge_port, role="edge") == 0


def test_healthcheck_checks_a_given_path(tmp_path: Path, edge_port: int) -> None:
    assert healthcheck(tmp_path, edge_port, "/readyz") == 1
    assert healthcheck(tmp_path, edge_port, "/missing") == 1


def test_healthcheck_fails_when_nothing_listens(tmp_path: Path) -> None:
    assert healthcheck(tmp_path, 1, role="edge") == 1  # port 1: connection refused


def test_roles_without_http_are_healthy(tmp_path: Path) -> None:
    assert healthcheck(tmp_path, 1, role="worker") == 0
    assert healthcheck(tmp_path, 1, "/readyz", role="worker") == 1  # explicit path checks
