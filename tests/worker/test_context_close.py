"""A settled attempt stops waiting for the acks of its events (nothing left in nats-py's
response map), and a handler that keeps running cannot publish any more."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest

from qhana.bus import start_nats_server, subjects
from qhana.bus.streams import apply_streams
from qhana.errors import TaskCancelled
from qhana.worker.context import WorkerContext


async def test_close_drops_the_acks_still_awaited(tmp_path: Path) -> None:
    async with start_nats_server(tmp_path / "js") as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await apply_streams(js)
            files = await js.object_store(subjects.FILES_BUCKET)
            ctx = WorkerContext(
                js=js, files=files, task_id=7, cmd_seq=7, attempt=1, state={}, uploads={}
            )
            await ctx.log("one")
            await ctx.log("two")
            assert len(nc._resp_map) == 2  # published, acks not awaited yet
            ctx.close()
            await asyncio.sleep(0)  # the cancelled futures' done callbacks run (call_soon)
            assert nc._resp_map == {}
            with pytest.raises(TaskCancelled):
                await ctx.log("after the attempt")
        finally:
            await nc.close()
