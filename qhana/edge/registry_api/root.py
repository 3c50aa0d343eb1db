"""``GET /api/``: where the QHAna UI starts (nav links with rel ``api`` are prefetched)."""

from __future__ import annotations

from aiohttp import web

from qhana.edge.registry_api.env import env_collection_link
from qhana.edge.registry_api.errors import api_handler, ok
from qhana.edge.registry_api.links import Api, response
from qhana.edge.registry_api.plugin_view import PLUGINS
from qhana.edge.registry_api.seeds import SEEDS
from qhana.edge.registry_api.services import SERVICES
from qhana.edge.registry_api.template_json import TEMPLATES

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/api/")
@api_handler
async def api_root(request: web.Request) -> web.Response:
    api = Api(request)
    links = [
        SEEDS.first_link(api, "nav", "api"),
        SERVICES.first_link(api, "nav", "api"),
        env_collection_link(api, "nav", "api"),
        PLUGINS.first_link(api, "nav", "api"),
        api.link(
            "/recommendations/",
            "plugin-recommendation",
            ["collection", "nav", "api"],
            schema="RecommendationCollection",
        ),
        TEMPLATES.first_link(api, "nav", "api"),
    ]
    data = {"self": api.root_link(), "title": "RAMP Registry API"}
    return ok(response(data, links))
