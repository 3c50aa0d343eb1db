"""The benchmark's table: every figure next to its target and the upstream figure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ROWS", "Row", "render_table", "targets_met"]

Check = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    key: str
    sub: str | None
    unit: str
    target: str
    upstream: str
    check: Check | None


def _value(results: dict[str, Any], key: str, sub: str | None) -> Any:
    value = results.get(key)
    if sub is not None and isinstance(value, dict):
        return value.get(sub)
    return value


def _at_least(key: str, bound: float, sub: str | None = None) -> Check:
    return lambda r: _value(r, key, sub) is not None and _value(r, key, sub) >= bound


def _at_most(key: str, bound: float, sub: str | None = None) -> Check:
    return lambda r: _value(r, key, sub) is not None and _value(r, key, sub) <= bound


def _completion(r: dict[str, Any]) -> bool:
    rate, ratio = r.get("completion_tasks_per_s"), r.get("completion_ratio")
    return bool(rate and ratio and rate >= 1000 and ratio >= 0.2)


ROWS: tuple[Row, ...] = (
    Row(  # rates: medians of the rounds; the ratio: the median of each round's own ratio
        "raw JetStream ceiling",
        "raw_ceiling_tasks_per_s",
        None,
        "tasks/s",
        "baseline",
        "~5,000",
        None,
    ),
    Row(
        "completion (HTTP->SUCCESS)",
        "completion_tasks_per_s",
        None,
        "tasks/s",
        ">= 1,000 and >= 0.2x ceiling",
        "5.7 (65 prefork)",
        _completion,
    ),
    Row(
        "  completion / ceiling",
        "completion_ratio",
        None,
        "x",
        ">= 0.2",
        "-",
        _at_least("completion_ratio", 0.2),
    ),
    Row(
        "  (each round: ceiling, then completion)",
        "completion_ratio_rounds",
        None,
        "x",
        "-",
        "-",
        None,
    ),
    Row("  stack CPU per task", "completion_cpu_ms_per_task", None, "ms", "-", "-", None),
    Row("  load generator CPU per task", "load_cpu_ms_per_task", None, "ms", "-", "-", None),
    Row(
        "  helper recorder processes started",
        "recorder_helpers_started",
        None,
        "",
        "-",
        "-",
        None,
    ),
    Row(
        "HTTP submit",
        "submit_per_s",
        None,
        "POST/s",
        ">= 3,000",
        "-",
        _at_least("submit_per_s", 3000),
    ),
    Row("  (edge alone, workers paused)", "submit_alone_per_s", None, "POST/s", "-", "-", None),
    Row("  stack CPU per POST (alone)", "submit_alone_cpu_ms", None, "ms", "-", "-", None),
    Row(
        "backlog drain (no HTTP)",
        "drain_tasks_per_s",
        None,
        "tasks/s",
        "-",
        "5.7 (500 backlog)",
        None,
    ),
    Row("  stack CPU per task (drain)", "drain_cpu_ms_per_task", None, "ms", "-", "-", None),
    Row(
        "latency SSE p50",
        "latency_sse_ms",
        "p50",
        "ms",
        "<= 5",
        "~25 (10 ms poll)",
        _at_most("latency_sse_ms", 5, "p50"),
    ),
    Row("latency SSE p90", "latency_sse_ms", "p90", "ms", "-", "-", None),
    Row(
        "latency SSE p99",
        "latency_sse_ms",
        "p99",
        "ms",
        "<= 15",
        "-",
        _at_most("latency_sse_ms", 15, "p99"),
    ),
    Row("latency poll p50", "latency_poll_ms", "p50", "ms", "-", "~25 (10 ms poll)", None),
    Row("latency poll p99", "latency_poll_ms", "p99", "ms", "-", "-", None),
    Row(
        "GET /plugins/",
        "plugins_get_per_s",
        None,
        "req/s",
        ">= 5,000",
        "1,107",
        _at_least("plugins_get_per_s", 5000),
    ),
    Row("  server CPU per plugins GET", "plugins_get_cpu_ms", None, "ms", "-", "-", None),
    Row("GET /tasks/<id>/", "task_get_per_s", None, "req/s", "-", "-", None),
    Row("  server CPU per task GET", "task_get_cpu_ms", None, "ms", "-", "~1.7", None),
    Row("start -> ready", "start_to_ready_s", None, "s", "-", "-", None),
    Row(
        "start -> first SUCCESS",
        "start_to_first_task_s",
        None,
        "s",
        "<= 1.5",
        "1.8",
        _at_most("start_to_first_task_s", 1.5),
    ),
    Row(
        "idle RSS (process tree)",
        "idle_rss_mib",
        None,
        "MiB",
        "<= 150",
        "~270",
        _at_most("idle_rss_mib", 150),
    ),
    Row(
        "worker start -> listed",
        "plugin_listed_s",
        None,
        "s",
        "<= 1",
        "~900 (15 min)",
        _at_most("plugin_listed_s", 1),
    ),
    Row("  (worker spawn -> ready)", "worker_ready_s", None, "s", "-", "-", None),
    Row("  (worker ready -> listed)", "plugin_listed_after_ready_s", None, "s", "-", "-", None),
    Row(
        "worker SIGKILL -> unavailable",
        "runner_dead_s",
        None,
        "s",
        "<= 3",
        "~900 (15 min)",
        _at_most("runner_dead_s", 3),
    ),
    Row(
        "2 vs 1 worker (CPU-bound)",
        "worker_scaling_ratio",
        None,
        "x",
        ">= 1.7",
        "-",
        _at_least("worker_scaling_ratio", 1.7),
    ),
    Row(
        "  (wall clock, with submit and poll)",
        "worker_scaling_ratio_wall",
        None,
        "x",
        "-",
        "-",
        None,
    ),
    Row(
        "split up: worker in a child process",
        "split_completion_tasks_per_s",
        None,
        "tasks/s",
        "(QHANA_UP_WORKER_PROCESSES=1)",
        "-",
        None,
    ),
    Row("  split: HTTP submit", "split_submit_per_s", None, "POST/s", "-", "-", None),
    Row("  split: CPU per task", "split_completion_cpu_ms_per_task", None, "ms", "-", "-", None),
    Row("  split: start -> SUCCESS", "split_start_to_first_task_s", None, "s", "-", "-", None),
    Row("  split: idle RSS (process tree)", "split_idle_rss_mib", None, "MiB", "-", "-", None),
    Row(
        "  (same machine: 1 vs 2 bare processes)",
        "machine_scaling_ratio",
        None,
        "x",
        "ceiling",
        "-",
        None,
    ),
)


def targets_met(results: dict[str, Any]) -> dict[str, bool]:
    met: dict[str, bool] = {}
    for row in ROWS:
        if row.check is not None:
            name = row.key if row.sub is None else f"{row.key}.{row.sub}"
            met[name] = row.check(results)
    return met


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"
    return str(value)


def render_table(results: dict[str, Any]) -> str:
    header = ("figure", "value", "unit", "target", "ok", "upstream")
    rows = [header]
    for row in ROWS:
        ok = "" if row.check is None else ("yes" if row.check(results) else "NO")
        value = _fmt(_value(results, row.key, row.sub))
        rows.append((row.label, value, row.unit, row.target, ok, row.upstream))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
