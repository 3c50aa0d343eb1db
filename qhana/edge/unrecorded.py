"""Tasks that JetStream has accepted but SQL does not show yet.

A submit does not wait for SQL: the edge publishes the command and the ``accepted`` event
and answers ``303``. Until the recorder has projected that event (a few milliseconds), the
task has no row. A read then finds the ``accepted`` event itself (one JetStream request on
the task's own subject) and shows the task as it will look once projected: ``PENDING``,
its plugin, its parameters. A write that needs the row (a webhook subscription, a cancel)
first projects the ``accepted`` event, idempotently, exactly as the recorder would.
"""

from __future__ import annotations

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
from qhana.wire import Accepted, TaskStatus, parse_event

__all__ = ["UnrecordedTask", "find_unrecorded", "first_event", "pending_view", "record"]

log = get_logger("qhana.edge")

UnrecordedTask = tuple[Accepted, int]
"""The ``accepted`` event of a task and its stream sequence in ``QHANA_EVENTS``."""


async def first_event(js: JetStreamContext, task_id: int) -> RawStreamMsg | None:
    """The task's first event in ``QHANA_EVENTS`` (None: none, or NATS is away)."""
    try:
        return await js.get_msg(
            subjects.EVENTS_STREAM, seq=1, subject=subjects.event(task_id), next=True
        )
    except NotFoundError:
        return None
    except (nats.errors.Error, TimeoutError) as exc:  # NATS away: SQL alone answers
        log.warning("edge.event_lookup_failed", task_id=task_id, error=str(exc))
        return None


async def find_unrecorded(js: JetStreamContext, task_id: int) -> UnrecordedTask | None:
    """The first event of the task, if it is its ``accepted`` event (None: no such task)."""
    raw = await first_event(js, task_id)
    if raw is None:
        return None
    try:
        event = parse_event(raw.data or b"")
    except ValidationError:
        return None
    if not isinstance(event, Accepted) or event.task_id != task_id or raw.seq is None:
        return None
    return event, raw.seq


def pending_view(event: Accepted) -> TaskView:
    """What ``load_task`` returns once only the ``accepted`` event is projected."""
    return TaskView(
        id=event.task_id,
        plugin=event.plugin,
        params=event.params,
        status=TaskStatus.PENDING,
        log="",
        created_at=event.at,
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
    await apply_event(conn, event, seq)
    task = await load_task(conn, event.task_id)
    return task if task is not None else pending_view(event)
