"""The worker holds a task's ``started`` and one output for ``linger_s``: an attempt that
ends by then is one stored message (the ending event, with them folded in); anything else
releases them first, so every event keeps its order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from support.worker_context import worker_context

from qhana.bus import subjects
from qhana.bus.objects import load_output
from qhana.wire import Started, StepRequested, Succeeded, parse_event, unfold
from qhana.worker.context import WorkerContext

TASK = 7


class Seen:
    """The task's event messages in the order they were published (a core subscription)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def on_msg(self, msg: Msg) -> None:
        await self.queue.put(orjson.loads(msg.data))

    async def next(self) -> dict[str, object]:
        return await asyncio.wait_for(self.queue.get(), 5)

    def kinds(self) -> list[object]:
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait()["kind"])
        return items


@pytest.fixture
async def bus(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Client, WorkerContext, Seen]]:
    async with worker_context(tmp_path / "js", task_id=TASK, linger_s=request.param) as (nc, ctx):
        seen = Seen()
        await nc.subscribe(subjects.event(TASK), cb=seen.on_msg)
        await nc.flush()
        yield nc, ctx, seen


async def _stored(nc: Client) -> int:
    info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM)
    return int(info.state.messages)


async def _output(ctx: WorkerContext, text: str) -> None:
    await ctx.write_output(text, text, data_type="t/x", content_type="text/plain")


@pytest.mark.parametrize("bus", [30.0], indirect=True)
async def test_a_short_attempt_is_one_message(bus: tuple[Client, WorkerContext, Seen]) -> None:
    nc, ctx, seen = bus
    await ctx.emit_soon(Started(**ctx.event_fields(), runner_id="r"))
    await _output(ctx, "out")
    await ctx.emit(Succeeded(**ctx.event_fields()))
    message = await seen.next()
    assert seen.kinds() == [] and await _stored(nc) == 1
    parts = unfold(parse_event(orjson.dumps(message)))
    assert [p.kind for p in parts] == ["started", "output", "succeeded"]
    assert [p.event_id for p in parts] == ["7.7.1.1", "7.7.1.2", "7.7.1.3"]


@pytest.mark.parametrize("bus", [0.0], indirect=True)
async def test_no_linger_publishes_each_event(bus: tuple[Client, WorkerContext, Seen]) -> None:
    nc, ctx, seen = bus
    await ctx.emit_soon(Started(**ctx.event_fields(), runner_id="r"))
    await _output(ctx, "out")
    await ctx.emit(Succeeded(**ctx.event_fields()))
    await nc.flush()
    assert seen.kinds() == ["started", "output", "succeeded"]
    assert await _stored(nc) == 3


@pytest.mark.parametrize("bus", [0.05], indirect=True)
async def test_a_longer_attempt_shows_its_start(bus: tuple[Client, WorkerContext, Seen]) -> None:
    nc, ctx, seen = bus
    await ctx.emit_soon(Started(**ctx.event_fields(), runner_id="r"))
    assert (await seen.next())["kind"] == "started"  # released by the timer, not by an event
    await ctx.emit(Succeeded(**ctx.event_fields()))
    ending = await seen.next()
    assert ending["kind"] == "succeeded" and "started" not in ending
    assert await _stored(nc) == 2


@pytest.mark.parametrize("bus", [30.0], indirect=True)
async def test_other_events_keep_the_order(bus: tuple[Client, WorkerContext, Seen]) -> None:
    nc, ctx, seen = bus
    await ctx.emit_soon(Started(**ctx.event_fields(), runner_id="r"))
    await ctx.log("a line")
    await _output(ctx, "one")
    await _output(ctx, "two")
    await ctx.progress(50)
    await _output(ctx, "three")
    await ctx.emit(Succeeded(**ctx.event_fields()))
    await nc.flush()
    messages = [seen.queue.get_nowait() for _ in range(seen.queue.qsize())]
    assert [m["kind"] for m in messages] == [
        "started",
        "log",
        "output",
        "output",
        "progress",
        "succeeded",
    ]
    folded = messages[-1]["output"]
    assert isinstance(folded, dict) and folded["file"]["name"] == "three"
    assert "started" not in messages[-1]


@pytest.mark.parametrize("bus", [30.0], indirect=True)
async def test_a_step_request_releases_first(bus: tuple[Client, WorkerContext, Seen]) -> None:
    nc, ctx, seen = bus
    await ctx.emit_soon(Started(**ctx.event_fields(), runner_id="r"))
    await _output(ctx, "out")
    await ctx.emit(StepRequested(**ctx.event_fields(), step_id="next"))
    await nc.flush()
    assert seen.kinds() == ["started", "output", "step-requested"]
    assert await _stored(nc) == 3


@pytest.mark.parametrize("bus", [0.05], indirect=True)
async def test_close_drops_what_is_held(bus: tuple[Client, WorkerContext, Seen]) -> None:
    nc, ctx, seen = bus
    await ctx.emit_soon(Started(**ctx.event_fields(), runner_id="r"))
    ctx.close()  # settled (timeout, cancel): nothing of the attempt may follow
    await asyncio.sleep(0.15)  # past the linger: a timer left running would publish now
    await nc.flush()
    assert seen.kinds() == [] and await _stored(nc) == 0


@pytest.mark.parametrize("bus", [30.0], indirect=True)
async def test_a_folded_output_is_found_by_its_file_id(
    bus: tuple[Client, WorkerContext, Seen],
) -> None:
    nc, ctx, _ = bus
    await _output(ctx, "out")
    seq = await ctx.emit(Succeeded(**ctx.event_fields()))
    output = await load_output(nc.jetstream(), seq)  # the file id of a folded output
    assert output is not None and output.file.inline == b"out"
