"""Preloads applied at every registry start (idempotent): env, services, seeds, UI templates.

``QHANA_ENV_<NAME>`` entries overwrite the stored value; ``PRECONFIGURED_SERVICES`` adds
services whose ``serviceId`` is new; ``INITIAL_PLUGIN_SEEDS`` adds missing seeds;
``UI_TEMPLATE_PATHS`` (``:``-separated files or folders of ``*.json``) adds templates whose
name is new. A malformed entry or file is logged and skipped; it never stops the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qhana.db import registry_store as store
from qhana.logging import get_logger
from qhana.settings import Settings

__all__ = ["apply_preloads", "parse_seed_list", "template_files"]

log = get_logger("qhana.registry.preload")


def parse_seed_list(raw: str) -> list[str]:
    """A JSON array of URLs, or one URL per line."""
    text = raw.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            log.warning("preload.bad_seeds", value=text[:200])
            return []
        return [str(v).strip() for v in value if isinstance(v, str) and v.strip()]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _services(raw: str) -> list[dict[str, str]]:
    if not raw.strip():
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        log.warning("preload.bad_services", value=raw[:200])
        return []
    out = []
    for entry in value if isinstance(value, list) else []:
        if not isinstance(entry, dict) or not entry.get("serviceId") or not entry.get("url"):
            log.warning("preload.service_skipped", entry=str(entry)[:200])
            continue
        sid = str(entry["serviceId"])
        out.append(
            {
                "service_id": sid,
                "name": str(entry.get("name") or sid),
                "description": str(entry.get("description") or ""),
                "url": str(entry["url"]),
            }
        )
    return out


def template_files(paths: str) -> list[Path]:
    files: list[Path] = []
    for part in (p.strip() for p in paths.split(":")):
        if not part:
            continue
        path = Path(part)
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


def _tab_values(tab: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(tab["name"]),
        "description": str(tab.get("description", "")),
        "icon": tab.get("icon"),
        "location": str(tab["location"]),
        "sort_key": int(tab.get("sort_key", 0)),
        "group_key": str(tab.get("group_key", "")),
        "filter_string": json.dumps(tab["filter"]) if tab.get("filter") is not None else "",
    }


async def _load_template(conn: AsyncConnection, path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if await store.template_by_name(conn, doc["name"]) is not None:
        return
    tabs = [_tab_values(t) for t in doc.get("tabs", [])]
    values = {
        "name": str(doc["name"]),
        "description": str(doc.get("description", "")),
        "tags": [str(t) for t in doc.get("tags", [])],
    }
    row = await store.add_template(conn, values)
    for tab in tabs:
        await store.add_tab(conn, {"template_id": row["id"], **tab})
    log.info("preload.template", name=doc["name"], tabs=len(tabs))


async def apply_preloads(engine: AsyncEngine, settings: Settings) -> None:
    async with engine.begin() as conn:
        for name, value in settings.registry_env.items():
            await store.put_env(conn, name, value)
        for service in _services(settings.preconfigured_services):
            await store.add_service(conn, service)
        for url in parse_seed_list(settings.initial_plugin_seeds):
            await store.add_seed(conn, url)
    for path in template_files(settings.ui_template_paths):
        try:
            async with engine.begin() as conn:
                await _load_template(conn, path)
        except Exception as exc:  # one bad file must not stop the registry
            log.warning("preload.template_failed", path=str(path), error=repr(exc))
