"""``/api/env/``: key/value entries the UI reads (``UI_URL_MAP``, ``DEFAULT_UI_TEMPLATE``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from qhana.db import registry_store as store
from qhana.edge.keys import ENGINE
from qhana.edge.registry_api.errors import ApiError, api_handler, body_fields, ok
from qhana.edge.registry_api.links import (
    Api,
    Link,
    changed_response,
    deleted_response,
    response,
)

__all__ = ["env_collection_link", "routes"]

routes = web.RouteTableDef()

BODY = {"name": (str, True), "value": (str, True)}


def env_collection_link(api: Api, *rel: str) -> Link:
    return api.link("/env/", "env", ["collection", *rel], schema="CursorPage")


def _self(api: Api, name: str) -> Link:
    return api.link(f"/env/{name}/", "env", key={"envId": name}, name=name, schema="Env")


def _links(api: Api, name: str) -> list[Link]:
    key = {"envId": name}
    return [
        env_collection_link(api, "up"),
        api.link(f"/env/{name}/", "env", ["update", "put"], key=key),
        api.link(f"/env/{name}/", "env", ["delete"], key=key),
    ]


def env_item(api: Api, row: dict[str, Any]) -> dict[str, Any]:
    data = {"self": _self(api, row["name"]), "name": row["name"], "value": row["value"]}
    return {"links": _links(api, row["name"]), "data": data}


@routes.get("/api/env/")
@api_handler
async def list_env(request: web.Request) -> web.Response:
    api = Api(request)
    async with request.app[ENGINE].connect() as conn:
        rows = await store.list_env(conn)
    name = request.query.get("name")
    chosen = [r for r in rows if r["name"] == name] if name is not None else rows
    query = [("name", name)] if name is not None else []
    self_link = api.link("/env/", "env", ["collection"], query=query, schema="CursorPage")
    items = [env_item(api, r) for r in chosen]
    data = {
        "self": self_link,
        "collectionSize": len(chosen),  # upstream reports the total here (a wart, §9.11)
        "items": [i["data"]["self"] for i in items],
    }
    links = [api.root_link(["up"]), api.link("/env/", "env", ["create", "post"])]
    return ok(response(data, links, items))


@routes.post("/api/env/")
@api_handler
async def upsert_env(request: web.Request) -> web.Response:
    api = Api(request)
    body = await body_fields(request, BODY, {"name": 255})
    async with request.app[ENGINE].begin() as conn:
        row = await store.put_env(conn, body["name"], body["value"])
    return ok(changed_response(env_item(api, row), env_collection_link(api)))


@routes.get("/api/env/{name}/")
@api_handler
async def get_env(request: web.Request) -> web.Response:
    api = Api(request)
    async with request.app[ENGINE].connect() as conn:
        row = await store.get_env(conn, request.match_info["name"])
    if row is None:
        raise ApiError(404, "Env not found.")
    return ok(env_item(api, row))


@routes.put("/api/env/{name}/")
@api_handler
async def put_env(request: web.Request) -> web.Response:
    api = Api(request)
    body = await body_fields(request, BODY, {"name": 255})
    name = request.match_info["name"]
    if body["name"] != name:
        raise ApiError(400, "The name of an env entry cannot be changed!")
    async with request.app[ENGINE].begin() as conn:
        if await store.get_env(conn, name) is None:
            raise ApiError(404, "Env not found.")
        row = await store.put_env(conn, name, body["value"])
    return ok(changed_response(env_item(api, row)))


@routes.delete("/api/env/{name}/")
@api_handler
async def delete_env(request: web.Request) -> web.Response:
    api = Api(request)
    name = request.match_info["name"]
    async with request.app[ENGINE].begin() as conn:
        await store.delete_env(conn, name)
    return ok(deleted_response(_self(api, name), _links(api, name), env_collection_link(api)))
