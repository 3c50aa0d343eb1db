"""Edge middlewares: CORS, slash redirects, JSON errors (never a stack trace), 503 while NATS or
the database is away (with ``Retry-After``)."""

from __future__ import annotations

import nats.errors
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import InterfaceError, OperationalError

from qhana.edge.keys import SETTINGS
from qhana.edge.responses import error_response
from qhana.edge.urls import path_prefix
from qhana.errors import BusUnavailable
from qhana.logging import get_logger

__all__ = ["cors_middleware", "errors_middleware", "slash_middleware"]

log = get_logger("qhana.edge")

_CORS_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"

# NATS is away (or reconnecting): the request may succeed if retried shortly
_NATS_AWAY = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.TimeoutError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Access-Control-Allow-Origin: *`` everywhere; pre-flight answered for every path."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=200)
        requested = request.headers.get("Access-Control-Request-Headers")
        if requested:
            response.headers["Access-Control-Allow-Headers"] = requested
        response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
    elif request.method == "OPTIONS" and (allowed := _allowed_methods(request)):
        # as Flask does: a plain OPTIONS of a route answers 200 with its methods
        response = web.Response(status=200, headers={"Allow": ", ".join(sorted(allowed))})
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers["Access-Control-Allow-Origin"] = "*"
            raise
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _allowed_methods(request: web.Request) -> set[str]:
    exc = request.match_info.http_exception
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return {*exc.allowed_methods, "OPTIONS"}
    if exc is None:
        return {
            route.method for route in request.match_info.route.resource or () if route.method != "*"
        } | {"OPTIONS"}
    return set()


@web.middleware
async def slash_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path without its trailing slash gets 308 to the slashed one (method and body kept)."""
    if not request.path.endswith("/") and request.match_info.http_exception is not None:
        match = await request.app.router.resolve(
            request.clone(rel_url=request.rel_url.with_path(request.path + "/"))
        )
        if match.http_exception is None:
            prefix = path_prefix(request, request.app[SETTINGS])  # behind a path proxy
            location = request.rel_url.with_path(prefix + request.path + "/", keep_query=True)
            raise web.HTTPPermanentRedirect(str(location))
    return await handler(request)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as ``{"code", "status", "message"}`` JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason if exc.reason and exc.reason != _default_reason(exc.status) else None
        response = error_response(exc.status, message)
        for key in ("Allow", "Retry-After"):
            if key in exc.headers:
                response.headers[key] = exc.headers[key]
        return response
    except (BusUnavailable, *_NATS_AWAY) as exc:
        log.warning("edge.nats_unavailable", path=request.path, error=str(exc))
        return error_response(
            503, "The message bus is unavailable; retry shortly.", headers={"Retry-After": "2"}
        )
    except (OperationalError, InterfaceError, ConnectionError) as exc:
        log.warning("edge.database_unavailable", path=request.path, error=str(exc)[:200])
        return error_response(
            503, "The database is unavailable; retry shortly.", headers={"Retry-After": "2"}
        )
    except Exception:
        log.exception("edge.unhandled", path=request.path, method=request.method)
        return error_response(500)


def _default_reason(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase
