"""Request size limits with clear JSON answers (413 in the upstream error shape).

``QHANA_MAX_BODY_BYTES`` bounds every request body (aiohttp's ``client_max_size`` for bodies
read whole, and a ``Content-Length`` check before anything is read);
``QHANA_MAX_UPLOAD_BYTES`` bounds each uploaded file of a multipart form (read in chunks).

The checks run in ``qhana.edge.middleware.edge_middleware``: ``length_refusal`` before the
handler, ``too_large_answer`` for what the handler raised.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from qhana.edge.keys import SETTINGS
from qhana.edge.responses import error_response

__all__ = ["UploadTooLarge", "length_refusal", "read_part_capped", "too_large_answer"]


class UploadTooLarge(web.HTTPRequestEntityTooLarge):
    """An uploaded file is over ``QHANA_MAX_UPLOAD_BYTES``."""

    def __init__(self, limit: int) -> None:
        super().__init__(max_size=limit, actual_size=limit + 1)
        self.limit = limit


def _too_large(what: str, limit: int) -> web.Response:
    return error_response(413, f"The {what} is larger than the limit of {limit} bytes.")


def length_refusal(request: web.Request) -> web.Response | None:
    """413 for a ``Content-Length`` over ``QHANA_MAX_BODY_BYTES`` (nothing read yet)."""
    length = request.content_length
    if length is None:
        return None
    limit = request.app[SETTINGS].max_body_bytes
    return _too_large("request body", limit) if length > limit else None


def too_large_answer(request: web.Request, exc: Exception) -> web.Response | None:
    """413 for a file over ``QHANA_MAX_UPLOAD_BYTES`` or a body over aiohttp's
    ``client_max_size``; None for any other exception."""
    if isinstance(exc, UploadTooLarge):
        return _too_large("uploaded file", exc.limit)
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return _too_large("request body", request.app[SETTINGS].max_body_bytes)
    return None


async def read_part_capped(part: BodyPartReader, limit: int) -> bytes:
    """The whole part, or ``UploadTooLarge`` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(limit)
        chunks.append(bytes(chunk))
    return b"".join(chunks)
