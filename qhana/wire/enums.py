"""Enumerations shared by every role."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL_KINDS", "EventKind", "PluginType", "TaskStatus"]


class TaskStatus(StrEnum):
    """Task status strings exactly as the upstream runner reports them."""

    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    UNKNOWN = "UNKNOWN"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCESS, TaskStatus.FAILURE)


class PluginType(StrEnum):
    PROCESSING = "processing"
    VISUALIZATION = "visualization"
    CONVERSION = "conversion"
    DATALOADER = "dataloader"
    INTERACTION = "interaction"


class EventKind(StrEnum):
    """Kinds of task lifecycle events on ``qhana.events.task.<task_id>``."""

    ACCEPTED = "accepted"
    STEP_SUBMITTED = "step-submitted"
    STARTED = "started"
    PROGRESS = "progress"
    LOG = "log"
    OUTPUT = "output"
    STEP_REQUESTED = "step-requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_KINDS = frozenset({EventKind.SUCCEEDED, EventKind.FAILED, EventKind.CANCELLED})
"""The kinds that end a task (an ``EventKind`` equals its string value)."""
