"""``GET /api/api-spec.json``: a small OpenAPI 3 document of the registry API.

It lists every route and method and defines the component schemas the ``schema`` fields of
links point at (``.../api-spec.json#/components/schemas/<Name>``), so those links resolve.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from qhana.edge.registry_api.errors import ok
from qhana.edge.registry_api.links import Api

__all__ = ["routes"]

routes = web.RouteTableDef()

PATHS: dict[str, tuple[str, ...]] = {
    "/": ("get",),
    "/plugins/": ("get", "post"),
    "/plugins/{pluginId}/": ("get",),
    "/seeds/": ("get", "post"),
    "/seeds/{seedId}/": ("get", "delete"),
    "/services/": ("get", "post"),
    "/services/{serviceId}/": ("get", "put", "delete"),
    "/env/": ("get", "post"),
    "/env/{envId}/": ("get", "put", "delete"),
    "/templates/": ("get", "post"),
    "/templates/{uiTemplateId}/": ("get", "put", "delete"),
    "/templates/{uiTemplateId}/tabs/": ("get", "post"),
    "/templates/{uiTemplateId}/tabs/{uiTemplateTabId}/": ("get", "put", "delete"),
    "/recommendations/": ("get",),
}
SCHEMAS = (
    "Root",
    "Plugin",
    "CursorPage",
    "Seed",
    "Service",
    "Env",
    "Template",
    "TemplateTab",
    "TemplateGroup",
    "RecommendationCollection",
)


def _operation(path: str, method: str) -> dict[str, Any]:
    params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return {
        "summary": f"{method.upper()} {path}",
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ],
        "responses": {"200": {"description": "ApiResponse (links, data, embedded)"}},
    }


@routes.get("/api/api-spec.json")
async def api_spec(request: web.Request) -> web.Response:
    api = Api(request)
    return ok(
        {
            "openapi": "3.0.2",
            "info": {"title": "RAMP Registry API", "version": "v1"},
            "servers": [{"url": api.base}],
            "paths": {
                path: {m: _operation(path, m) for m in methods} for path, methods in PATHS.items()
            },
            "components": {
                "schemas": {
                    name: {"type": "object", "additionalProperties": True} for name in SCHEMAS
                }
            },
        }
    )
