"""The edge as seen by an operator: submit a task, list plugins, follow a task's events."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from qhana.errors import OperatorCommandFailed

__all__ = ["Submitted", "get_json", "list_plugins", "parse_params", "submit_task", "task_events"]

_TASK_PATH = re.compile(r"/tasks/(\d+)/?$")


@dataclass(frozen=True, slots=True)
class Submitted:
    task_id: int
    url: str


def parse_params(pairs: list[str]) -> aiohttp.FormData:
    """``key=value`` pairs as a form; ``key=@path`` uploads the file at ``path``."""
    form = aiohttp.FormData()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise OperatorCommandFailed(f"expected key=value, got {pair!r}")
        if value.startswith("@"):
            path = Path(value[1:])
            form.add_field(key, path.read_bytes(), filename=path.name)
        else:
            form.add_field(key, value)
    return form


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        if resp.status != 200:
            raise OperatorCommandFailed(f"GET {url}: HTTP {resp.status}: {await resp.text()}")
        return await resp.json()


async def list_plugins(http: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    doc = await get_json(http, f"{base}/plugins/")
    plugins: list[dict[str, Any]] = doc.get("plugins", [])
    return plugins


async def resolve_plugin(http: aiohttp.ClientSession, base: str, plugin: str) -> str:
    """``name@version`` as given; a bare name picks the newest listed version."""
    if "@" in plugin:
        return plugin
    matches = [p for p in await list_plugins(http, base) if p.get("name") == plugin]
    if not matches:
        raise OperatorCommandFailed(f"no plugin named {plugin!r} is listed at {base}/plugins/")
    return str(matches[-1]["identifier"])  # the edge lists versions in ascending order


async def submit_task(
    http: aiohttp.ClientSession, base: str, plugin: str, params: list[str]
) -> Submitted:
    identifier = await resolve_plugin(http, base, plugin)
    url = f"{base}/plugins/{identifier}/process/"
    async with http.post(url, data=parse_params(params), allow_redirects=False) as resp:
        body = await resp.text()
        if resp.status != 303:
            raise OperatorCommandFailed(f"POST {url}: HTTP {resp.status}: {body}")
        location = resp.headers.get("Location", "")
    match = _TASK_PATH.search(location)
    if not match:
        raise OperatorCommandFailed(f"unexpected Location {location!r}")
    task_id = int(match.group(1))
    return Submitted(task_id, f"{base}/tasks/{task_id}/")


async def task_events(
    http: aiohttp.ClientSession, base: str, task_id: int
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(kind, data)`` of every event of the task (SSE), from the first one, live."""
    url = f"{base}/tasks/{task_id}/events"
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with http.get(url, timeout=timeout) as resp:
        if resp.status != 200:
            raise OperatorCommandFailed(f"GET {url}: HTTP {resp.status}: {await resp.text()}")
        kind = "message"
        async for raw in resp.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                yield kind, json.loads(line[6:])
