"""The aiohttp application of the edge: routes, middlewares, and its resources."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.bus import connect
from qhana.db.engine import create_engine
from qhana.edge import custom_ui, routes_files, routes_plugins, routes_root, routes_tasks
from qhana.edge.auth import setup_auth
from qhana.edge.catalogue_cache import CatalogueCache
from qhana.edge.event_cache import EventCache
from qhana.edge.group_commit import GroupCommit
from qhana.edge.keys import CATALOGUE, CLOSING, COMMITS, ENGINE, EVENT_CACHE, NATS, SETTINGS
from qhana.edge.metrics import setup_metrics
from qhana.edge.middleware import edge_middleware
from qhana.edge.openapi import setup_openapi
from qhana.edge.registry_api import ROUTE_TABLES as REGISTRY_ROUTES
from qhana.metrics import Metrics
from qhana.settings import Settings

__all__ = ["create_app"]

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    settings: Settings,
    *,
    nc: Client | None = None,
    engine: AsyncEngine | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    """Build the edge. Resources not handed in are opened in ``cleanup_ctx`` and closed there."""
    app = web.Application(
        # CORS, JSON errors, size limits, auth, slash redirects: one layer (middleware.py)
        middlewares=[edge_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    setup_auth(app, settings)  # optional JWT verification (qhana/edge/auth.py)
    app[CLOSING] = asyncio.Event()

    async def _closing(app: web.Application) -> None:
        app[CLOSING].set()  # ends open event streams so shutdown does not wait for them

    app.on_shutdown.append(_closing)

    async def _resources(app: web.Application) -> AsyncIterator[None]:
        own_nc = nc is None
        own_engine = engine is None
        app[NATS] = nc or await connect(settings.nats, "qhana-edge")
        app[ENGINE] = engine or create_engine(settings.database_url)
        app[CATALOGUE] = CatalogueCache(app[ENGINE])
        app[COMMITS] = GroupCommit(app[ENGINE])
        # follows events only while SSE is used (QHANA_SSE_EVENT_CACHE=false: never)
        app[EVENT_CACHE] = EventCache(app[NATS], enabled=settings.sse_event_cache)
        await app[CATALOGUE].follow(app[NATS])
        try:
            yield
        finally:
            await app[EVENT_CACHE].close()
            await app[CATALOGUE].unfollow()
            if own_nc:
                await app[NATS].drain()
            if own_engine:
                await app[ENGINE].dispose()

    app.cleanup_ctx.append(_resources)
    for module in (routes_root, routes_plugins, routes_tasks, routes_files, custom_ui):
        app.router.add_routes(module.routes)
    for table in REGISTRY_ROUTES:  # the registry API under /api/
        app.router.add_routes(table)
    setup_metrics(app, metrics)  # /metrics and HTTP latency
    setup_openapi(app)  # /api-spec.json and /swagger-ui/ (after every route is added)
    app.router.add_static("/static/", STATIC_DIR)
    return app
