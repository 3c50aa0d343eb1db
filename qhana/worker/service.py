"""``qhana worker``: load plugins, announce them, run the task loop of one queue."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nats.aio.client import Client

from qhana.bus import apply_queue_consumer, connect, subjects
from qhana.logging import get_logger
from qhana.sdk import Plugin
from qhana.settings import Settings
from qhana.urlmap import UrlRewriter
from qhana.worker.git_plugins import sync_git_plugins
from qhana.worker.loader import LoadedPlugins, default_plugin_dir, load_plugins
from qhana.worker.micro import start_micro, stop_micro
from qhana.worker.periodic import start_periodic
from qhana.worker.plugin_static import publish_static_files
from qhana.worker.presence import Presence
from qhana.worker.runner import TaskLoop
from qhana.worker.url_policy import UrlPolicy
from qhana.worker.watchdog import watch_loop

__all__ = ["discover_plugins", "run_worker"]

log = get_logger("qhana.worker")


def discover_plugins(settings: Settings, extra: Sequence[Path] = ()) -> LoadedPlugins:
    folders: list[Path] = []
    default = default_plugin_dir()
    if default is not None:
        folders.append(default)
    folders.extend(p for p in settings.plugin_folder_paths if p.resolve() != default)
    folders.extend(extra)
    return load_plugins(folders)


def task_slots(plugins: Sequence[Plugin], concurrency: int, pool_size: int) -> int:
    """Commands a worker takes at once. A queue of plain (sync) handlers only runs
    ``pool_size`` of them at a time: pulling more would hold commands back in this
    process while another worker of the queue sits idle."""
    handlers = [h for p in plugins for h in (p.handler, *(s.handler for s in p.steps))]
    if handlers and not any(inspect.iscoroutinefunction(h) for h in handlers):
        return min(concurrency, pool_size)
    return concurrency


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
    nc: Client | None = None,
) -> None:
    """Serve ``settings.queue`` until ``stop`` is set; drain in-flight tasks; withdraw.

    ``nc``: a connection shared with other roles of this process (``qhana up``), left open;
    without it the worker connects (and drains) its own."""
    git_folders, git_errors = await sync_git_plugins(settings.git_plugins, settings.git_plugins_dir)
    loaded = discover_plugins(settings, git_folders)
    loaded.errors.extend(git_errors)
    queue = settings.queue
    offered = {k: p for k, p in loaded.plugins.items() if p.queue == queue}
    slots = task_slots(list(offered.values()), settings.worker_concurrency, settings.sync_pool_size)
    own = nc is None
    if nc is None:
        nc = await connect(settings.nats, f"qhana-worker-{settings.runner_id}", stop=stop)
    pool = ThreadPoolExecutor(settings.sync_pool_size, thread_name_prefix="qhana-plugin")
    try:
        js = nc.jetstream()
        ack_wait_s = await apply_queue_consumer(
            js, queue, settings.nats.replicas, settings.queue_limits
        )
        loop = TaskLoop(
            nc=nc,
            queue=queue,
            plugins=offered,
            runner_id=settings.runner_id,
            concurrency=slots,
            ack_wait_s=ack_wait_s,
            pool=pool,
            state=await js.key_value(subjects.STATE_BUCKET),
            files=await js.object_store(subjects.FILES_BUCKET),
            rewrite=UrlRewriter.parse(settings.url_map, settings.url_map_from_localhost),
            url_policy=UrlPolicy.from_settings(settings),
            inline_max_bytes=settings.inline_output_max_bytes,
            event_linger_s=settings.event_linger_s,
        )
        presence = Presence(
            nc,
            runner_id=settings.runner_id,
            queues=[queue],
            interval_s=settings.heartbeat_interval_s,
            running=lambda: loop.running,
        )
        files = await js.object_store(subjects.FILES_BUCKET)
        loaded.errors.extend(await publish_static_files(files, offered.values()))
        await presence.announce([p.info() for p in offered.values()], loaded.errors)
        beats = asyncio.create_task(presence.beat_forever())
        infos = [p.info() for p in offered.values()]
        micro = await start_micro(nc, runner_id=settings.runner_id, queue=queue, plugins=infos)
        periodic = await start_periodic(
            js,
            offered.values(),
            runner_id=settings.runner_id,
            pool=pool,
            replicas=settings.nats.replicas,
            stop=stop,
        )
        watchdog = asyncio.create_task(watch_loop(loop.running_plugins))
        log.info(
            "worker.ready",
            queue=queue,
            runner_id=settings.runner_id,
            plugins=len(offered),
            concurrency=slots,
        )
        if ready is not None:
            ready.set()
        try:
            await loop.run(stop)
        finally:
            beats.cancel()
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
            if periodic is not None:
                periodic.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await periodic
            await stop_micro(micro)
            await presence.withdraw()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if own:
            with contextlib.suppress(Exception):
                await nc.drain()
