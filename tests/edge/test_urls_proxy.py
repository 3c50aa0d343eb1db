"""URL rewriting for containers (URL_MAP_FROM_LOCALHOST) and absolute URLs behind proxies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from conftest import FIXTURE_PLUGINS, StackFactory
from support.http_app import served

from qhana.edge.urls import base_url, path_prefix
from qhana.settings import Settings
from qhana.urlmap import UrlRewriter
from qhana.worker.inputs import fetch_url

HELLO = "hello-world@v0-2-1"
FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "spoofed.example, qhana.example",
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/runner",
}
PUBLIC = "https://qhana.example:8443/runner"


@pytest.fixture
async def data_server() -> AsyncIterator[str]:
    async def data(_: web.Request) -> web.Response:
        return web.Response(text="hello from the host", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/data.txt", data)
    async with served(app) as base:
        yield base


def test_url_map_rules_apply_in_order() -> None:
    rewrite = UrlRewriter.parse(
        '{"^http://localhost(:\\\\d+)?/": "http://edge\\\\1/", "edge": "e2"}'
    )
    assert rewrite("http://localhost:5005/files/1/") == "http://e2:5005/files/1/"
    assert rewrite("https://other.example/x") == "https://other.example/x"
    assert not UrlRewriter.parse("") and not UrlRewriter.parse(None)
    both = UrlRewriter.parse('{"^a": "b"}', '{"^b": "c"}')  # URL_MAP, then FROM_LOCALHOST
    assert both("a://x") == "c://x"
    assert Settings.model_validate({"URL_MAP": '{"x": "y"}'}).url_map == '{"x": "y"}'
    for bad in ("[1, 2]", "{", '{"(": "x"}'):
        with pytest.raises(ValueError):
            UrlRewriter.parse(bad)


async def test_worker_fetch_applies_the_map(data_server: str) -> None:
    rewrite = UrlRewriter({"^http://localhost.invalid:1": data_server})
    fetched = await fetch_url("http://localhost.invalid:1/data.txt", rewrite=rewrite)
    assert fetched.data == b"hello from the host"
    assert fetched.name == "data.txt"


@pytest.mark.parametrize(
    ("hops", "headers", "base", "prefix"),
    [
        (0, FORWARDED, "http://edge.local:5005", ""),  # untrusted headers are ignored
        (1, FORWARDED, PUBLIC, "/runner"),  # the last hop's value of each header
        (2, FORWARDED, PUBLIC.replace("qhana", "spoofed"), "/runner"),
        (
            1,
            {"X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"},
            "https://edge.local:5005",
            "",
        ),
    ],
)
def test_base_url_behind_proxies(
    hops: int, headers: dict[str, str], base: str, prefix: str
) -> None:
    settings = Settings.model_validate({"reverse_proxy_count": hops})
    request = make_mocked_request(
        "GET", "/plugins/", headers={"Host": "edge.local:5005", **headers}
    )
    assert base_url(request, settings) == base
    assert path_prefix(request, settings) == prefix


async def test_stack_behind_a_path_proxy_and_in_a_container(
    stack_factory: StackFactory, data_server: str
) -> None:
    stack = await stack_factory(
        reverse_proxy_count=1,
        plugin_folders=str(FIXTURE_PLUGINS),
        url_map_from_localhost=json.dumps({"^http://localhost.invalid:1": data_server}),
    )
    http, base = stack.http, stack.base
    async with http.get(f"{base}plugins/", headers=FORWARDED) as resp:
        [hello] = [p for p in (await resp.json())["plugins"] if p["identifier"] == HELLO]
    assert hello["apiRoot"] == f"{PUBLIC}/plugins/{HELLO}/"
    async with http.get(f"{base}plugins/{HELLO}/", headers=FORWARDED) as resp:
        entry = (await resp.json())["entryPoint"]
    assert entry["href"] == f"/runner/plugins/{HELLO}/process/"
    assert entry["uiHref"] == f"/runner/plugins/{HELLO}/ui/"
    async with http.get(f"{base}plugins/{HELLO}/ui/", headers=FORWARDED) as resp:
        page = await resp.text()
    assert f'formaction="/runner/plugins/{HELLO}/process/"' in page
    assert 'src="/runner/static/microfrontend.js"' in page
    async with http.get(f"{base}plugins", headers=FORWARDED, allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (308, "/runner/plugins/")
    async with http.get(
        f"{base}plugins/hello-world/", headers=FORWARDED, allow_redirects=False
    ) as resp:
        assert resp.headers["Location"] == f"/runner/plugins/{HELLO}/"
    async with http.post(
        f"{base}plugins/fetch-demo@v1-0-0/process/",
        data={"url": "http://localhost.invalid:1/data.txt"},
        headers=FORWARDED,
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303
        location = resp.headers["Location"]
    assert location.startswith("/runner/tasks/")
    task_id = int(location.split("/")[3])
    async with http.get(f"{base}tasks/{task_id}/", headers=FORWARDED) as resp:
        doc = await resp.json()
    assert doc["links"][0]["href"] == f"{PUBLIC}/tasks/{task_id}/"
    done = await stack.finished(task_id)
    assert (done["status"], done["log"]) == ("SUCCESS", "fetched: hello from the host"), done
    assert done["links"][0]["href"] == f"{base}tasks/{task_id}/"  # no proxy headers: direct
