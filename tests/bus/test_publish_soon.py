"""Events published without waiting (``publish_event_soon``) are all stored, in order, once,
before ``settle_events`` returns; a lost ack is repaired by publishing again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import nats
from nats.js.api import StreamConfig

from qhana.bus import start_nats_server, subjects
from qhana.bus.publish import publish_event_soon, settle_events
from qhana.wire import LogLine, parse_event


def _line(n: int) -> LogLine:
    return LogLine(
        task_id=5, at=datetime.now(UTC), cmd_seq=5, attempt=1, event_id=f"5.5.1.{n}", text=f"{n}"
    )


async def test_soon_events_are_stored_in_order_and_once(tmp_path: Path) -> None:
    async with start_nats_server(tmp_path / "js") as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await js.add_stream(
                StreamConfig(name=subjects.EVENTS_STREAM, subjects=["qhana.events.task.*"])
            )
            pending = [await publish_event_soon(js, _line(n)) for n in range(50)]
            # an ack that never came (lost reply, timeout): the event is published again
            lost: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            lost.set_exception(TimeoutError())
            pending.append((_line(50), lost))  # type: ignore[arg-type]
            pending.append((_line(3), lost))  # type: ignore[arg-type]  # stored: deduped
            await settle_events(js, pending)
            info = await js.stream_info(subjects.EVENTS_STREAM)
            assert info.state.messages == 51
            texts = []
            for seq in range(1, 52):
                raw = await js.get_msg(subjects.EVENTS_STREAM, seq)
                event = parse_event(raw.data or b"")
                assert isinstance(event, LogLine)
                texts.append(event.text)
            assert texts == [str(n) for n in range(51)]
        finally:
            await nc.close()
