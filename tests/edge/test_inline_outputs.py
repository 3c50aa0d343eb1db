"""Issue 8: small outputs travel inline in their ``output`` event, large ones in the Object Store.

Whichever way a file travelled, ``/files/<id>/`` serves it byte-identical (ETag, Range,
content type, token check), a worker reads it by its own URL and a rebuild keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from conftest import StackFactory
from multidict import CIMultiDictProxy
from nats.aio.client import Client
from pydantic import ValidationError
from sqlalchemy import select
from support.stack import Stack
from support.worker_context import worker_context

from qhana.bus import subjects
from qhana.bus.objects import load_output
from qhana.db import create_engine
from qhana.db.tables import task_files
from qhana.recorder.rebuild import reset_projection
from qhana.settings import Settings
from qhana.wire import FileRef, Output, parse_event
from qhana.worker.context import INLINE_OUTPUT_MAX_BYTES
from qhana.worker.inputs import OwnFiles, fetch_url

HELLO = "hello-world@v0-2-1"
HREF = re.compile(r"/files/(\d+)/\?file-id=([A-Za-z0-9_-]+)$")
OBJECTS_STREAM = f"OBJ_{subjects.FILES_BUCKET}"


@contextlib.asynccontextmanager
async def _nats(stack: Stack) -> AsyncIterator[Client]:
    nc = await nats.connect(stack.nats_url)
    try:
        yield nc
    finally:
        await nc.close()


async def _object_messages(nc: Client) -> int:
    return int((await nc.jetstream().stream_info(OBJECTS_STREAM)).state.messages)


async def _output(stack: Stack, text: str) -> tuple[str, bytes, Output]:
    """Run hello-world; its output's href, expected bytes and the output event."""
    doc = await stack.finished(await stack.submit(HELLO, inputStr=text))
    [output] = doc["outputs"]
    match = HREF.search(output["href"])
    assert match is not None, output["href"]
    async with _nats(stack) as nc:
        event = await load_output(nc.jetstream(), int(match.group(1)))
    assert event is not None and event.token == match.group(2)
    return output["href"], text.replace("input", "output").encode(), event


