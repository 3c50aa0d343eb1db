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
from sqlalchemy.ext.asyncio import AsyncConnection

from qhana.db.projector_batch import apply_batch
from qhana.db.projector_sql import file_row, log_row
from qhana.db.tables import task_commits, task_files, task_log, task_steps, tasks
from qhana.db.upsert import insert_ignore
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


async def apply_events(conn: AsyncConnection, events: Sequence[tuple[TaskEvent, int]]) -> None:
    """Apply ``(event, stream_seq)`` pairs in order, inside the caller's transaction.

    Batched (``projector_batch``): the same rows as ``apply_event`` one by one, in a few
    ``executemany`` statements per batch; ordering-sensitive events still go through
    ``apply_event``. Events folded into an ending event apply just before it."""
    await apply_batch(conn, events, _apply_one)


async def apply_event(conn: AsyncConnection, event: TaskEvent, seq: int) -> None:
    for part in unfold(event):
        await _apply_one(conn, part, seq)


async def _apply_one(conn: AsyncConnection, event: TaskEvent, seq: int) -> None:
    await _ensure_task(conn, event)
    if isinstance(event, Accepted | StepSubmitted | Cancelled):
        await _apply_control(conn, event, seq)
        return
    committed = await _committed_attempt(conn, event.task_id, event.cmd_seq)
    if committed is not None and committed != event.attempt:
        return  # settled by another attempt: this stale attempt changes nothing
    # Events of the committed attempt still apply when they arrive after the commit (a
    # redelivery to the recorder can reorder them); every insert below is idempotent.
    if isinstance(event, _COMMITTING) and committed is None:
        await _commit(conn, event)
    match event:
        case Started():
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == event.task_id, tasks.c.started_at.is_(None))
                .values(started_at=event.at)
            )
        case Progress():
            await _progress(conn, event, seq)
        case LogLine():
            await _log(conn, event, seq, event.text)
        case Output():
            await _output(conn, event, seq)
        case StepRequested():
            await _step_requested(conn, event, seq)
        case Succeeded():
            await _finish(conn, event, seq, TaskStatus.SUCCESS, None)
        case Failed():
            await _finish(conn, event, seq, TaskStatus.FAILURE, event.reason)


async def _ensure_task(conn: AsyncConnection, event: TaskEvent) -> None:
    values: dict[str, Any] = {"id": event.task_id, "status": TaskStatus.PENDING}
    if isinstance(event, Accepted):
        values.update(
            plugin=event.plugin,
            plugin_name=event.plugin_name,
            plugin_version=event.plugin_version,
            params=event.params,
            created_at=event.at,
        )
    inserted = await insert_ignore(conn, tasks, values)
    if not inserted and isinstance(event, Accepted):
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == event.task_id, tasks.c.plugin.is_(None))
            .values({k: v for k, v in values.items() if k not in ("id", "status")})
        )


async def _apply_control(
    conn: AsyncConnection, event: Accepted | StepSubmitted | Cancelled, seq: int
) -> None:
    if isinstance(event, StepSubmitted):
        await conn.execute(
            update(task_steps)
            .where(task_steps.c.task_id == event.task_id, task_steps.c.step_id == event.step_id)
            .values(cleared=True)
        )
        await conn.execute(
            update(tasks).where(tasks.c.id == event.task_id).values(params=event.params)
        )
    elif isinstance(event, Cancelled):
        finished = await conn.scalar(select(tasks.c.finished_at).where(tasks.c.id == event.task_id))
        if finished is None:
            await _log(conn, event, seq, event.reason)
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == event.task_id)
                .values(
                    status=TaskStatus.FAILURE, finished_at=event.at, failure_reason=event.reason
                )
            )


async def _committed_attempt(conn: AsyncConnection, task_id: int, cmd_seq: int) -> int | None:
    value = await conn.scalar(
        select(task_commits.c.attempt).where(
            task_commits.c.task_id == task_id, task_commits.c.cmd_seq == cmd_seq
        )
    )
    return None if value is None else int(value)


async def _commit(conn: AsyncConnection, event: StepRequested | Succeeded | Failed) -> None:
    await insert_ignore(
        conn,
        task_commits,
        {"task_id": event.task_id, "cmd_seq": event.cmd_seq, "attempt": event.attempt},
    )
    for table in (task_log, task_files):
        await conn.execute(
            delete(table).where(
                and_(
                    table.c.task_id == event.task_id,
                    table.c.cmd_seq == event.cmd_seq,
                    table.c.attempt != event.attempt,
                )
            )
        )


async def _log(conn: AsyncConnection, event: TaskEvent, seq: int, text: str) -> None:
    await insert_ignore(conn, task_log, log_row(event, seq, text))


async def _progress(conn: AsyncConnection, event: Progress, seq: int) -> None:
    await conn.execute(
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


async def _output(conn: AsyncConnection, event: Output, seq: int) -> None:
    await insert_ignore(conn, task_files, file_row(event, seq))


async def _step_requested(conn: AsyncConnection, event: StepRequested, seq: int) -> None:
    if event.log is not None:
        await _log(conn, event, seq, event.log)
    steps_before = await conn.scalar(
        select(func.count()).select_from(task_steps).where(task_steps.c.task_id == event.task_id)
    )
    await insert_ignore(
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
        await _progress(conn, event.progress, seq)
    else:  # upstream's default: one unit per step
        count = int(steps_before or 0)
        await _progress(
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


async def _finish(
    conn: AsyncConnection,
    event: Succeeded | Failed,
    seq: int,
    status: TaskStatus,
    reason: str | None,
) -> None:
    if event.log is not None:
        await _log(conn, event, seq, event.log)
    if status is TaskStatus.SUCCESS:
        await conn.execute(
            update(task_steps)
            .where(task_steps.c.task_id == event.task_id, task_steps.c.cleared.is_(False))
            .values(cleared=True)
        )
    values: dict[str, Any] = {"status": status, "finished_at": event.at, "failure_reason": reason}
    await conn.execute(
        update(tasks)
        .where(tasks.c.id == event.task_id, tasks.c.finished_at.is_(None))
        .values(values)
    )
    if status is TaskStatus.SUCCESS:
        await conn.execute(
            update(tasks)
            .where(
                tasks.c.id == event.task_id,
                tasks.c.progress_value.is_not(None),
                tasks.c.progress_value != 0,
            )
            .values(progress_value=tasks.c.progress_target)
        )
