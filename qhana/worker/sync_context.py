"""A blocking facade of ``WorkerContext`` for sync handlers running in the thread pool."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from qhana.sdk.context import UploadedFile
from qhana.sdk.urls import FetchedFile
from qhana.worker.context import WorkerContext

__all__ = ["SyncContext"]

T = TypeVar("T")


class SyncContext:
    """Same methods as the async context, but blocking: call them from a worker thread."""

    def __init__(self, ctx: WorkerContext, loop: asyncio.AbstractEventLoop) -> None:
        self._ctx = ctx
        self._loop = loop

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def task_id(self) -> int:
        return self._ctx.task_id

    @property
    def attempt(self) -> int:
        return self._ctx.attempt

    @property
    def state(self) -> dict[str, Any]:
        return self._ctx.state

    @property
    def uploads(self) -> Mapping[str, UploadedFile]:
        return self._ctx.uploads

    @property
    def cancelled(self) -> bool:
        return self._ctx.cancelled

    def log(self, text: str) -> None:
        self._call(self._ctx.log(text))

    def progress(
        self, value: float, *, target: float = 100, start: float = 0, unit: str = "%"
    ) -> None:
        self._call(self._ctx.progress(value, target=target, start=start, unit=unit))

    def write_output(
        self, name: str, data: bytes | str, *, data_type: str, content_type: str
    ) -> None:
        self._call(
            self._ctx.write_output(name, data, data_type=data_type, content_type=content_type)
        )

    def read_url(self, url: str) -> bytes:
        return self._call(self._ctx.read_url(url))

    def fetch_url(self, url: str) -> FetchedFile:
        return self._call(self._ctx.fetch_url(url))

    def read_upload(self, key: str) -> bytes:
        return self._call(self._ctx.uploads[key].read())

    def request_step(
        self,
        step_id: str,
        *,
        prefill: Mapping[str, str] | None = None,
        progress: float | None = None,
    ) -> None:
        self._ctx.request_step(step_id, prefill=prefill, progress=progress)
