"""The edge's acked publishes (``qhana.bus.publish``) answer as ``JetStreamContext.publish``
does: the stream sequence, the stored one again for a repeated ``Nats-Msg-Id``, and the same
exceptions when the stream is away or refuses the message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import StreamConfig
from support.worker_context import accepted

from qhana.bus import publish, subjects
from qhana.bus.publish import publish_command, publish_event
from qhana.errors import BusUnavailable
from qhana.wire import TaskCommand


def _command(command_id: str) -> TaskCommand:
    return TaskCommand(
        command_id=command_id, plugin="p@v1", params={"a": 1}, submitted_at=datetime.now(UTC)
    )


async def test_sequence_and_dedupe(nc: Client) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=subjects.TASKS_STREAM, subjects=["qhana.tasks.>"]))
    await js.add_stream(StreamConfig(name=subjects.EVENTS_STREAM, subjects=["qhana.events.>"]))
    assert await publish_command(nc, "q", _command("c1")) == 1
    assert await publish_command(js, "q", _command("c2")) == 2  # a JetStream context works too
    assert await publish_command(nc, "q", _command("c1")) == 1  # stored once: its seq again
    assert await publish_event(nc, accepted(1, params={})) == 1
    assert await publish_event(js, accepted(1, params={})) == 1
    assert await publish_event(nc, accepted(2, params={})) == 2
    stored = await js.get_msg(subjects.TASKS_STREAM, 2)
    assert stored.headers == {"Nats-Msg-Id": "c2"}
    assert TaskCommand.model_validate_json(stored.data or b"").command_id == "c2"
    assert (await js.stream_info(subjects.TASKS_STREAM)).state.messages == 2


async def _failure(coro: object) -> BaseException:
    try:
        await coro  # type: ignore[misc]
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


async def test_errors_are_nats_pys(nc: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    js = nc.jetstream()
    monkeypatch.setattr(publish, "RETRY_FOR_S", 0.0)  # no retries of the missing stream
    subject = "qhana.tasks.q.p"
    ours = await _failure(publish._publish_once_only(nc, subject, b"{}", "m1", 1.0))
    theirs = await _failure(js.publish(subject, b"{}", timeout=1.0, headers={"Nats-Msg-Id": "m1"}))
    assert isinstance(ours, nats.js.errors.NoStreamResponseError)
    assert (type(ours), str(ours)) == (type(theirs), str(theirs))
    # a stream that refuses the message: an error answer, the same APIError subclass
    await js.add_stream(
        StreamConfig(name=subjects.TASKS_STREAM, subjects=["qhana.tasks.>"], max_msg_size=8)
    )
    ours = await _failure(publish._publish_once_only(nc, subject, b"x" * 64, "m2", 1.0))
    theirs = await _failure(
        js.publish(subject, b"x" * 64, timeout=1.0, headers={"Nats-Msg-Id": "m2"})
    )
    assert isinstance(ours, nats.js.errors.APIError)
    assert (type(ours), str(ours)) == (type(theirs), str(theirs))
    failed = await _failure(publish_command(nc, "q", _command("c3")))
    assert isinstance(failed, BusUnavailable)
    assert str(failed).startswith("publishing a command for p@v1 failed: ")


async def test_request_times_out_and_leaves_nothing_behind(nc: Client) -> None:
    assert publish._has_request_mux(nc)  # the cheap path is the one taken with this nats-py
    silent = await nc.subscribe("qhana.silent")  # receives, never answers
    failed = await _failure(publish._acked_publish(nc, "qhana.silent", b"x", "m1", 0.05))
    assert isinstance(failed, nats.errors.TimeoutError)
    assert str(failed) == "nats: timeout"
    assert (await silent.next_msg(timeout=1)).headers == {"Nats-Msg-Id": "m1"}

    async def _ack(msg: Msg) -> None:  # a stand-in stream: the payload is the sequence
        await msg.respond(b'{"stream":"S","seq":' + msg.data + b"}")

    await nc.subscribe("qhana.acks", cb=_ack)
    seqs = await asyncio.gather(
        *(publish._acked_publish(nc, "qhana.acks", b"%d" % n, f"m{n}", 1.0) for n in range(20))
    )
    assert seqs == list(range(20))
    assert nc._resp_map == {}  # every token removed, answered or timed out


async def test_without_the_request_mux_the_public_request(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "_has_request_mux", lambda _nc: False)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=subjects.TASKS_STREAM, subjects=["qhana.tasks.>"]))
    assert await publish_command(nc, "q", _command("c1")) == 1
    assert await publish_command(nc, "q", _command("c1")) == 1
    failed = await _failure(publish._acked_publish(nc, "qhana.nobody", b"x", "m", 1.0))
    assert isinstance(failed, nats.js.errors.NoStreamResponseError)
