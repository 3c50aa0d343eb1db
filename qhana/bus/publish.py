"""Publishing task events and commands to JetStream, with ``Nats-Msg-Id`` for dedupe."""

from __future__ import annotations

import asyncio
import functools
import itertools
from typing import Any

import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import NO_RESPONDERS_STATUS, Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import Header

from qhana.bus import subjects
from qhana.errors import BusUnavailable
from qhana.wire import TaskCommand, TaskEvent

__all__ = [
    "PendingEvent",
    "publish_command",
    "publish_event",
    "publish_event_soon",
    "publish_event_unacked",
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

# the subject of a plugin's commands, built once (subject_token walks the identifier)
_task_subject = functools.lru_cache(maxsize=4096)(subjects.task)


# Request tokens of this process: ``e-<n>``, never a NUID (whose alphabet has no ``-``), so
# they cannot collide with nats-py's own requests on the same response subscription.
_tokens = itertools.count()

_MUX_ATTRIBUTES = ("_resp_map", "_resp_sub_prefix", "_init_request_sub")


def _has_request_mux(nc: Client) -> bool:
    """nats-py keeps its request mux in these attributes (2.x); without them: the public
    ``nc.request`` / ``js.publish_async``."""
    return all(hasattr(nc, name) for name in _MUX_ATTRIBUTES)


async def _request_soon(
    nc: Client, subject: str, payload: bytes, headers: dict[str, str]
) -> asyncio.Future[Msg]:
    """Publish a request through nats-py's response subscription; the future gets the
    answer. Its token leaves the response map once the future is done (or cancelled)."""
    if nc.is_draining_pubs:
        raise nats.errors.ConnectionDrainingError
    if not nc._resp_sub_prefix:
        await nc._init_request_sub()
    prefix = nc._resp_sub_prefix
    if prefix is None:  # closed while subscribing
        raise nats.errors.ConnectionClosedError
    token = f"e-{next(_tokens)}"
    future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
    responses: dict[str, asyncio.Future[Msg]] = nc._resp_map
    responses[token] = future
    future.add_done_callback(lambda _: responses.pop(token, None))
    try:
        await nc.publish(subject, payload, reply=prefix.decode() + token, headers=headers)
    except BaseException:
        future.cancel()
        raise
    return future


def _time_out(future: asyncio.Future[Msg]) -> None:
    if not future.done():
        future.set_exception(nats.errors.TimeoutError())


def _ack_seq(msg: Msg) -> int:
    """The stream sequence of a JetStream publish ack (orjson; no ``PubAck`` dataclass)."""
    if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
        raise nats.js.errors.NoStreamResponseError
    answer: dict[str, Any] = orjson.loads(msg.data)
    if "error" in answer:
        raise nats.js.errors.APIError.from_error(answer["error"])
    return int(answer["seq"])


async def _acked_publish(
    nc: Client, subject: str, payload: bytes, msg_id: str, timeout_s: float
) -> int:
    """``JetStreamContext.publish``, at ~55 % of its CPU; returns the stream sequence.

    The same request, headers and exceptions as nats-py's: ``NoStreamResponseError`` without
    responders, the ``APIError`` of an ``error`` answer, ``nats.errors.TimeoutError``, and
    whatever ``publish`` raises (closed, draining, bad subject, buffer full while
    reconnecting). But nats-py names each request by a fresh NUID plus ``token_hex``, waits
    with ``asyncio.wait_for`` (a second future, a done callback, a timer) and parses the ack
    with ``json`` into a dataclass: ~45 % of an acked publish's CPU (py-spy). Here the request
    goes through nats-py's own response subscription with a counter token, one timer fails
    the future itself, and orjson reads the ack's ``seq``.
    """
    headers = {"Nats-Msg-Id": msg_id}
    if not _has_request_mux(nc):  # a nats-py that moved its internals: the public way
        try:
            return _ack_seq(await nc.request(subject, payload, timeout=timeout_s, headers=headers))
        except nats.errors.NoRespondersError:
            raise nats.js.errors.NoStreamResponseError from None
    future = await _request_soon(nc, subject, payload, headers)
    timer = asyncio.get_running_loop().call_later(timeout_s, _time_out, future)
    try:
        msg = await future
    finally:
        timer.cancel()
    return _ack_seq(msg)


def _client(bus: JetStreamContext | Client) -> Client:
    """The connection under ``bus`` (a JetStream context publishes through its client)."""
    if isinstance(bus, Client):
        return bus
    nc: Client = bus._nc
    return nc


async def _publish_once_only(
    bus: JetStreamContext | Client, subject: str, payload: bytes, msg_id: str, timeout_s: float
) -> int:
    """Publish, retrying transient failures with the same ``Nats-Msg-Id`` (bounded in time);
    returns the stream sequence.

    A timed-out publish may still have been stored; the retry then gets the stored message's
    ack back (JetStream dedupe), so a failover never turns one command into two tasks.
    """
    nc = _client(bus)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETRY_FOR_S
    delay_s = 0.1
    while True:
        try:
            return await _acked_publish(nc, subject, payload, msg_id, timeout_s)
        except _TRANSIENT:
            if loop.time() + delay_s > deadline:
                raise
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, 1.0)


