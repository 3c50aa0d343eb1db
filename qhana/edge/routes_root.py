"""``/`` (API root, as upstream), ``/healthz`` and ``/readyz``."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami import docs, response_schema
from sqlalchemy import text

from qhana.edge.api_schemas import RootSchema
from qhana.edge.keys import ENGINE, NATS
from qhana.edge.responses import json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/")
@docs(tags=["api-root"], summary="API root: the title only (as upstream)")
@response_schema(RootSchema, 200)
async def api_root(_: web.Request) -> web.Response:
    return json_response({"title": "QHAna plugin runner api."})


@routes.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    nats_ok = request.app[NATS].is_connected
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:
        db_ok = False
    body = {"nats": "ok" if nats_ok else "down", "database": "ok" if db_ok else "down"}
    return json_response(body, status=200 if nats_ok and db_ok else 503)
