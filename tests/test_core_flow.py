"""The platform core end to end over HTTP: hello-world, multi-step, restart, worker crash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import FIXTURE_PLUGINS, StackFactory
from support.stack import Stack, worker_process

HELLO = "hello-world@v0-2-1"
MULTI = "hello-world-multi-step@v0-2-1"
TOKEN = re.compile(r"\?file-id=[A-Za-z0-9_-]{43}$")


async def _download(stack: Stack, href: str) -> tuple[bytes, dict[str, str]]:
    async with stack.http.get(href) as resp:
        assert resp.status == 200
        return await resp.read(), dict(resp.headers)


async def test_hello_world_success_and_output(stack: Stack) -> None:
    task_id = await stack.submit(HELLO, inputStr="my input text")
    pending = await stack.task(task_id)
    assert pending["status"] in ("PENDING", "SUCCESS")
    assert pending["links"] == [{"type": "subscribe", "href": f"{stack.base}tasks/{task_id}/"}]

    doc = await stack.finished(task_id)
    assert doc["status"] == "SUCCESS"
    assert doc["log"] == "result: 'my output text'"
    assert "progress" not in doc and "steps" not in doc
    [output] = doc["outputs"]
    assert output["name"] == "out.txt"
    assert output["dataType"] == "custom/hello-world-output"
    assert output["contentType"] == "text/plain"
    assert output["href"].startswith(f"{stack.base}files/")
    assert TOKEN.search(output["href"])
    body, headers = await _download(stack, output["href"])
    assert body == b"my output text"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"] == "inline; filename=out.txt"


async def test_hello_world_quoting_and_empty_input(stack: Stack) -> None:
    quoted = await stack.submit(HELLO, inputStr='it\'s "input" input')
    empty = await stack.submit(HELLO, inputStr="")
    assert (await stack.finished(quoted))["log"] == "result: 'it\\'s \"output\" output'"
    doc = await stack.finished(empty)
    assert doc["status"] == "SUCCESS"
    assert doc["log"] == "Empty input string, no output could be generated!"
    assert doc["outputs"] == []


async def test_missing_field_is_422_and_nothing_published(stack: Stack) -> None:
    async with stack.http.post(f"{stack.base}plugins/{HELLO}/process/", data={}) as resp:
        assert resp.status == 422
        assert await resp.json() == {
            "code": 422,
            "status": "Unprocessable Entity",
            "errors": {"form": {"inputStr": ["Missing data for required field."]}},
        }
    async with stack.http.get(f"{stack.base}tasks/1/") as resp:
        assert resp.status == 404


async def test_wrong_file_token_is_404(stack: Stack) -> None:
    doc = await stack.finished(await stack.submit(HELLO, inputStr="input"))
    href = TOKEN.sub("?file-id=" + "x" * 43, doc["outputs"][0]["href"])
    async with stack.http.get(href) as resp:
        assert resp.status == 404
        assert (await resp.json())["message"] == "File not found."


async def test_multi_step_flow(stack: Stack) -> None:
    task_id = await stack.submit(MULTI, inputStr="first input")
    doc = await stack.until(task_id, lambda d: "steps" in d)
    assert doc["status"] == "PENDING", doc
    assert doc["log"] == "result: 'Processed in the preprocessing step: first input'", doc
    assert doc["outputs"] == []
    assert doc["progress"] == {"value": 50, "start": 0, "target": 100, "unit": "%"}, doc
    base = f"{stack.base}plugins/{MULTI}/{task_id}/"
    assert doc["steps"] == [
        {
            "href": base + "demo-step-process/",
            "uiHref": base + "demo-step-ui/",
            "stepId": "demo-step",
            "cleared": False,
        }
    ]
    async with stack.http.get(doc["steps"][0]["uiHref"]) as resp:
        page = await resp.text()
        assert resp.status == 200
    assert "Input from preprocessing: first input" in page
    assert f'formaction="/plugins/{MULTI}/{task_id}/demo-step-process/"' in page

    async with stack.http.post(
        doc["steps"][0]["href"], data={"inputStr": "second input"}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == f"/tasks/{task_id}/"
    cleared = await stack.task(task_id)
    assert cleared["steps"][0]["cleared"] is True  # cleared before the 303 was answered
    async with stack.http.post(
        doc["steps"][0]["href"], data={"inputStr": "again"}, allow_redirects=False
    ) as resp:
        assert resp.status == 409

    final = await stack.finished(task_id)
    assert final["status"] == "SUCCESS"
    assert final["log"] == (
        "result: 'Processed in the preprocessing step: first input'\n"
        "result: 'Processed in the processing step: first input second input'"
    )
    assert final["progress"] == {"value": 100, "start": 0, "target": 100, "unit": "%"}
    assert [o["name"] for o in final["outputs"]] == ["output1.txt", "output2.txt"]
    assert {o["dataType"] for o in final["outputs"]} == {"hello-world-output"}
    body, _ = await _download(stack, final["outputs"][1]["href"])
    assert body == b"Processed in the processing step: first input second input"


async def test_step_route_of_unknown_task_is_404(stack: Stack) -> None:
    async with stack.http.get(f"{stack.base}plugins/{MULTI}/999/demo-step-ui/") as resp:
        assert resp.status == 404
    async with stack.http.post(
        f"{stack.base}plugins/{MULTI}/999/demo-step-process/", data={"inputStr": "x"}
    ) as resp:
        assert resp.status == 404


async def test_restart_keeps_tasks_and_files(stack_factory: StackFactory) -> None:
    first = await stack_factory()
    task_id = await first.submit(HELLO, inputStr="keep this input")
    doc = await first.finished(task_id)
    await first.close()

    second = await stack_factory()
    again = await second.task(task_id)
    assert again["status"] == "SUCCESS"
    assert again["log"] == doc["log"]
    href = again["outputs"][0]["href"].replace(first.base, second.base)
    body, _ = await _download(second, href)
    assert body == b"keep this output"
    newer = await second.submit(HELLO, inputStr="input")
    assert newer > task_id  # ids keep counting, never reused


@pytest.mark.slow
async def test_worker_sigkill_mid_task_redelivers_once(stack: Stack, tmp_path: Path) -> None:
    env = {"QHANA_ACK_WAIT_S": "1.5", "QHANA_HEARTBEAT_INTERVAL_S": "0.2"}
    async with worker_process(stack.nats_url, "slow", FIXTURE_PLUGINS, **env) as first:
        await stack.plugin_listed("slow-demo@v1-0-0")
        task_id = await stack.submit("slow-demo@v1-0-0", seconds="3", text="survived")
        started = await stack.wait_for(task_id, "progress")
        assert started["attempt"] == 1
        first.kill()
    async with worker_process(stack.nats_url, "slow", FIXTURE_PLUGINS, **env):
        doc = await stack.finished(task_id, timeout_s=60)
    assert doc["status"] == "SUCCESS"
    assert doc["log"] == "started\ndone"  # the killed attempt's log line was discarded
    [output] = doc["outputs"]
    body, _ = await _download(stack, output["href"])
    assert body == b"survived"
