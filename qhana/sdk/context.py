"""What a plugin handler can do with its task: the ``TaskContext`` protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from qhana.sdk.urls import FetchedFile

__all__ = ["PeriodicContext", "SyncTaskContext", "TaskContext", "UploadedFile"]


class UploadedFile(Protocol):
    """A file uploaded with the processing request (e.g. the file-upload plugin)."""

    @property
    def name(self) -> str: ...

    @property
    def content_type(self) -> str: ...

    async def read(self) -> bytes: ...


class TaskContext(Protocol):
    """The handler's view of its task. Implemented by the worker and by the test helper."""

    @property
    def task_id(self) -> int: ...

    @property
    def attempt(self) -> int: ...

    @property
    def state(self) -> dict[str, Any]:
        """Plugin state kept between the steps of a task (JSON-serialisable values)."""
        ...

    @property
    def uploads(self) -> Mapping[str, UploadedFile]: ...

    async def log(self, text: str) -> None:
        """Append a line to the task log (shown live)."""

    async def progress(
        self, value: float, *, target: float = 100, start: float = 0, unit: str = "%"
    ) -> None:
        """Report progress (value between start and target)."""

    async def write_output(
        self, name: str, data: bytes | str, *, data_type: str, content_type: str
    ) -> None:
        """Store an output file of the task."""

    async def read_url(self, url: str) -> bytes:
        """Read an input given as a URL (http/https, data: or one of our own file URLs)."""
        ...

    async def fetch_url(self, url: str) -> FetchedFile:
        """Like ``read_url``, with the file name and content type the source reports."""
        ...

    def request_step(
        self,
        step_id: str,
        *,
        prefill: Mapping[str, str] | None = None,
        progress: float | None = None,
    ) -> None:
        """Ask the user for the next step once the handler returns; the task stays PENDING."""

    @property
    def cancelled(self) -> bool:
        """True once somebody cancelled the task: stop early."""
        ...


class SyncTaskContext(Protocol):
    """The same abilities for a plain (sync) handler, which runs in a worker thread."""

    @property
    def task_id(self) -> int: ...

    @property
    def attempt(self) -> int: ...

    @property
    def state(self) -> dict[str, Any]: ...

    @property
    def uploads(self) -> Mapping[str, UploadedFile]: ...

    @property
    def cancelled(self) -> bool: ...

    def log(self, text: str) -> None: ...

    def progress(
        self, value: float, *, target: float = 100, start: float = 0, unit: str = "%"
    ) -> None: ...

    def write_output(
        self, name: str, data: bytes | str, *, data_type: str, content_type: str
    ) -> None: ...

    def read_url(self, url: str) -> bytes: ...

    def fetch_url(self, url: str) -> FetchedFile: ...

    def read_upload(self, key: str) -> bytes: ...

    def request_step(
        self,
        step_id: str,
        *,
        prefill: Mapping[str, str] | None = None,
        progress: float | None = None,
    ) -> None: ...


class PeriodicContext(Protocol):
    """What a periodic job (``Periodic``) gets: which period it runs for, and a log."""

    @property
    def job(self) -> str: ...

    @property
    def period(self) -> int:
        """Number of the period (``floor(epoch seconds / every_s)``)."""
        ...

    @property
    def runner_id(self) -> str: ...

    def log(self, text: str) -> None:
        """Write a line to the worker's log (bound to the plugin and the job)."""
