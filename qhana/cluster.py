"""``qhana cluster``: ``qhana up`` on a real 3-node nats-server cluster with R3 streams.

The same roles and the same code path as production: a NATS cluster (here on loopback, each
node with its own JetStream store), streams and consumers with three replicas, and the
edge, registry, recorder and a worker connected to every node's URL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from qhana.bus.cluster import NatsCluster, start_nats_cluster
from qhana.roles import BusStarter, run_up
from qhana.settings import Settings

__all__ = ["cluster_bus", "run_cluster"]


def cluster_bus(size: int = 3, on_start: Callable[[NatsCluster], None] | None = None) -> BusStarter:
    """A bus for ``run_up``: a ``size``-node cluster under ``<data_dir>/cluster``."""

    @contextlib.asynccontextmanager
    async def _bus(data_dir: Path, host: str) -> AsyncIterator[str]:
        async with start_nats_cluster(data_dir / "cluster", size=size, host=host) as cluster:
            if on_start is not None:
                on_start(cluster)
            yield cluster.url

    return _bus


async def run_cluster(
    settings: Settings,
    stop: asyncio.Event,
    *,
    host: str,
    port: int,
    data_dir: Path,
    size: int = 3,
    announce: Callable[[str], None] = print,
    on_start: Callable[[NatsCluster], None] | None = None,
) -> None:
    """Start the cluster, apply streams with ``replicas = min(3, size)``, run all roles."""
    replicas = min(3, size)
    settings = settings.model_copy(
        update={"nats": settings.nats.model_copy(update={"replicas": replicas})}
    )
    await run_up(
        settings,
        stop,
        host=host,
        port=port,
        data_dir=data_dir,
        announce=announce,
        bus=cluster_bus(size, on_start),
    )
