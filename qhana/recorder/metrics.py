"""Task counters and durations, observed by the recorder right after each SQL commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.db.engine import run_read
from qhana.db.tables import tasks
from qhana.metrics import Metrics
from qhana.wire import Cancelled, Failed, Succeeded, TaskEvent

__all__ = ["TaskMetrics"]

_FINISHING = (Succeeded, Failed, Cancelled)
_FINISHED = select(
    tasks.c.id, tasks.c.plugin, tasks.c.status, tasks.c.created_at, tasks.c.finished_at
).where(tasks.c.id.in_(bindparam("ids", expanding=True)), tasks.c.finished_at.is_not(None))


def _finished(conn: Connection, ids: list[int]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(_FINISHED, {"ids": ids})]


class TaskMetrics:
    """Counts each task that the committed batch finished, by plugin and final status."""

    def __init__(self, engine: AsyncEngine, metrics: Metrics) -> None:
        self._engine = engine
        self._metrics = metrics

    async def __call__(self, events: Sequence[tuple[TaskEvent, int]]) -> None:
        ids = {event.task_id for event, _ in events if isinstance(event, _FINISHING)}
        if not ids:
            return
        rows = await run_read(self._engine, _finished, sorted(ids))  # one hop on SQLite
        for task_id, plugin, status, created_at, finished_at in rows:
            duration_s = None
            if created_at is not None:
                duration_s = (finished_at - created_at).total_seconds()
            self._metrics.task_finished(
                int(task_id), str(plugin or "unknown"), str(status), duration_s
            )
