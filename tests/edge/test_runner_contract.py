"""Runner API wire contract (../shared/spec/runner-api.md), route by route, on a real stack.

One stack per module and database lane keeps this fast; every test only adds tasks.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from conftest import (
    FIXTURE_PLUGINS,
    _postgres_reachable,
    drop_postgres_schema,
    fresh_postgres_url,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from packaging.version import Version
from support.stack import Stack, start_stack

from qhana.bus import subjects
from qhana.settings import Settings

HELLO = "hello-world@v0-2-1"
MULTI = "hello-world-multi-step@v0-2-1"
TYPED = "typed-demo@v1-0-0"
HUGE = "9" * 25
ERROR_KEYS = {"code", "status", "message"}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def edge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    values: dict[str, object] = {
        "heartbeat_interval_s": 0.2,
        "plugin_folders": str(FIXTURE_PLUGINS),
    }
    if request.param == "postgres":
        reason = await _postgres_reachable()
        if reason:
            pytest.skip(reason)
        values["database_url"] = await fresh_postgres_url()
    stack = await start_stack(tmp_path_factory.mktemp("contract"), Settings.model_validate(values))
    try:
        yield stack
    finally:
        await stack.close()
        if "database_url" in values:
            await drop_postgres_schema(str(values["database_url"]))


async def _call(
    edge: Stack, method: str, path: str, **kwargs: Any
) -> tuple[int, CIMultiDict[str], Any]:
    url = path if path.startswith("http") else edge.base + path.lstrip("/")
    async with edge.http.request(method, url, allow_redirects=False, **kwargs) as resp:
        raw = await resp.read()
        headers = resp.headers.copy()
        body: Any = raw
        if resp.headers.get("Content-Type") == "application/json":
            body = await resp.json()
        assert headers.get("Access-Control-Allow-Origin") == "*", (method, path, headers)
        return resp.status, headers, body


def _error(body: Any, code: int, message: str | None = None) -> None:
    assert isinstance(body, dict) and set(body) <= ERROR_KEYS | {"errors"}, body
    assert body["code"] == code
    assert isinstance(body["status"], str) and body["status"]
    if message is not None:
        assert body["message"] == message


# --- root, slashes, CORS, methods ---------------------------------------------------------


async def test_root_api_and_unknown_paths(edge: Stack) -> None:
    status, headers, body = await _call(edge, "GET", "/")
    assert (status, body) == (200, {"title": "QHAna plugin runner api."})
    assert headers["Content-Type"] == "application/json"
    status, _, body = await _call(edge, "GET", "/no-such-route/")  # /api/ is the registry API
    assert (status, body) == (404, {"code": 404, "status": "Not Found"})


@pytest.mark.parametrize(
    ("method", "path", "location"),
    [
        ("GET", "/plugins", "/plugins/"),
        ("GET", f"/plugins/{HELLO}", f"/plugins/{HELLO}/"),
        ("POST", f"/plugins/{HELLO}/process", f"/plugins/{HELLO}/process/"),
        ("GET", "/tasks/1", "/tasks/1/"),
        ("GET", "/files/1?file-id=x", "/files/1/?file-id=x"),
    ],
)
async def test_missing_trailing_slash_is_308(
    edge: Stack, method: str, path: str, location: str
) -> None:
    status, headers, _ = await _call(edge, method, path)
    assert status == 308
    assert headers["Location"] == location


async def test_cors_preflight_and_plain_options(edge: Stack) -> None:
    preflight = {
        "Origin": "http://ui.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    status, headers, _ = await _call(
        edge, "OPTIONS", f"/plugins/{HELLO}/process/", headers=preflight
    )
    assert status == 200
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "content-type"
    status, headers, _ = await _call(edge, "OPTIONS", "/tasks/1/")
    assert status == 200
    assert {"GET", "POST"} <= set(headers["Allow"].replace(" ", "").split(","))


async def test_wrong_method_is_405_json(edge: Stack) -> None:
    status, headers, body = await _call(edge, "DELETE", "/plugins/")
    assert status == 405
    assert body == {"code": 405, "status": "Method Not Allowed"}
    assert "GET" in headers["Allow"]
    status, _, body = await _call(edge, "GET", f"/plugins/{HELLO}/process/")
    assert status == 405
    _error(body, 405)


# --- plugins ---------------------------------------------------------------------------------


async def test_plugin_list_keys_types_and_pep440_order(edge: Stack) -> None:
    status, headers, body = await _call(edge, "GET", "/plugins/")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert set(body) == {"plugins"}
    plugins = body["plugins"]
    names = {p["identifier"] for p in plugins}
    assert {HELLO, MULTI, TYPED} <= names
    for p in plugins:
        assert set(p) == {"name", "version", "identifier", "apiRoot", "description", "tags"}
        assert all(isinstance(p[k], str) for k in ("name", "version", "identifier", "description"))
        assert isinstance(p["tags"], list) and all(isinstance(t, str) for t in p["tags"])
        assert p["apiRoot"] == f"{edge.base}plugins/{p['identifier']}/"
    keys = [(p["name"], Version(p["version"])) for p in plugins]
    assert keys == sorted(keys)


async def test_newest_version_redirect(edge: Stack) -> None:
    status, headers, _ = await _call(edge, "GET", "/plugins/hello-world/")
    assert status == 302
    assert headers["Location"] == f"/plugins/{HELLO}/"
    status, _, body = await _call(edge, "GET", "/plugins/nope/")
    assert status == 404
    _error(body, 404, "No plugin registered with that name.")
    status, _, body = await _call(edge, "GET", "/plugins/nope@v1/")
    assert status == 404
    _error(body, 404)


async def test_plugin_metadata(edge: Stack) -> None:
    status, _, body = await _call(edge, "GET", f"/plugins/{HELLO}/")
    assert status == 200
    expected = {
        "title": "hello-world",
        "description": "Tests the connection of all components by printing some text.",
        "name": "hello-world",
        "version": "v0.2.1",
        "type": "processing",
        "tags": ["hello-world", "demo"],
        "links": [],
        "entryPoint": {
            "href": f"/plugins/{HELLO}/process/",
            "uiHref": f"/plugins/{HELLO}/ui/",
            "pluginDependencies": [],
            "dataInput": [],
            "dataOutput": [
                {
                    "dataType": "custom/hello-world-output",
                    "contentType": ["text/plain"],
                    "required": True,
                }
            ],
        },
    }
    assert {k: body[k] for k in expected} == expected
    status, _, multi = await _call(edge, "GET", f"/plugins/{MULTI}/")
    assert status == 200 and multi["tags"] == ["hello-world", "demo", "multistep"]


async def test_ui_page_get_and_post(edge: Stack) -> None:
    status, headers, body = await _call(edge, "GET", f"/plugins/{HELLO}/ui/?inputStr=abc")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "<textarea" in page and 'name="inputStr"' in page and 'id="input_str"' in page
    assert ">abc</textarea>" in page
    assert f'formaction="/plugins/{HELLO}/process/"' in page
    assert "Validation successful!" not in page
    status, _, body = await _call(edge, "POST", f"/plugins/{HELLO}/ui/", data={"inputStr": "x"})
    assert status == 200 and "Validation successful!" in body.decode()
    status, _, body = await _call(edge, "POST", f"/plugins/{TYPED}/ui/", data={"count": "99"})
    assert status == 200
    assert "Must be less than or equal to 10." in body.decode()
    assert "Validation successful!" not in body.decode()


# --- processing and tasks -------------------------------------------------------------------


def _check_task_document(doc: dict[str, Any], edge: Stack, task_id: int) -> None:
    assert set(doc) <= {"status", "log", "progress", "steps", "outputs", "links"}, doc
    assert doc["status"] in ("PENDING", "SUCCESS", "FAILURE", "UNKNOWN")
    assert isinstance(doc["log"], str)
    assert doc["links"][0] == {"type": "subscribe", "href": f"{edge.base}tasks/{task_id}/"}
    if "progress" in doc:
        assert set(doc["progress"]) == {"value", "start", "target", "unit"}
        assert all(isinstance(doc["progress"][k], int) for k in ("value", "start", "target"))
    for step in doc.get("steps", []):
        assert set(step) == {"href", "uiHref", "stepId", "cleared"}
        assert step["href"].startswith("http") and step["uiHref"].startswith("http")
        assert isinstance(step["cleared"], bool)
    if doc["status"] == "PENDING":
        assert doc["outputs"] == []
    for out in doc["outputs"]:
        assert set(out) <= {"name", "dataType", "contentType", "href"}
        assert isinstance(out["contentType"], str)
        assert re.fullmatch(re.escape(edge.base) + r"files/\d+/\?file-id=[\w-]{43}", out["href"])


async def test_process_303_and_task_document(edge: Stack) -> None:
    status, headers, _ = await _call(
        edge, "POST", f"/plugins/{HELLO}/process/", data={"inputStr": "some input"}
    )
    assert status == 303
    match = re.fullmatch(r"/tasks/(\d+)/", headers["Location"])
    assert match is not None
    task_id = int(match.group(1))
    _check_task_document(await edge.task(task_id), edge, task_id)
    doc = await edge.finished(task_id)
    _check_task_document(doc, edge, task_id)
    assert doc["status"] == "SUCCESS" and doc["log"] == "result: 'some output'"

    [out] = doc["outputs"]
    status, headers, body = await _call(edge, "GET", out["href"])
    assert (status, body) == (200, b"some output")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"] == "inline; filename=out.txt"
    status, again, _ = await _call(
        edge, "GET", out["href"], headers={"If-None-Match": headers["ETag"]}
    )
    assert status == 304 and again["ETag"] == headers["ETag"]
    status, part, body = await _call(edge, "GET", out["href"], headers={"Range": "bytes=5-"})
    assert (status, body, part["Content-Range"]) == (206, b"output", "bytes 5-10/11")
    status, _, body = await _call(edge, "GET", out["href"], headers={"Range": "bytes=-3"})
    assert (status, body) == (206, b"put")
    status, _, body = await _call(edge, "GET", out["href"], headers={"Range": "bytes=99-"})
    assert status == 416
    status, _, body = await _call(edge, "GET", out["href"].split("?")[0])
    assert status == 422
    assert body["errors"] == {"query": {"file-id": ["Missing data for required field."]}}
    status, _, body = await _call(edge, "GET", out["href"][:-3] + "AAA")
    assert status == 404
    _error(body, 404, "File not found.")


@pytest.mark.parametrize("path", ["/tasks/{}/", "/files/{}/?file-id=x", "/tasks/{}/events"])
async def test_unknown_and_oversized_ids_are_404(edge: Stack, path: str) -> None:
    for task_id in ("999999", HUGE):
        status, _, body = await _call(edge, "GET", path.format(task_id))
        assert status == 404, (path, task_id, body)
        _error(body, 404)
    status, _, body = await _call(edge, "GET", path.format("abc"))
    assert status == 404


async def test_step_routes_of_unknown_tasks_are_404(edge: Stack) -> None:
    for task_id in ("999999", HUGE):
        for route, method in (("demo-step-ui", "GET"), ("demo-step-process", "POST")):
            status, _, body = await _call(
                edge, method, f"/plugins/{MULTI}/{task_id}/{route}/", data={"inputStr": "x"}
            )
            assert status == 404, (task_id, route, body)
            _error(body, 404)


async def _last_command_seq(edge: Stack) -> int:
    nc = await nats.connect(edge.nats_url)
    try:
        info = await nc.jetstream().stream_info(subjects.TASKS_STREAM)
        return int(info.state.last_seq)
    finally:
        await nc.close()


async def test_validation_422_bodies(edge: Stack) -> None:
    published = await _last_command_seq(edge)
    status, _, body = await _call(edge, "POST", f"/plugins/{TYPED}/process/", data={})
    assert status == 422
    assert body == {
        "code": 422,
        "status": "Unprocessable Entity",
        "errors": {"form": {"count": ["Missing data for required field."]}},
    }
    bad = {"count": "abc", "ratio": "2", "colour": "blue", "verbose": "perhaps"}
    status, _, body = await _call(edge, "POST", f"/plugins/{TYPED}/process/", data=bad)
    assert status == 422
    assert body["errors"]["form"] == {
        "count": ["Not a valid integer."],
        "ratio": ["Must be less than or equal to 1."],
        "colour": ["Must be one of: red, green."],
        "verbose": ["Not a valid boolean."],
    }
    assert await _last_command_seq(edge) == published  # nothing was published


async def test_webhook_subscription_contract(edge: Stack) -> None:
    task_id = await edge.submit(HELLO, inputStr="hook")
    path = f"/tasks/{task_id}/"
    hook = "http://127.0.0.1:9/hook"
    status, _, body = await _call(edge, "POST", path, json={"command": "foo", "webhookHref": hook})
    assert status == 422
    assert body["errors"] == {"json": {"command": ["Must be one of: subscribe, unsubscribe."]}}
    status, _, body = await _call(edge, "POST", path, json={"command": None, "webhookHref": hook})
    assert status == 400
    _error(body, 400, "Command 'None' is not supported!")
    status, _, body = await _call(edge, "POST", path, json={"command": "subscribe"})
    assert status == 422 and "webhookHref" in body["errors"]["json"]
    for command in ("subscribe", "subscribe", "unsubscribe"):
        status, _, body = await _call(
            edge, "POST", path, json={"command": command, "webhookHref": hook, "event": "status"}
        )
        assert status == 200
        _check_task_document(body, edge, task_id)
    status, _, body = await _call(
        edge, "POST", "/tasks/999999/", json={"command": "subscribe", "webhookHref": hook}
    )
    assert status == 404


async def test_cancel_with_and_without_slash(edge: Stack) -> None:
    status, _, body = await _call(edge, "POST", "/tasks/999999/cancel")
    assert status == 404
    task_id = await edge.submit(HELLO, inputStr="done soon")
    await edge.finished(task_id)
    for path in (f"/tasks/{task_id}/cancel", f"/tasks/{task_id}/cancel/"):
        status, _, body = await _call(edge, "POST", path)
        assert status == 409, body
        _error(body, 409)


# --- hypothesis: processing routes never 5xx -------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=_TEXT)
async def test_hello_world_any_text_succeeds(edge: Stack, text: str) -> None:
    task_id = await edge.submit(HELLO, inputStr=text)
    doc = await edge.finished(task_id)
    out = text.replace("input", "output")
    expected = (
        "result: " + repr(out) if text else "Empty input string, no output could be generated!"
    )
    assert (doc["status"], doc["log"]) == ("SUCCESS", expected), (text, doc)


_FORM_VALUE = st.one_of(
    st.integers(-5, 15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "red", "green", "on", "true", "no", "x", "1e400", " 3 "]),
    _TEXT,
)
_FORM = st.dictionaries(
    st.sampled_from(["count", "ratio", "colour", "verbose", "source", "other"]),
    _FORM_VALUE,
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(form=_FORM)
async def test_typed_form_is_303_or_422_never_5xx(edge: Stack, form: dict[str, str]) -> None:
    status, headers, body = await _call(edge, "POST", f"/plugins/{TYPED}/process/", data=form)
    assert status in (303, 422), (form, status, body)
    if status == 422:
        assert set(body) == {"code", "status", "errors"}
        errors = body["errors"]["form"]
        assert errors and set(errors) <= {"count", "ratio", "colour", "verbose", "source"}
        for key, messages in errors.items():
            assert messages and all(isinstance(m, str) and m for m in messages), (key, messages)
        return
    task_id = int(headers["Location"].split("/")[2])
    doc = await edge.finished(task_id)
    assert doc["status"] == "SUCCESS", (form, doc)
    assert doc["log"].startswith(f"count={int(form['count'].strip())} ")


async def _events_until(edge: Stack, task_id: int, last: str) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    async with asyncio.timeout(30):
        async for kind, data in edge.events(task_id):
            seen.append((kind, data))
            if kind == last:
                break
    return seen


def _log_of(events: list[tuple[str, dict[str, Any]]]) -> str:
    lines = [d.get("text") if k == "log" else d.get("log") for k, d in events]
    return "\n".join(line for line in lines if line)


async def test_sse_and_json_resource_agree(edge: Stack) -> None:
    task_id = await edge.submit(MULTI, inputStr="sse input")
    first = await _events_until(edge, task_id, "step-requested")
    doc = await edge.until(task_id, lambda d: "steps" in d)
    [(_, requested)] = [e for e in first if e[0] == "step-requested"]
    assert doc["log"] == _log_of(first)
    assert doc["progress"]["value"] == int(requested["progress"]["value"])
    assert [s["stepId"] for s in doc["steps"]] == [requested["step_id"]]

    async with edge.http.post(doc["steps"][0]["href"], data={"inputStr": "more"}) as resp:
        assert resp.status == 200
    events = await _events_until(edge, task_id, "succeeded")
    final = await edge.finished(task_id)
    assert final["status"] == "SUCCESS"
    assert final["log"] == _log_of(events)
    outputs = [d["file"]["name"] for k, d in events if k == "output"]
    assert [o["name"] for o in final["outputs"]] == outputs == ["output1.txt", "output2.txt"]


async def test_typed_form_page_renders_the_input_model(edge: Stack) -> None:
    status, _, body = await _call(edge, "GET", f"/plugins/{TYPED}/ui/")
    page = body.decode()
    assert status == 200 and page.startswith("<!DOCTYPE html>")
    assert '<label for="count">Count</label>' in page
    assert '<input type="number" id="count" name="count" required min="1" max="10"' in page
    assert '<select id="colour" name="colour">' in page
    assert '<option value="red" selected>red</option>' in page
    assert '<option value="green">green</option>' in page
    assert '<input type="checkbox" id="verbose" name="verbose">' in page
    assert 'name="source"' in page and 'data-input-type="data" data-input="entity/list"' in page
    assert ">validate</button>" in page and ">submit</button>" in page
    status, _, body = await _call(
        edge, "POST", f"/plugins/{TYPED}/ui/", data={"count": "0", "colour": "green"}
    )
    page = body.decode()
    assert status == 200
    assert "Must be greater than or equal to 1." in page
    assert '<option value="green" selected>green</option>' in page  # the posted value stays
