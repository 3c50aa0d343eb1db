"""The micro-frontend helper in a real chromium (spec §5.1, §5.2, §12).

A small aiohttp app plays the plugin (stock form page, processing route, task resource) on one
port and the QHAna UI host (a page embedding the plugin in a cross-origin iframe) on another.
The host page records every message it receives in ``window.received``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from playwright.async_api import Browser, Frame, Page
from pydantic import BaseModel, Field
from support.browser import ARTIFACTS

import qhana.edge
from qhana.edge.forms import FormPage, render_form_page

pytestmark = pytest.mark.browser

STATIC_DIR = Path(qhana.edge.__file__).parent / "static"
MISSING = {
    "code": 422,
    "status": "Unprocessable Entity",
    "errors": {"form": {"inputStr": ["Missing data for required field."]}},
}
DATA_HREF = "http://127.0.0.1:9/files/7/?file-id=abc"

HOST_ORIGIN = web.AppKey("host_origin", str)
PLUGIN_ORIGIN = web.AppKey("plugin_origin", str)
PROCESS_POSTS = web.AppKey("process_posts", list[dict[str, str]])


class HelloWorld(BaseModel):
    input_str: str = Field(
        title="Input String",
        description="A simple string input.",
        json_schema_extra={"x-qhana": {"input_type": "textarea"}},
    )
    entities: str = Field(
        "",
        title="Entities",
        description="Optional entity list (exercises the data-URL picker).",
        json_schema_extra={
            "x-qhana": {
                "input_type": "data",
                "data_input_type": "entity/list",
                "data_content_types": ["application/json"],
            }
        },
    )


HOST_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>host</title></head>
<body>
<script>
window.received = [];
const HOST_CSS = location.origin + "/host/host.css";
const frame = () => document.getElementById("plugin").contentWindow;
window.sendToPlugin = (message) => frame().postMessage(message, "*");
window.addEventListener("message", (event) => {
    if (event.source !== frame()) { return; }
    const data = event.data;
    window.received.push(data);
    if (data === "ui-loaded") {
        window.sendToPlugin({type: "load-css", urls: [HOST_CSS]});
    } else if (data && data.type === "ui-resize") {
        document.getElementById("plugin").style.height = data.height + "px";
    } else if (data && data.type === "request-data-url") {
        window.sendToPlugin({
            type: "data-url-response", inputKey: data.inputKey, href: "%(data_href)s",
            dataType: "entity/list", contentType: "application/json",
            filename: "entities.json", version: 3,
        });
    }
});
</script>
<iframe id="plugin" src="%(plugin_origin)s/plugin/ui/" style="width: 640px; border: 0"></iframe>
</body></html>
"""

HOST_CSS = ".qhana-form { border-left: 6px solid rgb(102, 51, 153); padding-left: 8px; }\n"


# --- the fake plugin + host server -------------------------------------------------------------


def _form_values(data: Any) -> dict[str, str]:
    return {key: value for key, value in data.items() if isinstance(value, str)}


async def plugin_ui(request: web.Request) -> web.Response:
    values = _form_values(request.query)
    errors: dict[str, list[str]] = {}
    valid = False
    if request.method == "POST":
        values = _form_values(await request.post())
        if values.get("inputStr"):
            valid = True
        else:
            errors = {"inputStr": ["Missing data for required field."]}
    page = FormPage(
        title="hello-world",
        schema=HelloWorld.model_json_schema(),
        values=values,
        errors=errors,
        process_url="/plugin/process/",
        ui_url="/plugin/ui/",
        help_text="This is an example help text with basic **Markdown** support.",
        examples={"inputStr": "Sample input string."},
        valid=valid,
    )
    return web.Response(text=render_form_page(page), content_type="text/html")


async def plugin_process(request: web.Request) -> web.Response:
    form = _form_values(await request.post())
    request.app[PROCESS_POSTS].append(form)
    if "inputStr" not in form:
        return web.json_response(MISSING, status=422)
    return web.Response(status=303, headers={"Location": "/task/1/"})


async def task(_request: web.Request) -> web.Response:
    return web.json_response({"status": "PENDING", "log": "", "outputs": []})


async def host_page(request: web.Request) -> web.Response:
    html = HOST_PAGE % {"plugin_origin": request.app[PLUGIN_ORIGIN], "data_href": DATA_HREF}
    return web.Response(text=html, content_type="text/html")


async def host_css(_request: web.Request) -> web.Response:
    return web.Response(text=HOST_CSS, content_type="text/css")


@dataclass(frozen=True)
class Servers:
    host_url: str
    plugin_origin: str
    posts: list[dict[str, str]]


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _origin(sock: socket.socket) -> str:
    host, port = sock.getsockname()
    return f"http://{host}:{port}"


