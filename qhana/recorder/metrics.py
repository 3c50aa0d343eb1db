"""Task counters and durations, read inside the recorder's projecting transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from qhana.db.tables import tasks
from qhana.metrics import Metrics
from qhana.wire import Cancelled, Failed, Succeeded, TaskEvent

__all__ = ["FinishedRow", "count_finished", "finished_rows", "summarise"]

FinishedRow = tuple[Any, ...]
"""id, plugin, status, created_at, finished_at of a task a batch finished."""

_FINISHING = (Succeeded, Failed, Cancelled)
_FINISHED = select(
    tasks.c.id, tasks.c.plugin, tasks.c.status, tasks.c.created_at, tasks.c.finished_at
).where(tasks.c.id.in_(bindparam("ids", expanding=True)), tasks.c.finished_at.is_not(None))


def finished_rows(conn: Connection, events: Sequence[tuple[TaskEvent, int]]) -> list[FinishedRow]:
    """The rows of the tasks ``events`` finished, read in the transaction that projected
    them (no hop of its own: a separate read after each batch waited behind a busy loop)."""
    ids = {event.task_id for event, _ in events if isinstance(event, _FINISHING)}
    if not ids:
        return []
    return [tuple(row) for row in conn.execute(_FINISHED, {"ids": sorted(ids)})]


def summarise(rows: Sequence[FinishedRow]) -> list[tuple[int, str, str, float | None]]:
    """Each finished task as id, plugin, final status and duration in seconds."""
    summary: list[tuple[int, str, str, float | None]] = []
    for task_id, plugin, status, created_at, finished_at in rows:
        duration_s = None
        if created_at is not None:
            duration_s = (finished_at - created_at).total_seconds()
        summary.append((int(task_id), str(plugin or "unknown"), str(status), duration_s))
    return summary


def count_finished(metrics: Metrics, rows: Sequence[FinishedRow]) -> None:
    """Counts each finished task by plugin and final status, with its duration."""
    for task_id, plugin, status, duration_s in summarise(rows):
        metrics.task_finished(task_id, plugin, status, duration_s)
