"""An event with folded events is written as those events first, then itself: an SSE client
sees the same events whether or not the worker folded them, and ``accepted`` once although
it is stored twice (the edge's, and the copy in the worker's ``started``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from qhana.edge.sse_frames import SseFrames
from qhana.wire import Accepted, FileRef, Output, Started, Succeeded, TaskCommand, accepted_event


def _fields(n: int) -> dict[str, Any]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return {"task_id": 3, "at": at, "cmd_seq": 3, "attempt": 1, "event_id": f"3.3.1.{n}"}


def _parse(frames: bytes) -> list[dict[str, str]]:
    out = []
    for block in frames.decode().split("\n\n")[:-1]:
        out.append(dict(line.split(": ", 1) for line in block.split("\n")))
    return out


def test_an_event_on_its_own_is_passed_through() -> None:
    data = Succeeded(**_fields(1), log="done").model_dump_json().encode()
    out = SseFrames().frames(12, data)
    assert out is not None
    frames, kind = out
    assert kind == "succeeded"
    assert frames == b"id: 12\nevent: succeeded\ndata: " + data + b"\n\n"


def test_folded_events_come_first_without_an_id() -> None:
    started = Started(**_fields(1), runner_id="r")
    output = Output(
        **_fields(2),
        file=FileRef(object_name="", name="o.txt", content_type="text/plain", size=1, inline=b"x"),
        data_type="t/x",
        token="tok",
    )
    ending = Succeeded(**_fields(3), started=started, output=output)
    out = SseFrames().frames(12, ending.model_dump_json().encode())
    assert out is not None
    frames, kind = out
    assert kind == "succeeded"
    parsed = _parse(frames)
    assert [f["event"] for f in parsed] == ["started", "output", "succeeded"]
    assert ["id" in f for f in parsed] == [False, False, True] and parsed[2]["id"] == "12"
    datas = [orjson.loads(f["data"]) for f in parsed]
    assert datas[0] == orjson.loads(started.model_dump_json())
    assert datas[1] == orjson.loads(output.model_dump_json())
    assert datas[2] == orjson.loads(Succeeded(**_fields(3)).model_dump_json())


def _accepted() -> Accepted:
    command = TaskCommand(
        command_id="c",
        plugin="hello@v1",
        params={"name": "x"},
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return accepted_event(command, 3, "hello", "v1")


def _written(frames: SseFrames, *stored: tuple[int, bytes]) -> list[dict[str, str]]:
    parsed = []
    for seq, data in stored:
        out = frames.frames(seq, data)
        if out is not None:
            parsed.extend(_parse(out[0]))
    return parsed


def _started_with_accepted() -> bytes:
    return Started(**_fields(1), runner_id="r", accepted=_accepted()).model_dump_json().encode()


def _ending_with_accepted() -> bytes:
    started = Started(**_fields(1), runner_id="r", accepted=_accepted())
    return Succeeded(**_fields(2), started=started).model_dump_json().encode()


def test_the_accepted_folded_into_started_comes_first() -> None:
    parsed = _written(SseFrames(), (11, _ending_with_accepted()))
    assert [f["event"] for f in parsed] == ["accepted", "started", "succeeded"]
    assert orjson.loads(parsed[0]["data"]) == orjson.loads(_accepted().model_dump_json())
    assert "accepted" not in orjson.loads(parsed[1]["data"])
    assert [f.get("id") for f in parsed] == [None, None, "11"]


def test_accepted_is_written_once_whichever_copy_is_stored_first() -> None:
    edge = _accepted().model_dump_json().encode()
    worker_first = _written(SseFrames(), (10, _started_with_accepted()), (11, edge))
    edge_first = _written(SseFrames(), (10, edge), (11, _started_with_accepted()))
    assert [f["event"] for f in worker_first] == ["accepted", "started"]
    assert [f["event"] for f in edge_first] == ["accepted", "started"]
    assert edge_first[0]["id"] == "10" and "id" not in worker_first[0]


def test_an_event_written_already_is_skipped() -> None:
    frames = SseFrames()
    data = Succeeded(**_fields(1)).model_dump_json().encode()
    assert frames.frames(12, data) is not None
    assert frames.frames(12, data) is None and frames.frames(5, data) is None
    assert frames.last_seq == 12