@pytest.fixture(scope="module")
async def servers() -> AsyncIterator[Servers]:
    host_sock, plugin_sock = _bound_socket(), _bound_socket()
    app = web.Application()
    app[HOST_ORIGIN] = _origin(host_sock)
    app[PLUGIN_ORIGIN] = _origin(plugin_sock)
    app[PROCESS_POSTS] = []
    app.router.add_static("/static", STATIC_DIR)
    app.router.add_route("*", "/plugin/ui/", plugin_ui)
    app.router.add_post("/plugin/process/", plugin_process)
    app.router.add_get("/task/1/", task)
    app.router.add_get("/host/", host_page)
    app.router.add_get("/host/host.css", host_css)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        for sock in (host_sock, plugin_sock):
            await web.SockSite(runner, sock).start()
        yield Servers(app[HOST_ORIGIN] + "/host/", app[PLUGIN_ORIGIN], app[PROCESS_POSTS])
    finally:
        await runner.cleanup()
        host_sock.close()
        plugin_sock.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 800, "height": 900})
    new_page = await context.new_page()
    new_page.set_default_timeout(10_000)
    try:
        yield new_page
    finally:
        await context.close()


@pytest.fixture
async def embedded(page: Page, servers: Servers) -> Frame:
    """The host page with the plugin iframe, after the handshake and the host CSS applied."""
    await page.goto(servers.host_url)
    await wait_for_message(page, "m => m === 'ui-loaded'")
    frame = await plugin_frame(page)
    await frame.wait_for_function(
        "() => getComputedStyle(document.querySelector('.qhana-form')).borderLeftWidth === '6px'"
    )
    return frame


# --- helpers -----------------------------------------------------------------------------------


async def plugin_frame(page: Page) -> Frame:
    element = await page.wait_for_selector("#plugin")
    assert element is not None
    frame = await element.content_frame()
    assert frame is not None
    return frame


async def wait_for_message(page: Page, predicate: str) -> Any:
    handle = await page.wait_for_function(f"() => window.received.find({predicate})")
    return await handle.json_value()


async def received(page: Page) -> list[Any]:
    messages: list[Any] = await page.evaluate("() => window.received")
    return messages


def message_types(messages: list[Any]) -> list[str]:
    return [m if isinstance(m, str) else m.get("type", "?") for m in messages]


# --- tests -------------------------------------------------------------------------------------


async def test_handshake_resize_and_host_css(page: Page, embedded: Frame, servers: Servers) -> None:
    messages = await received(page)
    assert messages[0] == "ui-loaded"
    assert messages[1]["type"] == "ui-resize"
    assert messages[1]["height"] > 0
    css_url = servers.host_url + "host.css"
    assert await embedded.locator(f'link[rel="stylesheet"][href="{css_url}"]').count() == 1
    background = await embedded.evaluate("() => document.body.style.backgroundColor")
    assert background == "transparent"
    assert await embedded.evaluate("() => window.top !== window.self")
    assert await embedded.locator("button.qhana-choose-file-button").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#plugin").screenshot(path=str(ARTIFACTS / "microfrontend-form.png"))


async def test_autofill_json_and_urlencoded(page: Page, embedded: Frame) -> None:
    await page.evaluate(
        """() => window.sendToPlugin({type: "autofill-response",
            value: JSON.stringify({inputStr: "from json"}), encoding: "application/json"})"""
    )
    await embedded.wait_for_function(
        "() => document.getElementById('input_str').value === 'from json'"
    )
    await page.evaluate(
        """() => window.sendToPlugin({type: "autofill-response",
            value: "inputStr=from+form&entities=http%3A%2F%2Fdata%2F1",
            encoding: "application/x-www-form-urlencoded"})"""
    )
    await embedded.wait_for_function(
        "() => document.getElementById('input_str').value === 'from form'"
    )
    info = await wait_for_message(page, "m => m && m.type === 'request-data-url-info'")
    assert info == {
        "type": "request-data-url-info",
        "inputKey": "entities",
        "dataUrl": "http://data/1",
    }


async def test_submit_reports_task_url(page: Page, embedded: Frame, servers: Servers) -> None:
    await embedded.fill("#input_str", "my input text")
    await embedded.click("button.qhana-form-submit[data-target='api']")
    submitted = await wait_for_message(page, "m => m && m.type === 'form-submit'")
    types = message_types(await received(page))
    assert types.index("ui-loading") < types.index("form-submit")
    assert submitted["resultUrl"] == servers.plugin_origin + "/task/1/"
    assert submitted["submitUrl"] == servers.plugin_origin + "/plugin/process/"
    assert submitted["formDataType"] == "application/x-www-form-urlencoded"
    assert submitted["formData"].startswith("inputStr=my+input+text")
    assert ("inputStr", "my input text") in parse_qsl(submitted["formData"])
    assert submitted["dataInputs"] == []
    assert servers.posts[-1]["inputStr"] == "my input text"


