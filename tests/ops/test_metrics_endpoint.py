"""``/metrics``: task counters, task duration, HTTP latency, queue depth, recorder lag."""

from __future__ import annotations

from typing import Any

import nats
from prometheus_client.parser import text_string_to_metric_families
from support.stack import Stack

from qhana.bus import subjects

HELLO = "hello-world@v0-2-1"


async def _scrape(stack: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with stack.http.get(f"{stack.base}metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def _counted(stack: Stack, task_id: int, key: tuple[str, tuple[tuple[str, str], ...]]) -> Any:
    """Scrape once the recorder has counted the task: it counts right after its SQL commit
    and then notifies ``qhana.recorded.task.<id>``, so a GET can see the task finished a
    moment before the counter moves."""
    nc = await nats.connect(stack.nats_url)
    try:
        sub = await nc.subscribe(subjects.recorded(task_id))
        samples = await _scrape(stack)
        if key not in samples:
            await sub.next_msg(timeout=10)
            samples = await _scrape(stack)
        return samples
    finally:
        await nc.close()


async def test_metrics_count_tasks_and_read_jetstream(stack: Stack) -> None:
    ok = await stack.submit(HELLO, inputStr="input")
    assert (await stack.finished(ok))["status"] == "SUCCESS"
    finished = ("qhana_tasks_finished_total", (("plugin", HELLO), ("status", "SUCCESS")))
    samples = await _counted(stack, ok, finished)

    assert samples[("qhana_tasks_submitted_total", (("plugin", HELLO),))] == 1
    assert samples[finished] == 1
    assert samples[("qhana_task_duration_seconds_count", (("plugin", HELLO),))] == 1
    assert ("qhana_tasks_failed_total", (("plugin", HELLO),)) not in samples
    process = (
        ("method", "POST"),
        ("route", "/plugins/{plugin}/process/"),
        ("status", "303"),
    )
    assert samples[("qhana_http_request_duration_seconds_count", process)] == 1
    assert samples[("qhana_queue_pending", (("queue", "default"),))] == 0
    assert samples[("qhana_queue_ack_pending", (("queue", "default"),))] == 0
    assert ("qhana_recorder_lag", ()) in samples
    assert samples[("qhana_nats_up", ())] == 1


async def test_readyz_reports_nats_and_database(stack: Stack) -> None:
    async with stack.http.get(f"{stack.base}readyz") as resp:
        assert resp.status == 200
        body = await resp.json()
        assert (body["nats"], body["database"]) == ("ok", "ok")
    async with stack.http.get(f"{stack.base}healthz") as resp:
        assert resp.status == 200
