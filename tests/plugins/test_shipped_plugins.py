"""Every shipped plugin through the real platform: HTTP submit -> SUCCESS -> output content.

One ``qhana up`` stack (SQLite) serves the whole module: the plugins are under test here, the
SQL lanes are covered by the core tests.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from support.stack import Stack, start_stack

from qhana.bus import subjects
from qhana.settings import Settings
from qhana.wire import Failed, parse_event

CREATOR = "data-creator@v0-1-0"


@pytest.fixture(scope="module")
async def plugin_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    data_dir: Path = tmp_path_factory.mktemp("plugins-stack")
    stack = await start_stack(data_dir, Settings.model_validate({"heartbeat_interval_s": 0.2}))
    yield stack
    await stack.close()


async def _run(stack: Stack, plugin: str, timeout_s: float = 60, **form: str) -> dict[str, Any]:
    return await stack.finished(await stack.submit(plugin, **form), timeout_s=timeout_s)


async def _get(stack: Stack, href: str) -> bytes:
    async with stack.http.get(href) as resp:
        assert resp.status == 200, href
        return await resp.read()


def _by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in doc["outputs"]}


@pytest.fixture(scope="module")
async def blobs(plugin_stack: Stack) -> dict[str, Any]:
    """A data-creator task: 30 entities in three blobs with 2 attributes."""
    doc = await _run(plugin_stack, CREATOR, dataset="blobs", entities="30", attributes="2")
    assert doc["status"] == "SUCCESS", doc
    return doc


async def test_data_creator_csv_and_json_agree(plugin_stack: Stack, blobs: dict[str, Any]) -> None:
    outputs = _by_name(blobs)
    assert set(outputs) == {"entities.csv", "entities.json", "attributes.json"}
    assert outputs["entities.csv"]["contentType"] == "text/csv"
    assert outputs["entities.csv"]["dataType"] == "entity/vector"
    text = (await _get(plugin_stack, outputs["entities.csv"]["href"])).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == "ID,label,x0,x1"
    assert len(rows) == 30 and rows[0]["ID"] == "ent-0001"
    assert {r["label"] for r in rows} == {"class-0", "class-1", "class-2"}
    as_json = json.loads(await _get(plugin_stack, outputs["entities.json"]["href"]))
    assert [str(e["x1"]) for e in as_json] == [r["x1"] for r in rows]
    attributes = json.loads(await _get(plugin_stack, outputs["attributes.json"]["href"]))
    assert [a["ID"] for a in attributes] == ["ID", "label", "x0", "x1"]
    assert blobs["log"] == "created 30 entities with 2 attributes (blobs)"
    again = await _run(plugin_stack, CREATOR, dataset="blobs", entities="30", attributes="2")
    same = await _get(plugin_stack, _by_name(again)["entities.csv"]["href"])
    assert same.decode() == text  # the seed makes it reproducible


async def test_data_preview_renders_table(plugin_stack: Stack, blobs: dict[str, Any]) -> None:
    source = _by_name(blobs)["entities.json"]["href"]
    doc = await _run(plugin_stack, "data-preview@v0-1-0", data=source, maxRows="5")
    assert doc["status"] == "SUCCESS", doc
    [page] = doc["outputs"]
    assert (page["name"], page["contentType"]) == ("preview.html", "text/html")
    html = (await _get(plugin_stack, page["href"])).decode()
    assert "<h1>Preview of entities.json</h1>" in html
    assert "30 entities, 4 attributes (showing 5)" in html
    assert "<td>ent-0005</td>" in html and "ent-0006" not in html
    assert "<tr><th>x0</th>" in html  # the numeric summary
    assert doc["log"] == "previewed 30 entities of entities.json"


async def test_own_file_url_is_read_from_jetstream(
    plugin_stack: Stack, blobs: dict[str, Any]
) -> None:
    """A host nobody can reach: only the Object Store lookup by event sequence can serve it."""
    href = _by_name(blobs)["entities.csv"]["href"].replace(
        plugin_stack.base, "http://qhana.invalid/"
    )
    doc = await _run(plugin_stack, "data-preview@v0-1-0", data=href)
    assert doc["status"] == "SUCCESS", doc["log"]
    bad_token = href.split("?file-id=")[0] + "?file-id=" + "x" * 43
    failed = await _run(plugin_stack, "data-preview@v0-1-0", data=bad_token)
    assert failed["status"] == "FAILURE"  # fell back to HTTP, which cannot reach that host
    assert failed["outputs"] == []


async def test_pca_outputs_components_and_png(plugin_stack: Stack, blobs: dict[str, Any]) -> None:
    source = _by_name(blobs)["entities.csv"]["href"]
    doc = await _run(plugin_stack, "sklearn-pca@v0-1-0", entityPointsUrl=source, dimensions="1")
    assert doc["status"] == "SUCCESS", doc["log"]
    outputs = _by_name(doc)
    table = (await _get(plugin_stack, outputs["pca.csv"]["href"])).decode().splitlines()
    assert table[0] == "ID,pc0" and len(table) == 31
    values = [float(line.split(",")[1]) for line in table[1:]]
    assert abs(sum(values)) < 1e-3  # PCA centres the data
    assert outputs["pca.png"]["contentType"] == "image/png"
    assert (await _get(plugin_stack, outputs["pca.png"]["href"])).startswith(b"\x89PNG\r\n")
    assert doc["log"].startswith("PCA of 30 entities (2 attributes): explained variance 0.9")


async def test_kmeans_finds_the_blobs(plugin_stack: Stack, blobs: dict[str, Any]) -> None:
    source = _by_name(blobs)["entities.csv"]["href"]
    doc = await _run(plugin_stack, "sklearn-kmeans@v0-1-0", entityPointsUrl=source, clusters="3")
    assert doc["status"] == "SUCCESS", doc["log"]
    outputs = _by_name(doc)
    labels = list(
        csv.DictReader(
            io.StringIO((await _get(plugin_stack, outputs["clusters.csv"]["href"])).decode())
        )
    )
    truth = list(
        csv.DictReader(
            io.StringIO(
                (await _get(plugin_stack, _by_name(blobs)["entities.csv"]["href"])).decode()
            )
        )
    )
    pairs = {(t["label"], c["cluster"]) for t, c in zip(truth, labels, strict=True)}
    assert len(pairs) == 3 and len({c for _, c in pairs}) == 3  # clusters == blobs
    assert doc["log"] == "k-means with k=3: cluster sizes 0: 10, 1: 10, 2: 10"
    svg = await _get(plugin_stack, outputs["clusters.svg"]["href"])
    assert outputs["clusters.svg"]["contentType"] == "image/svg+xml" and b"<svg" in svg


async def test_zip_merger_archives_every_input(plugin_stack: Stack, blobs: dict[str, Any]) -> None:
    outputs = _by_name(blobs)
    urls = [
        outputs["entities.csv"]["href"],
        outputs["attributes.json"]["href"],
        "data:text/plain,hi%21",
    ]
    doc = await _run(plugin_stack, "zip-merger@v0-1-0", fileUrls="\n".join(urls))
    assert doc["status"] == "SUCCESS", doc["log"]
    [merged] = doc["outputs"]
    assert (merged["name"], merged["contentType"]) == ("merged.zip", "application/zip")
    archive = zipfile.ZipFile(io.BytesIO(await _get(plugin_stack, merged["href"])))
    assert sorted(archive.namelist()) == ["attributes.json", "data", "entities.csv"]
    assert archive.read("data") == b"hi!"
    original = await _get(plugin_stack, outputs["entities.csv"]["href"])
    assert archive.read("entities.csv") == original
    assert doc["progress"] == {"value": 3, "start": 0, "target": 3, "unit": "files"}


async def _upload(stack: Stack, form: aiohttp.FormData) -> int:
    async with stack.http.post(
        f"{stack.base}plugins/file-upload@v0-2-0/process/", data=form, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
        return int(resp.headers["Location"].split("/")[2])


async def test_file_upload_stores_the_file(plugin_stack: Stack) -> None:
    form = aiohttp.FormData(quote_fields=False)  # raw file name, as browsers send it
    form.add_field("dataType", "entity/list")
    form.add_field("contentType", "text/csv")
    form.add_field("file", b"ID,a\n1,2\n", filename="../my data.csv", content_type="text/csv")
    doc = await plugin_stack.finished(await _upload(plugin_stack, form))
    assert doc["status"] == "SUCCESS", doc
    [out] = doc["outputs"]
    assert (out["name"], out["dataType"], out["contentType"]) == (
        "my_data.csv",
        "entity/list",
        "text/csv",
    )
    assert await _get(plugin_stack, out["href"]) == b"ID,a\n1,2\n"


async def test_file_upload_without_file_fails_clearly(plugin_stack: Stack) -> None:
    form = aiohttp.FormData()
    form.add_field("dataType", "entity/list")
    form.add_field("contentType", "text/csv")
    doc = await plugin_stack.finished(await _upload(plugin_stack, form))
    assert doc["status"] == "FAILURE"
    assert doc["log"].startswith("ValueError('No file in request.')")
    assert doc["outputs"] == []


async def test_failing_demo_reports_its_error(plugin_stack: Stack) -> None:
    doc = await _run(plugin_stack, "failing-demo@v0-1-0", message="broken on purpose")
    assert doc["status"] == "FAILURE"
    lines = doc["log"].splitlines()
    assert lines[0] == "about to fail on purpose"
    assert lines[1] == "DemoFailure('broken on purpose')"
    assert "Traceback" in doc["log"] and "demo_failing.py" in doc["log"]


async def test_long_running_demo_progress(plugin_stack: Stack) -> None:
    doc = await _run(plugin_stack, "long-running-demo@v0-1-0", steps="3", stepSeconds="0")
    assert doc["status"] == "SUCCESS", doc
    assert doc["progress"] == {"value": 3, "start": 0, "target": 3, "unit": "steps"}
    assert await _get(plugin_stack, doc["outputs"][0]["href"]) == b"1\n2\n3"
    assert doc["log"] == "counted to 3"


async def _worker_failed(stack: Stack, task_id: int) -> Failed:
    """The worker's own ``failed`` event of the task, read from QHANA_EVENTS."""
    nc = await nats.connect(stack.nats_url)
    try:
        sub = await nc.jetstream().subscribe(subjects.event(task_id), ordered_consumer=True)
        async with asyncio.timeout(30):
            while not isinstance(event := parse_event((await sub.next_msg(30)).data), Failed):
                pass
        return event
    finally:
        await nc.close()


async def test_long_running_demo_cancel_stops_it(plugin_stack: Stack) -> None:
    task_id = await plugin_stack.submit(
        "long-running-demo@v0-1-0", steps="2000", stepSeconds="0.05"
    )
    await plugin_stack.wait_for(task_id, "progress")
    async with plugin_stack.http.post(f"{plugin_stack.base}tasks/{task_id}/cancel/") as resp:
        assert resp.status == 200, await resp.text()

    failed = await _worker_failed(plugin_stack, task_id)
    assert "cancel" in failed.reason.lower()
    doc = await plugin_stack.task(task_id)
    assert doc["status"] == "FAILURE" and doc["outputs"] == []
    assert "Cancelled by request." in doc["log"]
