"""Catalogue entries as registry plugin resources (spec §2.2 + ``runners``, ``lastAvailable``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qhana.db.catalogue import CatalogueEntry
from qhana.edge.plugin_json import process_path, ui_path
from qhana.edge.registry_api.links import Api, Link
from qhana.edge.registry_api.paging import Collection
from qhana.wire import DataSpec

__all__ = ["PLUGINS", "PluginView", "plugin_item", "plugin_self", "views"]

PLUGINS = Collection(
    path="/plugins/",
    resource_type="plugin",
    default_sort="name,-version",
    sort_keys=frozenset({"id", "name", "version"}),
    action_rel=("post",),
)


@dataclass(frozen=True, slots=True)
class PluginView:
    id: int
    entry: CatalogueEntry
    href: str
    entry_href: str
    ui_href: str

    @property
    def name(self) -> str:
        return self.entry.info.name

    @property
    def version(self) -> str:
        return self.entry.info.version

    @property
    def title(self) -> str:
        return self.entry.info.title or self.entry.info.name

    @property
    def type(self) -> str:
        return self.entry.info.type.value

    @property
    def tags(self) -> list[str]:
        return list(self.entry.info.tags)

    @property
    def available(self) -> bool:
        return self.entry.available

    def last_available(self, now: datetime) -> datetime | None:
        """Now while a live runner offers it, else the registry's last sighting."""
        return now if self.available else self.entry.last_available


def views(entries: list[CatalogueEntry], origin: str) -> list[PluginView]:
    out = []
    for entry in entries:
        info = entry.info
        href = info.api_root or entry.href or f"{origin}/plugins/{info.identifier}/"
        out.append(
            PluginView(
                id=entry.id,
                entry=entry,
                href=href,
                entry_href=info.entry_href or origin + process_path(info),
                ui_href=info.ui_href or origin + ui_path(info),
            )
        )
    return out


def _mime(value: str) -> str:
    start, _, end = value.partition("/")
    return f"{start or '*'}/{end or '*'}"


def _data(spec: DataSpec, *, output: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dataType": _mime(spec.data_type),
        "contentType": [_mime(c) for c in spec.content_type],
        "required": spec.required,
    }
    if not output:
        out["parameter"] = spec.parameter or ""
    elif spec.name:  # upstream stores but drops it (spec §9.5)
        out["name"] = spec.name
    return out


def plugin_self(api: Api, view: PluginView) -> Link:
    return api.link(
        f"/plugins/{view.id}/",
        "plugin",
        key={"pluginId": str(view.id)},
        schema="Plugin",
        name=f"{view.title} ({view.version})",
    )


def plugin_item(api: Api, view: PluginView, now: datetime | None = None) -> dict[str, Any]:
    info = view.entry.info
    last = view.last_available(now or datetime.now(UTC))
    data = {
        "self": plugin_self(api, view),
        "href": view.href,
        "identifier": info.name,
        "version": info.version,
        "title": view.title,
        "description": info.description,
        "pluginType": view.type,
        "tags": list(info.tags),
        "entryPoint": {
            "href": view.entry_href,
            "uiHref": view.ui_href,
            "dataInput": [_data(d, output=False) for d in info.data_input],
            "dataOutput": [_data(d, output=True) for d in info.data_output],
            "pluginDependencies": [
                d.model_dump(exclude_none=True, mode="json") for d in info.plugin_dependencies
            ],
        },
        "runners": list(view.entry.runners),
        "lastAvailable": last.isoformat() if last else None,
    }
    return {"links": [PLUGINS.first_link(api, "up")], "data": data}
