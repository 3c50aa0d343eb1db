"""Filters of ``GET /api/plugins/`` (spec §2.2), with 4xx for every malformed value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from multidict import MultiMapping
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from qhana.edge.registry_api.errors import MAX_ID, ApiError, unprocessable
from qhana.edge.registry_api.plugin_view import PluginView
from qhana.edge.registry_api.tab_filter import matches

__all__ = ["FILTER_KEYS", "PluginQuery", "mime_match", "parse_plugin_query", "version_key"]

FILTER_KEYS = (
    "include-unavailable",
    "plugin-id",
    "name",
    "version",
    "url",
    "type",
    "tags",
    "input-data-type",
    "input-content-type",
    "last-available-period",
    "template-tab",
)

Predicate = Callable[[PluginView], bool]


@dataclass
class PluginQuery:
    include_unavailable: bool = False
    template_tab: int | None = None
    predicates: list[Predicate] = field(default_factory=list)
    tab_expr: dict[str, Any] | None = None

    def apply(self, plugins: list[PluginView]) -> list[PluginView]:
        out = [p for p in plugins if self.include_unavailable or p.available]
        if self.template_tab is not None:
            out = [p for p in out if matches(self.tab_expr, p)]
        return [p for p in out if all(pred(p) for pred in self.predicates)]


def version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _int_param(query: MultiMapping[str], key: str) -> int | None:
    """An integer query parameter, clamped to the SQL INTEGER range; 422 if not an integer."""
    raw = query.get(key)
    if raw is None or raw == "":
        return None
    try:
        return max(-MAX_ID, min(MAX_ID, int(raw)))
    except ValueError:
        raise unprocessable("query", {key: ["Not a valid integer."]}) from None


def mime_match(pattern: str, value: str) -> bool:
    p_start, _, p_end = pattern.partition("/")
    v_start, _, v_end = value.partition("/")
    return all(
        p in ("", "*") or v in ("", "*") or p == v for p, v in ((p_start, v_start), (p_end, v_end))
    )


def _input_predicate(data_type: str, content_type: str) -> Predicate:
    def check(view: PluginView) -> bool:
        return any(
            mime_match(data_type, spec.data_type)
            and (
                content_type == "*/*" or any(mime_match(content_type, c) for c in spec.content_type)
            )
            for spec in view.entry.info.data_input
        )

    return check


def _version_predicate(raw: str, name: str | None) -> Predicate:
    try:
        Version(raw)
    except InvalidVersion:
        pass
    else:
        return lambda view: view.version == raw
    if not name:
        raise ApiError(400, "A version range filter requires the name parameter.")
    try:
        spec = SpecifierSet(",".join(raw.split()))
    except InvalidSpecifier:
        raise unprocessable("query", {"version": ["Not a valid version or specifier."]}) from None

    def check(view: PluginView) -> bool:
        try:
            return Version(view.version) in spec
        except InvalidVersion:
            return False

    return check


def _plugin_ids(raw: str) -> set[int]:
    parts = [p.strip() for p in raw.split(",")]
    if not parts or not all(p.isdecimal() for p in parts):
        raise ApiError(400, "The plugin-id parameter is in the wrong format!")
    return {int(p) for p in parts}


def _tags_predicate(raw: str) -> Predicate:
    tags = [t.strip() for t in raw.split(",") if t.strip()]
    must = {t for t in tags if not t.startswith("!")}
    never = {t[1:] for t in tags if t.startswith("!") and len(t) > 1}
    return lambda view: must <= set(view.tags) and not never & set(view.tags)


def _period_predicate(seconds: int, now: datetime) -> Predicate:
    since = now - timedelta(seconds=seconds)

    def check(view: PluginView) -> bool:
        last = view.last_available(now)
        return last is not None and last >= since

    return check


def parse_plugin_query(query: MultiMapping[str], now: datetime) -> PluginQuery:
    out = PluginQuery()
    out.include_unavailable = query.get("include-unavailable", "").lower() in ("1", "true", "yes")
    preds = out.predicates
    if raw := query.get("plugin-id"):
        ids = _plugin_ids(raw)
        preds.append(lambda v: v.id in ids)
    name = query.get("name") or None
    if name:
        preds.append(lambda v: v.name == name)
    if raw := query.get("version"):
        preds.append(_version_predicate(raw, name))
    if url := query.get("url"):
        preds.append(lambda v: v.href == url)
    if kind := query.get("type"):
        preds.append(lambda v: v.type == kind)
    if raw := query.get("tags"):
        preds.append(_tags_predicate(raw))
    data_type, content_type = query.get("input-data-type"), query.get("input-content-type")
    if data_type or content_type:
        preds.append(_input_predicate(data_type or "*/*", content_type or "*/*"))
    period = _int_param(query, "last-available-period")
    if period is not None and period > 0:
        preds.append(_period_predicate(period, now))
    out.template_tab = _int_param(query, "template-tab")
    return out
