"""Every QHANA_ variable the deployment sets is one that qhana.settings.Settings reads.

pydantic-settings ignores unknown variables, so a misspelt name (QHANA_NATS_REPLICAS
instead of QHANA_NATS__REPLICAS) would silently fall back to the default.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import yaml
from pydantic import AliasChoices, BaseModel

from qhana.settings import Settings

from ._kustomize import build, containers
from ._paths import COMPOSE_FILE, DEPLOY, ENTRYPOINT, K8S_BASE, K8S_OVERLAY

PREFIX = "QHANA_"


def accepted_names() -> set[str]:
    """The environment variables Settings reads (upper case; pydantic-settings ignores case)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{PREFIX}{name}".upper())
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {f"{PREFIX}{name}__{sub}".upper() for sub in annotation.model_fields}
    return names


def compose_names() -> set[str]:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        compose = yaml.safe_load(fh)
    return {
        key for service in compose["services"].values() for key in service.get("environment", {})
    }


def k8s_names() -> set[str]:
    names: set[str] = set()
    for directory in (K8S_BASE, K8S_OVERLAY):
        for obj in build(directory):
            if obj["kind"] == "ConfigMap":
                names |= set(obj.get("data", {}))
            for container in containers(obj):
                names |= {item["name"] for item in container.get("env", [])}
    return names


def image_names() -> set[str]:
    containerfile = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    entrypoint = ENTRYPOINT.read_text(encoding="utf-8")
    return set(re.findall(r"\b(QHANA_\w+)=", containerfile + entrypoint))


@pytest.mark.parametrize(
    "source", [compose_names, k8s_names, image_names], ids=["compose", "k8s", "image"]
)
def test_deployment_variables_are_settings(source: Callable[[], set[str]]) -> None:
    used = {name for name in source() if name.startswith(PREFIX)}
    assert used, "found no QHANA_ variables"
    unknown = sorted(name for name in used if name.upper() not in accepted_names())
    assert not unknown, f"not read by qhana.settings.Settings: {unknown}"


def test_the_check_knows_the_nested_nats_names() -> None:
    names = accepted_names()
    assert {"QHANA_NATS_URL", "QHANA_NATS__REPLICAS", "QHANA_NATS__PASSWORD"} <= names


def test_upstream_names_the_entrypoint_relies_on_are_settings() -> None:
    assert {"PLUGIN_FOLDERS", "GIT_PLUGINS", "QHANA_GIT_PLUGINS_DIR"} <= accepted_names()
