"""A settled attempt stops waiting for the acks of its events (nothing left in nats-py's
response map), and a handler that keeps running cannot publish any more."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.worker_context import worker_context

from qhana.errors import TaskCancelled


async def test_close_drops_the_acks_still_awaited(tmp_path: Path) -> None:
    async with worker_context(tmp_path / "js") as (nc, ctx):
        await ctx.log("one")
        await ctx.log("two")
        assert len(nc._resp_map) == 2  # published, acks not awaited yet
        ctx.close()
        await asyncio.sleep(0)  # the cancelled futures' done callbacks run (call_soon)
        assert nc._resp_map == {}
        with pytest.raises(TaskCancelled):
            await ctx.log("after the attempt")
