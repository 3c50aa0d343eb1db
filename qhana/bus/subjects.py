"""Every subject, stream and bucket name in one place."""

from __future__ import annotations

from qhana.wire.naming import subject_token

__all__ = [
    "ANNOUNCE_ALL",
    "CONTROL_PREFIX",
    "EVENTS_STREAM",
    "FILES_BUCKET",
    "HEARTBEAT_ALL",
    "PERIODIC_BUCKET",
    "PLUGINS_STREAM",
    "RECORDER_DURABLE",
    "WEBHOOKS_DURABLE",
    "WEBHOOKS_STREAM",
    "REGISTRY_CHANGED",
    "SEED_POLL",
    "STATE_BUCKET",
    "TASKS_STREAM",
    "UP_FINISHED",
    "announce",
    "cancel",
    "cancelled_marker",
    "event",
    "heartbeat",
    "plugin_static_object",
    "queue_consumer",
    "queue_filter",
    "recorded",
    "task",
    "ui_request",
    "webhook_job",
    "WITHDRAW_ALL",
    "withdraw",
]

TASKS_STREAM = "QHANA_TASKS"
EVENTS_STREAM = "QHANA_EVENTS"
PLUGINS_STREAM = "QHANA_PLUGINS"
WEBHOOKS_STREAM = "QHANA_WEBHOOKS"
RECORDER_DURABLE = "recorder"
WEBHOOKS_DURABLE = "webhooks"
STATE_BUCKET = "qhana-task-state"
FILES_BUCKET = "qhana-files"
PERIODIC_BUCKET = "qhana-periodic"
CONTROL_PREFIX = "qhana.control"

ANNOUNCE_ALL = "qhana.plugins.announce.*"
WITHDRAW_ALL = "qhana.plugins.withdraw.*"
HEARTBEAT_ALL = "qhana.plugins.heartbeat.*"
# core NATS: the registry notifies after each catalogue change; the edge asks for seed polls
REGISTRY_CHANGED = "qhana.registry.changed"
SEED_POLL = "qhana.registry.seeds.poll"
UP_FINISHED = "qhana.up.finished"  # `qhana up`'s helper recorder: tasks it saw finish


def task(queue: str, plugin_identifier: str) -> str:
    return f"qhana.tasks.{queue}.{subject_token(plugin_identifier)}"


def queue_filter(queue: str) -> str:
    return f"qhana.tasks.{queue}.>"


def queue_consumer(queue: str) -> str:
    return f"tasks-{queue}"


def event(task_id: int) -> str:
    return f"qhana.events.task.{task_id}"


def webhook_job(task_id: int) -> str:
    """Stream ``WEBHOOKS_STREAM``: an event of a task with webhook subscriptions, once in SQL."""
    return f"qhana.webhooks.task.{task_id}"


def announce(runner_id: str) -> str:
    return f"qhana.plugins.announce.{subject_token(runner_id)}"


def withdraw(runner_id: str) -> str:
    return f"qhana.plugins.withdraw.{subject_token(runner_id)}"


def heartbeat(runner_id: str) -> str:
    return f"qhana.plugins.heartbeat.{subject_token(runner_id)}"


def plugin_static_object(identifier: str, path: str) -> str:
    """Object name (in ``FILES_BUCKET``) of a static file of a plugin."""
    return f"plugins/{identifier}/static/{path}"


def recorded(task_id: int) -> str:
    """Core subject the recorder notifies after committing events of a task to SQL."""
    return f"qhana.recorded.task.{task_id}"


def cancel(task_id: int) -> str:
    return f"{CONTROL_PREFIX}.task.{task_id}.cancel"


def cancelled_marker(task_id: int) -> str:
    """Key in ``STATE_BUCKET``: the task was cancelled; a worker must not start it."""
    return f"cancelled.{task_id}"


def ui_request(plugin_identifier: str) -> str:
    return f"qhana.ui.{subject_token(plugin_identifier)}"
