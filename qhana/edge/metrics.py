"""``GET /metrics`` (Prometheus text format) and the middleware that times every request."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import Counter, Histogram

from qhana.bus import subjects
from qhana.edge.keys import METRICS, NATS
from qhana.logging import get_logger
from qhana.metrics import CONTENT_TYPE_LATEST, Metrics

__all__ = ["setup_metrics"]

log = get_logger("qhana.edge.metrics")

_SCRAPE_TIMEOUT_S = 2.0
_QUEUE_PREFIX = "tasks-"


def _route(request: web.Request) -> str:
    """The route template (bounded label values), never the raw path."""
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return "unmatched"
    return info.route.resource.canonical


_PROCESS_ROUTE = "/plugins/{plugin}/process/"
_MAX_CHILDREN = 4096  # label sets kept per metric (bounded: a method is any token a client sends)


class _Children:
    """``metric.labels(...)`` looked up once per label set: prometheus-client's ``labels``
    validates and locks on every call (~1 % of a task submission's CPU)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._latency: dict[tuple[str, str, int], Histogram] = {}
        self._submitted: dict[str, Counter] = {}

    def latency(self, method: str, route: str, status: int) -> Histogram:
        key = (method, route, status)
        child = self._latency.get(key)
        if child is None:
            if len(self._latency) >= _MAX_CHILDREN:
                self._latency.clear()
            child = self._metrics.http_latency.labels(method, route, str(status))
            self._latency[key] = child
        return child

    def submitted(self, plugin: str) -> Counter:
        child = self._submitted.get(plugin)
        if child is None:
            if len(self._submitted) >= _MAX_CHILDREN:
                self._submitted.clear()
            child = self._metrics.submitted.labels(plugin)
            self._submitted[plugin] = child
        return child


def _metrics_middleware(metrics: Metrics) -> Middleware:
    children = _Children(metrics)

    @web.middleware
    async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Time every request; count 303 answers of ``/plugins/<p>/process/`` as submissions."""
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = _route(request)
            children.latency(request.method, route, status).observe(time.perf_counter() - started)
            if status == 303 and route == _PROCESS_ROUTE:
                children.submitted(request.match_info["plugin"]).inc()

    return metrics_middleware


async def _refresh_from_jetstream(app: web.Application, metrics: Metrics) -> None:
    """Queue depth per task consumer and the recorder's lag, read from consumer info."""
    js = app[NATS].jetstream()
    try:
        async with asyncio.timeout(_SCRAPE_TIMEOUT_S):
            for info in await js.consumers_info(subjects.TASKS_STREAM):
                name = str(info.name)
                if name.startswith(_QUEUE_PREFIX):
                    queue = name[len(_QUEUE_PREFIX) :]
                    metrics.queue_pending.labels(queue).set(info.num_pending or 0)
                    metrics.queue_ack_pending.labels(queue).set(info.num_ack_pending or 0)
            recorder = await js.consumer_info(subjects.EVENTS_STREAM, subjects.RECORDER_DURABLE)
            metrics.recorder_lag.set((recorder.num_pending or 0) + (recorder.num_ack_pending or 0))
    except Exception as exc:  # NATS away: say so, keep serving the other metrics
        log.warning("metrics.jetstream_unavailable", error=str(exc))
        metrics.nats_up.set(0)
        return
    metrics.nats_up.set(1)


async def metrics_handler(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    await _refresh_from_jetstream(request.app, metrics)
    response = web.Response(body=metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def setup_metrics(app: web.Application, metrics: Metrics | None = None) -> None:
    """Register ``/metrics`` and the timing middleware (outermost, so it sees every status)."""
    app[METRICS] = metrics or Metrics()
    app.middlewares.insert(0, _metrics_middleware(app[METRICS]))
    app.router.add_get("/metrics", metrics_handler)
