"""Integer ids in URL paths (``/tasks/<int>/``, ``/files/<int>/``): too large means unknown."""

from __future__ import annotations

from aiohttp import web

__all__ = ["MAX_ID", "path_id"]

MAX_ID = 2**63 - 1  # BIGINT: larger ids cannot exist, and SQL drivers would overflow


def path_id(request: web.Request, name: str, not_found: str) -> int:
    """The integer path parameter ``name``; 404 with ``not_found`` when it cannot exist."""
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise web.HTTPNotFound(reason=not_found)
    return value
