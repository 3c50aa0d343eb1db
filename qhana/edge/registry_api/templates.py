"""``/api/templates/``: UI templates (collections of tabs that select plugins)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

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
from qhana.edge.registry_api.links import Api, changed_response, deleted_response, new_response
from qhana.edge.registry_api.paging import page_args, page_response, sort_items
from qhana.edge.registry_api.template_json import (
    TEMPLATES,
    template_item,
    template_links,
    template_self,
)

__all__ = ["routes"]

routes = web.RouteTableDef()

BODY = {"name": (str, True), "description": (str, True), "tags": (list, True)}


async def _template_body(request: web.Request) -> dict[str, Any]:
    body = await body_fields(request, BODY)
    if len(body["name"]) > 255:
        raise unprocessable("json", {"name": ["Longer than maximum length 255."]})
    return body


@routes.get("/api/templates/")
@api_handler
async def list_templates(request: web.Request) -> web.Response:
    api = Api(request)
    args = page_args(request.query, TEMPLATES, ("template-id",))
    wanted: int | None = None
    if raw := request.query.get("template-id"):
        if not raw.isdecimal():
            raise unprocessable("query", {"template-id": ["Not a valid integer."]})
        wanted = int(raw)
    async with request.app[ENGINE].connect() as conn:
        rows = await store.list_templates(conn)
        rows = [r for r in rows if wanted is None or r["id"] == wanted]
        rows = sort_items(rows, args.sort, {"id": lambda r: r["id"], "name": lambda r: r["name"]})
        items = [template_item(api, r, await store.list_tabs(conn, r["id"])) for r in rows]
    return ok(page_response(api, TEMPLATES, args, items))


@routes.post("/api/templates/")
@api_handler
async def create_template(request: web.Request) -> web.Response:
    api = Api(request)
    body = await _template_body(request)
    async with request.app[ENGINE].begin() as conn:
        row = await store.add_template(conn, body)
    links = [api.root_link(["up"]), TEMPLATES.action_link(api)]
    return ok(new_response(TEMPLATES.first_link(api), links, template_item(api, row, [])))


async def _template_id(request: web.Request) -> int:
    return parse_int(request.match_info["template_id"], "template id")


@routes.get("/api/templates/{template_id}/")
@api_handler
async def get_template(request: web.Request) -> web.Response:
    api = Api(request)
    template_id = await _template_id(request)
    async with request.app[ENGINE].connect() as conn:
        row = await store.get_template(conn, template_id)
        if row is None:
            raise ApiError(404, "Template not found.")
        tabs = await store.list_tabs(conn, template_id)
    return ok(template_item(api, row, tabs))


@routes.put("/api/templates/{template_id}/")
@api_handler
async def put_template(request: web.Request) -> web.Response:
    api = Api(request)
    template_id = await _template_id(request)
    body = await _template_body(request)
    async with request.app[ENGINE].begin() as conn:
        if await store.get_template(conn, template_id) is None:
            raise ApiError(404, "Template not found.")
        row = await store.update_template(conn, template_id, body)
        tabs = await store.list_tabs(conn, template_id)
    assert row is not None
    return ok(changed_response(template_item(api, row, tabs)))


@routes.delete("/api/templates/{template_id}/")
@api_handler
async def delete_template(request: web.Request) -> web.Response:
    api = Api(request)
    template_id = await _template_id(request)
    async with request.app[ENGINE].begin() as conn:
        row = await store.delete_template(conn, template_id)
    row = row or {"id": template_id, "name": str(template_id)}
    body = deleted_response(
        template_self(api, row), template_links(api, row), TEMPLATES.first_link(api)
    )
    return ok(body)
