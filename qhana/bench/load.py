"""Bounded HTTP load generators (aiohttp, 127.0.0.1 only); each stops by itself."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp
from yarl import URL

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


class _Poster:
    """One keep-alive HTTP/1.1 connection that POSTs one form again and again.

    The load generator shares the machine with the stack: what it spends per request the
    stack does not get. aiohttp's client took ~0.2 ms of CPU per POST here, about a fifth of
    all the CPU of a completion on 2 cores; this one writes prepared bytes and reads the
    answer's head and body (by ``Content-Length``) -- the same requests on the wire."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self._host, self._port, self._request = host, port, request
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self) -> int:
        """Send the form; the task id from the ``303`` Location."""
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._reader, self._writer
        writer.write(self._request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        headers = _headers(head)
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            raise RuntimeError("the edge answered a submit chunked")
        body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        if status != 303:
            raise RuntimeError(f"submit answered {status}: {body[:200]!r}")
        match = _TASK.search(headers.get(b"location", b"").decode())
        if match is None:
            raise RuntimeError(f"unexpected Location {headers.get(b'location')!r}")
        return int(match.group(1))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _headers(head: bytes) -> dict[bytes, bytes]:
    lines = head.split(b"\r\n")[1:]
    return {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(b":") for line in lines if line)
    }


def _form_request(base: str, plugin: str, form: dict[str, str]) -> tuple[str, int, bytes]:
    url = URL(base) / "plugins" / plugin / "process/"
    body = urlencode(form).encode()
    head = (
        f"POST {url.raw_path} HTTP/1.1\r\nHost: {url.raw_authority}\r\n"
        # the headers aiohttp's client sends too: the edge parses what it parsed before
        "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nUser-Agent: qhana-bench\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return url.raw_host or "127.0.0.1", url.port or 80, head.encode() + body


async def submit_many(
    base: str,
    count: int,
    clients: int,
    plugin: str = HELLO,
    form: dict[str, str] | None = None,
) -> SubmitResult:
    """``count`` POSTs of the processing form by ``clients`` concurrent keep-alive clients."""
    host, port, request = _form_request(base, plugin, form or {"inputStr": "bench input text"})
    ids: list[int] = []
    work = iter(range(count))

    async def _client() -> None:
        poster = _Poster(host, port, request)
        try:
            for _ in work:
                ids.append(await poster.post())
        finally:
            poster.close()

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
