"""The batched projector gives exactly the tables of the per-event projector.

Random histories: several tasks, commands and attempts (redeliveries), crashes, duplicates,
late ``accepted`` events, steps, cancels, events folded into ending ones, interleaved in
random stream order and cut into random batches. Both projections must leave identical rows
in every task table.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from qhana.db.projector import apply_event, apply_events
from qhana.db.projector_batch import apply_batch
from qhana.db.tables import metadata, task_commits, task_files, task_log, task_steps, tasks
from qhana.wire import (
    Accepted,
    Cancelled,
    Failed,
    FileRef,
    LogLine,
    Output,
    Progress,
    Started,
    StepRequested,
    StepSubmitted,
    Succeeded,
    TaskEvent,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _attempt_events(rng: random.Random, task_id: int, cmd: int, attempt: int) -> list[TaskEvent]:
    n = 0

    def base() -> dict[str, Any]:
        nonlocal n
        n += 1
        return {
            "task_id": task_id,
            "at": T0 + timedelta(seconds=rng.randint(0, 10_000)),
            "cmd_seq": cmd,
            "attempt": attempt,
            "event_id": f"{task_id}.{cmd}.{attempt}.{n}",
        }

    events: list[TaskEvent] = [Started(**base(), runner_id=f"r{attempt}")]
    for _ in range(rng.randint(0, 4)):
        kind = rng.choice(("log", "progress", "output"))
        if kind == "log":
            events.append(LogLine(**base(), text=f"line {rng.random():.3f}"))
        elif kind == "progress":
            events.append(Progress(**base(), value=rng.choice([0, 10, 50, 90])))
        else:
            ref = FileRef(
                object_name=f"o{rng.random()}", name="f.txt", content_type="text/plain", size=3
            )
            events.append(Output(**base(), file=ref, data_type="t/x", token=f"tok{rng.random()}"))
    end = rng.choice(("succeeded", "failed", "step", "crash", "succeeded"))
    log = rng.choice([None, "the log"])
    if end == "succeeded":
        events.append(Succeeded(**base(), log=log))
    elif end == "failed":
        events.append(Failed(**base(), reason="boom", log=log))
    if end in ("succeeded", "failed") and rng.random() < 0.5:
        _fold(events)
    elif end == "step":
        prog = Progress(**base(), value=rng.choice([1, 2])) if rng.random() < 0.5 else None
        events.append(
            StepRequested(**base(), step_id=rng.choice(["a", "b"]), log=log, progress=prog)
        )
    return events


def _fold(events: list[TaskEvent]) -> None:
    """Fold the events before the ending one into it as a worker does: the output right
    before it, then ``started`` if nothing else came after it."""
    end = events.pop()
    assert isinstance(end, Succeeded | Failed)
    output = events.pop() if isinstance(events[-1], Output) else None
    started = events.pop() if len(events) == 1 else None
    events.append(end.model_copy(update={"started": started, "output": output}))


def _task_streams(rng: random.Random, task_id: int) -> list[list[TaskEvent]]:
    """Independent ordered sub-streams (per attempt / control) of one task."""
    streams: list[list[TaskEvent]] = []
    accepted = Accepted(
        task_id=task_id,
        at=T0,
        cmd_seq=task_id,
        event_id=f"{task_id}.accepted",
        plugin="p@v1",
        plugin_name="p",
        plugin_version="v1",
        params={"x": task_id},
    )
    if rng.random() < 0.9:
        streams.append([accepted])
    for cmd in (task_id, task_id * 100 + 1)[: rng.randint(1, 2)]:
        for attempt in range(1, rng.randint(1, 3) + 1):
            streams.append(_attempt_events(rng, task_id, cmd, attempt))
    control: list[TaskEvent] = []
    if rng.random() < 0.3:
        control.append(
            StepSubmitted(
                task_id=task_id,
                at=T0,
                cmd_seq=task_id * 100 + 1,
                event_id=f"{task_id}.a.1.submitted",
                step_id="a",
                params={"y": 1},
            )
        )
    if rng.random() < 0.2:
        control.append(
            Cancelled(
                task_id=task_id,
                at=T0,
                cmd_seq=task_id,
                event_id=f"{task_id}.cancelled",
                reason="c",
            )
        )
    if control:
        streams.append(control)
    return streams


def _history(rng: random.Random, base: int = 0) -> list[tuple[TaskEvent, int]]:
    """Events of up to 4 tasks (ids ``base + 1 ...``), stream sequences from ``base * 100``."""
    tasks_ = range(base + 1, base + rng.randint(1, 4) + 1)
    streams = [s for t in tasks_ for s in _task_streams(rng, t)]
    merged: list[TaskEvent] = []
    while streams:
        pick = rng.randrange(len(streams))
        merged.append(streams[pick].pop(0))
        if not streams[pick]:
            streams.pop(pick)
    history = [(event, seq) for seq, event in enumerate(merged, start=base * 100 + 1)]
    for _ in range(rng.randint(0, 3)):  # redelivered events (same stream sequence)
        history.insert(rng.randint(0, len(history)), rng.choice(history))
    return history


def _engine() -> Engine:
    """An in-memory SQLite database with the task tables. The projector is synchronous
    (it runs in ``run_sync`` / ``run_write`` in production), so the tests call it on a plain
    engine: the same statements, without an aiosqlite thread hop per call."""
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    return engine


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in (tasks, task_log, task_files, task_steps, task_commits):
            rows = conn.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    return out


@pytest.fixture
def engines() -> Iterator[tuple[Engine, Engine]]:
    a, b = _engine(), _engine()
    yield a, b
    a.dispose()
    b.dispose()


def test_batched_equals_per_event(engines: tuple[Engine, Engine]) -> None:
    reference, batched = engines
    for seed in range(200):
        rng = random.Random(seed)
        history = _history(rng, base=seed * 10)
        for event, seq in history:
            with reference.begin() as conn:
                apply_event(conn, event, seq)
        position = 0
        while position < len(history):
            size = rng.randint(1, 12)
            with batched.begin() as conn:
                apply_batch(conn, history[position : position + size], apply_event)
            position += size
        if seed % 50 == 49:
            assert _dump(batched) == _dump(reference), f"seeds up to {seed}"


def test_apply_events_is_the_batched_path(engines: tuple[Engine, Engine]) -> None:
    rng = random.Random(7)
    history = _history(rng)
    reference, batched = engines
    with reference.begin() as conn:
        for event, seq in history:
            apply_event(conn, event, seq)
    with batched.begin() as conn:
        apply_events(conn, history)
    assert _dump(batched) == _dump(reference)
