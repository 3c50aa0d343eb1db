"""Request size limits with clear JSON answers (413 in the upstream error shape).

``QHANA_MAX_BODY_BYTES`` bounds every request body (aiohttp's ``client_max_size`` for bodies
read whole, and a ``Content-Length`` check before anything is read);
``QHANA_MAX_UPLOAD_BYTES`` bounds each uploaded file of a multipart form (read in chunks).
"""

from __future__ import annotations

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from qhana.edge.keys import SETTINGS
from qhana.edge.responses import error_response

__all__ = ["UploadTooLarge", "limits_middleware", "read_part_capped"]


class UploadTooLarge(web.HTTPRequestEntityTooLarge):
    """An uploaded file is over ``QHANA_MAX_UPLOAD_BYTES``."""

    def __init__(self, limit: int) -> None:
        super().__init__(max_size=limit, actual_size=limit + 1)
        self.limit = limit


def _too_large(what: str, limit: int) -> web.Response:
    return error_response(413, f"The {what} is larger than the limit of {limit} bytes.")


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[SETTINGS].max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        return _too_large("request body", limit)
    try:
        return await handler(request)
    except UploadTooLarge as exc:
        return _too_large("uploaded file", exc.limit)
    except web.HTTPRequestEntityTooLarge:
        return _too_large("request body", limit)


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
