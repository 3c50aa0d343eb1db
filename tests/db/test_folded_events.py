"""An ending event with ``started`` and an output folded into it projects the same task as
the three events stored one by one; the folded output's file id is the ending event's seq."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from qhana.db.projector import apply_event, apply_events
from qhana.db.tables import metadata, task_files, task_log, tasks
from qhana.wire import Accepted, Failed, FileRef, Output, Started, Succeeded, TaskEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _fields(n: int) -> dict[str, Any]:
    return {
        "task_id": 1,
        "at": T0 + timedelta(seconds=n),
        "cmd_seq": 1,
        "attempt": 1,
        "event_id": f"1.1.1.{n}",
    }


ACCEPTED = Accepted(
    task_id=1,
    at=T0,
    cmd_seq=1,
    event_id="1.accepted",
    plugin="p@v1",
    plugin_name="p",
    plugin_version="v1",
    params={"x": 1},
)
STARTED = Started(**_fields(1), runner_id="r1")
OUTPUT = Output(
    **_fields(2),
    file=FileRef(object_name="", name="out.txt", content_type="text/plain", size=2, inline=b"hi"),
    data_type="t/x",
    token="tok",
)


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def _project(engine: AsyncEngine, history: list[tuple[TaskEvent, int]], batched: bool) -> Any:
    async with engine.begin() as conn:
        if batched:
            await conn.run_sync(apply_events, history)
        else:
            for event, seq in history:
                await conn.run_sync(apply_event, event, seq)
    async with engine.connect() as conn:
        task = (await conn.execute(select(tasks))).one()
        files = (await conn.execute(select(task_files))).all()
        log = (await conn.execute(select(task_log))).all()
    async with engine.begin() as conn:
        for table in (tasks, task_files, task_log):
            await conn.execute(table.delete())
    return task, files, log


@pytest.mark.parametrize("batched", [True, False], ids=["apply_events", "apply_event"])
@pytest.mark.parametrize("ending", [Succeeded, Failed])
async def test_folded_equals_separate(engine: AsyncEngine, batched: bool, ending: type) -> None:
    extra = {"reason": "boom"} if ending is Failed else {}
    end = ending(**_fields(3), log="the log", **extra)
    separate = await _project(engine, [(ACCEPTED, 1), (STARTED, 2), (OUTPUT, 3), (end, 4)], batched)
    folded_end = end.model_copy(update={"started": STARTED, "output": OUTPUT})
    folded = await _project(engine, [(ACCEPTED, 1), (folded_end, 4)], batched)

    assert folded[0] == separate[0]  # the task row: status, started_at, finished_at, ...
    assert separate[0].started_at is not None
    (file_separate,), (file_folded,) = separate[1], folded[1]
    assert file_separate.id == 3 and file_folded.id == 4
    assert file_folded._asdict() | {"id": 3} == file_separate._asdict()
    assert [row.text for row in folded[2]] == [row.text for row in separate[2]] == ["the log"]


async def test_a_redelivered_folded_event_changes_nothing(engine: AsyncEngine) -> None:
    end = Succeeded(**_fields(3), started=STARTED, output=OUTPUT)
    once = await _project(engine, [(ACCEPTED, 1), (end, 4)], batched=True)
    twice = await _project(engine, [(ACCEPTED, 1), (end, 4), (end, 4)], batched=True)
    assert once == twice
