"""SQL of the batched projection: the statements, built once, and one plan's execution.

``projector_batch`` decides *what* a batch does (in stream order, exactly as ``apply_event``);
this module runs a plan with one ``executemany`` per statement kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, Table, bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from qhana.db.tables import task_commits, task_files, task_log, task_steps, tasks
from qhana.wire import Output, TaskEvent, TaskStatus

__all__ = ["Known", "Plan", "execute_plan", "file_row", "known", "log_row"]

_CHUNK = 400
# statements over a list of task ids: one parameter list per batch, not one row per task
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)


@dataclass
class Plan:
    """Parameter rows per statement kind, in stream order, ready for ``executemany``."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    task_ids: set[int] = field(default_factory=set)
    started: list[dict[str, Any]] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)
    succeeded: set[int] = field(default_factory=set)  # task ids


def log_row(event: TaskEvent, seq: int, text: str) -> dict[str, Any]:
    """The ``task_log`` row of one log entry of ``event`` (keyed by its stream sequence)."""
    return {
        "seq": seq,
        "task_id": event.task_id,
        "cmd_seq": event.cmd_seq,
        "attempt": event.attempt,
        "text": text,
    }


def file_row(event: Output, seq: int) -> dict[str, Any]:
    """The ``task_files`` row of an output (its id is the event's stream sequence)."""
    return {
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
        # inline bytes outlive the event (QHANA_EVENTS ages out, SQL does not)
        "content": event.file.inline,
    }


def _dialect(conn: Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


_IGNORE_CACHE: dict[tuple[str, str], Any] = {}  # statements only: built once, immutable


def _insert_ignore(conn: Connection, table: Table) -> Any:
    key = (conn.dialect.name, table.name)
    stmt = _IGNORE_CACHE.get(key)
    if stmt is None:
        stmt = _IGNORE_CACHE[key] = _dialect(conn).insert(table).on_conflict_do_nothing()
    return stmt


def _many(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        conn.execute(stmt, rows[start : start + _CHUNK])


def _for_ids(conn: Connection, stmt: Any, ids: list[int]) -> None:
    for start in range(0, len(ids), _CHUNK):
        conn.execute(stmt, {"ids": ids[start : start + _CHUNK]})


@dataclass
class Known:
    """What SQL holds of a batch's tasks before it is projected (one query).

    ``rows``, ``children``, ``steps`` and ``progress`` only ever skip statements that would
    change nothing; whoever changes SQL for a task after the query (an exact event, a
    flushed plan) must call ``touched`` so they over-approximate SQL from then on."""

    committed: set[tuple[int, int]] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    rows: set[int] = field(default_factory=set)  # the task row exists
    children: set[int] = field(default_factory=set)  # it has log or file rows
    steps: set[int] = field(default_factory=set)  # it has step rows
    progress: set[int] = field(default_factory=set)  # its progress is set

    def touched(self, task_ids: set[int]) -> None:
        for known in (self.rows, self.children, self.steps, self.progress):
            known |= task_ids


def _exists_for_task(table: Table) -> Any:
    return exists().where(table.c.task_id == tasks.c.id)


_KNOWN = (
    select(
        tasks.c.id,
        tasks.c.finished_at.is_not(None).label("finished"),
        tasks.c.progress_value.is_not(None).label("progress"),
        (_exists_for_task(task_log) | _exists_for_task(task_files)).label("children"),
        _exists_for_task(task_steps).label("steps"),
        task_commits.c.cmd_seq,
    )
    .select_from(tasks.outerjoin(task_commits, task_commits.c.task_id == tasks.c.id))
    .where(tasks.c.id.in_(_IDS))
)


def known(conn: Connection, task_ids: set[int]) -> Known:
    """Commands already committed, finished tasks and which rows exist, as SQL has them."""
    found = Known()
    ordered = sorted(task_ids)
    for start in range(0, len(ordered), _CHUNK):
        for r in conn.execute(_KNOWN, {"ids": ordered[start : start + _CHUNK]}):
            task_id = int(r.id)
            found.rows.add(task_id)
            if r.cmd_seq is not None:
                found.committed.add((task_id, int(r.cmd_seq)))
            for flag, into in (
                (r.finished, found.finished),
                (r.progress, found.progress),
                (r.children, found.children),
                (r.steps, found.steps),
            ):
                if flag:
                    into.add(task_id)
    return found


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
    .where(task_steps.c.task_id.in_(_IDS), task_steps.c.cleared.is_(False))
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
        tasks.c.id.in_(_IDS),
        tasks.c.progress_value.is_not(None),
        tasks.c.progress_value != 0,
    )
    .values(progress_value=tasks.c.progress_target)
)


