"""Contract of env, services, seeds, templates and tabs (spec §1.6, §2.3-§2.7, §4, §5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nats
from conftest import StackFactory
from support.registry import Watch, announce, info
from support.stack import Stack

from qhana.wire import PluginType

Body = dict[str, Any]


async def _call(stack: Stack, method: str, url: str, body: Any = None) -> tuple[int, Body]:
    url = url if url.startswith("http") else stack.base + url
    async with stack.http.request(method, url, json=body) as resp:
        assert resp.headers["Content-Type"] == "application/json", (method, url)
        return resp.status, await resp.json()


def _link(links: list[Body], *rel: str, resource_type: str | None = None) -> Body:
    """First link matching like the QHAna UI: each r is the resourceType or in ``rel``."""
    return next(
        link
        for link in links
        if all(r == link["resourceType"] or r in link["rel"] for r in rel)
        and (resource_type is None or link["resourceType"] == resource_type)
    )


async def _ok(stack: Stack, method: str, url: str, body: Any = None) -> Body:
    status, doc = await _call(stack, method, url, body)
    assert status == 200, (method, url, status, doc)
    return doc


def _template_file(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    doc = {
        "name": "From file",
        "description": "loaded at start",
        "tags": ["default"],
        "tabs": [
            {
                "name": "Loaders",
                "description": "",
                "location": "workspace",
                "sort_key": 1,
                "filter": {"type": "dataloader"},
            },
        ],
    }
    (folder / "default.json").write_text(json.dumps(doc))
    (folder / "broken.json").write_text("{not json")
    return folder


async def test_env_and_services_with_preloads(stack_factory: StackFactory, tmp_path: Path) -> None:
    services = [{"serviceId": "qhana-backend", "url": "http://localhost:9090"}]
    stack = await stack_factory(
        registry_env={"UI_URL_MAP": '{"a":"b"}'},
        preconfigured_services=json.dumps(services),
        ui_template_paths=str(_template_file(tmp_path)),
    )
    env = await _ok(stack, "GET", "api/env/?name=UI_URL_MAP")
    assert [e["data"]["value"] for e in env["embedded"]] == ['{"a":"b"}']
    assert env["data"]["self"]["resourceKey"] == {"?name": "UI_URL_MAP"}
    create = _link(env["links"], "create", resource_type="env")
    assert "post" in create["rel"]
    changed = await _ok(
        stack, "POST", create["href"], {"name": "DEFAULT_UI_TEMPLATE", "value": "1"}
    )
    assert changed["data"]["self"]["resourceType"] == "changed"
    assert changed["data"]["changed"]["resourceKey"] == {"envId": "DEFAULT_UI_TEMPLATE"}
    item = changed["embedded"][0]
    put = _link(item["links"], "update")
    assert "put" in put["rel"]
    assert (await _call(stack, "PUT", put["href"], {"name": "OTHER", "value": "2"}))[0] == 400
    again = await _ok(stack, "PUT", put["href"], {"name": "DEFAULT_UI_TEMPLATE", "value": "2"})
    assert again["embedded"][0]["data"]["value"] == "2"
    status, err = await _call(stack, "POST", "api/env/", {"name": "X"})
    assert status == 422 and "value" in err["errors"]["json"]
    status, err = await _call(stack, "POST", "api/env/", {"name": "X", "value": "1", "self": {}})
    assert status == 422 and err["errors"]["json"]["self"] == ["Unknown field."]
    deleted = await _ok(stack, "DELETE", _link(item["links"], "delete")["href"])
    assert deleted["data"]["deleted"]["name"] == "DEFAULT_UI_TEMPLATE"
    assert deleted["data"]["redirectTo"]["resourceType"] == "env"
    assert (await _call(stack, "GET", "api/env/DEFAULT_UI_TEMPLATE/"))[0] == 404
    assert (await _call(stack, "PUT", "api/env/NOPE/", {"name": "NOPE", "value": ""}))[0] == 404

    page = await _ok(stack, "GET", "api/services/?service-id=qhana-backend,latex-renderer")
    [backend] = page["embedded"]
    assert backend["data"] | {"self": None} == {
        "self": None,
        "serviceId": "qhana-backend",
        "name": "qhana-backend",
        "description": "",
        "url": "http://localhost:9090",
    }
    new = {"serviceId": "latex-renderer", "name": "LaTeX", "description": "", "url": "http://l/"}
    created = await _ok(stack, "POST", _link(page["links"], "create", "service")["href"], new)
    assert created["data"]["self"]["resourceType"] == "new"
    assert created["data"]["new"]["resourceKey"] == {"serviceId": "latex-renderer"}
    assert (await _call(stack, "POST", "api/services/", new))[0] == 409
    assert (await _call(stack, "POST", "api/services/", {"serviceId": "x"}))[0] == 422
    both = await _ok(stack, "GET", "api/services/?service-id=qhana-backend,latex-renderer")
    assert both["data"]["collectionSize"] == 2
    moved = {**new, "serviceId": "other"}
    assert (await _call(stack, "PUT", "api/services/latex-renderer/", moved))[0] == 400
    changed = await _ok(stack, "PUT", "api/services/latex-renderer/", {**new, "url": "http://n/"})
    assert changed["embedded"][0]["data"]["url"] == "http://n/"
    deleted = await _ok(stack, "DELETE", "api/services/latex-renderer/")
    assert "redirectTo" in deleted["data"]
    assert (await _call(stack, "GET", "api/services/latex-renderer/"))[0] == 404

    templates = await _ok(stack, "GET", "api/templates/")
    [loaded] = templates["embedded"]  # the broken file was skipped, the registry runs
    assert loaded["data"]["name"] == "From file"
    assert [g["resourceKey"]["?group"] for g in loaded["data"]["groups"]] == ["workspace"]


async def test_seeds_crud(stack: Stack) -> None:
    page = await _ok(stack, "GET", "api/seeds/")
    create = _link(page["links"], "create", resource_type="seed")
    created = await _ok(stack, "POST", create["href"], {"url": "http://127.0.0.1:9/"})
    assert created["data"]["new"]["name"] == "http://127.0.0.1:9/"
    seed_id = created["data"]["new"]["resourceKey"]["seedId"]
    assert (await _call(stack, "POST", "api/seeds/", {"url": "http://127.0.0.1:9/"}))[0] == 409
    assert (await _call(stack, "POST", "api/seeds/", {"href": "x"}))[0] == 422
    item = await _ok(stack, "GET", f"api/seeds/{seed_id}/")
    assert item["data"]["url"] == "http://127.0.0.1:9/"
    page = await _ok(stack, "GET", "api/seeds/")
    assert page["data"]["collectionSize"] == 1
    deleted = await _ok(stack, "DELETE", _link(item["links"], "delete")["href"])
    assert deleted["data"]["self"]["resourceType"] == "deleted"
    assert "first" in deleted["data"]["redirectTo"]["rel"]
    assert (await _call(stack, "GET", f"api/seeds/{seed_id}/"))[0] == 404
    assert (await _call(stack, "DELETE", "api/seeds/4242/"))[0] == 200  # no 500 (spec §9.1)
    assert (await _call(stack, "GET", "api/seeds/abc/"))[0] == 400


FILTERS: list[tuple[Any, list[str]]] = [
    ({"and": [{"tag": "fake"}, {"not": {"tag": "deprecated"}}]}, ["alpha", "gamma", "delta"]),
    ({"or": [{"id": "alpha@v1.0.0"}, {"id": "gamma"}]}, ["alpha", "gamma"]),
    ({"and": [{"tag": "fake"}, {"name": "Gamma Loadr"}]}, ["gamma"]),
    ({"and": [{"tag": "fake"}, {"version": ">=1.0,<2"}]}, ["alpha", "gamma", "delta"]),
    ({"and": [{"tag": "fake"}, {"type": "CONVERSION"}]}, ["delta"]),
    ({}, []),
    ({"and": []}, []),
    ({"or": []}, []),
    ({"and": [{"tag": "fake"}, {"not": {}}]}, ["alpha", "beta", "gamma", "delta"]),
]
BAD_FILTERS = [
    "{not json",
    '{"tag": "a", "type": "b"}',
    '{"colour": "red"}',
    '{"and": {"tag": "a"}}',
    '{"tag": 3}',
    '{"version": "~~1"}',
    '{"not": "x"}',
    "[1]",
]


async def _fake_plugins(stack: Stack) -> None:
    plugins = [
        info("alpha", "v1.0.0", tags=("fake",)),
        info("beta", "0.5", type=PluginType.VISUALIZATION, tags=("fake", "deprecated")),
        info("gamma", "1.0.0", type=PluginType.DATALOADER, tags=("fake",), title="Gamma Loader"),
        info("delta", "1.5.0", type=PluginType.CONVERSION, tags=("fake",)),
    ]
    nc = await nats.connect(stack.nats_url)
    try:
        await announce(nc, "fake-t", plugins)
    finally:
        await nc.close()
    async with Watch(stack.nats_url, stack.http) as watch:
        await watch.until(
            f"{stack.base}api/plugins/?tags=fake", lambda p: p["data"]["collectionSize"] == 4
        )


def _tab(filter_string: str, **extra: Any) -> Body:
    return {
        "name": "Tab",
        "description": "",
        "location": "workspace",
        "sortKey": 1,
        "filterString": filter_string,
        **extra,
    }


async def test_templates_tabs_and_filter_grammar(stack: Stack) -> None:
    await _fake_plugins(stack)
    created = await _ok(
        stack, "POST", "api/templates/", {"name": "T", "description": "d", "tags": ["x"]}
    )
    assert created["data"]["self"]["resourceType"] == "new"
    template = created["embedded"][0]
    tid = created["data"]["new"]["resourceKey"]["uiTemplateId"]
    tabs_link = _link(template["links"], "collection", resource_type="ui-template-tab")
    create_tab = _link(template["links"], "create", resource_type="ui-template-tab")
    assert "collection" not in create_tab["rel"]
    new_tab = await _ok(stack, "POST", create_tab["href"], _tab(json.dumps(FILTERS[0][0])))
    tab, parent = new_tab["embedded"]
    assert parent["data"]["self"]["resourceKey"] == {"uiTemplateId": tid}
    key = tab["data"]["self"]["resourceKey"]
    assert key["uiTemplateId"] == tid and key["?group"] == "workspace"
    plugins_link = tab["data"]["plugins"]
    assert plugins_link["resourceKey"]["?template-tab"] == key["uiTemplateTabId"]
    update = _link(tab["links"], "update")["href"]
    for expr, expected in FILTERS:
        changed = await _ok(stack, "PUT", update, _tab(json.dumps(expr)))
        assert changed["data"]["self"]["resourceType"] == "changed"
        page = await _ok(stack, "GET", plugins_link["href"] + "&item-count=100")
        got = sorted(
            e["data"]["identifier"] for e in page["embedded"] if "fake" in e["data"]["tags"]
        )
        assert got == sorted(expected), expr
    assert (await _ok(stack, "PUT", update, _tab("")))["embedded"][0]["data"]["filterString"] == ""
    for bad in BAD_FILTERS:
        status, err = await _call(stack, "PUT", update, _tab(bad))
        assert status == 422 and "filterString" in err["errors"]["json"], bad
    status, _ = await _call(stack, "PUT", update, _tab('{"tag":"a"}', groupKey="g"))
    assert status == 422  # a group tab has no filter, and never in the workspace
    status, err = await _call(stack, "POST", create_tab["href"], {"name": "x"})
    assert status == 422 and "location" in err["errors"]["json"]

    group = _tab("", name="Tools", location="navigation", groupKey="tools")
    await _ok(stack, "POST", create_tab["href"], group)
    child = await _ok(stack, "POST", create_tab["href"], _tab("{}", location="navigation.tools"))
    groups = child["embedded"][1]["data"]["groups"]
    names = {g["resourceKey"]["?group"]: g["name"] for g in groups}
    assert names["navigation.tools"] == "Tools"
    sub = await _ok(stack, "GET", next(g["href"] for g in groups if g["name"] == "Tools"))
    assert sub["data"]["location"] == "navigation.tools" and sub["data"]["collectionSize"] == 1
    all_tabs = await _ok(stack, "GET", tabs_link["href"])
    assert all_tabs["data"]["collectionSize"] == 3
    assert [e["data"]["sortKey"] for e in all_tabs["embedded"]] == [1, 1, 1]

    tab_self = tab["data"]["self"]["href"]
    assert (await _call(stack, "GET", tab_self.replace(f"/templates/{tid}/", "/templates/999/")))[
        0
    ] == 404
    deleted = await _ok(stack, "DELETE", _link(tab["links"], "delete")["href"])
    assert deleted["data"]["redirectTo"]["resourceType"] == "ui-template"
    assert deleted["embedded"][0]["data"]["self"]["resourceKey"] == {"uiTemplateId": tid}
    assert (await _call(stack, "GET", tab_self))[0] == 404

    found = await _ok(stack, "GET", f"api/templates/?template-id={tid}")
    assert found["data"]["collectionSize"] == 1
    put = {"name": "T2", "description": "d2", "tags": []}
    changed = await _ok(stack, "PUT", f"api/templates/{tid}/", put)
    assert changed["embedded"][0]["data"]["name"] == "T2"
    assert (await _call(stack, "PUT", f"api/templates/{tid}/", {"name": "x"}))[0] == 422
    deleted = await _ok(stack, "DELETE", f"api/templates/{tid}/")
    assert deleted["data"]["deleted"]["resourceKey"] == {"uiTemplateId": tid}
    assert (await _call(stack, "GET", f"api/templates/{tid}/"))[0] == 404
    assert (await _call(stack, "GET", "api/templates/abc/"))[0] == 400
    assert (await _call(stack, "GET", "api/templates/?template-id=x"))[0] == 422
