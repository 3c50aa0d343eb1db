"""Run a plugin's handler in-process, without NATS: the plugin author's test helper.

::

    from qhana.sdk.testing import run_plugin

    result = run_plugin(plugin, {"inputStr": "an input"})
    assert result.status == "SUCCESS"
    assert result.output("out.txt").text() == "an output"

Inputs are keyed by form key (camelCase) or python name. ``data:`` URLs are decoded;
other URLs are served from ``urls`` (a mapping URL -> bytes), so tests need no network.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from qhana.errors import Reject, Retry
from qhana.sdk.plugin import AsyncHandler, Plugin, SyncHandler
from qhana.sdk.urls import FetchedFile, guess_type, name_from_url, parse_data_url

__all__ = [
    "FakeUpload",
    "OutputFile",
    "PeriodicResult",
    "Result",
    "arun_plugin",
    "run_periodic",
    "run_plugin",
]


@dataclass(frozen=True, slots=True)
class OutputFile:
    name: str
    data: bytes
    data_type: str
    content_type: str

    def text(self, encoding: str = "utf-8") -> str:
        return self.data.decode(encoding)


@dataclass(frozen=True, slots=True)
class FakeUpload:
    """An uploaded file for ``run_plugin(files=...)``."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"

    async def read(self) -> bytes:
        return self.data


@dataclass
class Result:
    """What one handler run produced. ``status``: SUCCESS, FAILURE, PENDING (a step was
    requested) or RETRY (the handler raised ``Retry``)."""

    status: str
    outputs: list[OutputFile] = field(default_factory=list)
    log: str = ""
    steps: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    progress: list[tuple[float, float]] = field(default_factory=list)
    error: BaseException | None = None
    retry_s: float | None = None

    def output(self, name: str) -> OutputFile:
        found = [o for o in self.outputs if o.name == name]
        if not found:
            raise KeyError(f"no output {name!r}; outputs: {[o.name for o in self.outputs]}")
        return found[-1]


class _Context:
    """An in-memory ``TaskContext``; ``sync`` makes every method blocking (``SyncTaskContext``)."""

    def __init__(
        self, state: dict[str, Any], uploads: Mapping[str, FakeUpload], urls: Mapping[str, bytes]
    ) -> None:
        self.task_id = 1
        self.attempt = 1
        self.state = state
        self.uploads = uploads
        self.cancelled = False
        self.lines: list[str] = []
        self.outputs: list[OutputFile] = []
        self.progress_values: list[tuple[float, float]] = []
        self.steps: list[str] = []
        self._urls = urls

    def _log(self, text: str) -> None:
        self.lines.append(text)

    def _progress(
        self, value: float, *, target: float = 100, start: float = 0, unit: str = "%"
    ) -> None:
        self.progress_values.append((value, target))

    def _write(self, name: str, data: bytes | str, *, data_type: str, content_type: str) -> None:
        payload = data.encode() if isinstance(data, str) else bytes(data)
        self.outputs.append(OutputFile(name, payload, data_type, content_type))

    def _fetch(self, url: str) -> FetchedFile:
        if url.startswith("data:"):
            return parse_data_url(url)
        if url not in self._urls:
            raise Reject(f"run_plugin: no test content for URL {url!r} (pass urls={{...}})")
        name = name_from_url(url)
        return FetchedFile(data=self._urls[url], name=name, content_type=guess_type(name))

    def request_step(
        self,
        step_id: str,
        *,
        prefill: Mapping[str, str] | None = None,
        progress: float | None = None,
    ) -> None:
        self.steps.append(step_id)


class _AsyncContext(_Context):
    async def log(self, text: str) -> None:
        self._log(text)

    async def progress(
        self, value: float, *, target: float = 100, start: float = 0, unit: str = "%"
    ) -> None:
        self._progress(value, target=target, start=start, unit=unit)

    async def write_output(
        self, name: str, data: bytes | str, *, data_type: str, content_type: str
    ) -> None:
        self._write(name, data, data_type=data_type, content_type=content_type)

    async def read_url(self, url: str) -> bytes:
        return self._fetch(url).data

    async def fetch_url(self, url: str) -> FetchedFile:
        return self._fetch(url)


