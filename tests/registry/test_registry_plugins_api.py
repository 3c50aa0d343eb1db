"""Contract of /api/ and /api/plugins/ (spec §1, §2.1, §2.2, §2.8) against fake runners."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import nats
from support.registry import Watch, announce, info, names, withdraw
from support.stack import Stack

from qhana.wire import PluginType

FAKE = [
    info(
        "alpha",
        "v1.0.0",
        tags=("fake", "quantum", "demo"),
        inputs=(("entity/list", ["application/json", "text/csv"]),),
    ),
    info("alpha", "v2.0.0", tags=("fake", "quantum")),
    info(
        "beta",
        "0.1.0",
        type=PluginType.VISUALIZATION,
        tags=("fake", "demo", "deprecated"),
        inputs=(("entity/*", ["text/csv"]),),
    ),
    info("gamma", "1.0.0", type=PluginType.DATALOADER, tags=("fake",)),
    info("delta", "1.5.0", type=PluginType.CONVERSION, tags=("fake", "x")),
]
OLD = info("old", "1.0.0", tags=("fake",))


async def _setup(stack: Stack, watch: Watch) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        await announce(nc, "fake-a", FAKE)
        await announce(nc, "fake-b", [OLD])
        await withdraw(nc, "fake-b")
    finally:
        await nc.close()
    url = f"{stack.base}api/plugins/?tags=fake&include-unavailable=true"
    await watch.until(url, lambda p: p["data"]["collectionSize"] == 6 and _old_gone(p))


def _old_gone(page: dict[str, Any]) -> bool:
    return any(
        e["data"]["identifier"] == "old" and not e["data"]["runners"] for e in page["embedded"]
    )


async def _status(stack: Stack, path: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    async with stack.http.request(method, stack.base + path) as resp:
        assert resp.headers["Content-Type"] == "application/json", path
        return resp.status, await resp.json()


async def test_root_links(stack: Stack) -> None:
    async with stack.http.get(f"{stack.base}api/") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        body = await resp.json()
    assert body["data"]["title"] == "RAMP Registry API"
    assert body["data"]["self"]["resourceType"] == "api-root"
    assert "resourceKey" not in body["data"]["self"]
    types = [link["resourceType"] for link in body["links"]]
    assert types == ["seed", "service", "env", "plugin", "plugin-recommendation", "ui-template"]
    for link in body["links"]:
        assert {"collection", "nav", "api"} <= set(link["rel"])
        assert link["href"].startswith(stack.base + "api/")
    async with stack.http.get(f"{stack.base}api/plugins", allow_redirects=False) as resp:
        assert resp.status == 308
        assert resp.headers["Location"].endswith("/api/plugins/")


async def test_plugin_page_envelope_and_paging(stack: Stack) -> None:
    async with Watch(stack.nats_url, stack.http) as watch:
        await _setup(stack, watch)
        page = await watch.get(f"{stack.base}api/plugins/?tags=fake&item-count=2")
    data = page["data"]
    assert data["collectionSize"] == 5 and data["page"] == 1  # "old" is unavailable
    assert data["items"] == [e["data"]["self"] for e in page["embedded"]]
    assert names(page) == ["alpha", "alpha"]
    assert [e["data"]["version"] for e in page["embedded"]] == ["v2.0.0", "v1.0.0"]
    rels = [link["rel"] for link in page["links"]]
    assert "up" in rels[0] and "post" in rels[1]
    first = next(i for i, r in enumerate(rels) if "page" in r)
    assert {"first", "page-1"} <= set(rels[first])  # the first page link comes first
    assert any("last" in r and "page-3" in r for r in rels)
    assert data["self"]["resourceKey"]["?tags"] == "fake"
    assert data["self"]["resourceKey"]["?sort"] == "name,-version"
    seen: list[str] = []
    while True:
        seen += [
            f"{n}@{e['data']['version']}"
            for n, e in zip(names(page), page["embedded"], strict=True)
        ]
        nxt = [link for link in page["links"] if "next" in link["rel"]]
        if not nxt:
            break
        page = await watch.get(nxt[0]["href"])
    assert seen == ["alpha@v2.0.0", "alpha@v1.0.0", "beta@0.1.0", "delta@1.5.0", "gamma@1.0.0"]
    item = page["embedded"][-1]
    assert item["data"]["self"]["resourceKey"] == {
        "pluginId": item["data"]["self"]["href"].split("/")[-2]
    }
    assert item["data"]["self"]["name"] == "gamma (1.0.0)"
    assert item["data"]["runners"] == ["fake-a"]
    assert item["data"]["lastAvailable"]
    assert any("up" in link["rel"] and link["resourceType"] == "plugin" for link in item["links"])


async def _query(watch: Watch, stack: Stack, query: str) -> list[str]:
    """Filtered to our fake plugins (the stack's own worker offers the shipped ones)."""
    page = await watch.get(f"{stack.base}api/plugins/?item-count=100&{query}")
    fake = {p.name for p in [*FAKE, OLD]}
    return [
        f"{e['data']['identifier']}@{e['data']['version']}"
        for e in page["embedded"]
        if e["data"]["identifier"] in fake
    ]


async def test_every_plugin_filter(stack: Stack) -> None:
    async with Watch(stack.nats_url, stack.http) as watch:
        await _setup(stack, watch)
        everything = await watch.get(f"{stack.base}api/plugins/?tags=fake&include-unavailable=1")
        ids = {
            f"{e['data']['identifier']}@{e['data']['version']}": e["data"]["self"]["resourceKey"][
                "pluginId"
            ]
            for e in everything["embedded"]
        }
        q = lambda s: _query(watch, stack, s)  # noqa: E731
        assert await q(f"plugin-id={ids['beta@0.1.0']}") == ["beta@0.1.0"]
        both = f"{ids['beta@0.1.0']},{ids['gamma@1.0.0']}"
        assert await q(f"plugin-id={both}") == ["beta@0.1.0", "gamma@1.0.0"]
        assert await q("name=alpha") == ["alpha@v2.0.0", "alpha@v1.0.0"]
        assert await q("name=alpha&version=v1.0.0") == ["alpha@v1.0.0"]
        assert await q("name=alpha&version=" + quote(">=1.5 <3")) == ["alpha@v2.0.0"]
        assert await q("version=1.5.0") == ["delta@1.5.0"]
        href = everything["embedded"][0]["data"]["href"]
        assert await q("url=" + quote(href)) == ["alpha@v2.0.0"]
        assert await q("type=visualization&tags=fake") == ["beta@0.1.0"]
        assert await q("tags=fake,demo") == ["alpha@v1.0.0", "beta@0.1.0"]
        assert await q("tags=demo,!deprecated") == ["alpha@v1.0.0"]
        assert await q("tags=fake,!quantum,!x") == ["beta@0.1.0", "gamma@1.0.0"]
        assert await q("tags=no-such-tag") == []
        assert await q("input-data-type=entity/list") == ["alpha@v1.0.0", "beta@0.1.0"]
        assert await q("input-data-type=" + quote("*/list")) == ["alpha@v1.0.0", "beta@0.1.0"]
        assert await q("input-content-type=application/json") == ["alpha@v1.0.0"]
        both_types = "input-data-type=entity/list&input-content-type=text/csv"
        assert await q(both_types) == ["alpha@v1.0.0", "beta@0.1.0"]
        assert await q("input-data-type=image/png") == []
        assert await q("tags=fake&last-available-period=3600") == [
            "alpha@v2.0.0",
            "alpha@v1.0.0",
            "beta@0.1.0",
            "delta@1.5.0",
            "gamma@1.0.0",
        ]
        recent = await q("tags=fake&include-unavailable=true&last-available-period=3600")
        assert "old@1.0.0" in recent
        assert await q("name=old") == []  # unavailable plugins are hidden by default
        assert await q("name=old&include-unavailable=true") == ["old@1.0.0"]
        newest_first = await q("tags=fake&include-unavailable=1&sort=-id")
        assert newest_first[0] == "old@1.0.0" and newest_first[-1] == "alpha@v1.0.0"
        by_version = await q("tags=fake&sort=version,name")
        assert by_version[0] == "beta@0.1.0" and by_version[-1] == "alpha@v2.0.0"


async def test_plugin_errors_are_4xx(stack: Stack) -> None:
    for path, status in [
        ("api/plugins/?plugin-id=abc", 400),
        ("api/plugins/?plugin-id=1,x", 400),
        ("api/plugins/?version=" + quote(">=1.0"), 400),  # range without name
        ("api/plugins/?name=a&version=" + quote("~=~"), 422),
        ("api/plugins/?sort=nope", 422),
        ("api/plugins/?sort=name,-nope", 422),
        ("api/plugins/?cursor=garbage", 422),
        ("api/plugins/?cursor=12", 422),
        ("api/plugins/?item-count=0", 422),
        ("api/plugins/?item-count=101", 422),
        ("api/plugins/?item-count=x", 422),
        ("api/plugins/?last-available-period=x", 422),
        ("api/plugins/?template-tab=x", 422),
        ("api/plugins/abc/", 400),
        ("api/plugins/999999/", 404),
    ]:
        got, body = await _status(stack, path)
        assert got == status, (path, got, body)
        assert body["code"] == status
    got, body = await _status(stack, "api/plugins/999999/")
    assert body["message"] == "Plugin not found."
    got, body = await _status(stack, "api/plugins/", "POST")
    assert got == 422 and "url" in body["errors"]["query"]
    async with stack.http.post(f"{stack.base}api/plugins/?url=http://x/") as resp:
        assert resp.status == 204


async def test_plugin_item_and_recommendations(stack: Stack) -> None:
    async with Watch(stack.nats_url, stack.http) as watch:
        await _setup(stack, watch)
        page = await watch.get(f"{stack.base}api/plugins/?name=alpha&version=v1.0.0")
        [link] = page["data"]["items"]
        item = await watch.get(link["href"])
        recs = await watch.get(
            f"{stack.base}api/recommendations/?data-type=entity/list&content-type=text/csv"
        )
    data = item["data"]
    assert data["self"] == link
    assert data["identifier"] == "alpha" and data["title"] == "alpha"
    assert data["pluginType"] == "processing"
    assert data["href"] == f"{stack.base}plugins/alpha@v1-0-0/"
    entry = data["entryPoint"]
    assert entry["href"] == f"{stack.base}plugins/alpha@v1-0-0/process/"
    assert entry["uiHref"] == f"{stack.base}plugins/alpha@v1-0-0/ui/"
    assert entry["dataInput"] == [
        {
            "dataType": "entity/list",
            "contentType": ["application/json", "text/csv"],
            "required": True,
            "parameter": "in0",
        }
    ]
    assert data["runners"] == ["fake-a"]
    assert "embedded" not in item
    assert recs["data"]["self"]["resourceType"] == "plugin-recommendation"
    assert [i["name"] for i in recs["data"]["items"]] == ["alpha (v1.0.0)"]
    assert recs["data"]["weights"] == [1.0]
    assert "pluginId" in recs["data"]["items"][0]["resourceKey"]