async def _get(stack: Stack, href: str, **headers: str) -> tuple[int, bytes, CIMultiDictProxy[str]]:
    async with stack.http.get(href, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers


async def _assert_served(stack: Stack, href: str, expected: bytes) -> None:
    status, body, headers = await _get(stack, href)
    assert (status, body) == (200, expected)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"] == "inline; filename=out.txt"
    assert headers["Accept-Ranges"] == "bytes"
    etag = headers["ETag"]
    status, body, again = await _get(stack, href, **{"If-None-Match": etag})
    assert (status, body, again["ETag"]) == (304, b"", etag)
    status, body, part = await _get(stack, href, Range="bytes=2-5")
    assert (status, body) == (206, expected[2:6])
    assert part["Content-Range"] == f"bytes 2-5/{len(expected)}"
    status, body, _ = await _get(stack, href, Range="bytes=-3")
    assert (status, body) == (206, expected[-3:])
    status, _, bad = await _get(stack, href, Range=f"bytes={len(expected)}-")
    assert (status, bad["Content-Range"]) == (416, f"bytes */{len(expected)}")
    wrong = re.sub(r"file-id=[^&]+", "file-id=" + "x" * 43, href)
    assert (await _get(stack, wrong))[0] == 404


async def _file_row(stack: Stack, file_id: int) -> Any:
    engine = create_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            query = select(task_files).where(task_files.c.id == file_id)
            return (await conn.execute(query)).one()
    finally:
        await engine.dispose()


def _file_id(href: str) -> int:
    match = HREF.search(href)
    assert match is not None
    return int(match.group(1))


async def test_small_output_is_inline_not_in_the_object_store(stack: Stack) -> None:
    href, expected, event = await _output(stack, "some input with ümlauts, input again " * 20)
    assert event.file.inline == expected and event.file.object_name == ""
    assert event.file.size == len(expected)
    async with _nats(stack) as nc:
        assert await _object_messages(nc) == 0
    await _assert_served(stack, href, expected)
    row = await _file_row(stack, _file_id(href))  # SQL keeps the bytes: events age out
    assert (row.size, row.content_type, row.object_name) == (len(expected), "text/plain", "")
    assert row.content == expected


async def test_large_output_still_goes_through_the_object_store(stack: Stack) -> None:
    href, expected, event = await _output(stack, "input " * 14_000)
    assert len(expected) > INLINE_OUTPUT_MAX_BYTES
    assert event.file.inline is None and event.file.object_name.startswith("tasks/")
    async with _nats(stack) as nc:
        assert await _object_messages(nc) >= 2  # chunk(s) + meta
        store = await nc.jetstream().object_store(subjects.FILES_BUCKET)
        assert (await store.get(event.file.object_name)).data == expected
    await _assert_served(stack, href, expected)
    assert (await _file_row(stack, _file_id(href))).object_name == event.file.object_name


async def test_worker_reads_an_inline_file_by_its_own_url(stack: Stack) -> None:
    href, expected, _ = await _output(stack, "input for the next plugin")
    # another host: proves the bytes come from JetStream, not from an HTTP request
    elsewhere = re.sub(r"^http://[^/]+/", "http://unreachable.invalid/", href)
    async with _nats(stack) as nc:
        js = nc.jetstream()
        own = OwnFiles(js, await js.object_store(subjects.FILES_BUCKET))
        fetched = await fetch_url(elsewhere, own)
    assert (fetched.data, fetched.name, fetched.content_type) == (expected, "out.txt", "text/plain")


async def test_rebuild_keeps_an_inline_file(stack: Stack) -> None:
    href, expected, _ = await _output(stack, "input to survive a rebuild")
    before = await _file_row(stack, _file_id(href))
    engine = create_engine(stack.database_url)
    woke = asyncio.Event()

    async def _wake(_: object) -> None:
        woke.set()

    try:
        async with _nats(stack) as nc:
            await nc.subscribe("qhana.recorded.task.*", cb=_wake)
            assert await reset_projection(nc.jetstream(), engine, replicas=1) > 0
            async with asyncio.timeout(30):
                while (await _get(stack, href))[0] != 200:
                    woke.clear()
                    with contextlib.suppress(TimeoutError):  # a guard, the recorder wakes us
                        await asyncio.wait_for(woke.wait(), 2)
    finally:
        await engine.dispose()
    assert await _file_row(stack, _file_id(href)) == before
    await _assert_served(stack, href, expected)


async def test_write_output_threshold_boundary(tmp_path: Path) -> None:
    async with worker_context(tmp_path / "js", inline_max_bytes=10) as (nc, ctx):
        await ctx.write_output("at.bin", bytes(range(10)), data_type="x", content_type="a/b")
        await ctx.write_output("over.bin", bytes(range(11)), data_type="x", content_type="a/b")
        js = nc.jetstream()
        at, over = await load_output(js, 1), await load_output(js, 2)
        assert at is not None and over is not None
        assert (at.file.inline, at.file.object_name) == (bytes(range(10)), "")
        assert over.file.inline is None
        files = await js.object_store(subjects.FILES_BUCKET)
        assert (await files.get(over.file.object_name)).data == bytes(range(11))
        assert await _object_messages(nc) == 2


def test_settings_default_matches_the_worker_default() -> None:
    assert Settings().inline_output_max_bytes == INLINE_OUTPUT_MAX_BYTES == 64 * 1024
    with pytest.raises(ValidationError):
        Settings(inline_output_max_bytes=2 * 1024 * 1024)  # would not fit a NATS message


def _output_json(file: dict[str, Any]) -> str:
    event = {
        "task_id": 1,
        "at": datetime.now(UTC).isoformat(),
        "cmd_seq": 1,
        "event_id": "1.1.1.1",
        "kind": "output",
        "file": file,
        "data_type": "t",
        "token": "k",
    }
    return Output.model_validate(event).model_dump_json()


def test_fileref_wire_shape() -> None:
    old = {"object_name": "tasks/1/x/out.txt", "name": "out.txt", "content_type": "a/b", "size": 3}
    event = parse_event(_output_json(old))  # events written before inline existed
    assert isinstance(event, Output) and event.file.inline is None
    assert FileRef(**old).model_dump_json().find("inline") == -1  # old JSON, unchanged
    raw = b"\x00\xffbin"
    inline = FileRef(object_name="", name="b", content_type="a/b", size=len(raw), inline=raw)
    again = parse_event(_output_json(inline.model_dump(mode="json")))
    assert isinstance(again, Output) and again.file.inline == raw
    for bad in (
        {**old, "inline": raw},  # both
        {**old, "object_name": ""},  # neither
        {**old, "object_name": "", "inline": b"ab"},  # size mismatch
    ):
        with pytest.raises(ValidationError):
            FileRef.model_validate(bad)


async def test_inline_file_outlives_its_event(stack: Stack) -> None:
    """QHANA_EVENTS ages out (max age); the bytes kept in SQL still serve the file."""
    href, expected, _ = await _output(stack, "input that outlives its event")
    async with _nats(stack) as nc:
        assert await nc.jetstream().delete_msg(subjects.EVENTS_STREAM, _file_id(href))
    await _assert_served(stack, href, expected)


async def test_the_setting_reaches_the_worker(stack_factory: StackFactory) -> None:
    """QHANA_INLINE_OUTPUT_MAX_BYTES=0: every output goes through the Object Store."""
    stack = await stack_factory(inline_output_max_bytes=0)
    href, expected, event = await _output(stack, "tiny input")
    assert event.file.inline is None and event.file.object_name.startswith("tasks/")
    await _assert_served(stack, href, expected)
