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
from qhana.wire import (
    Failed,
    FileRef,
    LogLine,
    Output,
    Progress,
    Started,
    Succeeded,
    TaskEvent,
)
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


def _seen(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


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
        linger_s: float = 0.0,
    ) -> None:
        self._linger_s = linger_s
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
        self._cancelled = False
        self._cancel_waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self._pending: list[PendingEvent] = []
        # started and one output, held back up to linger_s to fold into the ending event
        self._held: list[Started | Output] = []
        self._release_timer: asyncio.TimerHandle | None = None
        self._releasing: asyncio.Future[None] | None = None

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
        return self._cancelled

    def cancel(self) -> None:
        """Stop the attempt's handler (a cancel request, or its timeout): a sync handler in
        the pool sees ``cancelled``; ``run_handler`` wakes through ``wake_on_cancel``."""
        self._cancelled = True
        waiters, self._cancel_waiters = self._cancel_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def wake_on_cancel(self, waiter: asyncio.Future[None]) -> None:
        """``waiter`` is done once the attempt is cancelled (at once if it already is)."""
        if self._cancelled:
            if not waiter.done():
                waiter.set_result(None)
        else:
            self._cancel_waiters.append(waiter)

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
        """Publish and wait for the ack, after the acks of every event emitted before.

        An ending event (succeeded, failed) takes the held events along (``_Ending``)."""
        self._ensure_open()
        await self._released()
        if self._held and isinstance(event, Succeeded | Failed):
            event = self._fold_into(event)
        else:
            await self.release()
        await self.flush()
        return await publish_event(self._js, event)

    async def emit_soon(self, event: TaskEvent) -> None:
        """Publish an event that does not end the attempt (started, log, progress, output)
        without waiting for its ack: the ``emit`` that ends every attempt (succeeded,
        failed, step-requested) waits for all of them first, so nothing is acked before
        it is stored, and a lone task pays one round trip instead of one per event.

        ``started`` and an ``output`` are held for up to ``linger_s`` first: a task that
        ends by then publishes them inside its ending event, one message instead of three.
        Any other event releases what is held first, so events keep their order."""
        self._ensure_open()
        await self._released()
        if not self._holds(event):
            await self.release()
        if self._linger_s > 0 and isinstance(event, Started | Output) and self._holds(event):
            self._held.append(event)
            if self._release_timer is None:
                self._release_timer = asyncio.get_running_loop().call_later(
                    self._linger_s, self._release_later
                )
            return
        await self._publish_soon(event)

    def _holds(self, event: TaskEvent) -> bool:
        """``event`` may join the held ones: a ``started`` first, then one ``output``."""
        if isinstance(event, Started):
            return not self._held
        return isinstance(event, Output) and not any(isinstance(e, Output) for e in self._held)

    def _fold_into(self, event: Succeeded | Failed) -> Succeeded | Failed:
        self._cancel_release_timer()
        held, self._held = self._held, []
        started = next((e for e in held if isinstance(e, Started)), None)
        output = next((e for e in held if isinstance(e, Output)), None)
        return event.model_copy(update={"started": started, "output": output})

    async def release(self) -> None:
        """Publish the held events now (without waiting for their acks)."""
        self._cancel_release_timer()
        held, self._held = self._held, []
        for event in held:
            await self._publish_soon(event)

    def _release_later(self) -> None:
        self._release_timer = None
        if self._held and not self._closed:
            self._releasing = asyncio.ensure_future(self.release())
            # its error is raised by the next emit; seen here so an attempt that never
            # emits again does not log "exception was never retrieved"
            self._releasing.add_done_callback(_seen)

    async def _released(self) -> None:
        """Wait for a release the timer started (its events go out before any later one)."""
        releasing, self._releasing = self._releasing, None
        if releasing is not None:
            await releasing

    def _cancel_release_timer(self) -> None:
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None

    async def _publish_soon(self, event: TaskEvent) -> None:
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
        self._cancel_release_timer()
        self._held = []
        if self._releasing is not None:
            self._releasing.cancel()
            self._releasing = None
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
