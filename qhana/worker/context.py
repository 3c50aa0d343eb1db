"""The worker's implementation of ``qhana.sdk.TaskContext`` for one attempt of one command."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from qhana.bus import subjects
from qhana.bus.objects import put_new_object, read_file
from qhana.bus.publish import PendingEvent, publish_event, publish_event_soon, settle_events
from qhana.errors import TaskCancelled
from qhana.logging import get_logger
from qhana.sdk.context import UploadedFile
from qhana.sdk.urls import FetchedFile
from qhana.urlmap import UrlRewriter
from qhana.wire import FileRef, LogLine, Output, Progress, TaskEvent
from qhana.worker.inputs import OwnFiles, fetch_url
from qhana.worker.url_policy import UrlPolicy

__all__ = ["INLINE_OUTPUT_MAX_BYTES", "RequestedStep", "StoredUpload", "WorkerContext"]

MAX_PENDING_EVENTS = 256  # events of one attempt in flight before emit_soon waits

log = get_logger("qhana.worker")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# outputs up to this size travel inline in their output event (Settings.inline_output_max_bytes)
INLINE_OUTPUT_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class RequestedStep:
    step_id: str
    prefill: dict[str, str]
    progress: float | None


@dataclass(frozen=True, slots=True)
class StoredUpload:
    ref: FileRef
    store: ObjectStore

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def content_type(self) -> str:
        return self.ref.content_type

    async def read(self) -> bytes:
        return await read_file(self.store, self.ref)


class WorkerContext:
    """Publishes the handler's log, progress and outputs as events of this attempt."""

    def __init__(
        self,
        *,
        js: JetStreamContext,
        files: ObjectStore,
        task_id: int,
        cmd_seq: int,
        attempt: int,
        state: dict[str, Any],
        uploads: Mapping[str, UploadedFile],
        rewrite: UrlRewriter | None = None,
        policy: UrlPolicy | None = None,
        inline_max_bytes: int = INLINE_OUTPUT_MAX_BYTES,
    ) -> None:
        self._rewrite = rewrite
        self._inline_max_bytes = inline_max_bytes
        self._policy = policy
        self._js = js
        self._files = files
        self._task_id = task_id
        self._cmd_seq = cmd_seq
        self._attempt = attempt
        self._state = state
        self._uploads = uploads
        self._counter = 0
        self.requested_step: RequestedStep | None = None
        self.cancel_event = asyncio.Event()
        self._closed = False
        self._pending: list[PendingEvent] = []

    @property
    def task_id(self) -> int:
        return self._task_id

    @property
    def attempt(self) -> int:
        return self._attempt

    @property
    def state(self) -> dict[str, Any]:
        return self._state

    @property
    def uploads(self) -> Mapping[str, UploadedFile]:
        return self._uploads

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def event_fields(self) -> dict[str, Any]:
        """Common fields of the next event of this attempt (with a unique, stable event id)."""
        self._counter += 1
        return {
            "task_id": self._task_id,
            "at": datetime.now(UTC),
            "cmd_seq": self._cmd_seq,
            "attempt": self._attempt,
            "event_id": f"{self._task_id}.{self._cmd_seq}.{self._attempt}.{self._counter}",
        }

    async def emit(self, event: TaskEvent) -> int:
        """Publish and wait for the ack, after the acks of every event emitted before."""
        self._ensure_open()
        await self.flush()
        return await publish_event(self._js, event)

    async def emit_soon(self, event: TaskEvent) -> None:
        """Publish an event that does not end the attempt (started, log, progress, output)
        without waiting for its ack: the ``emit`` that ends every attempt (succeeded,
        failed, step-requested) waits for all of them first, so nothing is acked before
        it is stored, and a lone task pays one round trip instead of one per event."""
        self._ensure_open()
        self._pending.append(await publish_event_soon(self._js, event))
        if len(self._pending) >= MAX_PENDING_EVENTS:  # a chatty plugin: bounded in flight
            await self.flush()

    async def flush(self) -> None:
        """Wait until every event emitted so far is stored (raises ``BusUnavailable``)."""
        pending, self._pending = self._pending, []
        await settle_events(self._js, pending)

    def _ensure_open(self) -> None:
        if self._closed:
            # a sync handler still running after its timeout (a thread cannot be stopped):
            # the attempt is settled, nothing it does may reach the task any more
            log.warning("task.late_event_dropped", task_id=self._task_id, attempt=self._attempt)
            raise TaskCancelled("the attempt is already settled (timeout or cancel)")

    def close(self) -> None:
        """The attempt is settled: later events of a still-running handler are refused, and
        acks still awaited for this attempt's events are no longer waited for."""
        self._closed = True
        pending, self._pending = self._pending, []
        for _, future in pending:
            future.cancel()

    async def log(self, text: str) -> None:
        await self.emit_soon(LogLine(**self.event_fields(), text=text))

    async def progress(
        self, value: float, *, target: float = 100, start: float = 0, unit: str = "%"
    ) -> None:
        await self.emit_soon(
            Progress(**self.event_fields(), value=value, start=start, target=target, unit=unit)
        )

    async def write_output(
        self, name: str, data: bytes | str, *, data_type: str, content_type: str
    ) -> None:
        self._ensure_open()
        payload = data.encode() if isinstance(data, str) else bytes(data)
        safe = _UNSAFE.sub("_", name).strip("._") or "output"
        fields = self.event_fields()
        if len(payload) <= self._inline_max_bytes:  # small: the bytes ride in the event
            ref = FileRef(
                object_name="",
                name=safe,
                content_type=content_type,
                size=len(payload),
                inline=payload,
            )
        else:
            object_name = f"tasks/{self._task_id}/{fields['event_id']}/{safe}"
            # a fresh name: skip ObjectStore.put's look-up, two round trips instead of four
            await put_new_object(self._js, subjects.FILES_BUCKET, object_name, payload)
            ref = FileRef(
                object_name=object_name, name=safe, content_type=content_type, size=len(payload)
            )
        await self.emit_soon(
            Output(**fields, file=ref, data_type=data_type, token=secrets.token_urlsafe(32))
        )

    async def read_url(self, url: str) -> bytes:
        return (await self.fetch_url(url)).data

    async def fetch_url(self, url: str) -> FetchedFile:
        return await fetch_url(
            url, OwnFiles(self._js, self._files), rewrite=self._rewrite, policy=self._policy
        )

    def request_step(
        self,
        step_id: str,
        *,
        prefill: Mapping[str, str] | None = None,
        progress: float | None = None,
    ) -> None:
        self.requested_step = RequestedStep(step_id, dict(prefill or {}), progress)
