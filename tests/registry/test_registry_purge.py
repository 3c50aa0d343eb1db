"""Purge: long-unavailable plugins disappear; time the registry was down does not count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
from conftest import StackFactory
from sqlalchemy import update
from support.registry import Watch, announce, info, withdraw

from qhana.db import create_engine, upgrade_database
from qhana.db.catalogue import list_catalogue, record_announce, record_withdraw
from qhana.db.purge import observed_seconds, purge_unavailable, session_alive, start_session
from qhana.db.tables import plugins
from qhana.wire import Announce

NOW = datetime(2026, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_observed_seconds_counts_only_sessions() -> None:
    sessions = [(NOW - 100 * HOUR, NOW - 99 * HOUR), (NOW - 2 * HOUR, NOW)]
    assert observed_seconds(NOW - 200 * HOUR, NOW, sessions) == 3 * 3600
    assert observed_seconds(NOW - 90 * HOUR, NOW, sessions) == 2 * 3600
    assert observed_seconds(NOW - HOUR, NOW, sessions) == 3600
    overlapping = [(NOW - 3 * HOUR, NOW - HOUR), (NOW - 2 * HOUR, NOW)]  # two registries
    assert observed_seconds(NOW - 5 * HOUR, NOW, overlapping) == 3 * 3600


async def test_no_purge_for_registry_downtime(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'purge.db'}"
    await upgrade_database(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            sent = NOW - 10 * 24 * HOUR
            message = Announce(
                runner_id="r",
                queues=["q"],
                plugins=[info("gone"), info("kept")],
                heartbeat_interval_s=1,
                sent_at=sent,
            )
            await record_announce(conn, message, sent)
            await record_withdraw(conn, "r", sent)
            await conn.execute(
                update(plugins)
                .where(plugins.c.name == "kept")
                .values(last_available=NOW - HOUR / 2)
            )
            # the registry ran for one hour after the withdraw, then was down until an hour ago
            old = await start_session(conn, sent - HOUR)
            await session_alive(conn, old, sent + HOUR)
            await session_alive(conn, await start_session(conn, NOW - HOUR), NOW)
            assert await purge_unavailable(conn, NOW, 3 * 24 * 3600) == []  # 10 days, but 2h seen
            assert await purge_unavailable(conn, NOW, 1.5 * 3600) == ["gone@v1-0-0"]
            left = await list_catalogue(conn, include_unavailable=True)
        assert [e.info.name for e in left] == ["kept"]
    finally:
        await engine.dispose()


async def test_purge_after_removes_unavailable_plugin(stack_factory: StackFactory) -> None:
    stack = await stack_factory(plugin_purge_after="1", plugin_purge_interval=1)
    nc = await nats.connect(stack.nats_url)
    url = f"{stack.base}api/plugins/?name=ephemeral&include-unavailable=true"
    try:
        async with Watch(stack.nats_url, stack.http) as watch:
            await announce(nc, "fake-purge", [info("ephemeral")])
            await watch.until(url, lambda p: p["data"]["collectionSize"] == 1)
            await withdraw(nc, "fake-purge")
            await watch.until(url, lambda p: p["data"]["collectionSize"] == 0, timeout_s=30)
            # the live plugins of the stack's own worker are never purged
            assert (await watch.get(f"{stack.base}api/plugins/?name=hello-world"))["embedded"]
    finally:
        await nc.close()
