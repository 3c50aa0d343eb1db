"""The in-memory lane: shipped plugins through ``qhana.sdk.testing.run_plugin`` (no NATS)."""

from __future__ import annotations

import functools
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from qhana.errors import Retry
from qhana.sdk import Periodic, PeriodicContext, Plugin, PluginInput, PluginType, TaskContext
from qhana.sdk.entities import load_entities
from qhana.sdk.testing import FakeUpload, arun_plugin, run_periodic, run_plugin
from qhana.sdk.urls import parse_data_url
from qhana.worker.loader import load_plugins

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


@functools.cache
def _shipped() -> dict[str, Plugin]:
    loaded = load_plugins([PLUGINS], entry_points=False)
    assert not loaded.errors, loaded.errors
    return {p.name: p for p in loaded.plugins.values()}


def _plugin(name: str) -> Plugin:
    return _shipped()[name]


def test_hello_world_in_memory() -> None:
    result = run_plugin(_plugin("hello-world"), {"inputStr": "an input"})
    assert result.status == "SUCCESS"
    assert result.output("out.txt").text() == "an output"
    assert result.log == "result: 'an output'"


def test_multi_step_state_and_step() -> None:
    plugin = _plugin("hello-world-multi-step")
    first = run_plugin(plugin, {"input_str": "one"})
    assert (first.status, first.steps, first.state) == (
        "PENDING",
        ["demo-step"],
        {"input_str": "one"},
    )
    second = run_plugin(plugin, {"inputStr": "two"}, step="demo-step", state=first.state)
    assert second.output("output2.txt").text() == "Processed in the processing step: one two"


def test_sync_plugin_with_upload() -> None:
    plugin = _plugin("file-upload")
    upload = FakeUpload("a.csv", b"x,y\n", "text/csv")
    result = run_plugin(
        plugin, {"dataType": "entity/list", "contentType": "text/csv"}, files={"file": upload}
    )
    out = result.output("a.csv")
    assert (out.data, out.data_type, out.content_type) == (b"x,y\n", "entity/list", "text/csv")
    missing = run_plugin(plugin, {"dataType": "entity/list", "contentType": "text/csv"})
    assert missing.status == "FAILURE"
    assert missing.log.startswith("ValueError('No file in request.')")


def test_urls_are_served_from_the_mapping() -> None:
    plugin = _plugin("zip-merger")
    urls = {"http://example.test/files/a.txt": b"A"}
    text = "http://example.test/files/a.txt\ndata:text/plain;base64,Qg=="
    result = run_plugin(plugin, {"fileUrls": text}, urls=urls)
    archive = zipfile.ZipFile(BytesIO(result.output("merged.zip").data))
    assert {n: archive.read(n) for n in archive.namelist()} == {"a.txt": b"A", "data": b"B"}
    unknown = run_plugin(plugin, {"fileUrls": "http://nowhere.test/x"})
    assert unknown.status == "FAILURE" and "no test content" in unknown.log


def test_data_creator_output_parses() -> None:
    result = run_plugin(_plugin("data-creator"), {"entities": 6, "dataset": "circles"})
    for name in ("entities.csv", "entities.json"):
        out = result.output(name)
        entities = load_entities(out.data, out.content_type)
        assert entities.ids == [f"ent-{i:04d}" for i in range(1, 7)]
        assert entities.numeric_columns() == ["x0", "x1"]


class _Empty(PluginInput):
    pass


async def _retrying(ctx: TaskContext, params: _Empty) -> str:
    raise Retry(2.5)


async def test_retry_is_reported() -> None:
    plugin = Plugin(
        name="retrying",
        version="1.0",
        title="r",
        description="r",
        type=PluginType.PROCESSING,
        input_model=_Empty,
        handler=_retrying,
    )
    result = await arun_plugin(plugin, {})
    assert (result.status, result.retry_s) == ("RETRY", 2.5)


@pytest.mark.parametrize(
    ("url", "data", "mime"),
    [
        ("data:,a%20b", b"a b", "text/plain"),
        ("data:text/csv;charset=utf-8;base64,YSxi", b"a,b", "text/csv"),
        ("data:application/octet-stream;base64,-_8", b"\xfb\xff", "application/octet-stream"),
    ],
)
def test_data_urls(url: str, data: bytes, mime: str) -> None:
    fetched = parse_data_url(url)
    assert (fetched.data, fetched.content_type) == (data, mime)


def test_run_periodic_job() -> None:
    async def sweep(ctx: PeriodicContext) -> None:
        ctx.log(f"swept period {ctx.period}")

    def broken(ctx: PeriodicContext) -> None:
        raise OSError("disk gone")

    plugin = Plugin(
        name="sweeper",
        version="1.0",
        title="s",
        description="s",
        type=PluginType.PROCESSING,
        input_model=_Empty,
        handler=_retrying,
        periodic=(Periodic("sweep", 60, sweep), Periodic("broken", 60, broken)),
    )
    assert run_periodic(plugin, "sweep", period=7).log == ["swept period 7"]
    assert isinstance(run_periodic(plugin, "broken").error, OSError)
