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
* what SQL holds of the batch's tasks is read once, in one query (``Known``): commits,
  finished tasks, and whether a task row, log or file rows, steps or progress exist, so
  the purge, step-clearing and final-progress statements run only for tasks that can
  have such rows (the walk marks every task it changes as having them all); the batch
  is then walked in
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

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from qhana.db.projector_sql import Known, Plan, execute_plan, file_row, known, log_row
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
    unfold,
)

__all__ = ["FAST_KINDS", "apply_batch"]

FAST_KINDS = (Accepted, Started, Progress, LogLine, Output, Succeeded, Failed)
SlowPath = Callable[[Connection, TaskEvent, int], None]


def apply_batch(conn: Connection, events: Sequence[tuple[TaskEvent, int]], slow: SlowPath) -> None:
    """Apply ``(event, stream_seq)`` pairs in order; ``slow`` applies one event exactly.

    Events folded into an ending event (``unfold``) are applied just before it, with its
    stream sequence."""
    if not events:
        return
    events = [(part, seq) for event, seq in events for part in unfold(event)]
    # what SQL already knows matters only to events other than ``accepted``
    others = {event.task_id for event, _ in events if not isinstance(event, Accepted)}
    walk = _Walk(conn, slow, known(conn, others) if others else Known())
    for event, seq in events:
        walk.feed(event, seq)
    walk.flush()


def _plan_event(plan: Plan, event: TaskEvent, seq: int) -> None:
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
            plan.logs.append(log_row(event, seq, event.text))
        case Output():
            plan.files.append(file_row(event, seq))
        case Succeeded() | Failed():
            _plan_end(plan, event, seq)


def _plan_end(plan: Plan, event: Succeeded | Failed, seq: int) -> None:
    plan.commits.append(
        {"task_id": event.task_id, "cmd_seq": event.cmd_seq, "attempt": event.attempt}
    )
    if event.log is not None:
        plan.logs.append(log_row(event, seq, event.log))
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
        plan.succeeded.add(event.task_id)


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
        conn: Connection,
        slow: SlowPath,
        known: Known,
    ) -> None:
        self._conn = conn
        self._slow = slow
        self._known = known
        self._committed = known.committed
        self._finished = known.finished
        self._ended: set[int] = set()  # tasks with an ending event in the pending plan
        self._accepted: set[int] = set()  # tasks whose accepted this walk planned already
        self._plan = Plan()

    def _exact(self, event: TaskEvent) -> bool:
        """Events whose effect depends on their order with the pending plan or on settings
        of the projector for settled commands: they go through ``apply_event``."""
        if not isinstance(event, FAST_KINDS):
            return True
        if (event.task_id, event.cmd_seq) in self._committed or event.task_id in self._ended:
            return True
        return isinstance(event, Progress) and event.task_id in self._finished

    def feed(self, event: TaskEvent, seq: int) -> None:
        if isinstance(event, Accepted):
            if event.task_id in self._accepted:  # the edge's and the worker's copy
                return
            self._accepted.add(event.task_id)
            self._plan.task_ids.add(event.task_id)
            self._plan.accepted.append(_accepted_row(event))
            return
        key = (event.task_id, event.cmd_seq)
        if self._exact(event):
            self.flush()
            self._slow(self._conn, event, seq)
            self._known.touched({event.task_id})
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

    def flush(self) -> None:
        plan, self._plan = self._plan, Plan()
        self._finished |= self._ended
        self._ended = set()
        execute_plan(self._conn, plan, self._known)
        self._known.touched(plan.task_ids)
