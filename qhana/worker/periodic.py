"""Periodic jobs of plugins (``Plugin.periodic``): once per period across all workers.

No scheduler process: every worker that offers the plugin wakes at period boundaries and
tries to *claim* the period in the KV bucket ``qhana-periodic`` with a revision-checked
write (``create`` for the first period, ``update(last=revision)`` afterwards). JetStream
accepts exactly one of the competing writes; its writer runs the job, the others skip the
period. Periods are numbered ``floor(epoch seconds / every_s)`` and the claimed number only
grows, so clock skew between workers can shift a run, never double it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from qhana.bus import subjects
from qhana.logging import get_logger
from qhana.sdk import Periodic, Plugin

__all__ = ["PeriodicRunner", "open_periodic_bucket", "start_periodic"]

log = get_logger("qhana.worker.periodic")
_KEY_UNSAFE = re.compile(r"[^-/_=.a-zA-Z0-9]")


async def open_periodic_bucket(js: JetStreamContext, replicas: int = 1) -> KeyValue:
    """The claims bucket (declared in streams.yaml; created here if streams were not applied)."""
    try:
        return await js.key_value(subjects.PERIODIC_BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=subjects.PERIODIC_BUCKET, history=1, replicas=replicas)
        )


@dataclass(frozen=True, slots=True)
class _JobContext:
    job: str
    period: int
    runner_id: str
    plugin: str

    def log(self, text: str) -> None:
        log.info("periodic.log", plugin=self.plugin, job=self.job, period=self.period, text=text)


@dataclass
class _Job:
    plugin: Plugin
    periodic: Periodic
    key: str
    seen: int = -1
    running: asyncio.Task[None] | None = field(default=None, repr=False)


class PeriodicRunner:
    """Claims and runs the periodic jobs of one worker's plugins."""

    def __init__(
        self,
        *,
        kv: KeyValue,
        plugins: Iterable[Plugin],
        runner_id: str,
        pool: Executor,
        clock: Callable[[], float] = time.time,
        max_sleep_s: float = 1.0,
    ) -> None:
        self._kv = kv
        self._runner_id = runner_id
        self._pool = pool
        self._clock = clock
        self._max_sleep_s = max_sleep_s
        self._jobs = [
            _Job(p, job, _KEY_UNSAFE.sub("_", f"{p.identifier}.{job.name}"))
            for p in plugins
            for job in p.periodic
        ]
        self.runs = 0

    @property
    def has_jobs(self) -> bool:
        return bool(self._jobs)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                delay = await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            running = [j.running for j in self._jobs if j.running and not j.running.done()]
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def join(self) -> None:
        """Wait until the jobs started so far have finished."""
        running = [j.running for j in self._jobs if j.running is not None]
        await asyncio.gather(*running, return_exceptions=True)

    async def tick(self) -> float:
        """Claim and start what is due; returns the seconds until the next period starts."""
        now = self._clock()
        delay = self._max_sleep_s
        for job in self._jobs:
            every = job.periodic.every_s
            period = int(now // every)
            delay = min(delay, (period + 1) * every - now)
            if period <= job.seen:
                continue
            job.seen = period
            if job.running is not None and not job.running.done():
                continue  # still busy with an earlier period here: let another worker take it
            try:
                claimed = await self._claim(job.key, period)
            except Exception as exc:  # NATS trouble: try again next period
                log.warning("periodic.claim_failed", job=job.key, error=str(exc))
                continue
            if claimed:
                job.running = asyncio.create_task(self._run(job, period))
        return max(delay, 0.005)

    async def _claim(self, key: str, period: int) -> bool:
        value = json.dumps(
            {"period": period, "runner_id": self._runner_id, "at": datetime.now(UTC).isoformat()}
        ).encode()
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            try:
                await self._kv.create(key, value)
            except KeyWrongLastSequenceError:
                return False
            return True
        claimed: dict[str, Any] = json.loads(entry.value or b"{}")
        if int(claimed.get("period", -1)) >= period:
            return False
        try:
            await self._kv.update(key, value, last=entry.revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def _run(self, job: _Job, period: int) -> None:
        ctx = _JobContext(job.periodic.name, period, self._runner_id, job.plugin.identifier)
        bound = log.bind(plugin=job.plugin.identifier, job=job.periodic.name, period=period)
        started = time.perf_counter()
        bound.info("periodic.started")
        try:
            if job.periodic.is_async:
                await job.periodic.handler(ctx)  # type: ignore[misc]
            else:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._pool, job.periodic.handler, ctx)
        except Exception as exc:
            bound.exception("periodic.failed", error=repr(exc))
            return
        self.runs += 1
        bound.info("periodic.finished", duration_s=round(time.perf_counter() - started, 4))


async def start_periodic(
    js: JetStreamContext,
    plugins: Iterable[Plugin],
    *,
    runner_id: str,
    pool: Executor,
    replicas: int,
    stop: asyncio.Event,
) -> asyncio.Task[None] | None:
    """Run the periodic jobs of ``plugins`` in the background (None when there are none)."""
    with_jobs = [p for p in plugins if p.periodic]
    if not with_jobs:
        return None
    runner = PeriodicRunner(
        kv=await open_periodic_bucket(js, replicas),
        plugins=with_jobs,
        runner_id=runner_id,
        pool=pool,
    )
    return asyncio.create_task(runner.run(stop))
