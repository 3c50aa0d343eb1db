"""A task's worker context on a bus of its own, and an ``accepted`` event to publish or
project, for tests below the level of a whole stack."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from qhana.bus import apply_streams, start_nats_server, subjects
from qhana.wire import Accepted
from qhana.worker.context import WorkerContext


def accepted(task_id: int, params: Any = None) -> Accepted:
    """The ``accepted`` event of task ``task_id`` of plugin ``p@v1`` (params ``{"n": id}``)."""
    return Accepted(
        task_id=task_id,
        at=datetime.now(UTC),
        cmd_seq=task_id,
        event_id=f"{task_id}.accepted",
        plugin="p@v1",
        plugin_name="p",
        plugin_version="v1",
        params={"n": task_id} if params is None else params,
    )


@contextlib.asynccontextmanager
async def worker_context(
    store: Path, *, task_id: int = 7, **options: Any
) -> AsyncIterator[tuple[Client, WorkerContext]]:
    """A nats-server on ``store`` with the platform's streams, a client, and the context of
    attempt 1 of task ``task_id`` (``options``: more ``WorkerContext`` arguments)."""
    async with start_nats_server(store) as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await apply_streams(js)
            files = await js.object_store(subjects.FILES_BUCKET)
            yield (
                nc,
                WorkerContext(
                    js=js,
                    files=files,
                    task_id=task_id,
                    cmd_seq=task_id,
                    attempt=1,
                    state={},
                    uploads={},
                    **options,
                ),
            )
        finally:
            await nc.close()