def _build_purge(table: Table) -> Any:
    """Rows of the given tasks that belong to an attempt other than the committed one of
    their command. Run right after the plan's commits: in a plan every commit is new (a
    command committed before takes the exact path), and a command committed earlier has no
    such rows left (purged then, later events of other attempts are ignored), so this
    deletes what one delete per new commit would."""
    return delete(table).where(
        table.c.task_id.in_(_IDS),
        exists().where(
            task_commits.c.task_id == table.c.task_id,
            task_commits.c.cmd_seq == table.c.cmd_seq,
            task_commits.c.attempt != table.c.attempt,
        ),
    )


_PURGE = {table.name: _build_purge(table) for table in (task_log, task_files)}


def _purge(table: Table) -> Any:
    return _PURGE[table.name]


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


def _accepted_upsert(conn: Connection) -> Any:
    return _ACCEPTED_UPSERT[conn.dialect.name]


def _ensure_tasks(conn: Connection, plan: Plan, known: Known) -> None:
    if plan.accepted:  # insert, or fill in a row that worker events created first
        _many(conn, _accepted_upsert(conn), plan.accepted)
    bare = sorted(plan.task_ids - {row["id"] for row in plan.accepted} - known.rows)
    if bare:
        rows = [{"id": task_id, "status": TaskStatus.PENDING} for task_id in bare]
        _many(conn, _insert_ignore(conn, tasks), rows)


def _to_purge(plan: Plan, known: Known, rows: list[dict[str, Any]]) -> list[int]:
    """Committed tasks that may hold rows of another attempt: in SQL, or in ``rows``."""
    attempt = {(c["task_id"], c["cmd_seq"]): c["attempt"] for c in plan.commits}
    stale = {
        r["task_id"]
        for r in rows
        if attempt.get((r["task_id"], r["cmd_seq"]), r["attempt"]) != r["attempt"]
    }
    return sorted({t for t, _ in attempt if t in known.children or t in stale})


def execute_plan(conn: Connection, plan: Plan, known: Known) -> None:
    """Run ``plan``; ``known`` lets it skip statements that would change nothing."""
    if not plan.task_ids:
        return
    _ensure_tasks(conn, plan, known)
    if plan.started:
        _many(conn, _STARTED, plan.started)
    if plan.progress:
        _many(conn, _PROGRESS, plan.progress)
    if plan.logs:
        _many(conn, _insert_ignore(conn, task_log), plan.logs)
    if plan.files:
        _many(conn, _insert_ignore(conn, task_files), plan.files)
    if plan.commits:
        _many(conn, _insert_ignore(conn, task_commits), plan.commits)
        if purge := _to_purge(plan, known, plan.logs):
            _for_ids(conn, _purge(task_log), purge)
        if purge := _to_purge(plan, known, plan.files):
            _for_ids(conn, _purge(task_files), purge)
    if with_steps := sorted(plan.succeeded & known.steps):
        _for_ids(conn, _STEPS_CLEARED, with_steps)
    if plan.finished:
        _many(conn, _FINISH, plan.finished)
    progressed = known.progress | {row["b_id"] for row in plan.progress}
    if with_progress := sorted(plan.succeeded & progressed):
        _for_ids(conn, _PROGRESS_DONE, with_progress)
