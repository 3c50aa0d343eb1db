"""The recorder's batches: under a backlog it does not linger for more events (the first
event's ``num_pending`` says the batch fills at once)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig, StreamConfig

from qhana.bus import start_nats_server
from qhana.bus.pull import Puller
from qhana.db import create_engine
from qhana.recorder import service
from qhana.recorder.service import Recorder


async def test_a_backlog_fills_the_batch_without_lingering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "LINGER_S", 60.0)  # a linger would time the test out
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    async with start_nats_server(tmp_path / "js") as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="E", subjects=["e.>"]))
            await js.add_consumer("E", ConsumerConfig(durable_name="r"))
            for n in range(25):
                await js.publish("e.x", str(n).encode())
            puller = await Puller(nc, "E", "r").start()
            recorder = Recorder(nc, engine, batch=10)
            async with asyncio.timeout(10):
                first = await recorder._next_batch(puller, linger=True)
                second = await recorder._next_batch(puller, linger=True)
            assert [m.data for m in first + second] == [str(n).encode() for n in range(20)]
            await puller.close()
        finally:
            await nc.close()
            await engine.dispose()
