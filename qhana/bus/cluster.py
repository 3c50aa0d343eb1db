"""A real N-node nats-server cluster on loopback (``qhana cluster``, the cluster fault test)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats

from qhana.bus.embedded import EmbeddedNats, start_nats_server
from qhana.errors import ConfigError
from qhana.logging import get_logger

__all__ = ["NatsCluster", "free_ports", "start_nats_cluster", "wait_for_jetstream"]

log = get_logger("qhana.bus.cluster")

NODE_NAMES = "abcdefghi"


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that were free a moment ago (route ports must be known up front)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class NatsCluster:
    """The running nodes, by server name (``node-a``, ``node-b``, ...)."""

    name: str
    nodes: dict[str, EmbeddedNats]

    @property
    def url(self) -> str:
        """Every node's client URL, comma separated (what ``QHANA_NATS_URL`` takes)."""
        return ",".join(node.url for node in self.nodes.values())

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes.values()]

    def kill(self, server_name: str) -> None:
        """SIGKILL one node (fault injection)."""
        self.nodes[server_name].kill()

    def alive(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node.process.returncode is None]


async def wait_for_jetstream(servers: list[str], timeout_s: float = 30.0) -> dict[str, object]:
    """Wait until JetStream answers ``$JS.API.INFO`` (the meta group has a leader)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last_error = "no answer"
    while loop.time() < deadline:
        try:
            nc = await nats.connect(servers=servers, connect_timeout=2, max_reconnect_attempts=0)
        except Exception as exc:
            last_error = repr(exc)
            await asyncio.sleep(0.2)
            continue
        try:
            while loop.time() < deadline:
                try:
                    reply = await nc.request("$JS.API.INFO", b"", timeout=2)
                except Exception as exc:
                    last_error = repr(exc)
                    await asyncio.sleep(0.2)
                    continue
                info: dict[str, object] = json.loads(reply.data)
                if "error" not in info:
                    return info
                last_error = str(info["error"])
                await asyncio.sleep(0.2)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()
    raise ConfigError(f"JetStream cluster not ready after {timeout_s}s: {last_error}")


def _node_args(name: str, cluster: str, route_port: int, routes: list[int], host: str) -> list[str]:
    return [
        "-n",
        name,
        "--cluster_name",
        cluster,
        "--cluster",
        f"nats://{host}:{route_port}",
        "--routes",
        ",".join(f"nats://{host}:{p}" for p in routes if p != route_port),
    ]


@contextlib.asynccontextmanager
async def start_nats_cluster(
    base_dir: Path,
    *,
    size: int = 3,
    host: str = "127.0.0.1",
    name: str = "qhana",
    ready_timeout_s: float = 30.0,
) -> AsyncIterator[NatsCluster]:
    """Start ``size`` JetStream nodes routed to each other, each with its own store dir.

    Client ports are picked by the servers; route ports are chosen free up front. Yields once
    the JetStream meta group has elected a leader; stops every node on exit.
    """
    if not 1 <= size <= len(NODE_NAMES):
        raise ConfigError(f"cluster size must be 1..{len(NODE_NAMES)}")
    for attempt in range(1, _START_ATTEMPTS + 1):
        stack = contextlib.AsyncExitStack()
        try:
            cluster = await _start_nodes(stack, base_dir, size, host, name, ready_timeout_s)
        except ConfigError as exc:  # e.g. a route port taken between choosing and binding it
            await stack.aclose()
            if attempt == _START_ATTEMPTS:
                raise
            log.warning("nats.cluster.retry", attempt=attempt, error=str(exc)[:200])
            continue
        async with stack:
            log.info("nats.cluster.ready", cluster=name, url=cluster.url)
            yield cluster
        return


_START_ATTEMPTS = 2


async def _start_nodes(
    stack: contextlib.AsyncExitStack,
    base_dir: Path,
    size: int,
    host: str,
    name: str,
    ready_timeout_s: float,
) -> NatsCluster:
    route_ports = free_ports(size, host)
    servers: list[EmbeddedNats] = []
    for i in range(size):
        node = f"node-{NODE_NAMES[i]}"
        servers.append(
            await stack.enter_async_context(
                start_nats_server(
                    base_dir / node,
                    host=host,
                    extra_args=_node_args(node, name, route_ports[i], route_ports, host),
                    ready_timeout_s=ready_timeout_s,
                )
            )
        )
    cluster = NatsCluster(name, {f"node-{NODE_NAMES[i]}": s for i, s in enumerate(servers)})
    await wait_for_jetstream(cluster.urls, ready_timeout_s)
    dead = [n for n in cluster.nodes if n not in cluster.alive()]
    if dead:  # e.g. its route port was taken: it served clients briefly, then exited
        output = b"".join(cluster.nodes[dead[0]].output[-5:]).decode(errors="replace")
        raise ConfigError(f"cluster node(s) {dead} exited during start:\n{output}")
    return cluster
