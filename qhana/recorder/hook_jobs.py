"""The recorder's side of webhooks: which events of a batch fire them, forwarded as jobs.

Only an event of a kind that fires webhooks (``upstream_kinds``) of a task with at least one
subscription becomes a job on ``QHANA_WEBHOOKS``; every other event costs the webhook side
nothing (one look-up per batch, in the projecting transaction). The recorder forwards after
the commit and before it acks, so a job always finds its event in SQL, and a failed publish
sends the batch back to be projected (idempotently) and forwarded again: ``Nats-Msg-Id`` =
event id drops the repeat.

A projection rebuild replays old events; their webhooks fired long ago. The rebuild stores
the last sequence of ``QHANA_EVENTS`` before it in the recorder consumer's metadata
(``REPLAY_METADATA``), and events up to it are not forwarded again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from sqlalchemy import select
from sqlalchemy.engine import Connection

from qhana.bus import subjects
from qhana.bus.streams import ensure_stream, retire_consumers
from qhana.db.tables import webhooks
from qhana.recorder.webhooks import upstream_kinds
from qhana.wire import TaskEvent

__all__ = ["REPLAY_METADATA", "HookForwarder", "Job", "prepare_webhooks", "select_jobs"]

REPLAY_METADATA = "qhana_webhooks_after_seq"


@dataclass(frozen=True, slots=True)
class Job:
    task_id: int
    seq: int  # of the event in QHANA_EVENTS
    event_id: str
    data: bytes  # the event, byte for byte


def select_jobs(conn: Connection, batch: Sequence[tuple[TaskEvent, int, bytes]]) -> list[Job]:
    """The events of ``batch`` (event, stream sequence, raw bytes) that fire webhooks."""
    candidates = [item for item in batch if upstream_kinds(item[0])]
    if not candidates:
        return []
    ids = {event.task_id for event, _, _ in candidates}
    rows = conn.execute(select(webhooks.c.task_id).where(webhooks.c.task_id.in_(ids)).distinct())
    watched = {int(row.task_id) for row in rows}
    return [
        Job(event.task_id, seq, event.event_id, data)
        for event, seq, data in candidates
        if event.task_id in watched
    ]


class HookForwarder:
    """Publishes jobs to ``QHANA_WEBHOOKS`` (acked; raises when JetStream does not store one)."""

    def __init__(self, js: JetStreamContext, *, timeout_s: float = 5.0) -> None:
        self._js = js
        self._timeout_s = timeout_s
        self.forwarded = 0

    async def forward(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        after = await self._replayed_up_to()
        for job in jobs:
            if job.seq <= after:
                continue
            await self._js.publish(
                subjects.webhook_job(job.task_id),
                job.data,
                timeout=self._timeout_s,
                headers={"Nats-Msg-Id": job.event_id},
            )
            self.forwarded += 1

    async def _replayed_up_to(self) -> int:
        info = await self._js.consumer_info(subjects.EVENTS_STREAM, subjects.RECORDER_DURABLE)
        raw = (info.config.metadata or {}).get(REPLAY_METADATA, "")
        return int(raw) if raw.isdigit() else 0


async def prepare_webhooks(js: JetStreamContext, *, replicas: int) -> None:
    """The jobs stream and its consumer exist (an upgrade without ``qhana streams apply``);
    the consumer of earlier versions that read every event is gone."""
    await ensure_stream(js, subjects.WEBHOOKS_STREAM, replicas=replicas)
    await retire_consumers(js)
