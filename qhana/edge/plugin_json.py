"""Plugin list entries and plugin metadata in the upstream runner's JSON shape."""

from __future__ import annotations

from typing import Any

from qhana.db.catalogue import CatalogueEntry
from qhana.wire import DataSpec, PluginInfo

__all__ = ["list_entry", "metadata_document", "process_path", "ui_path"]


def process_path(info: PluginInfo) -> str:
    return f"/plugins/{info.identifier}/process/"


def ui_path(info: PluginInfo) -> str:
    return f"/plugins/{info.identifier}/ui/"


def list_entry(entry: CatalogueEntry, base: str) -> dict[str, Any]:
    info = entry.info
    return {
        "name": info.name,
        "version": info.version,
        "identifier": info.identifier,
        "apiRoot": f"{base}/plugins/{info.identifier}/",
        "description": info.description,
        "tags": list(info.tags),
    }


def _data(spec: DataSpec, *, output: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dataType": spec.data_type,
        "contentType": list(spec.content_type),
        "required": spec.required,
    }
    if not output and spec.parameter is not None:
        out["parameter"] = spec.parameter
    if output and spec.name is not None:
        out["name"] = spec.name
    return out


def metadata_document(entry: CatalogueEntry, prefix: str = "") -> dict[str, Any]:
    """Upstream's metadata; hrefs root-relative (``prefix``: the path behind a proxy)."""
    info = entry.info
    return {
        "title": info.title,
        "description": info.description,
        "name": info.name,
        "version": info.version,
        "type": info.type.value,
        "tags": list(info.tags),
        "links": [{"type": link.type, "href": link.href} for link in info.links],
        "entryPoint": {
            "href": prefix + process_path(info),
            "uiHref": prefix + ui_path(info),
            "pluginDependencies": [
                d.model_dump(exclude_none=True, mode="json") for d in info.plugin_dependencies
            ],
            "dataInput": [_data(d, output=False) for d in info.data_input],
            "dataOutput": [_data(d, output=True) for d in info.data_output],
        },
        "runners": list(entry.runners),
        "lastAvailable": entry.last_available.isoformat() if entry.last_available else None,
    }
