"""Upstream plugin metadata (``GET <plugin root>``) as our ``PluginInfo``, and URL rewrites."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

from pydantic import ValidationError

from qhana.wire import DataSpec, PluginDependencySpec, PluginInfo

__all__ = ["PLUGIN_KEYS", "UrlMap", "is_plugin", "plugin_info"]

PLUGIN_KEYS = ("name", "version", "title", "description", "type", "tags", "entryPoint")


class UrlMap:
    """``{regex: replacement}`` rules applied in order with ``re.sub`` (URL_MAP_*_LOCALHOST)."""

    def __init__(self, raw: str) -> None:
        rules: dict[str, str] = json.loads(raw) if raw.strip() else {}
        if not isinstance(rules, dict):
            raise ValueError("a URL map must be a JSON object {regex: replacement}")
        self._rules = [(re.compile(k), str(v)) for k, v in rules.items()]

    def __call__(self, url: str) -> str:
        for pattern, replacement in self._rules:
            url = pattern.sub(replacement, url)
        return url


def is_plugin(doc: Any) -> bool:
    return isinstance(doc, dict) and all(k in doc for k in PLUGIN_KEYS)


def _data(entries: Any, *, output: bool) -> list[DataSpec]:
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        content = entry.get("contentType") or []
        out.append(
            DataSpec(
                data_type=str(entry.get("dataType") or "*"),
                content_type=[str(c) for c in (content if isinstance(content, list) else [])],
                required=bool(entry.get("required", False)),
                parameter=None if output else str(entry.get("parameter") or ""),
                name=str(entry["name"]) if output and entry.get("name") else None,
            )
        )
    return out


def _dependencies(entries: Any) -> list[PluginDependencySpec]:
    out = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            out.append(PluginDependencySpec.model_validate(entry))
        except ValidationError:
            continue
    return out


def plugin_info(doc: dict[str, Any], plugin_url: str, to_local: UrlMap) -> PluginInfo:
    """Raises ``ValueError`` (incl. pydantic's) for metadata we cannot represent."""
    entry = doc["entryPoint"]
    if not isinstance(entry, dict):
        raise ValueError("entryPoint is not an object")
    tags = doc["tags"] if isinstance(doc["tags"], list) else []
    return PluginInfo(
        name=str(doc["name"]),
        version=str(doc["version"]),
        title=str(doc["title"] or doc["name"]),
        description=str(doc["description"] or ""),
        type=doc["type"],
        tags=[str(t) for t in tags],
        queue="seed",
        input_schema={},
        data_input=_data(entry.get("dataInput"), output=False),
        data_output=_data(entry.get("dataOutput"), output=True),
        plugin_dependencies=_dependencies(entry.get("pluginDependencies")),
        api_root=to_local(plugin_url),
        entry_href=to_local(urljoin(plugin_url, str(entry.get("href") or ""))),
        ui_href=to_local(urljoin(plugin_url, str(entry.get("uiHref") or ""))),
    )
