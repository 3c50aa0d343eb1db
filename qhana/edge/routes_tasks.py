"""Runner API: task status, webhook subscriptions, live events (SSE) and cancel."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime

from aiohttp import web
from aiohttp_apigami import docs, json_schema, match_info_schema, response_schema
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from sqlalchemy import delete

from qhana.bus import subjects
from qhana.bus.acks import stream_seq
from qhana.bus.connection import require_connected
from qhana.bus.publish import publish_event
from qhana.db.engine import run_read
from qhana.db.projector import apply_event
from qhana.db.tables import webhooks
from qhana.db.task_views import TaskView, load_task
from qhana.db.upsert import insert_ignore
from qhana.edge.api_schemas import (
    ErrorSchema,
    SubscriptionSchema,
    TaskIdPathSchema,
    TaskStatusSchema,
)
from qhana.edge.event_cache import HANDOVER, Listener, StoredEvent
from qhana.edge.ids import path_id
from qhana.edge.keys import CATALOGUE, CLOSING, ENGINE, EVENT_CACHE, NATS, SETTINGS
from qhana.edge.responses import error_response, json_response, validation_error
from qhana.edge.sse_frames import SseFrames
from qhana.edge.task_json import task_document
from qhana.edge.unrecorded import (
    UnrecordedTask,
    find_unrecorded,
    first_event,
    pending_view,
    record,
)
from qhana.edge.urls import base_url
from qhana.logging import get_logger
from qhana.wire import TERMINAL_KINDS, Cancelled

__all__ = ["routes"]

routes = web.RouteTableDef()
log = get_logger("qhana.edge")

_WEBHOOK_EVENTS = ("status", "steps", "details")


async def _lookup(request: web.Request) -> tuple[TaskView, UnrecordedTask | None]:
    """The task from SQL or, submitted a moment ago and not projected yet, from JetStream."""
    task_id = path_id(request, "task_id", "Task not found.")
    task = await run_read(request.app[ENGINE], load_task, task_id)
    if task is not None:
        return task, None
    unrecorded = await find_unrecorded(
        request.app[NATS].jetstream(), task_id, request.app[CATALOGUE].name_and_version
    )
    if unrecorded is None:
        raise web.HTTPNotFound(reason="Task not found.")
    return pending_view(unrecorded[0]), unrecorded


async def _task(request: web.Request) -> TaskView:
    return (await _lookup(request))[0]


@routes.get(r"/tasks/{task_id:\d+}/")
@docs(tags=["tasks"], summary="Task status, log, progress, steps and outputs")
@match_info_schema(TaskIdPathSchema)
@response_schema(TaskStatusSchema, 200)
@response_schema(ErrorSchema, 404)
async def get_task(request: web.Request) -> web.Response:
    task = await _task(request)
    return json_response(task_document(task, base_url(request, request.app[SETTINGS])))


def _subscription_errors(body: object) -> dict[str, list[str]]:
    if not isinstance(body, dict):
        return {"_schema": ["Invalid input type."]}
    errors: dict[str, list[str]] = {}
    command = body.get("command")
    if command is not None and command not in ("subscribe", "unsubscribe"):
        errors["command"] = ["Must be one of: subscribe, unsubscribe."]
    if "command" not in body:
        errors["command"] = ["Missing data for required field."]
    href = body.get("webhookHref")
    if not isinstance(href, str) or not href.startswith(("http://", "https://")):
        errors["webhookHref"] = (
            ["Missing data for required field."] if href is None else ["Not a valid URL."]
        )
    event = body.get("event")
    if event is not None and event not in _WEBHOOK_EVENTS:
        errors["event"] = ["Must be one of: " + ", ".join(_WEBHOOK_EVENTS) + "."]
    unknown = set(body) - {"command", "webhookHref", "event"}
    for key in unknown:
        errors[key] = ["Unknown field."]
    return errors


@routes.post(r"/tasks/{task_id:\d+}/")
@docs(tags=["tasks"], summary="Subscribe / unsubscribe a webhook to task events")
@match_info_schema(TaskIdPathSchema)
@json_schema(SubscriptionSchema)
@response_schema(TaskStatusSchema, 200)
@response_schema(ErrorSchema, 400)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 422)
async def subscribe_task(request: web.Request) -> web.Response:
    task, unrecorded = await _lookup(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(400, "The request body is not valid JSON.")
    errors = _subscription_errors(body)
    if errors:
        return validation_error("json", errors)
    if body["command"] is None:
        return error_response(400, "Command 'None' is not supported!")
    base = base_url(request, request.app[SETTINGS])
    async with request.app[ENGINE].begin() as conn:
        if unrecorded is not None:  # the subscription row refers to the task row
            task = await record(conn, unrecorded)
        if body["command"] == "subscribe":
            row = {
                "task_id": task.id,
                "href": body["webhookHref"],
                "event": body.get("event"),
                "source": f"{base}/tasks/{task.id}/",
            }
            await insert_ignore(conn, webhooks, row)
        else:
            stmt = delete(webhooks).where(
                webhooks.c.task_id == task.id, webhooks.c.href == body["webhookHref"]
            )
            if body.get("event") is not None:
                stmt = stmt.where(webhooks.c.event == body["event"])
            await conn.execute(stmt)
    return json_response(task_document(task, base))


@routes.post(r"/tasks/{task_id:\d+}/cancel")
@routes.post(r"/tasks/{task_id:\d+}/cancel/")
@docs(tags=["tasks"], summary="Cancel a pending or running task (not upstream): FAILURE")
@match_info_schema(TaskIdPathSchema)
@response_schema(TaskStatusSchema, 200)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 409)
async def cancel_task(request: web.Request) -> web.Response:
    task, unrecorded = await _lookup(request)
    if task.status.finished:
        return error_response(409, f"The task has already finished with status {task.status}.")
    nc = request.app[NATS]
    require_connected(nc)  # 503 at once while NATS is away
    reason = "Cancelled by request."
    # the marker first: a worker that fetches the task later must not start it at all
    state = await nc.jetstream().key_value(subjects.STATE_BUCKET)
    await state.put(subjects.cancelled_marker(task.id), reason.encode())
    await nc.publish(subjects.cancel(task.id), reason.encode())
    event = Cancelled(
        task_id=task.id,
        at=datetime.now(UTC),
        cmd_seq=0,  # no command: a later commit of an attempt must not drop the reason
        event_id=f"{task.id}.cancelled",
        reason=reason,
    )
    seq = await publish_event(nc.jetstream(), event)
    async with request.app[ENGINE].begin() as conn:
        if unrecorded is not None:
            await record(conn, unrecorded)
        await conn.run_sync(apply_event, event, seq)
    return json_response(
        task_document(await _task(request), base_url(request, request.app[SETTINGS]))
    )


KEEPALIVE_S = 5.0
HANDOVER_RETRIES_S = (0.1, 0.25, 0.5, 1.0, 2.0)


async def _next_or_none(
    queue: asyncio.Queue[StoredEvent], closing: asyncio.Event, timeout_s: float
) -> StoredEvent | None:
    """The next queued event; None after ``timeout_s`` or when the edge shuts down."""
    with contextlib.suppress(asyncio.QueueEmpty):  # usual when events come in a burst
        return queue.get_nowait()
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(closing.wait())
    done, _ = await asyncio.wait(
        {getter, stopper}, timeout=timeout_s, return_when="FIRST_COMPLETED"
    )
    stopper.cancel()
    if getter in done:
        return getter.result()
    getter.cancel()
    return None


async def _follow(
    js: JetStreamContext, task_id: int, queue: asyncio.Queue[StoredEvent]
) -> JetStreamContext.PushSubscription:
    """An ordered consumer of the task's events, from its first one, into ``queue``."""

    async def _on_msg(msg: Msg) -> None:
        await queue.put((stream_seq(msg), msg.data))

    return await js.subscribe(
        subjects.event(task_id),
        stream=subjects.EVENTS_STREAM,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        cb=_on_msg,
    )


