"""One shared keep-alive ticker: every running message is touched well inside ``ack_wait``."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from conftest import FIXTURE_PLUGINS, StackFactory
from nats.aio.msg import Msg

from qhana.worker.keepalive import KeepAlive


class FakeMsg:
    def __init__(self) -> None:
        self.touched = 0

    async def in_progress(self) -> None:
        self.touched += 1


async def test_due_messages_are_touched_once_per_third() -> None:
    keep = KeepAlive(ack_wait_s=3.0)  # due after 1 s
    old, new, gone = FakeMsg(), FakeMsg(), FakeMsg()
    for msg in (old, new, gone):
        keep.track(cast(Msg, msg))
    keep.release(cast(Msg, gone))
    now = asyncio.get_running_loop().time()  # time.monotonic on Linux
    keep._touched[id(old)] = (cast(Msg, old), now - 1.5)
    assert await keep.touch_due(now) == 1
    assert (old.touched, new.touched, gone.touched) == (1, 0, 0)
    assert await keep.touch_due(now + 0.5) == 0  # just touched
    assert await keep.touch_due(now + 1.2) == 2
    assert len(keep) == 2


async def test_ticker_touches_a_message_before_ack_wait() -> None:
    keep = KeepAlive(ack_wait_s=0.3)
    msg = FakeMsg()
    keep.track(cast(Msg, msg))
    ticker = asyncio.create_task(keep.run())
    try:
        await asyncio.sleep(0.35)
        assert msg.touched >= 1
    finally:
        ticker.cancel()


async def test_task_longer_than_ack_wait_is_not_redelivered(stack_factory: StackFactory) -> None:
    stack = await stack_factory(plugin_folders=str(FIXTURE_PLUGINS), ack_wait_s=1.0)
    task_id = await stack.submit("wait-demo@v1-0-0", seconds="3")
    doc = await stack.finished(task_id)
    assert doc["status"] == "SUCCESS", doc
    kinds: list[tuple[str, dict[str, Any]]] = [item async for item in stack.events(task_id)]
    started = [data for kind, data in kinds if kind == "started"]
    assert len(started) == 1 and started[0]["attempt"] == 1, started