async def test_empty_submit_reports_422_and_shows_message(
    page: Page, embedded: Frame, servers: Servers
) -> None:
    # a disabled control is neither validated by the browser nor sent: the field is missing
    await embedded.evaluate("() => { document.getElementById('input_str').disabled = true; }")
    await embedded.click("button.qhana-form-submit[data-target='api']")
    error = await wait_for_message(page, "m => m && m.type === 'form-error'")
    assert error["status"] == 422
    assert error["error"]["errors"]["form"]["inputStr"] == ["Missing data for required field."]
    assert "inputStr" not in servers.posts[-1]
    message = embedded.locator(".qhana-form-field:has(#input_str) .qhana-error-message span")
    await message.wait_for()
    assert await message.text_content() == "Missing data for required field."
    assert "form-submit" not in message_types(await received(page))


async def test_prevented_submit_reports_without_posting(
    page: Page, embedded: Frame, servers: Servers
) -> None:
    posts_before = len(servers.posts)
    await page.evaluate("() => window.sendToPlugin('ui-prevent-submit')")
    status = await wait_for_message(page, "m => m && m.type === 'ui-submit-status'")
    assert status == {"type": "ui-submit-status", "isAllowedToSubmit": False}
    await embedded.fill("#input_str", "secret plan")
    await embedded.click("button.qhana-form-submit[data-target='api']")
    submitted = await wait_for_message(page, "m => m && m.type === 'form-submit'")
    assert "resultUrl" not in submitted
    assert ("inputStr", "secret plan") in parse_qsl(submitted["formData"])
    types = message_types(await received(page))
    assert types.index("ui-loading") < types.index("form-submit")
    assert len(servers.posts) == posts_before


async def test_choose_file_round_trip(page: Page, embedded: Frame) -> None:
    await embedded.click("button.qhana-choose-file-button")
    request = await wait_for_message(page, "m => m && m.type === 'request-data-url'")
    assert request == {
        "type": "request-data-url",
        "inputKey": "entities",
        "acceptedInputType": "entity/list",
        "acceptedContentTypes": ["application/json"],
    }
    await embedded.wait_for_function(
        f"() => document.getElementById('entities').value === '{DATA_HREF}'"
    )
    hint = embedded.locator(".selected-file-name[data-input-id='entities']")
    assert await hint.text_content() == "entities.json (v3) entity/list – application/json"
    preview = embedded.locator(".qhana-show-preview-button[data-input-id='entities']")
    await preview.click()
    shown = await wait_for_message(page, "m => m && m.type === 'request-data-preview'")
    assert shown == {"type": "request-data-preview", "dataUrl": DATA_HREF}


async def test_validate_reloads_with_success_marker(page: Page, embedded: Frame) -> None:
    await embedded.fill("#input_str", "validate me")
    await embedded.click("button.qhana-form-submit[data-target='microfrontend']")
    await page.wait_for_function(
        "() => window.received.filter(m => m === 'ui-loaded').length === 2"
    )
    types = message_types(await received(page))
    assert types.index("ui-loading") < len(types) - 1 - types[::-1].index("ui-loaded")
    await embedded.locator(".qhana-validation-ok").wait_for()
    assert await embedded.input_value("#input_str") == "validate me"


async def test_plain_page_works_without_host(page: Page, servers: Servers) -> None:
    await page.goto(servers.plugin_origin + "/plugin/ui/")
    assert await page.evaluate("() => window._qhana_microfrontend_state === undefined")
    assert await page.evaluate("() => getPluginContext() === null")
    assert not await page.locator("button.qhana-choose-file-button").is_visible()
    await page.fill("#input_str", "plain")
    async with page.expect_navigation():
        await page.click("button.qhana-form-submit[data-target='microfrontend']")
    assert await page.locator(".qhana-validation-ok").text_content() == "Validation successful!"
    async with page.expect_navigation():
        await page.click("button.qhana-form-submit[data-target='api']")
    assert page.url == servers.plugin_origin + "/task/1/"
    assert servers.posts[-1]["inputStr"] == "plain"


async def test_plugin_context_is_stored(page: Page, embedded: Frame) -> None:
    await page.evaluate(
        """() => window.sendToPlugin({type: "plugin-context", experimentId: "42",
            location: "experiment-navigation"})"""
    )
    await embedded.wait_for_function("() => getPluginContext() !== null")
    context = await embedded.evaluate("() => getPluginContext()")
    assert context == {
        "type": "plugin-context",
        "experimentId": "42",
        "location": "experiment-navigation",
    }
