"""``/api/services/``: named external endpoints (the UI looks up ``qhana-backend``)."""

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
    new_response,
)
from qhana.edge.registry_api.paging import Collection, page_args, page_response, sort_items

__all__ = ["routes"]

routes = web.RouteTableDef()

SERVICES = Collection(
    path="/services/",
    resource_type="service",
    default_sort="service_id",
    sort_keys=frozenset({"id", "service_id"}),
    action_rel=("create", "post"),
)
BODY = {
    "serviceId": (str, True),
    "name": (str, True),
    "description": (str, True),
    "url": (str, True),
}


def _self(api: Api, row: dict[str, Any]) -> Link:
    return api.link(
        f"/services/{row['service_id']}/",
        "service",
        key={"serviceId": row["service_id"]},
        schema="Service",
        name=row["name"],
    )


def _links(api: Api, row: dict[str, Any]) -> list[Link]:
    key = {"serviceId": row["service_id"]}
    path = f"/services/{row['service_id']}/"
    return [
        SERVICES.first_link(api, "up"),
        api.link(path, "service", ["update", "put"], key=key),
        api.link(path, "service", ["delete"], key=key),
    ]


def service_item(api: Api, row: dict[str, Any]) -> dict[str, Any]:
    data = {
        "self": _self(api, row),
        "serviceId": row["service_id"],
        "name": row["name"],
        "description": row["description"],
        "url": row["url"],
    }
    return {"links": _links(api, row), "data": data}


def _values(body: dict[str, Any]) -> dict[str, str]:
    return {
        "service_id": body["serviceId"],
        "name": body["name"],
        "description": body["description"],
        "url": body["url"],
    }


@routes.get("/api/services/")
@api_handler
async def list_services(request: web.Request) -> web.Response:
    api = Api(request)
    args = page_args(request.query, SERVICES, ("service-id",))
    async with request.app[ENGINE].connect() as conn:
        rows = await store.list_services(conn)
    if raw := request.query.get("service-id"):
        wanted = {s.strip() for s in raw.split(",")}
        rows = [r for r in rows if r["service_id"] in wanted]
    keys = {"id": lambda r: r["id"], "service_id": lambda r: r["service_id"]}
    rows = sort_items(rows, args.sort, keys)
    return ok(page_response(api, SERVICES, args, [service_item(api, r) for r in rows]))


@routes.post("/api/services/")
@api_handler
async def create_service(request: web.Request) -> web.Response:
    api = Api(request)
    values = _values(await body_fields(request, BODY, {"serviceId": 255, "name": 255}))
    async with request.app[ENGINE].begin() as conn:
        row = await store.add_service(conn, values)
    if row is None:
        raise ApiError(409, f"Service id '{values['service_id']}' is already used!")
    links = [api.root_link(["up"]), SERVICES.action_link(api)]
    return ok(new_response(SERVICES.first_link(api), links, service_item(api, row)))


@routes.get("/api/services/{service_id}/")
@api_handler
async def get_service(request: web.Request) -> web.Response:
    api = Api(request)
    async with request.app[ENGINE].connect() as conn:
        row = await store.get_service(conn, request.match_info["service_id"])
    if row is None:
        raise ApiError(404, "Service not found.")
    return ok(service_item(api, row))


@routes.put("/api/services/{service_id}/")
@api_handler
async def put_service(request: web.Request) -> web.Response:
    api = Api(request)
    values = _values(await body_fields(request, BODY, {"serviceId": 255, "name": 255}))
    if values["service_id"] != request.match_info["service_id"]:
        raise ApiError(400, "The service id cannot be changed!")
    async with request.app[ENGINE].begin() as conn:
        if await store.get_service(conn, values["service_id"]) is None:
            raise ApiError(404, "Service not found.")
        row = await store.update_service(conn, values)
    assert row is not None
    return ok(changed_response(service_item(api, row)))


@routes.delete("/api/services/{service_id}/")
@api_handler
async def delete_service(request: web.Request) -> web.Response:
    api = Api(request)
    service_id = request.match_info["service_id"]
    async with request.app[ENGINE].begin() as conn:
        row = await store.get_service(conn, service_id)
        await store.delete_service(conn, service_id)
    row = row or {"service_id": service_id, "name": service_id}
    return ok(deleted_response(_self(api, row), _links(api, row), SERVICES.first_link(api)))
