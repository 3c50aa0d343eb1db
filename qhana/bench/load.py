"""Bounded HTTP load generators (aiohttp, 127.0.0.1 only); each stops by itself."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

__all__ = [
    "Percentiles",
    "SubmitResult",
    "get_rate",
    "latency_poll",
    "latency_sse",
    "session",
    "submit_many",
    "submit_one",
]

_TASK = re.compile(r"/tasks/(\d+)/$")
HELLO = "hello-world@v0-2-1"


def session(clients: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=clients + 4, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p90: float
    p99: float

    @classmethod
    def of_ms(cls, samples_s: list[float]) -> Percentiles:
        ms = sorted(s * 1000 for s in samples_s)
        cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
        return cls(p50=round(cuts[49], 2), p90=round(cuts[89], 2), p99=round(cuts[98], 2))

    def as_dict(self) -> dict[str, float]:
        return {"p50": self.p50, "p90": self.p90, "p99": self.p99}


@dataclass(frozen=True, slots=True)
class SubmitResult:
    task_ids: list[int]
    elapsed_s: float

    @property
    def per_s(self) -> float:
        return len(self.task_ids) / self.elapsed_s


async def submit_one(
    http: aiohttp.ClientSession, base: str, plugin: str, form: dict[str, str]
) -> int:
    """POST the processing form; returns the task id from the ``303`` Location."""
    url = f"{base}plugins/{plugin}/process/"
    async with http.post(url, data=form, allow_redirects=False) as resp:
        await resp.read()
        if resp.status != 303:
            raise RuntimeError(f"submit answered {resp.status}")
        match = _TASK.search(resp.headers["Location"])
    if match is None:
        raise RuntimeError(f"unexpected Location {resp.headers['Location']!r}")
    return int(match.group(1))


async def submit_many(
    http: aiohttp.ClientSession,
    base: str,
    count: int,
    clients: int,
    plugin: str = HELLO,
    form: dict[str, str] | None = None,
) -> SubmitResult:
    """``count`` POSTs by ``clients`` concurrent clients (keep-alive)."""
    values = form or {"inputStr": "bench input text"}
    ids: list[int] = []
    work = iter(range(count))

    async def _client() -> None:
        for _ in work:
            ids.append(await submit_one(http, base, plugin, values))

    started = time.perf_counter()
    await asyncio.gather(*(_client() for _ in range(clients)))
    return SubmitResult(ids, time.perf_counter() - started)


async def latency_sse(http: aiohttp.ClientSession, base: str, count: int) -> Percentiles:
    """Sequential tasks: submit, then read the task's SSE stream until ``succeeded``."""
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        task_id = await submit_one(http, base, HELLO, {"inputStr": "latency input"})
        async with http.get(f"{base}tasks/{task_id}/events") as resp:
            async for raw in resp.content:
                if raw.startswith(b"event: "):
                    kind = raw[7:].strip()
                    if kind == b"succeeded":
                        break
                    if kind in (b"failed", b"cancelled"):
                        raise RuntimeError(f"task {task_id} ended with {kind!r}")
        samples.append(time.perf_counter() - started)
    return Percentiles.of_ms(samples)


async def latency_poll(
    http: aiohttp.ClientSession, base: str, count: int, interval_s: float
) -> Percentiles:
    """Sequential tasks: submit, then GET ``/tasks/<id>/`` every ``interval_s`` until SUCCESS."""
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        task_id = await submit_one(http, base, HELLO, {"inputStr": "latency input"})
        deadline = started + 10
        while True:
            async with http.get(f"{base}tasks/{task_id}/") as resp:
                doc = await resp.json()
            if doc["status"] == "SUCCESS":
                break
            if doc["status"] != "PENDING" or time.perf_counter() > deadline:
                raise RuntimeError(f"task {task_id}: {doc['status']}")
            await asyncio.sleep(interval_s)
        samples.append(time.perf_counter() - started)
    return Percentiles.of_ms(samples)


async def get_rate(
    http: aiohttp.ClientSession, url: str, clients: int, count: int, max_s: float
) -> float:
    """GET ``url`` ``count`` times by ``clients`` clients (or until ``max_s``); requests/s."""
    done = 0
    work = iter(range(count))
    started = time.perf_counter()
    deadline = started + max_s

    async def _client() -> None:
        nonlocal done
        for _ in work:
            async with http.get(url) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET {url} answered {resp.status}")
            done += 1
            if time.perf_counter() > deadline:
                return

    await asyncio.gather(*(_client() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def until(
    check: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.01
) -> float:
    """Poll ``check`` until it is true; seconds it took (raises TimeoutError after timeout)."""
    started = time.perf_counter()
    async with asyncio.timeout(timeout_s):
        while not await check():
            await asyncio.sleep(interval_s)
    return time.perf_counter() - started
