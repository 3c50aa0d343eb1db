"""Batched projection: the same result as ``apply_event`` one by one, in a few statements.

The hot event kinds of a task (accepted, started, progress, log, output, succeeded, failed)
are projected per *segment* with one ``executemany`` per statement kind instead of several
statements per event. Every other kind (step-requested, step-submitted, cancelled) ends the
segment and goes through the per-event path, so ordering between them is kept exactly.

Why this equals the per-event path (``tests/db/test_projector_batch.py`` checks it on random
histories):

* rows are keyed by stream sequence, so inserts commute; ``accepted`` is one upsert that
  fills in a row only while its plugin is unknown, which gives the same row whichever of
  ``accepted`` and the worker's first event comes first;
* SQL's commits and finished tasks are read once per batch, then the batch is walked in
  stream order; every event whose effect depends on order or on how the projector treats a
  settled command (an event of a command already committed in SQL or earlier in the batch,
  any event of a task after an ending event of that task in the pending plan, progress of a
  finished task, and every kind that is not hot) flushes the plan and goes through
  ``apply_event`` itself, so those rules live in one place only;
* other attempts' log/file rows are deleted *after* the plan's inserts, so rows of an
  attempt that lost inside this very batch are purged too;
* the remaining updates are guarded (``started_at IS NULL``, ``progress_seq < seq``,
  ``finished_at IS NULL``) and run in stream order, where they commute.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from qhana.db.tables import task_commits, task_files, task_log, task_steps, tasks
from qhana.wire import (
    Accepted,
    Cancelled,
    Failed,
    LogLine,
    Output,
    Progress,
    Started,
    StepRequested,
    Succeeded,
    TaskEvent,
    TaskStatus,
)

__all__ = ["FAST_KINDS", "apply_batch"]

FAST_KINDS = (Accepted, Started, Progress, LogLine, Output, Succeeded, Failed)
SlowPath = Callable[[AsyncConnection, TaskEvent, int], Awaitable[None]]
_CHUNK = 400


async def apply_batch(
    conn: AsyncConnection, events: Sequence[tuple[TaskEvent, int]], slow: SlowPath
) -> None:
    """Apply ``(event, stream_seq)`` pairs in order; ``slow`` applies one event exactly."""
    if not events:
        return
    # what SQL already knows matters only to events other than ``accepted``
    others = {event.task_id for event, _ in events if not isinstance(event, Accepted)}
    committed, finished = await _known(conn, others) if others else (set(), set())
    walk = _Walk(conn, slow, committed, finished)
    for event, seq in events:
        await walk.feed(event, seq)
    await walk.flush()


@dataclass
class _Plan:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    task_ids: set[int] = field(default_factory=set)
    started: list[dict[str, Any]] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)
    succeeded: list[dict[str, Any]] = field(default_factory=list)


def _dialect(conn: AsyncConnection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


_IGNORE_CACHE: dict[tuple[str, str], Any] = {}  # statements only: built once, immutable


def _insert_ignore(conn: AsyncConnection, table: Table) -> Any:
    key = (conn.dialect.name, table.name)
    stmt = _IGNORE_CACHE.get(key)
    if stmt is None:
        stmt = _IGNORE_CACHE[key] = _dialect(conn).insert(table).on_conflict_do_nothing()
    return stmt


async def _many(conn: AsyncConnection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(stmt, rows[start : start + _CHUNK])


async def _known(
    conn: AsyncConnection, task_ids: set[int]
) -> tuple[set[tuple[int, int]], set[int]]:
    """Commands already committed and tasks already finished, as SQL has them now."""
    committed: set[tuple[int, int]] = set()
    finished: set[int] = set()
    ordered = sorted(task_ids)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        rows = await conn.execute(
            select(task_commits.c.task_id, task_commits.c.cmd_seq).where(
                task_commits.c.task_id.in_(chunk)
            )
        )
        committed.update((int(r.task_id), int(r.cmd_seq)) for r in rows)
        done = await conn.execute(
            select(tasks.c.id).where(tasks.c.id.in_(chunk), tasks.c.finished_at.is_not(None))
        )
        finished.update(int(r.id) for r in done)
    return committed, finished


def _log_row(event: TaskEvent, seq: int, text: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "task_id": event.task_id,
        "cmd_seq": event.cmd_seq,
        "attempt": event.attempt,
        "text": text,
    }


def _plan_event(plan: _Plan, event: TaskEvent, seq: int) -> None:
    """One event of an uncommitted command (after the commit check)."""
    match event:
        case Started():
            plan.started.append({"b_id": event.task_id, "b_at": event.at})
        case Progress():
            plan.progress.append(
                {
                    "b_id": event.task_id,
                    "b_seq": seq,
                    "b_value": event.value,
                    "b_start": event.start,
                    "b_target": event.target,
                    "b_unit": event.unit,
                }
            )
        case LogLine():
            plan.logs.append(_log_row(event, seq, event.text))
        case Output():
            plan.files.append(
                {
                    "id": seq,
                    "task_id": event.task_id,
                    "cmd_seq": event.cmd_seq,
                    "attempt": event.attempt,
                    "name": event.file.name,
                    "data_type": event.data_type,
                    "content_type": event.file.content_type,
                    "object_name": event.file.object_name,
                    "size": event.file.size,
                    "token": event.token,
                    "created_at": event.at,
                }
            )
        case Succeeded() | Failed():
            _plan_end(plan, event, seq)


def _plan_end(plan: _Plan, event: Succeeded | Failed, seq: int) -> None:
    plan.commits.append(
        {"task_id": event.task_id, "cmd_seq": event.cmd_seq, "attempt": event.attempt}
    )
    if event.log is not None:
        plan.logs.append(_log_row(event, seq, event.log))
    reason = event.reason if isinstance(event, Failed) else None
    plan.finished.append(
        {
            "b_id": event.task_id,
            "b_status": TaskStatus.FAILURE if isinstance(event, Failed) else TaskStatus.SUCCESS,
            "b_at": event.at,
            "b_reason": reason,
        }
    )
    if isinstance(event, Succeeded):
        plan.succeeded.append({"b_id": event.task_id})


def _accepted_row(event: Accepted) -> dict[str, Any]:
    return {
        "id": event.task_id,
        "status": TaskStatus.PENDING,
        "plugin": event.plugin,
        "plugin_name": event.plugin_name,
        "plugin_version": event.plugin_version,
        "params": event.params,
        "created_at": event.at,
    }


class _Walk:
    """Walks a batch in stream order, planning hot events and flushing before exact ones.

    ``committed`` and ``finished`` may over-approximate SQL (that only sends more events
    through the exact path), never under-approximate it.
    """

    def __init__(
        self,
        conn: AsyncConnection,
        slow: SlowPath,
        committed: set[tuple[int, int]],
        finished: set[int],
    ) -> None:
        self._conn = conn
        self._slow = slow
        self._committed = committed
        self._finished = finished
        self._ended: set[int] = set()  # tasks with an ending event in the pending plan
        self._plan = _Plan()

    def _exact(self, event: TaskEvent) -> bool:
        """Events whose effect depends on their order with the pending plan or on settings
        of the projector for settled commands: they go through ``apply_event``."""
        if not isinstance(event, FAST_KINDS):
            return True
        if (event.task_id, event.cmd_seq) in self._committed or event.task_id in self._ended:
            return True
        return isinstance(event, Progress) and event.task_id in self._finished

    async def feed(self, event: TaskEvent, seq: int) -> None:
        if isinstance(event, Accepted):
            self._plan.task_ids.add(event.task_id)
            self._plan.accepted.append(_accepted_row(event))
            return
        key = (event.task_id, event.cmd_seq)
        if self._exact(event):
            await self.flush()
            await self._slow(self._conn, event, seq)
            if isinstance(event, StepRequested | Succeeded | Failed):
                self._committed.add(key)
            if isinstance(event, Succeeded | Failed | Cancelled):
                self._finished.add(event.task_id)
            return
        self._plan.task_ids.add(event.task_id)
        if isinstance(event, Succeeded | Failed):
            self._committed.add(key)
            self._ended.add(event.task_id)
        _plan_event(self._plan, event, seq)

    async def flush(self) -> None:
        plan, self._plan = self._plan, _Plan()
        self._finished |= self._ended
        self._ended = set()
        await _execute(self._conn, plan)


_STARTED = (
    update(tasks)
    .where(tasks.c.id == bindparam("b_id"), tasks.c.started_at.is_(None))
    .values(started_at=bindparam("b_at"))
)
_PROGRESS = (
    update(tasks)
    .where(tasks.c.id == bindparam("b_id"), tasks.c.progress_seq < bindparam("b_seq"))
    .values(
        progress_value=bindparam("b_value"),
        progress_start=bindparam("b_start"),
        progress_target=bindparam("b_target"),
        progress_unit=bindparam("b_unit"),
        progress_seq=bindparam("b_seq"),
    )
)
_STEPS_CLEARED = (
    update(task_steps)
    .where(task_steps.c.task_id == bindparam("b_id"), task_steps.c.cleared.is_(False))
    .values(cleared=True)
)
_FINISH = (
    update(tasks)
    .where(tasks.c.id == bindparam("b_id"), tasks.c.finished_at.is_(None))
    .values(
        status=bindparam("b_status", type_=tasks.c.status.type),
        finished_at=bindparam("b_at", type_=tasks.c.finished_at.type),
        failure_reason=bindparam("b_reason", type_=tasks.c.failure_reason.type),
    )
)
_PROGRESS_DONE = (
    update(tasks)
    .where(
        tasks.c.id == bindparam("b_id"),
        tasks.c.progress_value.is_not(None),
        tasks.c.progress_value != 0,
    )
    .values(progress_value=tasks.c.progress_target)
)


def _purge(table: Table) -> Any:
    """Rows of the other attempts of a command that has just been committed."""
    return delete(table).where(
        and_(
            table.c.task_id == bindparam("b_task"),
            table.c.cmd_seq == bindparam("b_cmd"),
            table.c.attempt != bindparam("b_attempt"),
        )
    )


def _build_accepted_upsert(module: Any) -> Any:
    stmt = module.insert(tasks)
    filled = ("plugin", "plugin_name", "plugin_version", "params", "created_at")
    return stmt.on_conflict_do_update(
        index_elements=[tasks.c.id],
        set_={name: stmt.excluded[name] for name in filled},
        where=tasks.c.plugin.is_(None),
    )


# building ``excluded`` aliases the table (column proxies): ~4% of a submit's CPU per call
_ACCEPTED_UPSERT = {
    "postgresql": _build_accepted_upsert(postgresql),
    "sqlite": _build_accepted_upsert(sqlite),
}


def _accepted_upsert(conn: AsyncConnection) -> Any:
    return _ACCEPTED_UPSERT[conn.dialect.name]


async def _ensure_tasks(conn: AsyncConnection, plan: _Plan) -> None:
    if plan.accepted:  # insert, or fill in a row that worker events created first
        await _many(conn, _accepted_upsert(conn), plan.accepted)
    bare = sorted(plan.task_ids - {row["id"] for row in plan.accepted})
    if bare:
        rows = [{"id": task_id, "status": TaskStatus.PENDING} for task_id in bare]
        await _many(conn, _insert_ignore(conn, tasks), rows)


async def _execute(conn: AsyncConnection, plan: _Plan) -> None:
    if not plan.task_ids:
        return
    await _ensure_tasks(conn, plan)
    if plan.started:
        await _many(conn, _STARTED, plan.started)
    if plan.progress:
        await _many(conn, _PROGRESS, plan.progress)
    if plan.logs:
        await _many(conn, _insert_ignore(conn, task_log), plan.logs)
    if plan.files:
        await _many(conn, _insert_ignore(conn, task_files), plan.files)
    if plan.commits:
        await _many(conn, _insert_ignore(conn, task_commits), plan.commits)
        purge = [
            {"b_task": c["task_id"], "b_cmd": c["cmd_seq"], "b_attempt": c["attempt"]}
            for c in plan.commits
        ]
        await _many(conn, _purge(task_log), purge)
        await _many(conn, _purge(task_files), purge)
    if plan.succeeded:
        await _many(conn, _STEPS_CLEARED, plan.succeeded)
    if plan.finished:
        await _many(conn, _FINISH, plan.finished)
    if plan.succeeded:
        await _many(conn, _PROGRESS_DONE, plan.succeeded)
