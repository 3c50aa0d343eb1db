"""``qhana.metrics``: one registry per instance, each task counted once, served standalone."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from qhana.metrics import Metrics, serve_metrics


def _value(text: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def test_each_task_is_counted_once_and_registries_are_separate() -> None:
    first, second = Metrics(), Metrics()
    first.task_finished(7, "p@v1", "FAILURE", 1.5)
    first.task_finished(7, "p@v1", "FAILURE", 1.5)  # a redelivered event of the same task
    text = first.render().decode()
    assert _value(text, "qhana_tasks_finished_total", {"plugin": "p@v1", "status": "FAILURE"}) == 1
    assert _value(text, "qhana_tasks_failed_total", {"plugin": "p@v1"}) == 1
    assert _value(text, "qhana_task_duration_seconds_sum", {"plugin": "p@v1"}) == 1.5
    assert _value(second.render().decode(), "qhana_tasks_failed_total", {"plugin": "p@v1"}) is None


async def test_serve_metrics_standalone() -> None:
    metrics = Metrics()
    metrics.task_finished(1, "p@v1", "SUCCESS", 0.2)
    async with (
        serve_metrics(metrics, "127.0.0.1", 0) as port,
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        text = await resp.text()
    labels = {"plugin": "p@v1", "status": "SUCCESS"}
    assert _value(text, "qhana_tasks_finished_total", labels) == 1
