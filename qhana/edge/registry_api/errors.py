"""Client errors of the registry API (always 4xx JSON in the flask-smorest shape, never 500)."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from qhana.edge.responses import error_response, json_response

__all__ = ["MAX_ID", "ApiError", "api_handler", "body_fields", "ok", "parse_int", "unprocessable"]

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


MAX_ID = 2**31 - 1  # ids are SQL INTEGERs: larger numbers can never match


def parse_int(raw: str, what: str) -> int:
    """A decimal path id; anything else is 400 (as upstream); too large is 404."""
    if not raw.isdecimal():
        raise ApiError(400, f"The {what} is in the wrong format!")
    if int(raw) > MAX_ID:
        raise ApiError(404, f"Unknown {what}.")
    return int(raw)


def _value_error(kind: type, value: Any, max_len: int | None) -> str | None:
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        return f"Not a valid {kind.__name__}."
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        return "Not a valid list of strings."
    if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
        return "Number out of range."
    if isinstance(value, str) and max_len is not None and len(value) > max_len:
        return f"Longer than maximum length {max_len}."
    return None


async def body_fields(
    request: web.Request,
    spec: Mapping[str, tuple[type, bool]],
    max_length: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A JSON object with exactly the fields of ``spec`` (name -> (type, required)); else 422.

    ``max_length`` bounds string lengths (column sizes); ints must fit an SQL INTEGER.
    """
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise unprocessable("json", {"_schema": ["Invalid JSON body."]}) from None
    if not isinstance(body, dict):
        raise unprocessable("json", {"_schema": ["Invalid input type."]})
    errors = {key: ["Unknown field."] for key in body if key not in spec}
    for key, (kind, required) in spec.items():
        if key not in body:
            if required:
                errors[key] = ["Missing data for required field."]
        elif body[key] is not None or required:
            problem = _value_error(kind, body[key], (max_length or {}).get(key))
            if problem:
                errors[key] = [problem]
    if errors:
        raise unprocessable("json", errors)
    return dict(body)