async def _follow_again(
    js: JetStreamContext, task_id: int, queue: asyncio.Queue[StoredEvent]
) -> JetStreamContext.PushSubscription:
    """``_follow`` at a handover, which often comes right after NATS is back: JetStream may
    not answer at once, so retry for a few seconds before giving up."""
    for delay_s in HANDOVER_RETRIES_S:
        try:
            return await _follow(js, task_id, queue)
        except Exception:
            await asyncio.sleep(delay_s)
    return await _follow(js, task_id, queue)


async def _open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    return response


async def _relay(
    response: web.StreamResponse,
    queue: asyncio.Queue[StoredEvent],
    closing: asyncio.Event,
    written: SseFrames,
) -> bool:
    """Write the queued events not ``written`` yet until the terminal one or shutdown
    (False); True on ``HANDOVER``, to go on from elsewhere after ``written.last_seq``."""
    while not closing.is_set():
        item = await _next_or_none(queue, closing, KEEPALIVE_S)
        if item is None:
            await response.write(b": keep-alive\n\n")
            continue
        if item is HANDOVER:
            return True
        out = written.frames(*item)
        if out is None:
            continue
        frames, kind = out
        if frames:
            await response.write(frames)
        if kind in TERMINAL_KINDS:
            # end the stream with the last event, before the consumer is deleted: a
            # client that stops reading at the terminal event finds the response
            # complete and keeps its connection for the next request
            await response.write_eof()
            return False
    return False


