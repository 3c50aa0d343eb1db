"""An ending event with folded events is written as those events first, then itself: an SSE
client sees the same events whether or not the worker folded them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from qhana.edge.sse_frames import sse_frames
from qhana.wire import FileRef, Output, Started, Succeeded


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
    frames, kind = sse_frames(12, data)
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
    frames, kind = sse_frames(12, ending.model_dump_json().encode())
    assert kind == "succeeded"
    parsed = _parse(frames)
    assert [f["event"] for f in parsed] == ["started", "output", "succeeded"]
    assert ["id" in f for f in parsed] == [False, False, True] and parsed[2]["id"] == "12"
    datas = [orjson.loads(f["data"]) for f in parsed]
    assert datas[0] == orjson.loads(started.model_dump_json())
    assert datas[1] == orjson.loads(output.model_dump_json())
    assert datas[2] == orjson.loads(Succeeded(**_fields(3)).model_dump_json())
