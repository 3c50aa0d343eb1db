"""``qhana``: one CLI for every role. Reads the settings once and passes them down."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qhana.settings import Settings

    Runner = Callable[[Settings, argparse.Namespace, asyncio.Event], Coroutine[Any, Any, None]]

__all__ = ["main"]


async def _up(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    # Start-up creates ~a million objects that live as long as the process: the cyclic
    # collector finds nothing in them, it only costs time (~10 % of the start). run_up
    # switches it back on once ready (freeze_startup_objects), this finally if it fails.
    gc.disable()
    try:
        from qhana.roles import run_up

        # one embedded node: one replica, whatever QHANA_NATS__REPLICAS says (that is for
        # clusters)
        settings = settings.model_copy(
            update={"nats": settings.nats.model_copy(update={"replicas": 1})}
        )
        await run_up(settings, stop, host=args.host, port=args.port, data_dir=Path(args.data_dir))
    finally:
        gc.enable()


async def _cluster(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.cluster import run_cluster

    await run_cluster(
        settings,
        stop,
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir),
        size=args.nodes,
    )


async def _edge(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.roles import run_edge

    await run_edge(settings, stop)


async def _worker(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.worker.service import run_worker

    if args.queue:
        settings = settings.model_copy(update={"queue": args.queue})
    await run_worker(settings, stop)


async def _with_engine(settings: Settings, stop: asyncio.Event, role: str) -> None:
    from qhana.db import create_engine

    engine = create_engine(settings.database_url)
    try:
        if role == "registry":
            from qhana.registry import run_registry

            await run_registry(settings, engine, stop)
        else:
            from qhana.recorder import run_recorder

            await run_recorder(settings, engine, stop)
    finally:
        await engine.dispose()


async def _registry(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    await _with_engine(settings, stop, "registry")


async def _recorder(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    idle_exit_s = getattr(args, "helper_idle_exit", None)
    if idle_exit_s is not None:
        await _recorder_helper(settings, stop, idle_exit_s)
        return
    if getattr(args, "rebuild", False):
        await _rebuild_projection(settings, stop)
    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    if port is None:
        await _with_engine(settings, stop, "recorder")
    else:
        await _recorder_with_metrics(settings, stop, port)


async def _recorder_helper(settings: Settings, stop: asyncio.Event, idle_exit_s: float) -> None:
    """``qhana up``'s helper recorder (qhana/up_recorder.py): says when it pulls, reports
    the tasks it saw finish to ``qhana up``, exits after ``idle_exit_s`` without events."""
    from qhana.bus import connect, subjects
    from qhana.db import create_engine
    from qhana.recorder import run_recorder
    from qhana.recorder.metrics import FinishedRow, summarise
    from qhana.up_recorder import READY_LINE, finished_report

    nc = await connect(settings.nats, "qhana-recorder-helper", stop=stop)
    engine = create_engine(settings.database_url)
    ready = asyncio.Event()

    async def _report(rows: list[FinishedRow]) -> None:
        await nc.publish(subjects.UP_FINISHED, finished_report(summarise(rows)))

    async def _say_ready() -> None:
        await ready.wait()
        sys.stdout.buffer.write(READY_LINE + b"\n")
        sys.stdout.flush()

    saying = asyncio.create_task(_say_ready())
    try:
        await run_recorder(
            settings, engine, stop, nc=nc, on_finished=_report, ready=ready, idle_exit_s=idle_exit_s
        )
    finally:
        saying.cancel()
        await engine.dispose()
        await nc.drain()


async def _recorder_with_metrics(settings: Settings, stop: asyncio.Event, port: int) -> None:
    from qhana.db import create_engine
    from qhana.metrics import Metrics, serve_metrics
    from qhana.recorder import run_recorder

    metrics = Metrics()
    engine = create_engine(settings.database_url)
    try:
        async with serve_metrics(metrics, settings.http_host, port) as bound:
            print(f"recorder metrics: http://{settings.http_host}:{bound}/metrics", flush=True)
            await run_recorder(settings, engine, stop, metrics=metrics)
    finally:
        await engine.dispose()


async def _rebuild_projection(settings: Settings, stop: asyncio.Event) -> None:
    from qhana.bus import connect
    from qhana.db import create_engine
    from qhana.recorder.rebuild import reset_projection

    nc = await connect(settings.nats, "qhana-rebuild", stop=stop)
    engine = create_engine(settings.database_url)
    try:
        replay = await reset_projection(nc.jetstream(), engine, replicas=settings.nats.replicas)
        print(f"task tables emptied; replaying {replay} events", flush=True)
    finally:
        await engine.dispose()
        await nc.close()


async def _streams_apply(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.bus import apply_streams, connect

    nc = await connect(settings.nats, "qhana-streams", stop=stop)
    try:
        queues = tuple(args.queue or [settings.queue])
        await apply_streams(
            nc.jetstream(),
            replicas=settings.nats.replicas,
            queues=queues,
            events_max_age_s=settings.events_max_age_s,
            limits=settings.queue_limits,
        )
        print(f"streams applied (replicas={settings.nats.replicas}, queues={', '.join(queues)})")
    finally:
        await nc.close()


async def _db_upgrade(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.db import upgrade_database

    await upgrade_database(settings.database_url, args.revision)
    print(f"database at revision {args.revision}")


async def _bench(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from qhana.bench import QUICK, BenchConfig, run_bench

    cfg = QUICK if args.quick else BenchConfig()
    json_path = Path(args.json) if args.json else None
    bench = asyncio.ensure_future(run_bench(cfg, quick=args.quick, json_path=json_path))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({bench, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not bench.done():
        bench.cancel()
    await bench


def _port(text: str) -> int:
    """A TCP port (0: any free one); the OS would silently take 99999 as 34463."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0..65535; 0 picks a free one)")
    return port