async def _events_from_jetstream(request: web.Request, task_id: int) -> web.StreamResponse:
    """SSE from a consumer of its own (tasks the edge's event cache does not cover)."""
    js = request.app[NATS].jetstream()
    queue: asyncio.Queue[StoredEvent] = asyncio.Queue()
    # the existence check and the consumer's creation are independent round trips: at once
    first, sub = await asyncio.gather(first_event(js, task_id), _follow(js, task_id, queue))
    if first is None:
        try:
            await _task(request)  # 404 unless SQL knows it (its events may have expired)
        except BaseException:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            raise
    response = await _open_stream(request)
    try:
        await _relay(response, queue, request.app[CLOSING], SseFrames())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return response


async def _events_from_cache(request: web.Request, listener: Listener) -> web.StreamResponse:
    """SSE from the edge's event cache; from JetStream after the last event written if the
    cache lets go of the task (evicted, or the cache lost track and cleared itself)."""
    closing = request.app[CLOSING]
    with listener:
        response = await _open_stream(request)
        try:
            written = SseFrames()
            if not await _relay(response, listener.queue, closing, written):
                return response
            listener.close()
            queue: asyncio.Queue[StoredEvent] = asyncio.Queue()
            sub = await _follow_again(request.app[NATS].jetstream(), listener.task_id, queue)
            try:
                await _relay(response, queue, closing, written)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        except Exception as exc:  # NATS away at the handover: end the stream, the client retries
            log.warning("edge.sse_handover_failed", task_id=listener.task_id, error=str(exc))
    return response


@routes.get(r"/tasks/{task_id:\d+}/events")
@docs(
    tags=["tasks"],
    summary="Server-Sent Events of the task, from the start, until it ends (not upstream)",
    responses={200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}},
)
@match_info_schema(TaskIdPathSchema)
@response_schema(ErrorSchema, 404)
async def task_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: every event of the task from the start, then live ones."""
    task_id = path_id(request, "task_id", "Task not found.")
    require_connected(request.app[NATS])  # 503 at once while NATS is away
    listener = await request.app[EVENT_CACHE].listen(task_id)
    if listener is None:
        return await _events_from_jetstream(request, task_id)
    return await _events_from_cache(request, listener)
