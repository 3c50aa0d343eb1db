"""``/api/seeds/``: runner URLs polled by the seed bridge (for unmodified upstream runners)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from qhana.bus import subjects
from qhana.db import registry_store as store
from qhana.edge.keys import ENGINE, NATS
from qhana.edge.registry_api.errors import ApiError, api_handler, body_fields, ok, parse_int
from qhana.edge.registry_api.links import Api, Link, deleted_response, new_response
from qhana.edge.registry_api.paging import Collection, page_args, page_response, sort_items

__all__ = ["SEEDS", "routes"]

routes = web.RouteTableDef()

SEEDS = Collection(
    path="/seeds/",
    resource_type="seed",
    default_sort="id",
    sort_keys=frozenset({"id", "url"}),
    action_rel=("create", "post"),
)


def _self(api: Api, row: dict[str, Any]) -> Link:
    return api.link(
        f"/seeds/{row['id']}/",
        "seed",
        key={"seedId": str(row["id"])},
        schema="Seed",
        name=row["url"],
    )


def _links(api: Api, row: dict[str, Any]) -> list[Link]:
    delete = {**_self(api, row), "rel": ["delete"]}
    delete.pop("name", None)
    delete.pop("schema", None)
    return [SEEDS.first_link(api, "up"), delete]


def seed_item(api: Api, row: dict[str, Any]) -> dict[str, Any]:
    return {"links": _links(api, row), "data": {"self": _self(api, row), "url": row["url"]}}


@routes.get("/api/seeds/")
@api_handler
async def list_seeds(request: web.Request) -> web.Response:
    api = Api(request)
    args = page_args(request.query, SEEDS, ())
    async with request.app[ENGINE].connect() as conn:
        rows = await store.list_seeds(conn)
    rows = sort_items(rows, args.sort, {"id": lambda r: r["id"], "url": lambda r: r["url"]})
    return ok(page_response(api, SEEDS, args, [seed_item(api, r) for r in rows]))


@routes.post("/api/seeds/")
@api_handler
async def create_seed(request: web.Request) -> web.Response:
    api = Api(request)
    body = await body_fields(request, {"url": (str, True)}, {"url": 1024})
    async with request.app[ENGINE].begin() as conn:
        row = await store.add_seed(conn, body["url"])
    if row is None:
        raise ApiError(409, f"URL {body['url']} is already used!")
    await request.app[NATS].publish(subjects.SEED_POLL, json.dumps({"url": row["url"]}).encode())
    links = [api.root_link(["up"]), SEEDS.action_link(api)]
    return ok(new_response(SEEDS.first_link(api), links, seed_item(api, row)))


@routes.get("/api/seeds/{seed_id}/")
@api_handler
async def get_seed(request: web.Request) -> web.Response:
    api = Api(request)
    seed_id = parse_int(request.match_info["seed_id"], "seed id")
    async with request.app[ENGINE].connect() as conn:
        row = await store.get_seed(conn, seed_id)
    if row is None:
        raise ApiError(404, "Seed not found.")
    return ok(seed_item(api, row))


@routes.delete("/api/seeds/{seed_id}/")
@api_handler
async def delete_seed(request: web.Request) -> web.Response:
    """Deletes the seed; the bridge withdraws its plugins (fixes upstream's 500, spec §9.1)."""
    api = Api(request)
    seed_id = parse_int(request.match_info["seed_id"], "seed id")
    async with request.app[ENGINE].begin() as conn:
        row = await store.delete_seed(conn, seed_id)
    row = row or {"id": seed_id, "url": ""}
    if row["url"]:
        payload = json.dumps({"url": row["url"], "deleted": True}).encode()
        await request.app[NATS].publish(subjects.SEED_POLL, payload)
    return ok(deleted_response(_self(api, row), _links(api, row), SEEDS.first_link(api)))
