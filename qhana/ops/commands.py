"""argparse wiring of the operator commands (added to ``qhana`` by ``cli.py``)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from rich.console import Console
from rich.table import Table

from qhana.settings import Settings

__all__ = ["add_ops_commands", "edge_url"]

DEFAULT_URL = "http://127.0.0.1:5005"
_Run = Callable[[Settings, argparse.Namespace, asyncio.Event], Coroutine[Any, Any, None]]


def edge_url(settings: Settings, args: argparse.Namespace) -> str:
    """``--url``, else ``QHANA_PUBLIC_URL``, else the default edge address (no trailing /)."""
    url = getattr(args, "url", None) or settings.public_url or DEFAULT_URL
    return str(url).rstrip("/")


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))


async def _submit(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.ops.http import submit_task
    from qhana.ops.watch import watch_task

    base = edge_url(settings, args)
    async with _session() as http:
        submitted = await submit_task(http, base, args.plugin, args.params)
        print(f"task {submitted.task_id}: {submitted.url}", flush=True)
        if args.watch:
            await watch_task(http, base, submitted.task_id)


async def _watch(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.ops.watch import watch_task

    async with _session() as http:
        await watch_task(http, edge_url(settings, args), args.task_id)


async def _plugins_ls(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.ops.http import list_plugins

    async with _session() as http:
        plugins = await list_plugins(http, edge_url(settings, args))
    table = Table("IDENTIFIER", "NAME", "VERSION", "TAGS", "DESCRIPTION", box=None)
    for p in plugins:
        table.add_row(
            p["identifier"], p["name"], p["version"], ",".join(p.get("tags", [])), p["description"]
        )
    Console(width=200).print(table)


async def _runners_ls(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.bus import connect
    from qhana.ops.runners import list_runners

    nc = await connect(settings.nats, "qhana-ops", stop=stop)
    try:
        rows = await list_runners(nc, args.listen or settings.heartbeat_interval_s * 1.5)
    finally:
        await nc.close()
    table = Table("RUNNER", "STATE", "QUEUES", "PLUGINS", "RUNNING", "SEEN VIA", box=None)
    for row in rows:
        table.add_row(
            row.runner_id,
            row.state,
            ",".join(row.queues),
            "" if row.plugins is None else str(row.plugins),
            "" if row.running is None else str(row.running),
            ",".join(sorted(row.seen_via)),
        )
    Console(width=200).print(table)


def _asyncapi(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from qhana.bus.asyncapi import default_path, render

    path = Path(args.output) if args.output else default_path()
    text = render()
    if args.check:
        if not path.is_file() or path.read_text() != text:
            print(f"{path} is out of date: run `qhana asyncapi`", flush=True)
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


def _with_url(parser: argparse.ArgumentParser, run: _Run) -> None:
    parser.add_argument(
        "--url", default=None, help=f"edge base URL (default: QHANA_PUBLIC_URL or {DEFAULT_URL})"
    )
    parser.set_defaults(run=run)


def _plugins_actions(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The actions of ``qhana plugins`` (created by plugintools), or a new ``plugins``."""
    plugins = sub.choices.get("plugins")
    if plugins is None:
        plugins = sub.add_parser("plugins", help="plugins")
        return plugins.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in plugins._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return plugins.add_subparsers(dest="action", required=True, metavar="ACTION")


def add_ops_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tasks = sub.add_parser("tasks", help="submit and follow tasks over HTTP (operators)")
    actions = tasks.add_subparsers(dest="action", required=True, metavar="ACTION")
    submit = actions.add_parser("submit", help="submit a task: PLUGIN key=value ... (@file)")
    submit.add_argument("plugin", help="name@version, or a name (the newest version)")
    submit.add_argument("params", nargs="*", metavar="key=value")
    submit.add_argument("--watch", action="store_true", help="then follow it like `watch`")
    _with_url(submit, _submit)
    watch = actions.add_parser("watch", help="follow a task live; exit 1 on FAILURE")
    watch.add_argument("task_id", type=int)
    _with_url(watch, _watch)

    _with_url(
        _plugins_actions(sub).add_parser("ls", help="list the plugins the edge offers"), _plugins_ls
    )

    asyncapi = sub.add_parser("asyncapi", help="write streams/asyncapi.yaml from the wire models")
    asyncapi.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    asyncapi.add_argument("--output", default=None, help="path (default: streams/asyncapi.yaml)")
    asyncapi.set_defaults(sync_run=_asyncapi)

    runners = sub.add_parser("runners", help="workers (runners) seen on NATS")
    runner_actions = runners.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = runner_actions.add_parser("ls", help="runners from announces, heartbeats and $SRV.INFO")
    ls.add_argument("--listen", type=float, default=None, help="seconds to listen for heartbeats")
    ls.set_defaults(run=_runners_ls)
