"""The live catalogue: workers appear in seconds, vanish within 3 heartbeats, survive restarts.

Figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import nats
from conftest import FIXTURE_PLUGINS, StackFactory
from support.registry import Watch, announce, info
from support.stack import Stack, worker_process

from qhana.bus import subjects
from qhana.db import create_engine, upgrade_database
from qhana.db.catalogue import list_catalogue
from qhana.registry import run_registry

BEAT_S = 0.2
ENV = {"QHANA_HEARTBEAT_INTERVAL_S": str(BEAT_S)}
SLACK_S = 1.5  # scheduling slack on a loaded 2-core machine, on top of 3 heartbeats


def _runners(page: dict[str, Any]) -> list[list[str]]:
    return [e["data"]["runners"] for e in page.get("embedded", [])]


async def test_worker_listed_then_sigkill_unavailable(stack: Stack) -> None:
    url = f"{stack.base}api/plugins/?name=slow-demo"
    async with Watch(stack.nats_url, stack.http) as watch:
        spawned = time.monotonic()
        async with worker_process(
            stack.nats_url, "slow", FIXTURE_PLUGINS, QHANA_RUNNER_ID="w-kill", **ENV
        ) as worker:
            ready = time.monotonic()
            await watch.until(url, lambda p: _runners(p) == [["w-kill"]])
            listed = time.monotonic()
            print(
                f"\nworker spawn -> listed in /api/plugins/: {listed - spawned:.3f}s "
                f"(worker ready -> listed: {listed - ready:.3f}s)"
            )
            worker.kill()
            killed = time.monotonic()
            await watch.until(url, lambda p: p["data"]["collectionSize"] == 0)
            gone = time.monotonic() - killed
            print(f"worker SIGKILL -> unavailable: {gone:.3f}s (3 heartbeats = {3 * BEAT_S}s)")
            assert gone < 3 * BEAT_S + SLACK_S
        page = await watch.get(url + "&include-unavailable=true")
        [entry] = page["embedded"]
        assert entry["data"]["runners"] == []
        assert entry["data"]["lastAvailable"]


async def test_overlapping_workers_survivor_keeps_plugin(stack: Stack) -> None:
    url = f"{stack.base}api/plugins/?name=slow-demo"
    async with Watch(stack.nats_url, stack.http) as watch:
        async with (
            worker_process(
                stack.nats_url, "slow", FIXTURE_PLUGINS, QHANA_RUNNER_ID="w-a", **ENV
            ) as first,
            worker_process(stack.nats_url, "slow", FIXTURE_PLUGINS, QHANA_RUNNER_ID="w-b", **ENV),
        ):
            await watch.until(url, lambda p: _runners(p) == [["w-a", "w-b"]])
            first.kill()
            killed = time.monotonic()
            page = await watch.until(url, lambda p: _runners(p) == [["w-b"]])
            print(f"\none of two workers SIGKILLed -> dropped: {time.monotonic() - killed:.3f}s")
            assert page["data"]["collectionSize"] == 1  # still available, via the survivor
        # graceful stop of the survivor: withdrawn at once
        await watch.until(url, lambda p: p["data"]["collectionSize"] == 0)


async def _catalogue(db_url: str) -> set[tuple[str, tuple[str, ...]]]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            entries = await list_catalogue(conn, include_unavailable=True)
    finally:
        await engine.dispose()
    return {(e.info.identifier, tuple(e.runners)) for e in entries}


async def test_late_registry_rebuilds_same_catalogue(stack: Stack, tmp_path: Path) -> None:
    """A registry started after the workers, on an empty database, rebuilds the catalogue."""
    nc = await nats.connect(stack.nats_url)
    async with Watch(stack.nats_url, stack.http) as watch:
        await announce(nc, "fake-late", [info("late", tags=("fake",))])
        await watch.until(
            f"{stack.base}api/plugins/?name=late", lambda p: _runners(p) == [["fake-late"]]
        )
    fresh = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await upgrade_database(fresh)
    engine = create_engine(fresh)
    stop = asyncio.Event()
    changes = await nc.subscribe(subjects.REGISTRY_CHANGED)
    role = asyncio.create_task(
        run_registry(stack.settings.model_copy(update={"database_url": fresh}), engine, stop, nc=nc)
    )
    try:
        expected = await _catalogue(stack.database_url)
        started = time.monotonic()
        async with asyncio.timeout(30):
            while (got := await _catalogue(fresh)) != expected:
                await changes.next_msg(timeout=30)
        print(
            f"\nlate registry rebuilt {len(got)} plugins from the stream in "
            f"{time.monotonic() - started:.3f}s"
        )
    finally:
        stop.set()
        await asyncio.wait_for(role, 30)
        await engine.dispose()
        await nc.close()


async def test_stack_restart_keeps_catalogue_and_applies_preloads(
    stack_factory: StackFactory,
) -> None:
    services = json.dumps([{"serviceId": "qhana-backend", "url": "http://a/"}])
    stack = await stack_factory(registry_env={"MODE": "1"}, preconfigured_services=services)
    nc = await nats.connect(stack.nats_url)
    try:
        await announce(nc, "fake-restart", [info("kept", tags=("fake",))])
    finally:
        await nc.close()
    url = f"{stack.base}api/plugins/?include-unavailable=true&item-count=100"
    async with Watch(stack.nats_url, stack.http) as watch:
        before = await watch.until(url, lambda p: [["fake-restart"]] == _runners_of(p, "kept"))
    await stack.close()
    changed = json.dumps([{"serviceId": "qhana-backend", "url": "http://b/"}])
    again = await stack_factory(registry_env={"MODE": "2"}, preconfigured_services=changed)
    async with Watch(again.nats_url, again.http) as watch:
        after = await watch.until(
            url.replace(stack.base, again.base),
            lambda p: _summary(p) == _summary(before),
        )
        env = await watch.get(f"{again.base}api/env/?name=MODE")
        found = await watch.get(f"{again.base}api/services/")
    assert after["data"]["collectionSize"] == before["data"]["collectionSize"]
    assert [e["data"]["value"] for e in env["embedded"]] == ["2"]  # QHANA_ENV_* overwrite
    # PRECONFIGURED_SERVICES only adds new ids (as upstream): edits made over the API survive
    assert [s["data"]["url"] for s in found["embedded"]] == ["http://a/"]


def _runners_of(page: dict[str, Any], name: str) -> list[list[str]]:
    return [e["data"]["runners"] for e in page["embedded"] if e["data"]["identifier"] == name]


def _summary(page: dict[str, Any]) -> list[tuple[str, str, str, list[str]]]:
    return sorted(
        (
            e["data"]["self"]["resourceKey"]["pluginId"],
            e["data"]["identifier"],
            e["data"]["version"],
            e["data"]["runners"],
        )
        for e in page.get("embedded", [])
    )
