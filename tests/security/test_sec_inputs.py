"""Input URLs: allowed schemes only; internal hosts refused unless allowed; size, time and
redirect limits; every address a name resolves to is checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from conftest import FIXTURE_PLUGINS, StackFactory
from support.http_app import served

from qhana.errors import Reject
from qhana.settings import Settings
from qhana.worker.inputs import fetch_url
from qhana.worker.url_policy import UrlPolicy


def _policy(**overrides: object) -> UrlPolicy:
    return UrlPolicy.from_settings(Settings.model_validate(overrides))


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A small HTTP server on 127.0.0.1 (an "internal" address for the policy)."""

    async def data(_: web.Request) -> web.Response:
        return web.Response(body=b"1234567890", content_type="text/csv")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)  # well over the 0.3 s limit of the test
        return web.Response(text="late")

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.router.add_get("/data.csv", data)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hop", hop)
    app.router.add_get("/loop", loop)
    async with served(app) as base:
        yield base


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.org/x", "gopher://example.org/", "javascript:alert(1)"],
)
async def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(Reject, match="scheme"):
        await fetch_url(url, policy=_policy())


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/x",
        "http://[::1]:1/x",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/x",
        "http://0.0.0.0/x",
        "http://[::ffff:127.0.0.1]/x",
    ],
)
async def test_internal_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(Reject, match="not allowed"):
        await fetch_url(url, policy=_policy())


async def test_names_resolving_to_internal_addresses_are_refused(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(Reject, match="internal addresses"):
        await fetch_url(f"http://localhost:{port}/data.csv", policy=_policy())


async def test_allow_list_admits_and_deny_list_wins(server: str) -> None:
    allowed = _policy(input_allow_hosts="127.0.0.0/8")
    got = await fetch_url(f"{server}/data.csv", policy=allowed)
    assert got.data == b"1234567890" and got.content_type == "text/csv"
    denied = _policy(input_allow_hosts="127.0.0.0/8", input_deny_hosts="127.0.0.1")
    with pytest.raises(Reject, match="not allowed"):
        await fetch_url(f"{server}/data.csv", policy=denied)
    by_name = _policy(input_allow_hosts="localhost", input_deny_hosts=".internal.example")
    port = server.rsplit(":", 1)[1]
    assert (await fetch_url(f"http://localhost:{port}/data.csv", policy=by_name)).data
    with pytest.raises(Reject, match="not allowed"):
        await fetch_url("http://db.internal.example/x", policy=by_name)


async def test_redirects_are_checked_at_every_hop(server: str) -> None:
    only_this = _policy(input_allow_hosts="127.0.0.1")
    hop = f"{server}/hop?to=http://10.0.0.1/secret"
    with pytest.raises(Reject, match="not allowed"):
        await fetch_url(hop, policy=only_this)
    ok = await fetch_url(f"{server}/hop?to=/data.csv", policy=only_this)
    assert ok.data == b"1234567890"
    with pytest.raises(Reject, match="too many redirects"):
        await fetch_url(f"{server}/loop", policy=only_this)


async def test_size_and_time_limits(server: str) -> None:
    small = _policy(input_allow_hosts="127.0.0.1", input_max_bytes=5)
    with pytest.raises(Reject, match="larger than 5 bytes"):
        await fetch_url(f"{server}/data.csv", policy=small)
    quick = _policy(input_allow_hosts="127.0.0.1", input_timeout_s=0.3)
    with pytest.raises(Reject, match="longer than 0.3 s"):
        await fetch_url(f"{server}/slow", policy=quick)


async def test_data_urls_pass_and_schemes_are_configurable() -> None:
    assert (await fetch_url("data:text/plain,hi", policy=_policy())).data == b"hi"
    no_data = _policy(input_url_schemes="https")
    with pytest.raises(Reject, match="scheme 'data'"):
        await fetch_url("data:text/plain,hi", policy=no_data)


@pytest.fixture
def database_url() -> None:
    return None


async def test_a_worker_applies_the_policy_to_plugins(stack_factory: StackFactory) -> None:
    stack = await stack_factory(plugin_folders=str(FIXTURE_PLUGINS), input_allow_hosts="")
    task_id = await stack.submit("fetch-demo@v1-0-0", url="http://169.254.169.254/latest/")
    doc = await stack.finished(task_id)
    assert doc["status"] == "FAILURE"
    assert "input URL address '169.254.169.254' is not allowed (internal address)" in doc["log"]
