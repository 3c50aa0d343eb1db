"""Typed application keys: every long-lived resource of the edge lives here, not in globals."""

from __future__ import annotations

import asyncio

from aiohttp import web
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.edge.catalogue_cache import CatalogueCache
from qhana.edge.event_cache import EventCache
from qhana.edge.group_commit import GroupCommit
from qhana.metrics import Metrics
from qhana.settings import Settings

__all__ = [
    "CATALOGUE",
    "CLOSING",
    "COMMITS",
    "ENGINE",
    "EVENT_CACHE",
    "METRICS",
    "NATS",
    "SETTINGS",
]

SETTINGS = web.AppKey("settings", Settings)
NATS = web.AppKey("nats", Client)
ENGINE = web.AppKey("engine", AsyncEngine)
CATALOGUE = web.AppKey("catalogue", CatalogueCache)
COMMITS = web.AppKey("commits", GroupCommit)
EVENT_CACHE = web.AppKey("event_cache", EventCache)  # recent task events for SSE
CLOSING = web.AppKey("closing", asyncio.Event)
METRICS = web.AppKey("metrics", Metrics)