def _parser() -> argparse.ArgumentParser:
    from qhana.ops import add_ops_commands
    from qhana.plugintools.commands import add_plugin_commands

    parser = argparse.ArgumentParser(prog="qhana", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="everything in one process: embedded NATS, SQLite, all roles")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=_port, default=5005, help="0 picks a free one")
    up.add_argument("--data-dir", default=".qhana")
    up.set_defaults(run=_up)

    cluster = sub.add_parser(
        "cluster", help="like up, on a local 3-node nats-server cluster with R3 streams"
    )
    cluster.add_argument("--host", default="127.0.0.1")
    cluster.add_argument("--port", type=_port, default=5005, help="0 picks a free one")
    cluster.add_argument("--data-dir", default=".qhana-cluster")
    cluster.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    cluster.set_defaults(run=_cluster)

    sub.add_parser("edge", help="the HTTP edge (runner + registry API)").set_defaults(run=_edge)
    worker = sub.add_parser("worker", help="run plugins of one task queue")
    worker.add_argument(
        "--queue", default=None, help="task queue (default: QHANA_QUEUE or 'default')"
    )
    worker.add_argument(
        "--settings-stdin",
        action="store_true",
        help="read all settings as JSON from standard input (how `qhana up` starts workers)",
    )
    worker.set_defaults(run=_worker)
    sub.add_parser("registry", help="plugin catalogue from announce/heartbeat events").set_defaults(
        run=_registry
    )
    recorder = sub.add_parser("recorder", help="project task events into SQL")
    recorder.add_argument(
        "--rebuild", action="store_true", help="first empty the task tables, replay all events"
    )
    recorder.add_argument(
        "--metrics-port", type=_port, default=None, help="serve /metrics (or QHANA_METRICS_PORT)"
    )
    recorder.add_argument(
        "--settings-stdin",
        action="store_true",
        help="read all settings as JSON from standard input (how `qhana up` starts its helper)",
    )
    recorder.add_argument(
        "--helper-idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run as `qhana up`'s helper recorder: exit after this long without events",
    )
    recorder.set_defaults(run=_recorder)

    streams = sub.add_parser("streams", help="JetStream resources")
    streams_sub = streams.add_subparsers(dest="action", required=True, metavar="ACTION")
    apply = streams_sub.add_parser("apply", help="create/update streams, consumers, buckets")
    apply.add_argument("--queue", action="append", help="task queue to create a consumer for")
    apply.set_defaults(run=_streams_apply)

    bench = sub.add_parser("bench", help="benchmark a fresh stack; prints a table")
    bench.add_argument("--quick", action="store_true", help="a small run (< 1 minute)")
    bench.add_argument("--json", default=None, metavar="FILE", help="also write the results")
    bench.set_defaults(run=_bench)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="apply the alembic migrations")
    upgrade.add_argument("revision", nargs="?", default="heads")
    upgrade.set_defaults(run=_db_upgrade)
    add_plugin_commands(sub)
    add_ops_commands(sub)  # tasks submit|watch, plugins ls, runners ls
    return parser


async def _run(run: Runner, settings: Settings, args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, args, stop)


def _setup(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    from qhana.logging import configure_logging
    from qhana.settings import load_settings

    args = _parser().parse_args(argv)
    stdin = sys.stdin.buffer.read() if getattr(args, "settings_stdin", False) else None
    settings = load_settings(stdin)
    configure_logging(settings.log_level, settings.log_format)
    return args, settings


def main(argv: list[str] | None = None) -> int:
    # The set-up imports most of what a command needs (pydantic, aiohttp, structlog: ~0.3 s)
    # and creates only objects that live as long as the process: the cyclic collector would
    # scan them again and again for nothing. `qhana up` keeps it off until ready (_up).
    gc.disable()
    try:
        try:
            args, settings = _setup(argv)
        except Exception as exc:
            return _refuse(exc)
        if getattr(args, "run", None) is not _up:
            gc.enable()
        return _main(args, settings)
    finally:
        gc.enable()


def _main(args: argparse.Namespace, settings: Settings) -> int:
    if hasattr(args, "sync_run"):  # plain commands (plugins install / new): no event loop
        return int(args.sync_run(settings, args))
    try:
        from qhana.loop import run as run_loop

        run_loop(_run(args.run, settings, args), use_uvloop=settings.uvloop)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _refuse(exc)
    return 0


def _refuse(exc: Exception) -> int:
    """A clear one-line error for operators (exit 1) for our own errors; a bug re-raises."""
    from qhana.errors import QhanaError

    if not isinstance(exc, QhanaError):
        raise exc
    print(f"qhana: error: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
