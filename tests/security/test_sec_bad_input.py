"""Bad input on every kind of route: a clear 4xx JSON body in the upstream shape, never a 500
and never a stack trace. Files: the token is required, names and ids cannot escape, content
types are explicit and HTML outputs cannot script the edge's origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import StackFactory
from support.stack import Stack

HELLO = "hello-world@v0-2-1"
UPLOAD = "file-upload@v0-2-0"
PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def database_url() -> None:
    return None


@pytest.fixture
async def sec_stack(stack_factory: StackFactory) -> Stack:
    return await stack_factory(plugin_folders=str(PLUGINS))


async def _expect_json_error(
    stack: Stack, method: str, path: str, status: int, **kwargs: Any
) -> dict[str, Any]:
    async with stack.http.request(
        method, stack.base + path, allow_redirects=False, **kwargs
    ) as resp:
        text = await resp.text()
        assert resp.status == status, (method, path, resp.status, text)
        assert resp.headers["Content-Type"] == "application/json", (path, text)
        assert "Traceback" not in text and 'File "' not in text
        body: dict[str, Any] = await resp.json()
    assert body["code"] == status and isinstance(body["status"], str), body
    return body


async def test_bad_requests_get_clear_json_errors(sec_stack: Stack) -> None:
    stack = sec_stack
    assert (await stack.finished(await stack.submit(HELLO, inputStr="input")))["status"]  # task 1
    cases: list[tuple[str, str, int, dict[str, Any]]] = [
        ("GET", "nope/", 404, {}),
        ("GET", "plugins/unknown@v1-0-0/", 404, {}),
        ("GET", "plugins/unknown/", 404, {}),
        ("POST", "plugins/unknown@v1-0-0/process/", 404, {"data": {"a": "b"}}),
        ("GET", "plugins/unknown@v1-0-0/ui/", 404, {}),
        ("GET", "tasks/999999/", 404, {}),
        ("GET", "tasks/999999/events", 404, {}),
        ("POST", "tasks/999999/", 404, {"json": {"command": "subscribe"}}),
        ("DELETE", "plugins/", 405, {}),
        ("PUT", "tasks/1/", 405, {}),
        ("PATCH", f"plugins/{HELLO}/process/", 405, {}),
        ("GET", f"plugins/{HELLO}/process/", 405, {}),
        ("GET", "files/1/", 422, {}),
        ("GET", "files/1/?file-id=", 404, {}),
        ("GET", "files/99999/?file-id=" + "a" * 43, 404, {}),
        ("GET", "files/abc/?file-id=x", 404, {}),
        ("GET", "files/1/../../../etc/passwd?file-id=x", 404, {}),
        ("GET", "files/%2e%2e%2f%2e%2e%2fetc%2fpasswd/?file-id=x", 404, {}),
        ("GET", "static/..%2f..%2fsettings.py", 404, {}),
        (
            "POST",
            "tasks/1/",
            400,
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        ("POST", "tasks/1/", 422, {"json": ["a", "list"]}),
        ("POST", "tasks/1/", 422, {"json": {"command": "explode", "webhookHref": "x"}}),
        ("POST", f"plugins/{HELLO}/process/", 422, {"data": {"wrong": "field"}}),
        (
            "POST",
            f"plugins/{HELLO}/process/",
            400,
            {
                "data": b"--xx\r\nbroken",
                "headers": {"Content-Type": "multipart/form-data; boundary=xx"},
            },
        ),
    ]
    failures = []
    for method, path, status, kwargs in cases:
        try:
            await _expect_json_error(stack, method, path, status, **kwargs)
        except AssertionError as exc:
            failures.append(str(exc)[:300])
    assert not failures, "\n".join(failures)


async def test_files_need_their_token_and_html_cannot_script_the_edge(sec_stack: Stack) -> None:
    stack = sec_stack
    doc = await stack.finished(await stack.submit("html-output@v1-0-0"))
    assert doc["status"] == "SUCCESS", doc
    [output] = doc["outputs"]
    assert "/" not in output["name"] and ".." not in output["name"], output
    href = output["href"]
    base, token = href.split("?file-id=")
    await _expect_json_error(stack, "GET", base[len(stack.base) :], 422)
    tampered = token[:-1] + ("B" if token.endswith("A") else "A")  # never the token itself
    await _expect_json_error(stack, "GET", base[len(stack.base) :] + "?file-id=" + tampered, 404)
    async with stack.http.get(href) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/html")
        assert resp.headers["Content-Security-Policy"] == "sandbox"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Disposition"] == f"inline; filename={output['name']}"


async def test_upload_names_cannot_escape(sec_stack: Stack) -> None:
    stack = sec_stack
    form = aiohttp.FormData()
    form.add_field("dataType", "x/y")
    form.add_field("contentType", "text/plain")
    form.add_field("file", b"payload", filename="../../../etc/passwd", content_type="text/plain")
    async with stack.http.post(
        f"{stack.base}plugins/{UPLOAD}/process/", data=form, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
        task_id = int(resp.headers["Location"].strip("/").split("/")[-1])
    doc = await stack.finished(task_id)
    assert doc["status"] == "SUCCESS", doc
    [output] = doc["outputs"]
    assert "/" not in output["name"] and not output["name"].startswith("."), output
    async with stack.http.get(output["href"]) as resp:
        assert await resp.read() == b"payload"
