"""``/api/recommendations/``: computed synchronously from the live catalogue.

Only the current-data recommender of upstream is implemented: a plugin scores the share of
its required inputs that the given ``data-type``/``content-type`` satisfies. ``experiment``,
``step`` and ``timeout`` are accepted and ignored (no QHAna backend lookups).
"""

from __future__ import annotations

from aiohttp import web

from qhana.edge.registry_api.errors import api_handler, ok, unprocessable
from qhana.edge.registry_api.links import Api, response
from qhana.edge.registry_api.plugin_query import mime_match
from qhana.edge.registry_api.plugin_view import PluginView, plugin_self
from qhana.edge.registry_api.plugins import load_views

__all__ = ["routes"]

routes = web.RouteTableDef()

_RECOMMENDABLE = ("processing", "conversion")


def _score(view: PluginView, data_type: str, content_type: str) -> float:
    required = [d for d in view.entry.info.data_input if d.required]
    if not required:
        return 0.0
    matched = sum(
        1
        for d in required
        if mime_match(data_type, d.data_type)
        and any(mime_match(content_type, c) for c in d.content_type)
    )
    return min(1.0, matched / len(required))


def _limit(raw: str | None) -> int:
    if raw is None:
        return 5
    if not raw.isdecimal() or not 1 <= int(raw) <= 100:
        raise unprocessable("query", {"limit": ["Must be between 1 and 100."]})
    return int(raw)


@routes.get("/api/recommendations/")
@api_handler
async def recommendations(request: web.Request) -> web.Response:
    api = Api(request)
    limit = _limit(request.query.get("limit"))
    data_type = request.query.get("data-type")
    content_type = request.query.get("content-type")
    scored: list[tuple[float, PluginView]] = []
    if data_type or content_type:
        for view in await load_views(request, api):
            if view.available and view.type in _RECOMMENDABLE:
                score = _score(view, data_type or "*", content_type or "*")
                if score > 0:
                    scored.append((score, view))
    scored.sort(key=lambda s: (-s[0], s[1].name, s[1].id))
    scored = scored[:limit]
    data = {
        "self": api.link(
            "/recommendations/",
            "plugin-recommendation",
            ["collection"],
            schema="RecommendationCollection",
        ),
        "collectionSize": len(scored),
        "items": [plugin_self(api, v) for _, v in scored],
        "weights": [s for s, _ in scored],
    }
    return ok(response(data, [api.root_link(["up"])]))
