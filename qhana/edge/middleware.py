"""The edge's middleware: CORS, JSON errors (never a stack trace), 503 while NATS or the
database is away (with ``Retry-After``), request size limits, JWT auth and slash redirects.

They run in one coroutine (``edge_middleware``) rather than as five aiohttp middlewares: each
middleware layer is a coroutine frame and a call through a ``functools.partial`` on every
request (py-spy: ~1.5 % of a task submission's CPU for the four extra layers). The order is
that of the five: CORS outermost, then errors, limits, auth, slash.
"""

from __future__ import annotations

import nats.errors
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import InterfaceError, OperationalError

from qhana.edge.auth import auth_refusal
from qhana.edge.keys import SETTINGS
from qhana.edge.limits import length_refusal, too_large_answer
from qhana.edge.responses import error_response
from qhana.edge.urls import path_prefix
from qhana.errors import BusUnavailable
from qhana.logging import get_logger

__all__ = ["edge_middleware"]

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
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS around JSON errors around size limits, auth and slash redirects, around ``handler``.

    ``Access-Control-Allow-Origin: *`` everywhere; a pre-flight (or a plain ``OPTIONS`` of a
    route, as Flask answers it) is answered here without running anything else.
    """
    if request.method == "OPTIONS" and (answer := _options_answer(request)) is not None:
        response: web.StreamResponse = answer
    else:
        try:
            refused = _refusal(request)
            if refused is not None:
                response = refused
            else:
                if not request.path.endswith("/") and request.match_info.http_exception is not None:
                    await _redirect_if_slashed(request)
                response = await handler(request)
        except Exception as exc:
            error = _error_answer(request, exc)
            if error is None:  # a redirect raised (never a body of ours): aiohttp sends it
                if isinstance(exc, web.HTTPException):
                    exc.headers["Access-Control-Allow-Origin"] = "*"
                raise
            response = error
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _options_answer(request: web.Request) -> web.Response | None:
    """The answer to a CORS pre-flight or to a plain ``OPTIONS`` of a route, else None."""
    if "Access-Control-Request-Method" in request.headers:
        response = web.Response(status=200)
        requested = request.headers.get("Access-Control-Request-Headers")
        if requested:
            response.headers["Access-Control-Allow-Headers"] = requested
        response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
        return response
    if allowed := _allowed_methods(request):
        # as Flask does: a plain OPTIONS of a route answers 200 with its methods
        return web.Response(status=200, headers={"Allow": ", ".join(sorted(allowed))})
    return None


def _allowed_methods(request: web.Request) -> set[str]:
    exc = request.match_info.http_exception
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return {*exc.allowed_methods, "OPTIONS"}
    if exc is None:
        return {
            route.method for route in request.match_info.route.resource or () if route.method != "*"
        } | {"OPTIONS"}
    return set()


def _refusal(request: web.Request) -> web.Response | None:
    """413 for a body over the limit, then 401 for a missing or bad token; None: go on."""
    refused = length_refusal(request)
    return auth_refusal(request) if refused is None else refused


async def _redirect_if_slashed(request: web.Request) -> None:
    """An unmatched path without its trailing slash gets 308 to the slashed one (method and
    body kept) when that one exists."""
    match = await request.app.router.resolve(
        request.clone(rel_url=request.rel_url.with_path(request.path + "/"))
    )
    if match.http_exception is None:
        prefix = path_prefix(request, request.app[SETTINGS])  # behind a path proxy
        location = request.rel_url.with_path(prefix + request.path + "/", keep_query=True)
        raise web.HTTPPermanentRedirect(str(location))


def _error_answer(request: web.Request, exc: Exception) -> web.Response | None:
    """Every error as ``{"code", "status", "message"}`` JSON; None for an HTTP exception
    under 400 (a redirect), which is raised on."""
    if (too_large := too_large_answer(request, exc)) is not None:
        return too_large
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        message = exc.reason if exc.reason and exc.reason != _default_reason(exc.status) else None
        response = error_response(exc.status, message)
        for key in ("Allow", "Retry-After"):
            if key in exc.headers:
                response.headers[key] = exc.headers[key]
        return response
    if isinstance(exc, (BusUnavailable, *_NATS_AWAY)):
        log.warning("edge.nats_unavailable", path=request.path, error=str(exc))
        return error_response(
            503, "The message bus is unavailable; retry shortly.", headers={"Retry-After": "2"}
        )
    if isinstance(exc, (OperationalError, InterfaceError, ConnectionError)):
        log.warning("edge.database_unavailable", path=request.path, error=str(exc)[:200])
        return error_response(
            503, "The database is unavailable; retry shortly.", headers={"Retry-After": "2"}
        )
    log.exception("edge.unhandled", path=request.path, method=request.method)
    return error_response(500)


def _default_reason(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase
