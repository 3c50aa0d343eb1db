"""Group commit: the edge projects the events it has just published, many per transaction.

Every submit waits until its ``accepted`` event is in SQL (so the ``303`` target already
shows the task). Concurrent submits share one transaction: while one batch commits, the
next one gathers. A batch that fails is retried one event per transaction, so a bad event
fails only its own request.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.db.engine import run_write
from qhana.db.projector import apply_event, apply_events
from qhana.wire import TaskEvent

__all__ = ["GroupCommit"]

_Pending = tuple[TaskEvent, int, "asyncio.Future[None]"]


class GroupCommit:
    """Projects ``(event, stream_seq)`` pairs for concurrent callers in shared transactions."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 256) -> None:
        self.engine = engine
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._runner: asyncio.Task[None] | None = None
        self.transactions = 0  # shared transactions so far (tests, metrics)

    async def apply(self, event: TaskEvent, seq: int) -> None:
        """Return once ``event`` is committed to SQL (raises what projecting it raised)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, seq, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        await future

    async def _run(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self.transactions += 1
            try:
                await run_write(
                    self.engine, apply_events, [(event, seq) for event, seq, _ in batch]
                )
            except Exception:
                await self._one_by_one(batch)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _one_by_one(self, batch: list[_Pending]) -> None:
        for event, seq, future in batch:
            try:
                await run_write(self.engine, apply_event, event, seq)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(None)
