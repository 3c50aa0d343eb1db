"""Events published without waiting (``publish_event_soon``) are all stored, in order, once,
before ``settle_events`` returns; a lost ack is repaired by publishing again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from qhana.bus import publish, start_nats_server, subjects
from qhana.bus.publish import publish_event_soon, settle_events
from qhana.errors import BusUnavailable
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
            pending.append((_line(50), lost))
            pending.append((_line(3), lost))  # stored: deduped
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
            assert nc._resp_map == {}  # every ack's token is gone
        finally:
            await nc.close()


async def test_an_event_no_stream_took_is_published_again_then_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "RETRY_FOR_S", 0.0)
    async with start_nats_server(tmp_path / "js") as server:
        nc = await nats.connect(server.url)
        try:
            pending = [await publish_event_soon(nc, _line(1))]  # no stream: no responders
            with pytest.raises(BusUnavailable, match="publishing log of task 5 failed"):
                await settle_events(nc, pending)
            # an error answer of the stream (here: the message is too large) is no ack either
            await nc.jetstream().add_stream(
                StreamConfig(
                    name=subjects.EVENTS_STREAM, subjects=["qhana.events.task.*"], max_msg_size=16
                )
            )
            pending = [await publish_event_soon(nc, _line(2))]
            with pytest.raises(BusUnavailable):
                await settle_events(nc, pending)
            assert nc._resp_map == {}
        finally:
            await nc.close()
