"""``/api/plugins/``: the live catalogue as registry resources."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web

from qhana.bus import subjects
from qhana.db.catalogue import list_catalogue
from qhana.db.registry_store import get_tab
from qhana.edge.keys import ENGINE, NATS
from qhana.edge.registry_api.errors import ApiError, api_handler, ok, parse_int, unprocessable
from qhana.edge.registry_api.links import Api
from qhana.edge.registry_api.paging import page_args, page_response, sort_items
from qhana.edge.registry_api.plugin_query import FILTER_KEYS, parse_plugin_query, version_key
from qhana.edge.registry_api.plugin_view import PLUGINS, PluginView, plugin_item, views
from qhana.edge.registry_api.tab_filter import FilterError, parse_filter

__all__ = ["load_views", "routes"]

routes = web.RouteTableDef()

SORT_KEYS = {
    "id": lambda v: v.id,
    "name": lambda v: v.name,
    "version": lambda v: version_key(v.version),
}


async def load_views(request: web.Request, api: Api) -> list[PluginView]:
    async with request.app[ENGINE].connect() as conn:
        entries = await list_catalogue(conn, include_unavailable=True)
    return views(entries, api.origin)


@routes.get("/api/plugins/")
@api_handler
async def list_plugins(request: web.Request) -> web.Response:
    api = Api(request)
    now = datetime.now(UTC)
    args = page_args(request.query, PLUGINS, FILTER_KEYS)
    query = parse_plugin_query(request.query, now)
    if query.template_tab is not None:
        async with request.app[ENGINE].connect() as conn:
            tab = await get_tab(conn, query.template_tab)
        try:
            query.tab_expr = parse_filter(tab["filter_string"]) if tab else None
        except FilterError:
            query.tab_expr = None
    chosen = sort_items(query.apply(await load_views(request, api)), args.sort, SORT_KEYS)
    items = [plugin_item(api, view, now) for view in chosen]
    return ok(page_response(api, PLUGINS, args, items))


@routes.post("/api/plugins/")
@api_handler
async def rediscover(request: web.Request) -> web.Response:
    """Asks the seed bridge to poll one plugin URL again (204, as upstream)."""
    url = request.query.get("url")
    if not url:
        raise unprocessable("query", {"url": ["Missing data for required field."]})
    payload = json.dumps({"url": url}).encode()
    await request.app[NATS].publish(subjects.SEED_POLL, payload)
    return web.Response(status=204)


@routes.get("/api/plugins/{plugin_id}/")
@api_handler
async def get_plugin(request: web.Request) -> web.Response:
    api = Api(request)
    plugin_id = parse_int(request.match_info["plugin_id"], "plugin id")
    for view in await load_views(request, api):
        if view.id == plugin_id:
            return ok(plugin_item(api, view))
    raise ApiError(404, "Plugin not found.")
