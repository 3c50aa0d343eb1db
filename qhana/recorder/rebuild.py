"""``qhana recorder --rebuild``: throw the task projection away and replay it from the stream.

SQL is a projection of ``QHANA_EVENTS``. A rebuild deletes the ``recorder`` consumer (so
nothing projects meanwhile), empties the task tables, and creates the consumer again from
the first event; the recorder then replays every event still in the stream (see
``QHANA_EVENTS_MAX_AGE_S``). The projection is idempotent, so running recorders simply
continue on the new consumer. Catalogue, registry and webhook tables are not touched, and
the replayed events fire no webhook again: the new consumer carries the last event sequence
before the rebuild as its metadata (``qhana/recorder/hook_jobs.py``).
"""

from __future__ import annotations

import dataclasses

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.bus import subjects
from qhana.bus.streams import consumer_config, load_spec
from qhana.db.tables import task_commits, task_files, task_log, task_steps, tasks
from qhana.logging import get_logger
from qhana.recorder.hook_jobs import REPLAY_METADATA

__all__ = ["reset_projection"]

log = get_logger("qhana.recorder.rebuild")

_TASK_TABLES = (task_commits, task_files, task_log, task_steps, tasks)


async def reset_projection(js: JetStreamContext, engine: AsyncEngine, *, replicas: int) -> int:
    """Delete the recorder consumer, empty the task tables, recreate the consumer.

    Returns the number of events the new consumer will replay.
    """
    item = next(
        c
        for c in load_spec().consumers
        if c.get("durable") == subjects.RECORDER_DURABLE and c["stream"] == subjects.EVENTS_STREAM
    )
    # read before the consumer goes: later events may not have been projected yet
    last_seq = (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
    try:
        await js.delete_consumer(subjects.EVENTS_STREAM, subjects.RECORDER_DURABLE)
    except NotFoundError:
        pass
    async with engine.begin() as conn:
        for table in _TASK_TABLES:
            await conn.execute(delete(table))
    config = dataclasses.replace(
        consumer_config(item, None, replicas), metadata={REPLAY_METADATA: str(last_seq)}
    )
    info = await js.add_consumer(subjects.EVENTS_STREAM, config)
    pending = int(info.num_pending or 0)
    log.info("recorder.rebuild_started", replay=pending)
    return pending
