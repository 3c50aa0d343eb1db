"""The real edge's micro-frontend in headless chromium, embedded like the QHAna UI does it.

A tiny host app on its own 127.0.0.1 port embeds ``<edge>/plugins/hello-world@v0-2-1/ui/`` in
a cross-origin iframe and plays the QHAna UI's side of the postMessage protocol (spec §5, §12):
it answers ``ui-loaded`` with ``load-css``, and records what the plugin sends. The test submits
the form, expects ``form-submit`` with the task URL, and waits for SUCCESS on the real stack.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Frame, Page
from support.browser import ARTIFACTS
from support.http_app import served
from support.stack import Stack, start_stack

from qhana.settings import Settings

pytestmark = pytest.mark.browser

HELLO = "hello-world@v0-2-1"
MULTI = "hello-world-multi-step@v0-2-1"
PLUGIN_UI = web.AppKey("plugin_ui", str)

HOST_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>QHAna UI stand-in</title></head>
<body><h1>host</h1>
<script>
window.received = [];
const frame = () => document.getElementById("plugin").contentWindow;
window.addEventListener("message", (event) => {
    if (event.source !== frame()) { return; }
    window.received.push(event.data);
    if (event.data === "ui-loaded") {
        frame().postMessage({type: "load-css", urls: [location.origin + "/host.css"]}, "*");
    } else if (event.data && event.data.type === "ui-resize") {
        document.getElementById("plugin").style.height = event.data.height + "px";
    }
});
</script>
<iframe id="plugin" src="%(src)s" style="width: 640px; border: 0"></iframe>
</body></html>
"""
HOST_CSS = ".qhana-form { border-left: 6px solid rgb(0, 128, 96); padding-left: 8px; }\n"


async def _host_page(request: web.Request) -> web.Response:
    html = HOST_PAGE % {"src": request.app[PLUGIN_UI]}
    return web.Response(text=html, content_type="text/html")


async def _host_css(_: web.Request) -> web.Response:
    return web.Response(text=HOST_CSS, content_type="text/css")


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Stack]:
    """One real stack (SQLite: the database lane does not matter to the browser)."""
    stack = await start_stack(tmp_path / "data", Settings.model_validate({}))
    try:
        yield stack
    finally:
        await stack.close()


@pytest.fixture
async def host(edge: Stack) -> AsyncIterator[str]:
    app = web.Application()
    app[PLUGIN_UI] = f"{edge.base}plugins/{HELLO}/ui/"
    app.router.add_get("/", _host_page)
    app.router.add_get("/host.css", _host_css)
    async with served(app) as base:
        yield f"{base}/"


async def _message(page: Page, predicate: str) -> Any:
    """The first message from the plugin matching the JS ``predicate`` (waits for it)."""
    handle = await page.wait_for_function(f"() => window.received.find({predicate})")
    return await handle.json_value()


async def _frame(page: Page) -> Frame:
    element = await page.wait_for_selector("#plugin")
    assert element is not None
    frame = await element.content_frame()
    assert frame is not None
    return frame


async def test_hello_world_in_an_iframe_of_another_origin(
    edge: Stack, host: str, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 800, "height": 700})
    page = await context.new_page()
    page.set_default_timeout(30_000)
    try:
        await page.goto(host)
        await _message(page, "m => m === 'ui-loaded'")
        frame = await _frame(page)
        await frame.wait_for_function(  # the host's stylesheet reached the plugin page
            "() => getComputedStyle(document.querySelector('.qhana-form'))"
            ".borderLeftWidth === '6px'"
        )
        assert await frame.locator("label[for='input_str']").text_content() == "Input String"

        # an empty submit: the real edge answers 422 and the page shows the message
        await frame.evaluate("() => { document.getElementById('input_str').disabled = true; }")
        await frame.click("button.qhana-form-submit[data-target='api']")
        error = await _message(page, "m => m && m.type === 'form-error'")
        assert error["status"] == 422
        assert error["error"]["errors"]["form"]["inputStr"] == ["Missing data for required field."]
        shown = frame.locator(".qhana-form-field:has(#input_str) .qhana-error-message span")
        await shown.wait_for()

        await frame.evaluate("() => { document.getElementById('input_str').disabled = false; }")
        await frame.fill("#input_str", "browser input")
        await frame.click("button.qhana-form-submit[data-target='api']")
        submitted = await _message(page, "m => m && m.type === 'form-submit'")
        assert submitted["submitUrl"] == f"{edge.base}plugins/{HELLO}/process/"
        assert submitted["formData"].startswith("inputStr=browser+input")
        match = re.fullmatch(re.escape(edge.base) + r"tasks/(\d+)/", submitted["resultUrl"])
        assert match, submitted
        doc = await edge.finished(int(match.group(1)))
        assert doc["status"] == "SUCCESS"
        assert doc["log"] == "result: 'browser output'"

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "real-edge-hello-world.png"), full_page=True)
    finally:
        await context.close()


async def test_the_page_works_stand_alone(edge: Stack, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(30_000)
    try:
        await page.goto(f"{edge.base}plugins/{HELLO}/ui/")
        assert not await page.locator("button.qhana-choose-file-button").count()
        await page.fill("#input_str", "plain input")
        async with page.expect_navigation():
            await page.click("button.qhana-form-submit[data-target='microfrontend']")
        assert await page.locator(".qhana-validation-ok").text_content() == "Validation successful!"
        assert await page.input_value("#input_str") == "plain input"
        async with page.expect_navigation():
            await page.click("button.qhana-form-submit[data-target='api']")
        match = re.fullmatch(re.escape(edge.base) + r"tasks/(\d+)/", page.url)
        assert match, page.url  # the browser followed the 303 to the task resource
        doc = await edge.finished(int(match.group(1)))
        assert doc["log"] == "result: 'plain output'"
    finally:
        await context.close()


async def test_multi_step_task_driven_like_the_qhana_ui(
    edge: Stack, host: str, browser: Browser
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(30_000)
    try:
        await page.goto(host)
        await _message(page, "m => m === 'ui-loaded'")
        await page.evaluate(  # the host shows the multi-step plugin instead
            f"() => {{ window.received = []; "
            f"document.getElementById('plugin').src = '{edge.base}plugins/{MULTI}/ui/'; }}"
        )
        await _message(page, "m => m === 'ui-loaded'")
        frame = await _frame(page)
        await frame.fill("#input_str", "first input")
        await frame.click("button.qhana-form-submit[data-target='api']")
        submitted = await _message(page, "m => m && m.type === 'form-submit'")
        task_url = submitted["resultUrl"]
        task_id = int(task_url.rstrip("/").rsplit("/", 1)[1])
        doc = await edge.until(task_id, lambda d: "steps" in d)
        step = doc["steps"][-1]
        assert step["cleared"] is False

        # the host shows the open step's micro-frontend; it is pre-filled from the task state
        await page.evaluate(
            f"() => {{ window.received = []; "
            f"document.getElementById('plugin').src = '{step['uiHref']}'; }}"
        )
        await _message(page, "m => m === 'ui-loaded'")
        frame = await _frame(page)
        assert await frame.input_value("#input_str") == "Input from preprocessing: first input"
        await frame.fill("#input_str", "second input")
        await frame.click("button.qhana-form-submit[data-target='api']")
        again = await _message(page, "m => m && m.type === 'form-submit'")
        assert again["resultUrl"] == task_url
        assert again["submitUrl"] == step["href"]
        final = await edge.finished(task_id)
        assert final["status"] == "SUCCESS" and final["steps"][-1]["cleared"] is True
    finally:
        await context.close()