class _SyncContext(_Context):
    def log(self, text: str) -> None:
        self._log(text)

    def progress(
        self, value: float, *, target: float = 100, start: float = 0, unit: str = "%"
    ) -> None:
        self._progress(value, target=target, start=start, unit=unit)

    def write_output(
        self, name: str, data: bytes | str, *, data_type: str, content_type: str
    ) -> None:
        self._write(name, data, data_type=data_type, content_type=content_type)

    def read_url(self, url: str) -> bytes:
        return self._fetch(url).data

    def fetch_url(self, url: str) -> FetchedFile:
        return self._fetch(url)

    def read_upload(self, key: str) -> bytes:
        return self.uploads[key].data


def _handler_and_model(plugin: Plugin, step: str | None) -> tuple[Any, type[BaseModel]]:
    if step is None:
        return plugin.handler, plugin.input_model
    found = plugin.step(step)
    if found is None:
        raise KeyError(f"plugin {plugin.name} has no step {step!r}")
    return found.handler, found.input_model


async def arun_plugin(
    plugin: Plugin,
    inputs: Mapping[str, Any],
    *,
    files: Mapping[str, FakeUpload] | None = None,
    urls: Mapping[str, bytes] | None = None,
    step: str | None = None,
    state: Mapping[str, Any] | None = None,
) -> Result:
    """Run the handler (or the handler of ``step``) once; errors become a FAILURE result."""
    handler, model = _handler_and_model(plugin, step)
    params = model.model_validate(dict(inputs))  # a ValidationError here is the test's bug
    is_async = asyncio.iscoroutinefunction(handler)
    ctx_type = _AsyncContext if is_async else _SyncContext
    ctx = ctx_type(dict(state or {}), dict(files or {}), dict(urls or {}))
    result = Result(status="SUCCESS")
    try:
        if is_async:
            returned = await cast(AsyncHandler, handler)(ctx, params)  # type: ignore[arg-type]
        else:
            sync = cast(SyncHandler, handler)
            returned = await asyncio.to_thread(sync, ctx, params)  # type: ignore[arg-type]
        if returned:
            ctx.lines.append(returned)
        result.status = "PENDING" if ctx.steps else "SUCCESS"
    except Retry as exc:
        result.status, result.retry_s, result.error = "RETRY", exc.defer_s, exc
    except (Exception, ValidationError) as exc:
        result.status, result.error = "FAILURE", exc
        ctx.lines.append(repr(exc) + "\n\n" + "".join(traceback.format_exception(exc)).rstrip())
    result.outputs, result.log, result.steps = ctx.outputs, "\n".join(ctx.lines), ctx.steps
    result.state, result.progress = ctx.state, ctx.progress_values
    return result


def run_plugin(
    plugin: Plugin,
    inputs: Mapping[str, Any],
    *,
    files: Mapping[str, FakeUpload] | None = None,
    urls: Mapping[str, bytes] | None = None,
    step: str | None = None,
    state: Mapping[str, Any] | None = None,
) -> Result:
    """Blocking ``arun_plugin`` for plain test functions (not inside a running event loop)."""
    return asyncio.run(arun_plugin(plugin, inputs, files=files, urls=urls, step=step, state=state))


@dataclass
class PeriodicResult:
    """What one run of a periodic job logged, and the error it raised (if any)."""

    log: list[str] = field(default_factory=list)
    error: BaseException | None = None


@dataclass
class _PeriodicContext:
    job: str
    period: int
    runner_id: str
    lines: list[str]

    def log(self, text: str) -> None:
        self.lines.append(text)


def run_periodic(plugin: Plugin, job: str, *, period: int = 0) -> PeriodicResult:
    """Run one periodic job of ``plugin`` once, as if this worker had claimed ``period``."""
    found = next((p for p in plugin.periodic if p.name == job), None)
    if found is None:
        raise KeyError(f"plugin {plugin.name} has no periodic job {job!r}")
    result = PeriodicResult()
    ctx = _PeriodicContext(job, period, "test-runner", result.log)
    try:
        returned = found.handler(ctx)
        if asyncio.iscoroutine(returned):
            asyncio.run(returned)
    except Exception as exc:
        result.error = exc
    return result
