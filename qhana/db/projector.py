"""Project task events into SQL. Idempotent and tolerant of reordering between publishers.

Each command of a task (``cmd_seq``) may run in several attempts (redeliveries). The first
attempt that ends the command (``step-requested``, ``succeeded`` or ``failed``) is
*committed*: rows of the other attempts of that command are deleted, and later events of
other attempts are ignored; late events of the committed attempt itself still apply. So a
worker killed mid-task leaves no duplicated output or log, and a recorder redelivery that
reorders events loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.engine import Connection

from qhana.db.projector_batch import apply_batch
from qhana.db.projector_sql import file_row, log_row
from qhana.db.tables import task_commits, task_files, task_log, task_steps, tasks
from qhana.db.upsert import insert_ignore_sync
from qhana.wire import (
    Accepted,
    Cancelled,
    Failed,
    LogLine,
    Output,
    Progress,
    Started,
    StepRequested,
    StepSubmitted,
    Succeeded,
    TaskEvent,
    TaskStatus,
    unfold,
)

__all__ = ["apply_event", "apply_events"]

_COMMITTING = (StepRequested, Succeeded, Failed)


def apply_events(conn: Connection, events: Sequence[tuple[TaskEvent, int]]) -> None:
    """Apply ``(event, stream_seq)`` pairs in order, inside the caller's transaction.

    Batched (``projector_batch``): the same rows as ``apply_event`` one by one, in a few
    ``executemany`` statements per batch; ordering-sensitive events still go through
    ``apply_event``. Events folded into an ending event apply just before it."""
    apply_batch(conn, events, _apply_one)


def apply_event(conn: Connection, event: TaskEvent, seq: int) -> None:
    for part in unfold(event):
        _apply_one(conn, part, seq)


def _apply_one(conn: Connection, event: TaskEvent, seq: int) -> None:
    _ensure_task(conn, event)
    if isinstance(event, Accepted | StepSubmitted | Cancelled):
        _apply_control(conn, event, seq)
        return
    committed = _committed_attempt(conn, event.task_id, event.cmd_seq)
    if committed is not None and committed != event.attempt:
        return  # settled by another attempt: this stale attempt changes nothing
    # Events of the committed attempt still apply when they arrive after the commit (a
    # redelivery to the recorder can reorder them); every insert below is idempotent.
    if isinstance(event, _COMMITTING) and committed is None:
        _commit(conn, event)
    match event:
        case Started():
            conn.execute(
                update(tasks)
                .where(tasks.c.id == event.task_id, tasks.c.started_at.is_(None))
                .values(started_at=event.at)
            )
        case Progress():
            _progress(conn, event, seq)
        case LogLine():
            _log(conn, event, seq, event.text)
        case Output():
            _output(conn, event, seq)
        case StepRequested():
            _step_requested(conn, event, seq)
        case Succeeded():
            _finish(conn, event, seq, TaskStatus.SUCCESS, None)
        case Failed():
            _finish(conn, event, seq, TaskStatus.FAILURE, event.reason)


def _ensure_task(conn: Connection, event: TaskEvent) -> None:
    values: dict[str, Any] = {"id": event.task_id, "status": TaskStatus.PENDING}
    if isinstance(event, Accepted):
        values.update(
            plugin=event.plugin,
            plugin_name=event.plugin_name,
            plugin_version=event.plugin_version,
            params=event.params,
            created_at=event.at,
        )
    inserted = insert_ignore_sync(conn, tasks, values)
    if not inserted and isinstance(event, Accepted):
        conn.execute(
            update(tasks)
            .where(tasks.c.id == event.task_id, tasks.c.plugin.is_(None))
            .values({k: v for k, v in values.items() if k not in ("id", "status")})
        )


def _apply_control(conn: Connection, event: Accepted | StepSubmitted | Cancelled, seq: int) -> None:
    if isinstance(event, StepSubmitted):
        conn.execute(
            update(task_steps)
            .where(task_steps.c.task_id == event.task_id, task_steps.c.step_id == event.step_id)
            .values(cleared=True)
        )
        conn.execute(update(tasks).where(tasks.c.id == event.task_id).values(params=event.params))
    elif isinstance(event, Cancelled):
        finished = conn.scalar(select(tasks.c.finished_at).where(tasks.c.id == event.task_id))
        if finished is None:
            _log(conn, event, seq, event.reason)
            conn.execute(
                update(tasks)
                .where(tasks.c.id == event.task_id)
                .values(
                    status=TaskStatus.FAILURE, finished_at=event.at, failure_reason=event.reason
                )
            )


def _committed_attempt(conn: Connection, task_id: int, cmd_seq: int) -> int | None:
    value = conn.scalar(
        select(task_commits.c.attempt).where(
            task_commits.c.task_id == task_id, task_commits.c.cmd_seq == cmd_seq
        )
    )
    return None if value is None else int(value)


def _commit(conn: Connection, event: StepRequested | Succeeded | Failed) -> None:
    insert_ignore_sync(
        conn,
        task_commits,
        {"task_id": event.task_id, "cmd_seq": event.cmd_seq, "attempt": event.attempt},
    )
    for table in (task_log, task_files):
        conn.execute(
            delete(table).where(
                and_(
                    table.c.task_id == event.task_id,
                    table.c.cmd_seq == event.cmd_seq,
                    table.c.attempt != event.attempt,
                )
            )
        )


def _log(conn: Connection, event: TaskEvent, seq: int, text: str) -> None:
    insert_ignore_sync(conn, task_log, log_row(event, seq, text))


def _progress(conn: Connection, event: Progress, seq: int) -> None:
    conn.execute(
        update(tasks)
        .where(
            tasks.c.id == event.task_id,
            tasks.c.progress_seq < seq,
            tasks.c.finished_at.is_(None),  # a late progress never undoes the final one
        )
        .values(
            progress_value=event.value,
            progress_start=event.start,
            progress_target=event.target,
            progress_unit=event.unit,
            progress_seq=seq,
        )
    )


def _output(conn: Connection, event: Output, seq: int) -> None:
    insert_ignore_sync(conn, task_files, file_row(event, seq))


def _step_requested(conn: Connection, event: StepRequested, seq: int) -> None:
    if event.log is not None:
        _log(conn, event, seq, event.log)
    steps_before = conn.scalar(
        select(func.count()).select_from(task_steps).where(task_steps.c.task_id == event.task_id)
    )
    insert_ignore_sync(
        conn,
        task_steps,
        {
            "seq": seq,
            "task_id": event.task_id,
            "step_id": event.step_id,
            "cleared": False,
            "prefill": event.prefill,
        },
    )
    if event.progress is not None:
        _progress(conn, event.progress, seq)
    else:  # upstream's default: one unit per step
        count = int(steps_before or 0)
        _progress(
            conn,
            Progress(
                task_id=event.task_id,
                at=event.at,
                cmd_seq=event.cmd_seq,
                attempt=event.attempt,
                event_id=event.event_id,
                value=count,
                start=0,
                target=count + 1,
                unit="",
            ),
            seq,
        )


def _finish(
    conn: Connection,
    event: Succeeded | Failed,
    seq: int,
    status: TaskStatus,
    reason: str | None,
) -> None:
    if event.log is not None:
        _log(conn, event, seq, event.log)
    if status is TaskStatus.SUCCESS:
        conn.execute(
            update(task_steps)
            .where(task_steps.c.task_id == event.task_id, task_steps.c.cleared.is_(False))
            .values(cleared=True)
        )
    values: dict[str, Any] = {"status": status, "finished_at": event.at, "failure_reason": reason}
    conn.execute(
        update(tasks)
        .where(tasks.c.id == event.task_id, tasks.c.finished_at.is_(None))
        .values(values)
    )
    if status is TaskStatus.SUCCESS:
        conn.execute(
            update(tasks)
            .where(
                tasks.c.id == event.task_id,
                tasks.c.progress_value.is_not(None),
                tasks.c.progress_value != 0,
            )
            .values(progress_value=tasks.c.progress_target)
        )
