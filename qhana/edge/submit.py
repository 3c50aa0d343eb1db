"""Turning a validated request into a task command plus its ``accepted`` event."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client

from qhana.bus.connection import require_connected
from qhana.bus.publish import publish_command, publish_event, publish_event_unacked
from qhana.db.engine import run_read
from qhana.db.task_views import load_task
from qhana.edge.group_commit import GroupCommit
from qhana.errors import StepNotOpen, TaskNotFound
from qhana.logging import get_logger
from qhana.wire import (
    FileRef,
    PluginInfo,
    StepSubmitted,
    TaskCommand,
    TaskEvent,
    accepted_event,
)

__all__ = ["submit_step", "submit_task"]

log = get_logger("qhana.edge")

_VARIANT_MASK, _VARIANT = 0xC000 << 48, 0x8000 << 48  # RFC 4122
_VERSION_MASK, _VERSION = 0xF000 << 64, 4 << 76


def _uuid4_hex() -> str:
    """``uuid.uuid4().hex``, the same bits and format without building a ``UUID`` (whose
    ``__init__`` was ~1 % of a submit's CPU)."""
    n = int.from_bytes(os.urandom(16), "big")
    n = (n & ~_VARIANT_MASK) | _VARIANT
    n = (n & ~_VERSION_MASK) | _VERSION
    return f"{n:032x}"


async def _record(nc: Client, commits: GroupCommit, event: TaskEvent) -> None:
    """Publish the event and project it at once (group commit), so the next GET sees it."""
    seq = await publish_event(nc, event)
    await commits.apply(event, seq)


async def submit_task(
    nc: Client,
    plugin: PluginInfo,
    params: dict[str, Any],
    files: dict[str, FileRef],
) -> int:
    """Publish the first command of a new task; its stream sequence is the task id."""
    require_connected(nc)
    now = datetime.now(UTC)
    command = TaskCommand(
        command_id=_uuid4_hex(),
        plugin=plugin.identifier,
        params=params,
        files=files,
        submitted_at=now,
    )
    task_id = await publish_command(nc, plugin.queue, command)
    # Not projected here: until the recorder has, reads find the task by this event
    # (qhana/edge/unrecorded.py), so a submit never waits for SQL. Nor is its ack awaited:
    # the stored command is the task. Until a worker acks it, a read that comes before
    # this event is stored builds the same event from the command; the worker folds it
    # into its ``started`` (qhana.wire.Started), so whichever is stored first, every reader
    # sees ``accepted`` before the worker's events.
    accepted = accepted_event(command, task_id, plugin.name, plugin.version)
    try:
        await publish_event_unacked(nc, accepted)
    except Exception as exc:  # closed between the two publishes: the stand-ins remain
        log.warning("edge.accepted_unpublished", task_id=task_id, error=str(exc))
    return task_id


async def submit_step(
    nc: Client,
    commits: GroupCommit,
    plugin: PluginInfo,
    task_id: int,
    step_id: str,
    params: dict[str, Any],
) -> None:
    """Publish the command of an open step and clear the step (409 if it is not open)."""
    require_connected(nc)
    task = await run_read(commits.engine, load_task, task_id)
    if task is None or task.plugin != plugin.identifier:
        raise TaskNotFound(task_id)
    if not task.steps or task.steps[-1].step_id != step_id or task.steps[-1].cleared:
        raise StepNotOpen(task_id, step_id)
    position = len(task.steps)
    now = datetime.now(UTC)
    command = TaskCommand(
        # deterministic: a double submission of the same step is dropped by JetStream dedupe
        command_id=f"{task_id}.{step_id}.{position}",
        task_id=task_id,
        plugin=plugin.identifier,
        step_id=step_id,
        params=params,
        submitted_at=now,
    )
    cmd_seq = await publish_command(nc, plugin.queue, command)
    await _record(
        nc,
        commits,
        StepSubmitted(
            task_id=task_id,
            at=now,
            cmd_seq=cmd_seq,
            event_id=f"{task_id}.{step_id}.{position}.submitted",
            step_id=step_id,
            params=params,
        ),
    )
