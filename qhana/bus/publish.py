"""Publishing task events and commands to JetStream, with ``Nats-Msg-Id`` for dedupe."""

from __future__ import annotations

from nats.js import JetStreamContext

from qhana.bus import subjects
from qhana.errors import BusUnavailable
from qhana.wire import TaskCommand, TaskEvent

__all__ = ["publish_command", "publish_event"]


async def publish_event(js: JetStreamContext, event: TaskEvent, timeout_s: float = 5.0) -> int:
    """Publish one event; returns its stream sequence. Duplicates (same event_id) are dropped."""
    try:
        ack = await js.publish(
            subjects.event(event.task_id),
            event.model_dump_json().encode(),
            timeout=timeout_s,
            headers={"Nats-Msg-Id": event.event_id},
        )
    except Exception as exc:
        raise BusUnavailable(
            f"publishing {event.kind} of task {event.task_id} failed: {exc}"
        ) from exc
    return int(ack.seq)


async def publish_command(
    js: JetStreamContext, queue: str, command: TaskCommand, timeout_s: float = 5.0
) -> int:
    """Publish a task command to its queue; returns its stream sequence."""
    try:
        ack = await js.publish(
            subjects.task(queue, command.plugin),
            command.model_dump_json().encode(),
            timeout=timeout_s,
            headers={"Nats-Msg-Id": command.command_id},
        )
    except Exception as exc:
        raise BusUnavailable(f"publishing a command for {command.plugin} failed: {exc}") from exc
    return int(ack.seq)
