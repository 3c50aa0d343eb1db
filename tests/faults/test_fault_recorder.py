"""The recorder goes away (restart) or loses its database (PostgreSQL lane): SQL catches up from
the stream afterwards, and no event is acked before its projection is committed."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from sqlalchemy.engine import make_url
from support.faults import (
    FAULT_PLUGINS,
    LOAD,
    full_only,
    report,
    submit_many,
    succeeded_events,
    tally,
    until_listed,
    until_recorder_idle,
    watch,
)
from support.roles import Roles, run_roles
from support.tcp_proxy import TcpProxy

from qhana.bus import subjects
from qhana.db import create_engine

SETTINGS = {
    "plugin_folders": str(FAULT_PLUGINS),
    "queue": "faults",
    "ack_wait_s": 5.0,
    "worker_concurrency": 8,
}


async def _recorder_state(roles: Roles) -> tuple[int, int, int]:
    """(stream last seq, recorder ack floor, events not yet acked by the recorder)."""
    nc = await nats.connect(roles.nats_url)
    try:
        js = nc.jetstream()
        stream = await js.stream_info(subjects.EVENTS_STREAM)
        info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.RECORDER_DURABLE)
        return (
            int(stream.state.last_seq),
            int(info.ack_floor.stream_seq),
            int(info.num_pending + info.num_ack_pending),
        )
    finally:
        await nc.close()


async def _restart_run(tmp_path: Path, database_url: str | None, batch: int, rounds: int) -> None:
    async with run_roles(tmp_path, database_url, **SETTINGS) as roles:
        await until_listed(roles.http, roles.base, LOAD)
        engine = create_engine(roles.settings.database_url)
        ids: list[int] = []
        try:
            async with (
                watch(roles.nats_url, roles.settings.database_url) as watcher,
                succeeded_events(roles.nats_url) as succeeded,
            ):
                for _ in range(rounds):
                    first = await submit_many(roles.http, roles.base, LOAD, batch, ids)
                    await watcher.until_count(LOAD, len(ids) - batch, running=True)
                    await roles.stop("recorder")  # mid-load
                    behind = await submit_many(roles.http, roles.base, LOAD, batch, ids)
                    await succeeded.until(first + behind)
                    lagging = await watcher.finished(behind)
                    assert lagging == {}, lagging  # the workers are done, SQL is not
                    roles.start_recorder(engine)
                await watcher.until_finished(ids, timeout_s=60 + len(ids))
                await until_recorder_idle(roles.nats_url)
                result = await tally(watcher.engine, ids, log_lines=2, outputs=1)
        finally:
            await engine.dispose()
        _, _, unacked = await _recorder_state(roles)
        assert unacked == 0
        doc = await _task_doc(roles, ids[-1])
    report("recorder restart", rounds, len(ids), result)
    assert result.succeeded == len(ids) and result.lost == 0, result
    assert result.clean, result
    assert doc["status"] == "SUCCESS" and doc["log"] == "working\ndone"
    assert doc["progress"]["value"] == 100 and len(doc["outputs"]) == 1, doc


async def _task_doc(roles: Roles, task_id: int) -> dict[str, object]:
    async with roles.http.get(f"{roles.base}tasks/{task_id}/") as resp:
        assert resp.status == 200
        doc: dict[str, object] = await resp.json()
        return doc


async def test_recorder_restart_short(tmp_path: Path, database_url: str | None) -> None:
    await _restart_run(tmp_path, database_url, batch=20, rounds=1)


@pytest.mark.slow
@full_only
@pytest.mark.timeout(600)
async def test_recorder_restart_full(tmp_path: Path, database_url: str | None) -> None:
    await _restart_run(tmp_path, database_url, batch=100, rounds=5)


async def _outage_run(tmp_path: Path, database_url: str, batch: int, outages: int) -> None:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    via_proxy = create_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    ids: list[int] = []
    try:
        async with run_roles(tmp_path, database_url, **SETTINGS) as roles:
            await until_listed(roles.http, roles.base, LOAD)
            await roles.stop("recorder")
            roles.start_recorder(via_proxy)  # only the recorder reaches SQL through the proxy
            async with (
                watch(roles.nats_url, database_url) as watcher,
                succeeded_events(roles.nats_url) as succeeded,
            ):
                for _ in range(outages):
                    await submit_many(roles.http, roles.base, LOAD, batch, ids)
                    await watcher.until_finished(ids)
                    await proxy.cut()
                    last_before, _, _ = await _recorder_state(roles)
                    during = await submit_many(roles.http, roles.base, LOAD, batch, ids)
                    await succeeded.until(during)
                    _, ack_floor, unacked = await _recorder_state(roles)
                    # nothing published during the outage was acked: it cannot be committed
                    assert ack_floor <= last_before, (ack_floor, last_before)
                    assert unacked > 0
                    assert await watcher.finished(during) == {}
                    await proxy.restore()
                    await watcher.until_finished(ids, timeout_s=60)
                await until_recorder_idle(roles.nats_url)
                result = await tally(watcher.engine, ids, log_lines=2, outputs=1)
            _, _, unacked = await _recorder_state(roles)
    finally:
        await via_proxy.dispose()
        await proxy.close()
    report("database unavailable (recorder)", outages, len(ids), result)
    assert unacked == 0
    assert result.succeeded == len(ids) and result.lost == 0, result
    assert result.clean, result


async def test_database_outage_short(tmp_path: Path, database_url: str | None) -> None:
    if database_url is None:
        pytest.skip("the database outage runs on the PostgreSQL lane")
    await _outage_run(tmp_path, database_url, batch=20, outages=1)


@pytest.mark.slow
@full_only
@pytest.mark.timeout(600)
async def test_database_outage_full(tmp_path: Path, database_url: str | None) -> None:
    if database_url is None:
        pytest.skip("the database outage runs on the PostgreSQL lane")
    await _outage_run(tmp_path, database_url, batch=100, outages=5)
