"""Reading a processing request's form body: values, and uploads into the Object Store."""

from __future__ import annotations

import re
import uuid

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from nats.js.object_store import ObjectStore

from qhana.edge.keys import SETTINGS
from qhana.edge.limits import read_part_capped
from qhana.edge.validation import FormValues
from qhana.wire import FileRef

__all__ = ["read_form"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def secure_filename(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name.replace(" ", "_")).strip("._")
    return cleaned or "upload"


async def read_form(
    request: web.Request, store: ObjectStore | None, upload_keys: frozenset[str]
) -> tuple[FormValues, dict[str, FileRef]]:
    """Form values of a urlencoded or multipart body; files of ``upload_keys`` are stored.

    A body that is not a well-formed form is a 400, never a 500.
    """
    try:
        return await _read_form(request, store, upload_keys)
    except (HttpProcessingError, ValueError, AssertionError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(reason="The request body is not a valid form.") from exc


async def _read_form(
    request: web.Request, store: ObjectStore | None, upload_keys: frozenset[str]
) -> tuple[FormValues, dict[str, FileRef]]:
    values: dict[str, list[str]] = {}
    files: dict[str, FileRef] = {}
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                if part.name in upload_keys and store is not None and part.filename:
                    limit = request.app[SETTINGS].max_upload_bytes
                    data = await read_part_capped(part, limit)  # 413 over the limit
                    name = secure_filename(part.filename)
                    object_name = f"uploads/{uuid.uuid4().hex}/{name}"
                    await store.put(object_name, bytes(data))
                    content_type = part.headers.get("Content-Type", "application/octet-stream")
                    files[part.name] = FileRef(
                        object_name=object_name,
                        name=name,
                        content_type=content_type,
                        size=len(data),
                    )
                else:
                    await part.release()
                continue
            values.setdefault(part.name, []).append(await part.text())
        return values, files
    if request.content_type in ("application/x-www-form-urlencoded", "") and request.can_read_body:
        post = await request.post()
        for key in post:
            values[key] = [str(v) for v in post.getall(key)]
    return values, files
