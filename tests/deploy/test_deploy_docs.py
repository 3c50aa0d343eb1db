"""docs/deploy.md stays in step with the files it describes."""

from __future__ import annotations

import re

from ._paths import DOCS, NATS_USERS, REPO


def test_every_nats_user_is_in_the_permissions_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(qhana-[\w<>-]+)` \|", text, re.MULTILINE))
    for user in NATS_USERS:
        generic = re.sub(r"^qhana-worker-\w+$", "qhana-worker-<queue>", user)
        assert generic in rows, f"{user} is missing from the permissions table"


def test_every_deploy_path_mentioned_exists() -> None:
    text = DOCS.read_text(encoding="utf-8")
    paths = set(re.findall(r"`(deploy/[\w./-]+)`", text))
    assert paths, "the document names the deployment files"
    for path in paths:
        assert (REPO / path.rstrip("/")).exists(), path


def test_the_official_nats_chart_is_referenced() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "helm repo add nats https://nats-io.github.io/k8s/helm/charts/" in text
    assert "nats/nats" in text
