"""Every error the platform raises on purpose.

::

    QhanaError
    ├── ConfigError                 bad or missing configuration
    ├── BusError                    NATS / JetStream trouble
    │   └── BusUnavailable          NATS is not reachable right now (edge: 503)
    ├── PluginError
    │   ├── PluginNotFound(plugin)
    │   └── PluginLoadError(source, traceback)
    ├── TaskError
    │   ├── TaskNotFound(task_id)
    │   ├── StepNotOpen(task_id, step_id)
    │   ├── Retry(defer_s)           raised by a handler: run again later (nak with delay)
    │   ├── Reject(reason)           raised by a handler: never retry (term), task FAILURE
    │   ├── TaskCancelled(reason)
    │   └── TaskTimeout(timeout_s)
    ├── InputInvalid(errors)         per-field messages, keyed by form key
    ├── StoredFileNotFound(file_id)  unknown file or wrong token
    └── OperatorCommandFailed        an operator command (qhana tasks/plugins/runners) failed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "BusError",
    "BusUnavailable",
    "ConfigError",
    "InputInvalid",
    "OperatorCommandFailed",
    "PluginError",
    "PluginLoadError",
    "PluginNotFound",
    "QhanaError",
    "Reject",
    "Retry",
    "StepNotOpen",
    "StoredFileNotFound",
    "TaskCancelled",
    "TaskError",
    "TaskNotFound",
    "TaskTimeout",
]


class QhanaError(Exception):
    """Base of every error of ours."""


class ConfigError(QhanaError):
    pass


class BusError(QhanaError):
    pass


class BusUnavailable(BusError):
    def __init__(self, detail: str = "NATS is not reachable") -> None:
        super().__init__(detail)
        self.detail = detail


class PluginError(QhanaError):
    pass


class PluginNotFound(PluginError):
    def __init__(self, plugin: str) -> None:
        super().__init__(f"plugin not found: {plugin}")
        self.plugin = plugin


class PluginLoadError(PluginError):
    def __init__(self, source: str, traceback: str) -> None:
        super().__init__(f"plugin failed to load: {source}")
        self.source = source
        self.traceback = traceback


class TaskError(QhanaError):
    pass


class TaskNotFound(TaskError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task not found: {task_id}")
        self.task_id = task_id


class StepNotOpen(TaskError):
    def __init__(self, task_id: int, step_id: str) -> None:
        super().__init__(f"step {step_id!r} of task {task_id} is not open")
        self.task_id = task_id
        self.step_id = step_id


class Retry(TaskError):
    """Raised by a plugin handler to be run again after ``defer_s`` seconds."""

    def __init__(self, defer_s: float = 1.0, reason: str = "") -> None:
        super().__init__(reason or f"retry in {defer_s}s")
        self.defer_s = defer_s
        self.reason = reason


class Reject(TaskError):
    """Raised by a plugin handler (or the platform) to fail a task without retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TaskCancelled(TaskError):
    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


class TaskTimeout(TaskError):
    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"The task exceeded its plugin's timeout of {timeout_s:g} s and was stopped."
        )
        self.timeout_s = timeout_s


class InputInvalid(QhanaError):
    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        super().__init__("invalid input")
        self.errors = {key: list(msgs) for key, msgs in errors.items()}


class StoredFileNotFound(QhanaError):
    def __init__(self, file_id: int) -> None:
        super().__init__("File not found.")
        self.file_id = file_id


class OperatorCommandFailed(QhanaError):
    """An operator command could not do its job (HTTP error, task FAILURE, bad argument)."""
