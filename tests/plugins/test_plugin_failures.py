"""Plugins that misbehave: import errors, duplicate name@version, a sync handler that blocks."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from structlog.testing import capture_logs
from support.stack import Stack, start_stack

from qhana.bus import subjects
from qhana.settings import Settings
from qhana.wire import Announce, Failed, parse_event
from qhana.worker.loader import load_plugins

BROKEN = """
raise RuntimeError("broken at import time")
"""

DUPLICATE = """
from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext


class In(PluginInput):
    pass


async def run(ctx: TaskContext, params: In) -> str:
    return "{which}"


plugin = Plugin(
    name="twin", version="v1.0.0", title="twin", description="{which}",
    type=PluginType.PROCESSING, input_model=In, handler=run,
)
"""

BLOCKER = """
import time

from qhana.sdk import Plugin, PluginInput, PluginType, SyncTaskContext, field


class In(PluginInput):
    seconds: float = field(20, title="Seconds")


def run(ctx: SyncTaskContext, params: In) -> str:
    ctx.log("blocking")
    end = time.monotonic() + params.seconds
    while time.monotonic() < end and not ctx.cancelled:
        time.sleep(0.02)  # blocks this pool thread, never the event loop
    return "unblocked"


plugin = Plugin(
    name="blocker", version="v1.0.0", title="blocker", description="blocks a thread",
    type=PluginType.PROCESSING, input_model=In, handler=run,
)
"""


RETRIER = """
from qhana.sdk import Plugin, PluginInput, PluginType, Retry, TaskContext


class In(PluginInput):
    pass


async def run(ctx: TaskContext, params: In) -> str:
    if ctx.attempt == 1:
        raise Retry(0.2, "not yet")
    return f"done in attempt {ctx.attempt}"


plugin = Plugin(
    name="retrier", version="v1.0.0", title="retrier", description="asks for a retry",
    type=PluginType.PROCESSING, input_model=In, handler=run,
)
"""


HOG = """
import time

from qhana.sdk import Plugin, PluginInput, PluginType, SyncTaskContext, field


class In(PluginInput):
    seconds: float = field(60, title="Seconds")


def run(ctx: SyncTaskContext, params: In) -> str:
    end = time.monotonic() + params.seconds
    while time.monotonic() < end and not ctx.cancelled:
        time.sleep(0.02)
    return "done"


