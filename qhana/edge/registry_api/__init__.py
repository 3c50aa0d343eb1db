"""The registry HTTP API under ``/api/`` (spec: shared/spec/registry-api.md)."""

from __future__ import annotations

from aiohttp import web

from qhana.edge.registry_api import (
    env,
    plugins,
    recommendations,
    root,
    seeds,
    services,
    spec,
    tabs,
    templates,
)

__all__ = ["ROUTE_TABLES"]

ROUTE_TABLES: tuple[web.RouteTableDef, ...] = (
    root.routes,
    plugins.routes,
    seeds.routes,
    services.routes,
    env.routes,
    templates.routes,
    tabs.routes,
    recommendations.routes,
    spec.routes,
)
