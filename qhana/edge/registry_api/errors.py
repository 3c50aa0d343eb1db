"""Client errors of the registry API (always 4xx JSON in the flask-smorest shape, never 500)."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from qhana.edge.responses import error_response, json_response

__all__ = ["ApiError", "api_handler", "body_fields", "ok", "parse_int", "unprocessable"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, message: str | None = None, **extra: Any) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        return error_response(self.status, self.message, **self.extra)


def unprocessable(location: str, errors: Mapping[str, list[str]]) -> ApiError:
    return ApiError(422, errors={location: dict(errors)})


def api_handler(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    return wrapped


def ok(body: dict[str, Any]) -> web.Response:
    return json_response(body)


def parse_int(raw: str, what: str) -> int:
    """A decimal path id; anything else is 400 (as upstream)."""
    if not raw.isdecimal():
        raise ApiError(400, f"The {what} is in the wrong format!")
    return int(raw)


async def body_fields(
    request: web.Request, spec: Mapping[str, tuple[type, bool]]
) -> dict[str, Any]:
    """A JSON object with exactly the fields of ``spec`` (name -> (type, required)); else 422."""
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise unprocessable("json", {"_schema": ["Invalid JSON body."]}) from None
    if not isinstance(body, dict):
        raise unprocessable("json", {"_schema": ["Invalid input type."]})
    errors: dict[str, list[str]] = {}
    for key in body:
        if key not in spec:
            errors[key] = ["Unknown field."]
    for key, (kind, required) in spec.items():
        if key not in body:
            if required:
                errors[key] = ["Missing data for required field."]
            continue
        value = body[key]
        if value is None and not required:
            continue
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            errors[key] = [f"Not a valid {kind.__name__}."]
        elif isinstance(value, list) and not all(isinstance(v, str) for v in value):
            errors[key] = ["Not a valid list of strings."]
    if errors:
        raise unprocessable("json", errors)
    return dict(body)
