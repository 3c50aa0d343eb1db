"""Prometheus metrics: one ``CollectorRegistry`` per process, never a module-level singleton.

``qhana up`` / ``qhana cluster`` share one ``Metrics`` between the edge (which serves
``/metrics``) and the recorder. Who counts what:

- edge: ``qhana_tasks_submitted_total`` (303 answers of ``/plugins/<p>/process/``) and
  ``qhana_http_request_duration_seconds`` (a middleware, labelled by route template);
- recorder: ``qhana_tasks_finished_total`` / ``qhana_tasks_failed_total`` and
  ``qhana_task_duration_seconds`` (accepted -> finished), after each SQL commit;
- at scrape time from JetStream consumer info: ``qhana_queue_pending`` /
  ``qhana_queue_ack_pending`` per task queue and ``qhana_recorder_lag`` (events not yet
  projected into SQL).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from qhana.listen import listen

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "serve_metrics"]

_DURATION_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_HTTP_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """All metrics of one process, registered in its own registry."""

    def __init__(self, *, remember_finished: int = 20_000) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.submitted = Counter(
            "qhana_tasks_submitted", "Tasks submitted through the edge", ["plugin"], registry=r
        )
        self.finished = Counter(
            "qhana_tasks_finished",
            "Tasks that reached SUCCESS or FAILURE (projected into SQL)",
            ["plugin", "status"],
            registry=r,
        )
        self.failed = Counter(
            "qhana_tasks_failed", "Tasks that ended FAILURE", ["plugin"], registry=r
        )
        self.duration = Histogram(
            "qhana_task_duration_seconds",
            "From accepted to finished, per plugin",
            ["plugin"],
            buckets=_DURATION_BUCKETS_S,
            registry=r,
        )
        self.http_latency = Histogram(
            "qhana_http_request_duration_seconds",
            "Edge HTTP latency by method, route template and status",
            ["method", "route", "status"],
            buckets=_HTTP_BUCKETS_S,
            registry=r,
        )
        self.queue_pending = Gauge(
            "qhana_queue_pending", "Task commands waiting for a worker", ["queue"], registry=r
        )
        self.queue_ack_pending = Gauge(
            "qhana_queue_ack_pending",
            "Task commands delivered, not yet acked",
            ["queue"],
            registry=r,
        )
        self.recorder_lag = Gauge(
            "qhana_recorder_lag", "Task events not yet projected into SQL", registry=r
        )
        self.nats_up = Gauge("qhana_nats_up", "1 if JetStream answered the last scrape", registry=r)
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._remember = remember_finished

    def task_finished(
        self, task_id: int, plugin: str, status: str, duration_s: float | None
    ) -> None:
        """Count a finished task once (redelivered events of the same task are ignored)."""
        if task_id in self._seen:
            return
        self._seen[task_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        self.finished.labels(plugin, status).inc()
        if status == "FAILURE":
            self.failed.labels(plugin).inc()
        if duration_s is not None and duration_s >= 0:
            self.duration.labels(plugin).observe(duration_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@contextlib.asynccontextmanager
async def serve_metrics(metrics: Metrics, host: str, port: int) -> AsyncIterator[int]:
    """``GET /metrics`` of a role without an edge (e.g. a standalone recorder); yields the port."""

    async def _handler(_: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", _handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await listen(runner, host, port)  # cleans the runner up if it fails
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
