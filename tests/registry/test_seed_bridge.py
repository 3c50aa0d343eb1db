"""Seed bridge: an unmodified upstream runner (faked with aiohttp) enters the catalogue."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from conftest import StackFactory
from support.registry import Watch

HOST = "upstream.invalid"


def _metadata(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": "v1",
        "title": name.title(),
        "description": "an upstream plugin",
        "type": "processing",
        "tags": ["upstream"],
        "entryPoint": {
            "href": "./process/",
            "uiHref": "ui/",
            "dataInput": [{"dataType": "entity", "contentType": ["text/csv"], "required": True}],
            "dataOutput": [
                {"dataType": "entity/list", "contentType": ["application/json"], "name": "out"}
            ],
            "pluginDependencies": [],
        },
    }


EXTRA = web.AppKey("extra", list)


def _fake_runner() -> web.Application:
    app = web.Application()
    app[EXTRA] = []  # more plugin names, added while running

    async def root(_: web.Request) -> web.Response:
        return web.json_response({"title": "QHAna plugin runner api."})

    async def plugins(request: web.Request) -> web.Response:
        base = f"http://{request.host}/plugins"
        names = ["up-one@v1", "broken", *request.app[EXTRA]]
        entries = [{"apiRoot": f"{base}/{name}/"} for name in names]
        return web.json_response({"plugins": entries})

    async def plugin(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "broken":
            return web.json_response([1, 2, 3])  # malformed: skipped with a warning
        return web.json_response(_metadata(name.split("@")[0]))

    app.router.add_get("/", root)
    app.router.add_get("/plugins", plugins)
    app.router.add_get("/plugins/{name}/", plugin)
    return app


@pytest.fixture
async def fake_runner() -> AsyncIterator[tuple[web.AppRunner, int]]:
    runner = web.AppRunner(_fake_runner())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield runner, port
    finally:
        await runner.cleanup()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_seed_bridge(
    stack_factory: StackFactory, fake_runner: tuple[web.AppRunner, int]
) -> None:
    runner, port = fake_runner
    seed = f"http://{HOST}:{port}/"
    dead = f"http://127.0.0.1:{_closed_port()}/"
    stack = await stack_factory(
        initial_plugin_seeds=f"{seed}\n{dead}",
        url_map_from_localhost=json.dumps({r"upstream\.invalid": "127.0.0.1"}),
        url_map_to_localhost=json.dumps({r"127\.0\.0\.1": HOST}),
    )
    base = f"{stack.base}api/plugins/?tags=upstream&include-unavailable=true"
    async with Watch(stack.nats_url, stack.http) as watch:
        page = await watch.until(base, lambda p: _runners(p, "up-one") == [f"seed:{seed}"])
        [one] = page["embedded"]
        data = one["data"]
        assert data["identifier"] == "up-one" and data["runners"] == [f"seed:{seed}"]
        root = f"http://{HOST}:{port}/plugins/up-one@v1/"
        assert data["href"] == root
        assert data["entryPoint"]["href"] == root + "process/"
        assert data["entryPoint"]["uiHref"] == root + "ui/"
        assert data["entryPoint"]["dataInput"][0]["dataType"] == "entity/*"
        assert data["entryPoint"]["dataOutput"] == [
            {
                "dataType": "entity/list",
                "contentType": ["application/json"],
                "required": False,
                "name": "out",
            }
        ]
        by_url = await watch.get(f"{stack.base}api/plugins/?url={root}")
        assert by_url["data"]["collectionSize"] == 1
        async with stack.http.get(f"{stack.base}plugins/?all=1") as resp:
            hosted = [p["name"] for p in (await resp.json())["plugins"]]
        assert "up-one" not in hosted  # the runner API serves only what our workers run
        seeds = await watch.get(f"{stack.base}api/seeds/")
        assert sorted(s["data"]["url"] for s in seeds["embedded"]) == sorted([seed, dead])

        # a plugin root as seed, added over the API: polled at once
        single = f"http://127.0.0.1:{port}/plugins/up-two@v1/"
        async with stack.http.post(f"{stack.base}api/seeds/", json={"url": single}) as resp:
            assert resp.status == 200
            created = await resp.json()
        await watch.until(base, lambda p: p["data"]["collectionSize"] == 2)
        delete = next(link for link in created["embedded"][0]["links"] if "delete" in link["rel"])
        async with stack.http.delete(delete["href"]) as resp:
            assert resp.status == 200
        page = await watch.until(base, lambda p: _runners(p, "up-two") == [])  # withdrawn at once

        # the upstream runner goes away: its plugins turn unavailable after the missed beats
        await runner.cleanup()
        async with stack.http.post(f"{stack.base}api/plugins/?url={seed}plugins/x/") as resp:
            assert resp.status == 204
        await watch.until(base, lambda p: _runners(p, "up-one") == [])
        available = await watch.get(f"{stack.base}api/plugins/?tags=upstream")
        assert available["data"]["collectionSize"] == 0


def _runners(page: dict[str, Any], name: str) -> list[str] | None:
    found = [e["data"]["runners"] for e in page["embedded"] if e["data"]["identifier"] == name]
    return found[0] if found else None


async def test_seeds_are_polled_periodically(
    stack_factory: StackFactory, fake_runner: tuple[web.AppRunner, int]
) -> None:
    runner, port = fake_runner
    stack = await stack_factory(
        initial_plugin_seeds=json.dumps([f"http://127.0.0.1:{port}/"]),
        plugin_discovery_interval=5,
    )
    base = f"{stack.base}api/plugins/?tags=upstream"
    async with Watch(stack.nats_url, stack.http) as watch:
        await watch.until(base, lambda p: p["data"]["collectionSize"] == 1)
        runner.app[EXTRA].append("up-three@v1")  # the upstream runner deploys a plugin
        await watch.until(base, lambda p: p["data"]["collectionSize"] == 2, timeout_s=30)
