"""The worker as a NATS micro service ``qhana-runner``: ``nats micro ls`` lists every worker.

``$SRV.PING|INFO|STATS.qhana-runner`` are answered by nats-py's micro framework; the service
metadata names the runner id, its queue and its plugins, and every plugin has an endpoint on
``qhana.ui.<plugin>`` that answers the plugin's ``PluginInfo`` JSON (UI and metadata by
request-reply, load-balanced over the workers offering the plugin).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, Service, ServiceConfig

from qhana import __version__
from qhana.bus import subjects
from qhana.logging import get_logger
from qhana.wire import PluginInfo

__all__ = ["SERVICE_NAME", "start_micro", "stop_micro"]

SERVICE_NAME = "qhana-runner"

log = get_logger("qhana.worker.micro")


def _endpoint_name(identifier: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", identifier)


def _responder(info: PluginInfo) -> Callable[[Request], Awaitable[None]]:
    body = info.model_dump_json().encode()

    async def handler(request: Request) -> None:
        await request.respond(body, headers={"Content-Type": "application/json"})

    return handler


async def start_micro(
    nc: Client, *, runner_id: str, queue: str, plugins: list[PluginInfo]
) -> Service:
    config = ServiceConfig(
        name=SERVICE_NAME,
        version=__version__,
        description="QHAna plugin runner (worker)",
        metadata={
            "runner_id": runner_id,
            "queue": queue,
            "plugins": ",".join(p.identifier for p in plugins),
        },
    )
    service = await add_service(nc, config)
    for info in plugins:
        await service.add_endpoint(
            EndpointConfig(
                name=_endpoint_name(info.identifier),
                subject=subjects.ui_request(info.identifier),
                handler=_responder(info),
                metadata={"plugin": info.identifier, "type": info.type.value},
            )
        )
    log.info("worker.micro_started", service=SERVICE_NAME, id=service.id, plugins=len(plugins))
    return service


async def stop_micro(service: Service) -> None:
    with contextlib.suppress(Exception):
        await service.stop()
