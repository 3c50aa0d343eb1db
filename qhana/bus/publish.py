"""Publishing task events and commands to JetStream, with ``Nats-Msg-Id`` for dedupe."""

from __future__ import annotations

import asyncio

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck

from qhana.bus import subjects
from qhana.errors import BusUnavailable
from qhana.wire import TaskCommand, TaskEvent

__all__ = [
    "PendingEvent",
    "publish_command",
    "publish_event",
    "publish_event_soon",
    "settle_events",
]

# a stream without a leader (failover after a node died) answers with one of these
_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)
RETRY_FOR_S = 20.0


async def _publish_once_only(
    js: JetStreamContext, subject: str, payload: bytes, msg_id: str, timeout_s: float
) -> PubAck:
    """Publish, retrying transient failures with the same ``Nats-Msg-Id`` (bounded in time).

    A timed-out publish may still have been stored; the retry then gets the stored message's
    ack back (JetStream dedupe), so a failover never turns one command into two tasks.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETRY_FOR_S
    delay_s = 0.1
    while True:
        try:
            return await js.publish(
                subject, payload, timeout=timeout_s, headers={"Nats-Msg-Id": msg_id}
            )
        except _TRANSIENT:
            if loop.time() + delay_s > deadline:
                raise
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, 1.0)


async def publish_event(js: JetStreamContext, event: TaskEvent, timeout_s: float = 5.0) -> int:
    """Publish one event; returns its stream sequence. Duplicates (same event_id) are dropped."""
    try:
        ack = await _publish_once_only(
            js,
            subjects.event(event.task_id),
            event.model_dump_json().encode(),
            event.event_id,
            timeout_s,
        )
    except Exception as exc:
        raise BusUnavailable(
            f"publishing {event.kind} of task {event.task_id} failed: {exc}"
        ) from exc
    return int(ack.seq)


async def publish_command(
    js: JetStreamContext, queue: str, command: TaskCommand, timeout_s: float = 5.0
) -> int:
    """Publish a task command to its queue; returns its stream sequence."""
    try:
        ack = await _publish_once_only(
            js,
            subjects.task(queue, command.plugin),
            command.model_dump_json().encode(),
            command.command_id,
            timeout_s,
        )
    except Exception as exc:
        raise BusUnavailable(f"publishing a command for {command.plugin} failed: {exc}") from exc
    return int(ack.seq)


PendingEvent = tuple[TaskEvent, "asyncio.Future[PubAck]"]
"""An event published without waiting for its ack (``publish_event_soon``)."""


async def publish_event_soon(js: JetStreamContext, event: TaskEvent) -> PendingEvent:
    """Publish one event and return at once; ``settle_events`` waits for its ack.

    Events of one connection are stored in the order they were published, so a worker can
    publish ``started``, logs and outputs back to back and wait once, before the event that
    ends the attempt."""
    try:
        future = await js.publish_async(
            subjects.event(event.task_id),
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": event.event_id},
        )
    except Exception as exc:  # closed connection, too many stalled publishes
        raise BusUnavailable(
            f"publishing {event.kind} of task {event.task_id} failed: {exc}"
        ) from exc
    return event, future


async def settle_events(
    js: JetStreamContext, pending: list[PendingEvent], timeout_s: float = 5.0
) -> None:
    """Wait for the acks of ``pending``. An event whose publish failed or got no ack in time
    is published again with the same ``Nats-Msg-Id`` (so it is stored once); raises
    ``BusUnavailable`` when that fails too."""
    if not pending:
        return
    futures = [future for _, future in pending]
    _, late = await asyncio.wait(futures, timeout=timeout_s)
    for future in late:
        future.cancel()
    for event, future in pending:
        if future.cancelled() or future.exception() is not None:
            await publish_event(js, event, timeout_s)
