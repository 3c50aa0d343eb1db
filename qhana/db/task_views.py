"""Reading a task back out of SQL, as plain dataclasses the edge turns into JSON."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Exists, Table, bindparam, exists, select
from sqlalchemy.engine import Connection

from qhana.db.tables import task_files, task_log, task_steps, tasks
from qhana.wire import TaskStatus

__all__ = ["FileView", "StepView", "TaskView", "load_file", "load_task"]


@dataclass(frozen=True, slots=True)
class FileView:
    id: int
    task_id: int
    name: str
    data_type: str
    content_type: str
    object_name: str
    size: int
    token: str
    content: bytes | None = None  # an inline output's bytes (only ``load_file`` reads them)


@dataclass(frozen=True, slots=True)
class StepView:
    step_id: str
    cleared: bool
    prefill: dict[str, str]


@dataclass(frozen=True, slots=True)
class TaskView:
    id: int
    plugin: str | None
    params: dict[str, Any] | None
    status: TaskStatus
    log: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    progress: tuple[float, float, float, str] | None
    steps: list[StepView]
    outputs: list[FileView]
    failure_reason: str | None


def _file(row: Any) -> FileView:
    return FileView(
        id=row.id,
        task_id=row.task_id,
        name=row.name,
        data_type=row.data_type,
        content_type=row.content_type,
        object_name=row.object_name,
        size=row.size,
        token=row.token,
        content=row._mapping.get("content"),
    )


def _has(table: Table) -> Exists:
    return exists().where(table.c.task_id == bindparam("task_id"))


# built once (bound by ``task_id``): building them per request was ~20% of a GET's CPU
_ROW = select(
    tasks,
    _has(task_log).label("has_log"),
    _has(task_steps).label("has_steps"),
    _has(task_files).label("has_files"),
).where(tasks.c.id == bindparam("task_id"))
_LOG = select(task_log.c.text).where(task_log.c.task_id == bindparam("task_id"))
_STEPS = select(task_steps).where(task_steps.c.task_id == bindparam("task_id"))
_FILES = select(*(c for c in task_files.c if c.name != "content")).where(
    task_files.c.task_id == bindparam("task_id")
)
_LOG = _LOG.order_by(task_log.c.seq)
_STEPS = _STEPS.order_by(task_steps.c.seq)
_FILES = _FILES.order_by(task_files.c.id)


def load_task(conn: Connection, task_id: int) -> TaskView | None:
    """The task row says which child tables have rows, so a pending task is one query.

    Synchronous: run it with ``run_read`` (or ``AsyncConnection.run_sync``)."""
    bound = {"task_id": task_id}
    row = conn.execute(_ROW, bound).first()
    if row is None:
        return None
    lines: Iterable[str] = ()
    steps: Iterable[Any] = ()
    files: Iterable[Any] = ()
    if row.has_log:
        lines = conn.scalars(_LOG, bound)
    if row.has_steps:
        steps = conn.execute(_STEPS, bound)
    if row.has_files:
        files = conn.execute(_FILES, bound)
    progress = None
    if row.progress_value is not None:
        progress = (row.progress_value, row.progress_start, row.progress_target, row.progress_unit)
    return TaskView(
        id=row.id,
        plugin=row.plugin,
        params=row.params,
        status=TaskStatus(row.status),
        log="\n".join(lines),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        progress=progress,
        steps=[StepView(s.step_id, bool(s.cleared), dict(s.prefill or {})) for s in steps],
        outputs=[_file(f) for f in files],
        failure_reason=row.failure_reason,
    )


_FILE = select(task_files).where(task_files.c.id == bindparam("file_id"))


def load_file(conn: Connection, file_id: int) -> FileView | None:
    row = conn.execute(_FILE, {"file_id": file_id}).first()
    return None if row is None else _file(row)
