"""Runner API: ``GET /files/<id>/?file-id=<token>``.

A file's bytes live in the Object Store, or (small outputs) inline in its ``output`` event,
read by stream sequence: the file id. SQL (``task_files``) holds only the metadata.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import quote

from aiohttp import web
from aiohttp_apigami import docs, match_info_schema, querystring_schema, response_schema

from qhana.bus import subjects
from qhana.bus.connection import require_connected
from qhana.bus.objects import load_output
from qhana.db.engine import run_read
from qhana.db.task_views import FileView, load_file
from qhana.edge.api_schemas import ErrorSchema, FileIdPathSchema, FileQuerySchema
from qhana.edge.ids import path_id
from qhana.edge.keys import ENGINE, NATS
from qhana.edge.responses import error_response, validation_error

__all__ = ["routes"]

routes = web.RouteTableDef()


def _disposition(name: str) -> str:
    if name.isascii():
        return f'inline; filename="{name}"' if " " in name else f"inline; filename={name}"
    return f"inline; filename*=UTF-8''{quote(name)}"


@routes.get(r"/files/{file_id:\d+}/")
@docs(
    tags=["files"],
    summary="Download a task file (the file-id token is required)",
    responses={200: {"description": "the file's bytes", "content": {"*/*": {}}}},
)
@match_info_schema(FileIdPathSchema)
@querystring_schema(FileQuerySchema)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 422)
@response_schema(ErrorSchema, 416)
async def get_file(request: web.Request) -> web.Response:
    token = request.query.get("file-id")
    if token is None:
        return validation_error("query", {"file-id": ["Missing data for required field."]})
    file_id = path_id(request, "file_id", "File not found.")
    file = await run_read(request.app[ENGINE], load_file, file_id)
    if file is None or not hmac.compare_digest(file.token.encode(), token.encode()):
        return error_response(404, "File not found.")
    etag = f'"{file.token[:16]}-{file.id}"'  # outputs never change: a stable validator
    if etag in (t.strip() for t in request.headers.get("If-None-Match", "").split(",")):
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    if file.content is None:
        require_connected(request.app[NATS])  # 503 at once while NATS is away
    data = await _file_bytes(request, file)
    if data is None:  # an inline output whose event has aged out of QHANA_EVENTS
        return error_response(404, "File not found.")
    content_type = file.content_type or "application/octet-stream"
    headers = {
        "Content-Disposition": _disposition(file.name),
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "ETag": etag,
        "Accept-Ranges": "bytes",
    }
    status = 200
    if (span := _range(request.headers.get("Range"), len(data))) is not None:
        start, end = span
        if start >= len(data) or start > end:
            headers = {"Content-Range": f"bytes */{len(data)}"}
            return error_response(416, "Range not satisfiable.", headers=headers)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        data, status = data[start : end + 1], 206
    if content_type.startswith("text/html") or "xml" in content_type:
        # an HTML output must not script the edge's origin
        headers["Content-Security-Policy"] = "sandbox"
    charset = (
        "utf-8" if content_type.startswith("text/") and "charset" not in content_type else None
    )
    return web.Response(
        body=data,
        status=status,
        content_type=content_type.split(";")[0],
        charset=charset,
        headers=headers,
    )


async def _file_bytes(request: web.Request, file: FileView) -> bytes | None:
    if file.content is not None:  # an inline output, kept in SQL by the recorder
        return file.content
    js = request.app[NATS].jetstream()
    if not file.object_name:  # inline, projected before SQL kept the bytes: the event has them
        event = await load_output(js, file.id)
        if event is None or event.file.inline is None:
            return None
        return event.file.inline
    store = await js.object_store(subjects.FILES_BUCKET)
    result = await store.get(file.object_name)
    return bytes(result.data or b"")


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` / ``a-`` / ``-n`` range as inclusive (start, end); None: whole file."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        return max(size - int(last), 0), size - 1
    return int(first), min(int(last), size - 1) if last else size - 1