plugin = Plugin(
    name="hog", version="v1.0.0", title="hog", description="over its timeout",
    type=PluginType.PROCESSING, input_model=In, handler=run, timeout_s=1.0,
)
"""


def _folder(root: Path) -> Path:
    root.mkdir()
    (root / "broken.py").write_text(BROKEN)
    (root / "twin_a.py").write_text(textwrap.dedent(DUPLICATE.format(which="first")))
    (root / "twin_b.py").write_text(textwrap.dedent(DUPLICATE.format(which="second")))
    (root / "blocker.py").write_text(BLOCKER)
    (root / "retrier.py").write_text(RETRIER)
    return root


@pytest.fixture(scope="module")
async def bad_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("bad-plugins")
    folder = _folder(root / "plugins")
    settings = Settings.model_validate(
        {"heartbeat_interval_s": 0.2, "plugin_folders": str(folder), "runner_id": "bad-runner"}
    )
    stack = await start_stack(root / "data", settings)
    yield stack
    await stack.close()


async def _announce(stack: Stack) -> Announce:
    nc = await nats.connect(stack.nats_url)
    try:
        msg = await nc.jetstream().get_last_msg(
            subjects.PLUGINS_STREAM, subjects.announce("bad-runner")
        )
        return Announce.model_validate_json(msg.data or b"")
    finally:
        await nc.close()


def test_import_error_is_logged_with_traceback(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "plugins")
    with capture_logs() as logs:
        loaded = load_plugins([folder], entry_points=False)
    assert sorted(loaded.plugins) == ["blocker@v1-0-0", "retrier@v1-0-0", "twin@v1-0-0"]
    [failed] = [e for e in logs if e["event"] == "plugin.load_failed" and "broken" in e["source"]]
    assert failed["log_level"] == "error"
    assert failed["error"] == "RuntimeError: broken at import time"
    assert 'broken.py", line 2' in failed["traceback"]


async def test_import_error_is_announced_and_others_served(bad_stack: Stack) -> None:
    announce = await _announce(bad_stack)
    errors = {Path(e.source).name: e for e in announce.load_errors}
    assert errors["broken.py"].error == "RuntimeError: broken at import time"
    assert "Traceback (most recent call last)" in errors["broken.py"].traceback
    assert 'broken.py", line 2' in errors["broken.py"].traceback
    served = {p.identifier for p in announce.plugins}
    assert {"blocker@v1-0-0", "twin@v1-0-0", "hello-world@v0-2-1"} <= served
    doc = await bad_stack.finished(await bad_stack.submit("hello-world@v0-2-1", inputStr="input"))
    assert doc["status"] == "SUCCESS"


async def test_duplicate_name_version_keeps_the_first(bad_stack: Stack) -> None:
    announce = await _announce(bad_stack)
    [duplicate] = [e for e in announce.load_errors if Path(e.source).name == "twin_b.py"]
    assert duplicate.error == "duplicate plugin twin@v1-0-0; the first one is kept"
    assert [p.description for p in announce.plugins if p.name == "twin"] == ["first"]
    doc = await bad_stack.finished(await bad_stack.submit("twin@v1-0-0"))
    assert (doc["status"], doc["log"]) == ("SUCCESS", "first")


async def test_blocking_sync_handler_does_not_stall_others(bad_stack: Stack) -> None:
    blocked = await bad_stack.submit("blocker@v1-0-0", seconds="60")
    await bad_stack.wait_for(blocked, "log")  # the handler is inside its blocking loop now
    for text in ("first input", "second input"):
        doc = await bad_stack.finished(
            await bad_stack.submit("hello-world@v0-2-1", inputStr=text), timeout_s=20
        )
        assert doc["status"] == "SUCCESS"
    assert (await bad_stack.task(blocked))["status"] == "PENDING"
    async with bad_stack.http.post(f"{bad_stack.base}tasks/{blocked}/cancel/") as resp:
        assert resp.status == 200
    nc = await nats.connect(bad_stack.nats_url)
    try:
        sub = await nc.jetstream().subscribe(subjects.event(blocked), ordered_consumer=True)
        async with asyncio.timeout(30):
            while not isinstance(parse_event((await sub.next_msg(30)).data), Failed):
                pass
    finally:
        await nc.close()


async def test_retry_with_delay_runs_again(bad_stack: Stack) -> None:
    doc = await bad_stack.finished(await bad_stack.submit("retrier@v1-0-0"))
    assert (doc["status"], doc["log"]) == ("SUCCESS", "done in attempt 2")


async def test_timed_out_sync_handler_frees_its_thread(tmp_path: Path) -> None:
    """One pool thread: the next sync task can only run if the timed-out one let go."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "hog.py").write_text(HOG)
    settings = Settings.model_validate(
        {"heartbeat_interval_s": 0.2, "plugin_folders": str(folder), "sync_pool_size": 1}
    )
    stack = await start_stack(tmp_path / "data", settings)
    try:
        first = await stack.finished(await stack.submit("hog@v1-0-0"))
        assert first["status"] == "FAILURE"
        assert "timeout of 1 s" in first["log"]
        form = {"dataType": "x/y", "contentType": "text/plain"}
        second = await stack.finished(await stack.submit("hog@v1-0-0", seconds="0"), 20)
        assert second["status"] == "SUCCESS", second
        upload = await stack.finished(await stack.submit("file-upload@v0-2-0", **form), 20)
        assert upload["status"] == "FAILURE"  # ran (in the one thread), no file given
    finally:
        await stack.close()


SLOTH = """
import time

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext


class In(PluginInput):
    pass


async def run(ctx: TaskContext, params: In) -> str:
    time.sleep(1.6)  # wrong on purpose: blocks the event loop
    return "woke up"


plugin = Plugin(
    name="sloth", version="v1.0.0", title="sloth", description="blocks the loop",
    type=PluginType.PROCESSING, input_model=In, handler=run,
)
"""


async def test_blocking_async_handler_is_named_in_the_log(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "sloth.py").write_text(SLOTH)
    settings = Settings.model_validate({"heartbeat_interval_s": 0.2, "plugin_folders": str(folder)})
    stack = await start_stack(tmp_path / "data", settings)
    try:
        with capture_logs() as logs:
            task_id = await stack.submit("sloth@v1-0-0")
            doc = await stack.finished(task_id)
        assert (doc["status"], doc["log"]) == ("SUCCESS", "woke up")
    finally:
        await stack.close()
    named = f"sloth@v1-0-0 (task {task_id})"
    blocked = [e for e in logs if e["event"] == "worker.loop_blocked" and named in e["running"]]
    assert blocked, [e for e in logs if e["log_level"] == "warning"]
    assert blocked[0]["log_level"] == "warning" and blocked[0]["lag_s"] > 1.0
