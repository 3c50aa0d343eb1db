"""Tasks that JetStream has accepted but SQL does not show yet.

A submit does not wait for SQL: the edge publishes the command, then the ``accepted`` event
without waiting for its ack, and answers ``303``. Until the recorder has projected that
event (a few milliseconds), the task has no row. A read then finds the ``accepted`` event
itself (JetStream requests on the task's own subject; a fast worker's ``started``, which
carries a copy of it, may be stored first) or, when neither is stored yet, builds the same
event from the command while that waits in ``QHANA_TASKS`` (a worker acks the command only
after its ``started`` is stored), and shows the task as it will look once projected:
``PENDING``, its plugin, its parameters. A write that needs the row (a webhook
subscription, a cancel) first projects the event, idempotently, exactly as the recorder
would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from qhana.bus import subjects
from qhana.db.projector import apply_event
from qhana.db.task_views import TaskView, load_task
from qhana.logging import get_logger
from qhana.wire import (
    Accepted,
    TaskCommand,
    TaskEvent,
    TaskStatus,
    accepted_event,
    parse_event,
    unfold,
)

__all__ = [
    "PluginNames",
    "UnrecordedTask",
    "find_unrecorded",
    "first_event",
    "pending_view",
    "record",
]

log = get_logger("qhana.edge")

UnrecordedTask = tuple[TaskEvent, int]
"""An event of the task (its ``accepted`` one when found) and its sequence in QHANA_EVENTS
(0: an ``accepted`` built from the command, not stored yet; projecting it needs no sequence)."""

PluginNames = Callable[[str], Awaitable[tuple[str, str] | None]]
"""A plugin identifier's name and version (None: not in the catalogue)."""

SCAN_EVENTS = 16  # events looked at for the ``accepted`` one


async def first_event(js: JetStreamContext, task_id: int, from_seq: int = 1) -> RawStreamMsg | None:
    """The task's first event in ``QHANA_EVENTS`` at or after ``from_seq`` (None: none, or
    NATS is away)."""
    try:
        return await js.get_msg(
            subjects.EVENTS_STREAM, seq=from_seq, subject=subjects.event(task_id), next=True
        )
    except NotFoundError:
        return None
    except (nats.errors.Error, TimeoutError) as exc:  # NATS away: SQL alone answers
        log.warning("edge.event_lookup_failed", task_id=task_id, error=str(exc))
        return None


async def find_unrecorded(
    js: JetStreamContext, task_id: int, names: PluginNames | None = None
) -> UnrecordedTask | None:
    """The task's ``accepted`` event, else its first event (None: no such task)."""
    found = await _scan_events(js, task_id)
    if found is not None and isinstance(found[0], Accepted):
        return found
    accepted = await _accepted_from_command(js, task_id, names)
    if accepted is not None:
        return accepted, 0
    if found is None:  # a worker may have acked the command since: its events are stored
        found = await _scan_events(js, task_id)
    return found


async def _accepted_from_command(
    js: JetStreamContext, task_id: int, names: PluginNames | None
) -> Accepted | None:
    """The ``accepted`` event of the task's first command, while that is in QHANA_TASKS."""
    try:
        raw = await js.get_msg(subjects.TASKS_STREAM, seq=task_id)
        command = TaskCommand.model_validate_json(raw.data or b"")
    except (NotFoundError, ValidationError):  # acked (or never a task's first command)
        return None
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("edge.command_lookup_failed", task_id=task_id, error=str(exc))
        return None
    if command.task_id is not None:  # a later step's command, of another task
        return None
    known = await names(command.plugin) if names is not None else None
    if known is None:  # a plugin the catalogue forgot: its identifier's halves
        name, _, version = command.plugin.rpartition("@")
    else:
        name, version = known
    return accepted_event(command, task_id, name, version)


async def _scan_events(js: JetStreamContext, task_id: int) -> UnrecordedTask | None:
    """The task's ``accepted`` event (perhaps folded into another), else its first event."""
    found: UnrecordedTask | None = None
    from_seq = 1
    for _ in range(SCAN_EVENTS):
        raw = await first_event(js, task_id, from_seq)
        if raw is None or raw.seq is None:
            break
        from_seq = raw.seq + 1
        try:
            event = parse_event(raw.data or b"")
        except ValidationError:
            continue
        if event.task_id != task_id:
            continue
        accepted = next((e for e in unfold(event) if isinstance(e, Accepted)), None)
        if accepted is not None:
            return accepted, raw.seq
        found = found or (event, raw.seq)
    return found


def pending_view(event: TaskEvent) -> TaskView:
    """What ``load_task`` returns once only the ``accepted`` event is projected (for another
    event: a pending task whose plugin and parameters are not known yet)."""
    accepted = event if isinstance(event, Accepted) else None
    return TaskView(
        id=event.task_id,
        plugin=accepted.plugin if accepted else None,
        params=accepted.params if accepted else None,
        status=TaskStatus.PENDING,
        log="",
        created_at=event.at if accepted else None,
        started_at=None,
        finished_at=None,
        progress=None,
        steps=[],
        outputs=[],
        failure_reason=None,
    )


async def record(conn: AsyncConnection, unrecorded: UnrecordedTask) -> TaskView:
    """Project the ``accepted`` event (inside the caller's transaction); the task's view."""
    event, seq = unrecorded
    await conn.run_sync(apply_event, event, seq)
    task = await conn.run_sync(load_task, event.task_id)
    return task if task is not None else pending_view(event)
