"""SQL of the registry API's own resources: seeds, services, env entries, UI templates, tabs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from qhana.db.tables import env_entries, seeds, services, ui_template_tabs, ui_templates
from qhana.db.upsert import insert_ignore

__all__ = [
    "add_seed",
    "add_service",
    "add_tab",
    "add_template",
    "delete_env",
    "delete_seed",
    "delete_service",
    "delete_tab",
    "delete_template",
    "get_env",
    "get_seed",
    "get_service",
    "get_tab",
    "get_template",
    "list_env",
    "list_seeds",
    "list_services",
    "list_tabs",
    "list_templates",
    "put_env",
    "seed_count",
    "template_by_name",
    "update_service",
    "update_tab",
    "update_template",
]

Row = dict[str, Any]


def _rows(result: Any) -> list[Row]:
    return [dict(r) for r in result.mappings()]


async def _one(conn: AsyncConnection, query: Any) -> Row | None:
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row is not None else None


# --- seeds ---


async def list_seeds(conn: AsyncConnection) -> list[Row]:
    return _rows(await conn.execute(select(seeds).order_by(seeds.c.id)))


async def seed_count(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(seeds)) or 0)


async def get_seed(conn: AsyncConnection, seed_id: int) -> Row | None:
    return await _one(conn, select(seeds).where(seeds.c.id == seed_id))


async def add_seed(conn: AsyncConnection, url: str) -> Row | None:
    """The new seed, or None when the URL is already a seed."""
    if not await insert_ignore(conn, seeds, {"url": url}):
        return None
    return await _one(conn, select(seeds).where(seeds.c.url == url))


async def delete_seed(conn: AsyncConnection, seed_id: int) -> Row | None:
    row = await get_seed(conn, seed_id)
    if row is not None:
        await conn.execute(delete(seeds).where(seeds.c.id == seed_id))
    return row


# --- services ---


async def list_services(conn: AsyncConnection) -> list[Row]:
    return _rows(await conn.execute(select(services).order_by(services.c.id)))


async def get_service(conn: AsyncConnection, service_id: str) -> Row | None:
    return await _one(conn, select(services).where(services.c.service_id == service_id))


async def add_service(conn: AsyncConnection, values: Mapping[str, str]) -> Row | None:
    """The new service, or None when its serviceId is taken."""
    if not await insert_ignore(conn, services, dict(values)):
        return None
    return await get_service(conn, values["service_id"])


async def update_service(conn: AsyncConnection, values: Mapping[str, str]) -> Row | None:
    sid = values["service_id"]
    await conn.execute(update(services).where(services.c.service_id == sid).values(**values))
    return await get_service(conn, sid)


async def delete_service(conn: AsyncConnection, service_id: str) -> None:
    await conn.execute(delete(services).where(services.c.service_id == service_id))


# --- env ---


async def list_env(conn: AsyncConnection) -> list[Row]:
    return _rows(await conn.execute(select(env_entries).order_by(env_entries.c.name)))


async def get_env(conn: AsyncConnection, name: str) -> Row | None:
    return await _one(conn, select(env_entries).where(env_entries.c.name == name))


async def put_env(conn: AsyncConnection, name: str, value: str) -> Row:
    """Upsert."""
    if not await insert_ignore(conn, env_entries, {"name": name, "value": value}):
        await conn.execute(
            update(env_entries).where(env_entries.c.name == name).values(value=value)
        )
    return {"name": name, "value": value}


async def delete_env(conn: AsyncConnection, name: str) -> None:
    await conn.execute(delete(env_entries).where(env_entries.c.name == name))


# --- templates and tabs ---


async def list_templates(conn: AsyncConnection) -> list[Row]:
    return _rows(await conn.execute(select(ui_templates).order_by(ui_templates.c.id)))


async def get_template(conn: AsyncConnection, template_id: int) -> Row | None:
    return await _one(conn, select(ui_templates).where(ui_templates.c.id == template_id))


async def template_by_name(conn: AsyncConnection, name: str) -> Row | None:
    return await _one(conn, select(ui_templates).where(ui_templates.c.name == name))


async def add_template(conn: AsyncConnection, values: Mapping[str, Any]) -> Row:
    result = await conn.execute(ui_templates.insert().values(**values))
    key = result.inserted_primary_key
    assert key is not None
    row = await get_template(conn, int(key[0]))
    assert row is not None
    return row


async def update_template(
    conn: AsyncConnection, template_id: int, values: Mapping[str, Any]
) -> Row | None:
    await conn.execute(
        update(ui_templates).where(ui_templates.c.id == template_id).values(**values)
    )
    return await get_template(conn, template_id)


async def delete_template(conn: AsyncConnection, template_id: int) -> Row | None:
    row = await get_template(conn, template_id)
    if row is not None:
        await conn.execute(
            delete(ui_template_tabs).where(ui_template_tabs.c.template_id == template_id)
        )
        await conn.execute(delete(ui_templates).where(ui_templates.c.id == template_id))
    return row


async def list_tabs(conn: AsyncConnection, template_id: int) -> list[Row]:
    query = (
        select(ui_template_tabs)
        .where(ui_template_tabs.c.template_id == template_id)
        .order_by(ui_template_tabs.c.sort_key, ui_template_tabs.c.id)
    )
    return _rows(await conn.execute(query))


async def get_tab(conn: AsyncConnection, tab_id: int) -> Row | None:
    return await _one(conn, select(ui_template_tabs).where(ui_template_tabs.c.id == tab_id))


async def add_tab(conn: AsyncConnection, values: Mapping[str, Any]) -> Row:
    result = await conn.execute(ui_template_tabs.insert().values(**values))
    key = result.inserted_primary_key
    assert key is not None
    row = await get_tab(conn, int(key[0]))
    assert row is not None
    return row


async def update_tab(conn: AsyncConnection, tab_id: int, values: Mapping[str, Any]) -> Row | None:
    await conn.execute(
        update(ui_template_tabs).where(ui_template_tabs.c.id == tab_id).values(**values)
    )
    return await get_tab(conn, tab_id)


async def delete_tab(conn: AsyncConnection, tab_id: int) -> Row | None:
    row = await get_tab(conn, tab_id)
    if row is not None:
        await conn.execute(delete(ui_template_tabs).where(ui_template_tabs.c.id == tab_id))
    return row
