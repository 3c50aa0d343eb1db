"""Walk the registry API like the QHAna UI does and check the transport rules of spec §8."""

from __future__ import annotations

import json
from typing import Any

import nats
from support.registry import Watch, announce, info
from support.stack import Stack

Body = dict[str, Any]


def _strip(data: Body) -> Body:
    """Item data without the moving ``lastAvailable`` (now, for available plugins)."""
    return {k: v for k, v in data.items() if k != "lastAvailable"}


async def _get(stack: Stack, url: str) -> Body:
    async with stack.http.get(url) as resp:
        assert resp.status == 200, (url, resp.status, await resp.text())
        assert resp.headers["Content-Type"] == "application/json", url
        body: Body = await resp.json()
    assert {"links", "data"} <= set(body), url
    assert {"href", "rel", "resourceType"} <= set(body["data"]["self"]), url
    for link in body["links"]:
        assert link["href"].startswith(stack.base + "api/"), link
        assert all(isinstance(v, str) for v in link.get("resourceKey", {}).values()), link
        if "collection" in link["rel"]:
            assert not {"create", "update", "delete", "post", "put"} & set(link["rel"]), link
    return body


async def _populate(stack: Stack) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        await announce(nc, "fake-crawl", [info("crawled", tags=("fake",))])
    finally:
        await nc.close()
    calls: list[tuple[str, Body]] = [
        ("api/env/", {"name": "UI_URL_MAP", "value": "{}"}),
        ("api/services/", {"serviceId": "s", "name": "S", "description": "", "url": "http://s/"}),
        ("api/seeds/", {"url": "http://127.0.0.1:9/"}),
        ("api/templates/", {"name": "T", "description": "", "tags": []}),
    ]
    for path, body in calls:
        async with stack.http.post(stack.base + path, json=body) as resp:
            assert resp.status == 200, await resp.text()
            created = await resp.json()
    tabs = next(
        link
        for link in created["embedded"][0]["links"]
        if "create" in link["rel"] and link["resourceType"] == "ui-template-tab"
    )
    tab = {
        "name": "Fake",
        "description": "",
        "location": "workspace",
        "sortKey": 0,
        "filterString": json.dumps({"tag": "fake"}),
    }
    async with stack.http.post(tabs["href"], json=tab) as resp:
        assert resp.status == 200, await resp.text()


async def test_crawl_like_the_ui(stack: Stack) -> None:
    await _populate(stack)
    async with Watch(stack.nats_url, stack.http) as watch:
        await watch.until(
            f"{stack.base}api/plugins/?name=crawled", lambda p: p["data"]["collectionSize"] == 1
        )
    root = await _get(stack, f"{stack.base}api/")
    queue = [link["href"] for link in root["links"] if "api" in link["rel"]]
    seen: set[str] = set()
    schemas: set[str] = set()
    embedded_checked = 0
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        body = await _get(stack, url)
        if "items" in body["data"]:
            assert body["data"]["items"] == [
                e["data"]["self"] for e in body.get("embedded", [])
            ] or (body["data"]["self"]["resourceType"] == "plugin-recommendation")
        for item in body.get("embedded", []):
            own = await _get(stack, item["data"]["self"]["href"])
            assert _strip(own["data"]) == _strip(item["data"]), item["data"]["self"]["href"]
            assert own["links"] == item["links"]
            embedded_checked += 1
            for value in item["data"].values():  # tab group and tab plugin links
                if isinstance(value, dict) and "collection" in value.get("rel", []):
                    queue.append(value["href"])
            for group in item["data"].get("groups", []):
                queue.append(group["href"])
        schemas |= {link["schema"] for link in body["links"] if "schema" in link}
        for link in body["links"]:
            if {"api", "nav", "collection"} & set(link["rel"]) and link["href"] not in seen:
                queue.append(link["href"])
    print(f"\ncrawled {len(seen)} URLs, checked {embedded_checked} embedded items")
    assert embedded_checked >= 6
    assert any("template-tab=" in url for url in seen)
    assert any("group=workspace" in url for url in seen)
    async with stack.http.get(f"{stack.base}api/api-spec.json") as resp:
        spec = await resp.json()
    assert spec["info"]["title"] == "RAMP Registry API"
    for schema in schemas:  # every schema link resolves
        document, _, pointer = schema.partition("#/components/schemas/")
        assert (
            document == f"{stack.base}api/api-spec.json"
            and pointer in spec["components"]["schemas"]
        )
