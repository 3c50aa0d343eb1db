"""The projector under reordering: late events of the committed attempt still apply (nothing
lost), events of an abandoned attempt never do (nothing twice), a late progress never undoes
the final one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.db import create_engine
from qhana.db.projector import apply_event
from qhana.db.tables import metadata
from qhana.db.task_views import load_task
from qhana.wire import (
    Accepted,
    FileRef,
    LogLine,
    Output,
    Progress,
    Started,
    Succeeded,
    TaskEvent,
)

NOW = datetime.now(UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def _fields(attempt: int, name: str) -> dict[str, object]:
    return {"task_id": 1, "at": NOW, "cmd_seq": 1, "attempt": attempt, "event_id": name}


def _output(attempt: int) -> Output:
    ref = FileRef(object_name=f"o{attempt}", name="out.txt", content_type="text/plain", size=1)
    return Output(**_fields(attempt, f"out{attempt}"), file=ref, data_type="t", token="x" * 43)


async def _apply(engine: AsyncEngine, events: list[tuple[TaskEvent, int]]) -> None:
    for event, seq in events:
        async with engine.begin() as conn:
            await conn.run_sync(apply_event, event, seq)


async def test_late_events_of_the_committed_attempt_apply(engine: AsyncEngine) -> None:
    accepted = Accepted(
        **_fields(0, "acc"), plugin="p@v1", plugin_name="p", plugin_version="v1", params={}
    )
    # stream order: 1 accepted, 2 started(a1), 3 log(a1), 4 progress(a1), 5 output(a1),
    # 6 log(a2, abandoned), 7 output(a2, abandoned), 8 succeeded(a1);
    # the recorder sees the earlier ones last (a redelivery after a DB outage)
    await _apply(
        engine,
        [
            (accepted, 1),
            (Started(**_fields(1, "s1"), runner_id="r"), 2),
            (Succeeded(**_fields(1, "ok1"), log="done"), 8),
            (LogLine(**_fields(1, "l1"), text="working"), 3),
            (Progress(**_fields(1, "p1"), value=50), 4),
            (_output(1), 5),
            (LogLine(**_fields(2, "l2"), text="working again"), 6),
            (_output(2), 7),
            (Succeeded(**_fields(1, "ok1"), log="done"), 8),  # a duplicate delivery
        ],
    )
    async with engine.connect() as conn:
        task = await conn.run_sync(load_task, 1)
    assert task is not None
    assert task.status == "SUCCESS"
    assert task.log == "working\ndone"
    assert [(f.name, f.id) for f in task.outputs] == [("out.txt", 5)]
    assert task.progress is None or task.progress[0] != 50
