"""``CancelView``: the worker's local view of cancel markers (no KV round trip per task)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.kv import KeyValue

from qhana.bus import start_nats_server, subjects
from qhana.worker.cancel_view import CancelView


@dataclass
class Bus:
    edge: Client  # writes markers and control messages, like the edge's cancel route
    worker: Client
    edge_kv: KeyValue
    worker_kv: KeyValue

    async def cancel(self, task_id: int) -> None:
        """What ``POST /tasks/<id>/cancel`` does: the marker, then the control message."""
        await self.edge_kv.put(subjects.cancelled_marker(task_id), b"Cancelled by request.")
        await self.edge.publish(subjects.cancel(task_id), b"Cancelled by request.")


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[Bus]:
    async with start_nats_server(tmp_path / "js") as server:
        edge = await nats.connect(server.url)
        worker = await nats.connect(server.url)
        edge_kv = await edge.jetstream().create_key_value(
            KeyValueConfig(bucket=subjects.STATE_BUCKET, history=1)
        )
        worker_kv = await worker.jetstream().key_value(subjects.STATE_BUCKET)
        try:
            yield Bus(edge, worker, edge_kv, worker_kv)
        finally:
            await edge.close()
            await worker.close()


async def test_markers_before_and_after_start_without_round_trips(bus: Bus) -> None:
    await bus.cancel(3)
    await bus.edge_kv.put("7", b"{}")  # step state of a task: not a marker
    view = CancelView(bus.worker, bus.worker_kv)
    await view.start()
    try:
        assert view.current  # one local server: a missing id proves there is no marker
        assert await view.is_cancelled(3)
        assert not await view.is_cancelled(7)
        await bus.cancel(9)
        await bus.edge.flush()
        await bus.worker.flush()  # the worker's socket has the marker now
        assert await view.is_cancelled(9)
        assert not await view.is_cancelled(10)
        assert view.fallbacks == 0
    finally:
        await view.stop()
    assert not view.current  # unsubscribed: never trusted again
    assert not await view.is_cancelled(11)
    assert view.fallbacks == 1


async def test_control_message_reaches_the_running_attempt(bus: Bus) -> None:
    seen: list[int] = []
    view = CancelView(bus.worker, bus.worker_kv, on_cancel=seen.append)
    await view.start()
    try:
        await bus.cancel(5)
        await bus.edge.flush()
        await bus.worker.flush()
        assert await view.is_cancelled(5)
        for _ in range(100):  # the subscription callbacks run on the next loop turns
            if seen:
                break
            await bus.worker.flush()
        assert seen == [5]
    finally:
        await view.stop()


async def test_after_a_reconnect_it_asks_the_bucket_until_it_has_reloaded(bus: Bus) -> None:
    view = CancelView(bus.worker, bus.worker_kv)
    await view.start()
    try:
        # a marker the view missed (as if written while the connection was down)
        await bus.edge_kv.put(subjects.cancelled_marker(21), b"x")
        await bus.worker.flush()
        view._ids.discard(21)
        bus.worker.stats["reconnects"] += 1  # what nats-py counts after a reconnect
        assert not view.current
        assert await view.is_cancelled(21)  # answered by the KV bucket, reload started
        assert view.fallbacks == 1
        syncing = view._syncing
        if syncing is not None:
            await syncing
        assert view.current
        assert not await view.is_cancelled(23)
        assert view.fallbacks == 1
    finally:
        await view.stop()


async def test_deleted_marker_and_a_foreign_stream_server(bus: Bus) -> None:
    await bus.cancel(4)
    view = CancelView(bus.worker, bus.worker_kv)
    await view.start()
    try:
        await bus.edge_kv.delete(subjects.cancelled_marker(4))
        await bus.edge.flush()
        await bus.worker.flush()
        assert not await view.is_cancelled(4)
        # a stream that lives on another server (a leaf node, a cluster): never trusted
        bus.worker._server_info["server_name"] = "somewhere-else"
        await view.sync()
        assert not view.current
        before = view.fallbacks
        assert not await view.is_cancelled(12)
        assert view.fallbacks == before + 1
    finally:
        await view.stop()
