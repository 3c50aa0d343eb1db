"""``/api/templates/<id>/tabs/``: template tabs; their filters are evaluated at query time."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from qhana.db import registry_store as store
from qhana.edge.keys import ENGINE
from qhana.edge.registry_api.errors import (
    ApiError,
    api_handler,
    body_fields,
    ok,
    parse_int,
    unprocessable,
)
from qhana.edge.registry_api.links import (
    Api,
    changed_response,
    deleted_response,
    new_response,
    response,
)
from qhana.edge.registry_api.tab_filter import FilterError, parse_filter
from qhana.edge.registry_api.template_json import (
    TEMPLATES,
    group_link,
    tab_collection_link,
    tab_item,
    tab_links,
    tab_self,
    template_item,
    template_self,
)

__all__ = ["routes"]

routes = web.RouteTableDef()

BODY = {
    "name": (str, True),
    "description": (str, True),
    "icon": (str, False),
    "location": (str, True),
    "sortKey": (int, True),
    "groupKey": (str, False),
    "filterString": (str, True),
}
_MAX = {"name": 255, "icon": 64, "location": 255, "groupKey": 32}


def _check_tab(body: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for key, limit in _MAX.items():
        if isinstance(body.get(key), str) and len(body[key]) > limit:
            errors[key] = [f"Longer than maximum length {limit}."]
    group_key = body.get("groupKey") or ""
    if group_key and body["filterString"] != "":
        errors["filterString"] = ["A group tab (groupKey set) must have an empty filterString."]
    if group_key and body["location"].startswith("workspace"):
        errors["groupKey"] = ["Tabs in the workspace cannot be groups."]
    try:
        parse_filter(body["filterString"])
    except FilterError as exc:
        errors["filterString"] = [str(exc)]
    if errors:
        raise unprocessable("json", errors)
    return {
        "name": body["name"],
        "description": body["description"],
        "icon": body.get("icon"),
        "location": body["location"],
        "sort_key": body["sortKey"],
        "group_key": group_key,
        "filter_string": body["filterString"],
    }


async def _template(conn: AsyncConnection, request: web.Request) -> dict[str, Any]:
    template_id = parse_int(request.match_info["template_id"], "template id")
    row = await store.get_template(conn, template_id)
    if row is None:
        raise ApiError(404, "Template not found.")
    return row


async def _tab(conn: AsyncConnection, request: web.Request, template_id: int) -> dict[str, Any]:
    tab_id = parse_int(request.match_info["tab_id"], "tab id")
    row = await store.get_tab(conn, tab_id)
    if row is None or row["template_id"] != template_id:
        raise ApiError(404, "Tab not found.")
    return row


@routes.get("/api/templates/{template_id}/tabs/")
@api_handler
async def list_tabs(request: web.Request) -> web.Response:
    api = Api(request)
    async with request.app[ENGINE].connect() as conn:
        template = await _template(conn, request)
        tabs = await store.list_tabs(conn, template["id"])
    tid = int(template["id"])
    group = request.query.get("group")
    chosen = [t for t in tabs if group is None or t["location"] == group]
    items = [tab_item(api, t, tabs) for t in chosen]
    data: dict[str, Any]
    up = {**template_self(api, template), "rel": ["up"]}
    if group is None:
        self_link = api.link(
            f"/templates/{tid}/tabs/",
            "ui-template-tab",
            ["collection"],
            key={"uiTemplateId": str(tid)},
        )
        data = {"self": self_link, "collectionSize": len(chosen)}
        links = [up, tab_collection_link(api, tid, "create", "post")]
    else:
        data = {"self": group_link(api, tid, group, tabs), "collectionSize": len(chosen)}
        data["location"] = group
        links = [up]
    data["items"] = [i["data"]["self"] for i in items]
    return ok(response(data, links, items))


@routes.post("/api/templates/{template_id}/tabs/")
@api_handler
async def create_tab(request: web.Request) -> web.Response:
    api = Api(request)
    values = _check_tab(await body_fields(request, BODY))
    async with request.app[ENGINE].begin() as conn:
        template = await _template(conn, request)
        row = await store.add_tab(conn, {"template_id": template["id"], **values})
        tabs = await store.list_tabs(conn, template["id"])
    tid = int(template["id"])
    links = [
        {**template_self(api, template), "rel": ["up"]},
        tab_collection_link(api, tid, "create", "post"),
    ]
    body = new_response(
        tab_collection_link(api, tid, "collection"), links, tab_item(api, row, tabs)
    )
    body["embedded"].append(template_item(api, template, tabs))
    return ok(body)


@routes.get("/api/templates/{template_id}/tabs/{tab_id}/")
@api_handler
async def get_tab(request: web.Request) -> web.Response:
    api = Api(request)
    async with request.app[ENGINE].connect() as conn:
        template = await _template(conn, request)
        row = await _tab(conn, request, template["id"])
        tabs = await store.list_tabs(conn, template["id"])
    return ok(tab_item(api, row, tabs))


@routes.put("/api/templates/{template_id}/tabs/{tab_id}/")
@api_handler
async def put_tab(request: web.Request) -> web.Response:
    api = Api(request)
    values = _check_tab(await body_fields(request, BODY))
    async with request.app[ENGINE].begin() as conn:
        template = await _template(conn, request)
        row = await _tab(conn, request, template["id"])
        changed = await store.update_tab(conn, row["id"], values)
        tabs = await store.list_tabs(conn, template["id"])
    assert changed is not None
    body = changed_response(tab_item(api, changed, tabs))
    body["embedded"].append(template_item(api, template, tabs))
    return ok(body)


@routes.delete("/api/templates/{template_id}/tabs/{tab_id}/")
@api_handler
async def delete_tab(request: web.Request) -> web.Response:
    api = Api(request)
    async with request.app[ENGINE].begin() as conn:
        template = await _template(conn, request)
        tab_id = parse_int(request.match_info["tab_id"], "tab id")
        row = await store.get_tab(conn, tab_id)
        if row is not None and row["template_id"] == template["id"]:
            await store.delete_tab(conn, tab_id)
        else:
            row = {"id": tab_id, "template_id": template["id"], "name": str(tab_id), "location": ""}
        tabs = await store.list_tabs(conn, template["id"])
    body = deleted_response(
        tab_self(api, row),
        tab_links(api, row, tabs),
        TEMPLATES.first_link(api),
        [template_item(api, template, tabs)],
    )
    return ok(body)
