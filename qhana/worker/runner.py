"""The task loop: pull commands of one queue, run plugins, publish events, settle messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from concurrent.futures import Executor
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore
from pydantic import ValidationError

from qhana.bus import subjects
from qhana.bus.acks import delivery
from qhana.bus.pull import Puller
from qhana.errors import BusError
from qhana.logging import get_logger
from qhana.sdk import Plugin
from qhana.urlmap import UrlRewriter
from qhana.wire import (
    Failed,
    Progress,
    Started,
    StepRequested,
    Succeeded,
    TaskCommand,
    accepted_event,
)
from qhana.worker.cancel_view import CancelView
from qhana.worker.context import INLINE_OUTPUT_MAX_BYTES, StoredUpload, WorkerContext
from qhana.worker.execute import HandlerResult, run_handler
from qhana.worker.keepalive import KeepAlive
from qhana.worker.outcome import Done, Failure, Outcome, Redeliver, settle_message
from qhana.worker.url_policy import UrlPolicy

__all__ = ["TaskLoop"]

log = get_logger("qhana.worker")

# A first command up to this size lets its ``started`` (which carries the ``accepted`` with
# the parameters) wait to ride in the ending event; a larger one's goes out on its own, so
# the ending event never carries the parameters next to an inline output and a long log.
HOLD_STARTED_MAX_BYTES = 64 * 1024


class TaskLoop:
    """Runs the commands of one queue with bounded concurrency."""

    def __init__(
        self,
        *,
        nc: Client,
        queue: str,
        plugins: dict[str, Plugin],
        runner_id: str,
        concurrency: int,
        ack_wait_s: float,
        pool: Executor,
        state: KeyValue,
        files: ObjectStore,
        rewrite: UrlRewriter | None = None,
        url_policy: UrlPolicy | None = None,
        inline_max_bytes: int = INLINE_OUTPUT_MAX_BYTES,
        event_linger_s: float = 0.0,
    ) -> None:
        self._inline_max_bytes = inline_max_bytes
        self._event_linger_s = event_linger_s
        self._rewrite = rewrite
        self._url_policy = url_policy
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._queue = queue
        self._plugins = plugins
        self._runner_id = runner_id
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._ack_wait_s = ack_wait_s
        self._pool = pool
        self._state = state
        self._files = files
        self._running: dict[int, WorkerContext] = {}
        self._running_plugins: dict[int, str] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._keep_alive = KeepAlive(ack_wait_s)
        self._cancels = CancelView(nc, state, on_cancel=self._cancel_running)
        self.handled = 0

    @property
    def running(self) -> int:
        return len(self._running)

    def running_plugins(self) -> list[str]:
        """``<plugin> (task <id>)`` of every task running now (named by the loop watchdog)."""
        return [f"{p} (task {t})" for t, p in sorted(self._running_plugins.items())]

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and run commands until ``stop`` is set, then drain what is in flight."""
        puller = await Puller(
            self._nc, subjects.TASKS_STREAM, subjects.queue_consumer(self._queue)
        ).start()
        await self._cancels.start()
        ticker = asyncio.create_task(self._keep_alive.run())
        try:
            while not stop.is_set():
                await self._fetch_batch(puller)
        finally:
            if self._inflight:  # still cancellable and kept alive while they drain
                await asyncio.gather(*self._inflight, return_exceptions=True)
            await self._cancels.stop()
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self._return_stragglers(puller)

    async def _return_stragglers(self, puller: Puller) -> None:
        """On stop: commands delivered to a pull after its client-side wait (a server that
        answered late) are given back at once (nak) instead of sitting out ``ack_wait``."""
        stragglers = await puller.close()
        for msg in stragglers:
            with contextlib.suppress(Exception):
                await settle_message(msg, Redeliver(0))
        if stragglers:
            log.info("worker.stragglers_returned", count=len(stragglers))

    async def _fetch_batch(self, puller: Puller) -> None:
        await self._slots.acquire()
        free = 1
        while free < self._concurrency and not self._slots.locked():
            await self._slots.acquire()
            free += 1
        taken = 0

        def _start(msg: Msg) -> None:  # each started task releases its slot when done
            nonlocal taken
            taken += 1
            task = asyncio.create_task(self._guarded(msg))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        # a lone command starts before the ~1 ms probe for more (Puller.pull); its started
        # carries the task's accepted, so it may well be stored before the edge's copy
        try:
            await puller.pull(free, 1.0, _start)
        except Exception as exc:  # NATS away: back off, keep the loop alive
            log.warning("worker.fetch_failed", error=str(exc))
            await asyncio.sleep(0.5)
        for _ in range(free - taken):
            self._slots.release()

    async def _guarded(self, msg: Msg) -> None:
        try:
            await self.handle(msg)
        except Exception as exc:  # never let one message kill the loop
            log.exception("worker.message_crashed", error=str(exc))
        finally:
            self._slots.release()

    def _cancel_running(self, task_id: int) -> None:
        """A control message: stop the attempt of the task running here, if there is one."""
        ctx = self._running.get(task_id)
        if ctx is not None:
            ctx.cancel()

    async def handle(self, msg: Msg) -> None:
        cmd_seq, attempt = delivery(msg)
        try:
            cmd = TaskCommand.model_validate_json(msg.data)
        except ValidationError as exc:
            log.error("task.malformed_command", stream_seq=cmd_seq, error=str(exc))
            await settle_message(msg, Failure("malformed command"))
            return
        task_id = cmd.task_id or cmd_seq
        bound = log.bind(task_id=task_id, plugin=cmd.plugin, attempt=attempt, stream_seq=cmd_seq)
        ctx = WorkerContext(
            js=self._js,
            files=self._files,
            task_id=task_id,
            cmd_seq=cmd_seq,
            attempt=attempt,
            state={},
            uploads={k: StoredUpload(v, self._files) for k, v in cmd.files.items()},
            rewrite=self._rewrite,
            policy=self._url_policy,
            inline_max_bytes=self._inline_max_bytes,
            linger_s=self._event_linger_s,
        )
        # registered before the cancel check: a control message from now on reaches the attempt
        self._running[task_id] = ctx
        self._running_plugins[task_id] = cmd.plugin
        self._keep_alive.track(msg)
        started = time.perf_counter()
        try:
            outcome = await self._attempt(cmd, len(msg.data), ctx, bound)
        except BusError as exc:
            bound.warning("task.bus_error", error=str(exc))
            outcome = Redeliver(1.0)
        finally:
            ctx.close()
            self._keep_alive.release(msg)
            self._running.pop(task_id, None)
            self._running_plugins.pop(task_id, None)
        await settle_message(msg, outcome)
        self.handled += 1
        bound.info(
            "task.finished",
            outcome=type(outcome).__name__,
            duration_s=round(time.perf_counter() - started, 4),
        )

    async def _attempt(
        self, cmd: TaskCommand, size: int, ctx: WorkerContext, bound: Any
    ) -> Outcome:
        plugin = self._plugins.get(cmd.plugin)
        step = plugin.step(cmd.step_id) if plugin and cmd.step_id else None
        if plugin is None or (cmd.step_id and step is None):
            # another runner of this queue may offer it; max_deliver ends the hunt
            bound.warning("task.plugin_unavailable", step=cmd.step_id)
            return Redeliver(2.0)
        if await self._cancels.is_cancelled(ctx.task_id):
            bound.info("task.skipped_cancelled")  # cancelled while it waited in the queue
            return Done()
        # not waited for: the event that ends the attempt waits for every ack before it
        # a first command's started carries the task's accepted (it may be stored before
        # the edge's own copy); a large one goes out at once instead of being held
        accepted = (
            accepted_event(cmd, ctx.task_id, plugin.name, plugin.version)
            if cmd.task_id is None
            else None
        )
        await ctx.emit_soon(
            Started(**ctx.event_fields(), runner_id=self._runner_id, accepted=accepted)
        )
        if accepted is not None and size > HOLD_STARTED_MAX_BYTES:
            await ctx.release()
        bound.debug("task.started")  # task.finished (info) carries outcome and duration
        if cmd.step_id:
            ctx.state.update(await self._load_state(ctx.task_id))
        handler, model = (
            (step.handler, step.input_model) if step else (plugin.handler, plugin.input_model)
        )
        result = await run_handler(
            handler, model, cmd.params, ctx, timeout_s=plugin.timeout_s, pool=self._pool
        )
        return await self._finish(ctx, result, bound)

    async def _finish(self, ctx: WorkerContext, result: HandlerResult, bound: Any) -> Outcome:
        if result.retry_s is not None:
            bound.info("task.retry", defer_s=result.retry_s)
            await ctx.release()  # what this attempt did is kept, as for an ending event
            await ctx.flush()
            return Redeliver(result.retry_s)
        if result.error is not None:
            bound.warning("task.failed", error=result.error.splitlines()[0][:200])
            return await self._fail(ctx, result.error)
        if ctx.requested_step is not None:
            await self._save_state(ctx.task_id, ctx.state)
            req = ctx.requested_step
            progress = None
            if req.progress is not None:
                progress = Progress(**ctx.event_fields(), value=req.progress)
            await ctx.emit(
                StepRequested(
                    **ctx.event_fields(),
                    step_id=req.step_id,
                    prefill=req.prefill,
                    log=result.log,
                    progress=progress,
                )
            )
            return Done()
        await ctx.emit(Succeeded(**ctx.event_fields(), log=result.log))
        return Done()

    async def _fail(self, ctx: WorkerContext, reason: str) -> Outcome:
        await ctx.emit(
            Failed(**ctx.event_fields(), reason=reason.splitlines()[0][:500], log=reason)
        )
        return Failure(reason)

    async def _load_state(self, task_id: int) -> dict[str, Any]:
        try:
            entry = await self._state.get(str(task_id))
        except KeyNotFoundError:
            return {}
        loaded: dict[str, Any] = json.loads(entry.value or b"{}")
        return loaded

    async def _save_state(self, task_id: int, state: dict[str, Any]) -> None:
        await self._state.put(str(task_id), json.dumps(state).encode())
