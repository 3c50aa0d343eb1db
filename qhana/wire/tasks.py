"""Task commands (``QHANA_TASKS``) and task lifecycle events (``QHANA_EVENTS``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from qhana.wire.enums import EventKind

__all__ = [
    "Accepted",
    "Cancelled",
    "Failed",
    "FileRef",
    "LogLine",
    "Output",
    "Progress",
    "Started",
    "StepRequested",
    "StepSubmitted",
    "Succeeded",
    "TaskCommand",
    "TaskEvent",
    "accepted_event",
    "parse_event",
    "unfold",
]


def _absent(value: object) -> bool:
    return value is None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileRef(_Wire):
    """A file in the Object Store ``qhana-files``, or a small output's bytes ``inline``."""

    # Exactly one of object_name (non-empty) and inline is set. Inline bytes travel as
    # base64url in JSON; a FileRef without them serializes exactly as before inline existed.

    model_config = ConfigDict(
        extra="forbid", frozen=True, ser_json_bytes="base64", val_json_bytes="base64"
    )

    object_name: str = Field(description="object in qhana-files; empty for an inline file")
    name: str
    content_type: str
    size: int
    # omitted when absent: uploads and large outputs keep exactly their old JSON
    inline: bytes | None = Field(
        default=None,
        description="the file's bytes (base64url) when small enough to inline",
        exclude_if=_absent,
    )

    @model_validator(mode="after")
    def _one_source(self) -> FileRef:
        if (self.inline is None) == (self.object_name == ""):
            raise ValueError("exactly one of object_name and inline must be set")
        if self.inline is not None and len(self.inline) != self.size:
            raise ValueError("size must be the length of the inline bytes")
        return self


class TaskCommand(_Wire):
    """Run a plugin (``step_id`` None) or one later step of a task.

    ``task_id`` is None in the first command of a task: the task id is then the stream
    sequence of this very command.
    """

    command_id: str
    task_id: int | None = None
    plugin: str
    step_id: str | None = None
    params: dict[str, Any]
    files: dict[str, FileRef] = Field(default_factory=dict)
    submitted_at: datetime


class _Event(_Wire):
    task_id: int
    at: datetime
    cmd_seq: int
    attempt: int = 0
    event_id: str


class Accepted(_Event):
    kind: Literal[EventKind.ACCEPTED] = EventKind.ACCEPTED
    plugin: str
    plugin_name: str
    plugin_version: str
    params: dict[str, Any]


def accepted_event(command: TaskCommand, task_id: int, name: str, version: str) -> Accepted:
    """The ``accepted`` event of a task's first command (the edge's, and the copy the worker
    folds into ``started``: built from the same command, they are the same event)."""
    return Accepted(
        task_id=task_id,
        at=command.submitted_at,
        cmd_seq=task_id,
        event_id=f"{task_id}.accepted",
        plugin=command.plugin,
        plugin_name=name,
        plugin_version=version,
        params=command.params,
    )


class StepSubmitted(_Event):
    kind: Literal[EventKind.STEP_SUBMITTED] = EventKind.STEP_SUBMITTED
    step_id: str
    params: dict[str, Any]


class Started(_Event):
    """The worker took up an attempt. The started event of a task's first command carries
    the task's accepted event (the same event the edge publishes, read before this one)."""

    # The worker may store its events before the edge's ``accepted`` is stored (the edge
    # publishes it once the command's ack is back): folding a copy in lets every reader see
    # ``accepted`` first (``unfold``); readers keep the first of the two copies.

    kind: Literal[EventKind.STARTED] = EventKind.STARTED
    runner_id: str
    # omitted when absent: a started event without it keeps exactly its old JSON
    accepted: Accepted | None = Field(
        default=None, description="folded accepted event", exclude_if=_absent
    )


class Progress(_Event):
    kind: Literal[EventKind.PROGRESS] = EventKind.PROGRESS
    value: float
    start: float = 0
    target: float = 100
    unit: str = "%"


class LogLine(_Event):
    kind: Literal[EventKind.LOG] = EventKind.LOG
    text: str


class Output(_Event):
    kind: Literal[EventKind.OUTPUT] = EventKind.OUTPUT
    file: FileRef
    data_type: str
    token: str


class StepRequested(_Event):
    kind: Literal[EventKind.STEP_REQUESTED] = EventKind.STEP_REQUESTED
    step_id: str
    prefill: dict[str, str] = Field(default_factory=dict)
    log: str | None = None
    progress: Progress | None = None


class _Ending(_Event):
    """An event that ends an attempt, carrying the ``started`` and one ``output`` event of
    that attempt that the worker had not published yet (it holds them for a moment, so a
    short task is one message instead of three). Consumers read a folded event exactly as
    if it had come on its own just before the ending one (``unfold``); the folded output's
    file id is the ending event's stream sequence, which no other file has."""

    # omitted when absent: an ending event without folded events keeps exactly its old JSON
    started: Started | None = Field(
        default=None, description="folded started event", exclude_if=_absent
    )
    output: Output | None = Field(
        default=None, description="folded output event", exclude_if=_absent
    )


class Succeeded(_Ending):
    kind: Literal[EventKind.SUCCEEDED] = EventKind.SUCCEEDED
    log: str | None = None


class Failed(_Ending):
    kind: Literal[EventKind.FAILED] = EventKind.FAILED
    reason: str
    log: str | None = None


class Cancelled(_Event):
    kind: Literal[EventKind.CANCELLED] = EventKind.CANCELLED
    reason: str


TaskEvent = Annotated[
    Accepted
    | StepSubmitted
    | Started
    | Progress
    | LogLine
    | Output
    | StepRequested
    | Succeeded
    | Failed
    | Cancelled,
    Field(discriminator="kind"),
]

_EVENT_ADAPTER: TypeAdapter[TaskEvent] = TypeAdapter(TaskEvent)


def unfold(event: TaskEvent) -> tuple[TaskEvent, ...]:
    """The events one stored message stands for, in order: the ``accepted`` folded into a
    ``started``, the folded ``started`` (unfolded in turn) and ``output`` of an ending
    event, then the event itself without them."""
    if isinstance(event, Started):
        if event.accepted is None:
            return (event,)
        return (event.accepted, event.model_copy(update={"accepted": None}))
    if not isinstance(event, Succeeded | Failed) or (
        event.started is None and event.output is None
    ):
        return (event,)
    started = unfold(event.started) if event.started is not None else ()
    output = (event.output,) if event.output is not None else ()
    return (*started, *output, event.model_copy(update={"started": None, "output": None}))


def parse_event(data: bytes | str) -> TaskEvent:
    """Parse one event payload (JSON) into its typed model; raises pydantic's ValidationError."""
    return _EVENT_ADAPTER.validate_json(data)