async def publish_event(
    js: JetStreamContext | Client, event: TaskEvent, timeout_s: float = 5.0
) -> int:
    """Publish one event; returns its stream sequence. Duplicates (same event_id) are dropped.

    ``js`` may be the client itself (saves building a JetStream context per call)."""
    try:
        return await _publish_once_only(
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


async def publish_command(
    js: JetStreamContext | Client, queue: str, command: TaskCommand, timeout_s: float = 5.0
) -> int:
    """Publish a task command to its queue; returns its stream sequence."""
    try:
        return await _publish_once_only(
            js,
            _task_subject(queue, command.plugin),
            command.model_dump_json().encode(),
            command.command_id,
            timeout_s,
        )
    except Exception as exc:
        raise BusUnavailable(f"publishing a command for {command.plugin} failed: {exc}") from exc


async def publish_event_unacked(nc: Client, event: TaskEvent) -> None:
    """Publish one event without a reply subject: the server stores it (same
    ``Nats-Msg-Id`` dedupe) but sends no ack, and nothing waits for one.

    Only for an event that has a stand-in when it is lost: the server skips building and
    sending the ack and the client skips receiving, parsing and waking a waiter (the edge's
    ``accepted``: ~10 % of a submit's CPU)."""
    await nc.publish(
        subjects.event(event.task_id),
        event.model_dump_json().encode(),
        headers={"Nats-Msg-Id": event.event_id},
    )


PendingEvent = tuple[TaskEvent, "asyncio.Future[Any]"]
"""An event published without waiting for its ack (``publish_event_soon``): the future
gets the ack message (or, on a nats-py without the request mux, nats-py's ``PubAck``)."""


async def publish_event_soon(js: JetStreamContext | Client, event: TaskEvent) -> PendingEvent:
    """Publish one event and return at once; ``settle_events`` waits for its ack.

    Events of one connection are stored in the order they were published, so a worker can
    publish ``started``, logs and outputs back to back and wait once, before the event that
    ends the attempt."""
    subject = subjects.event(event.task_id)
    payload = event.model_dump_json().encode()
    headers = {"Nats-Msg-Id": event.event_id}
    nc = _client(js)
    try:
        if _has_request_mux(nc):
            future: asyncio.Future[Any] = await _request_soon(nc, subject, payload, headers)
        else:
            future = await nc.jetstream().publish_async(subject, payload, headers=headers)
    except Exception as exc:  # closed connection, too many stalled publishes
        raise BusUnavailable(
            f"publishing {event.kind} of task {event.task_id} failed: {exc}"
        ) from exc
    return event, future


def _stored(future: asyncio.Future[Any]) -> bool:
    """The event of a settled ``publish_event_soon`` is in the stream."""
    if future.cancelled() or future.exception() is not None:
        return False
    answer = future.result()
    if isinstance(answer, Msg):
        try:
            _ack_seq(answer)
        except Exception:  # no stream, or an error answer
            return False
    return True


async def settle_events(
    js: JetStreamContext | Client, pending: list[PendingEvent], timeout_s: float = 5.0
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
        if not _stored(future):
            await publish_event(js, event, timeout_s)
