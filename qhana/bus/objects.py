"""Writing a *new* object into an Object Store bucket in two round trips.

``ObjectStore.put`` of nats-py first asks for the object's current info (a JetStream API
request that, for a new name, ends in a NotFound error), then publishes each chunk and the
meta message one after the other. Task outputs always get a fresh, unique object name, so
the look-up is useless: here the chunks are published without waiting in between, their
acks awaited together, then the meta message (the object only becomes visible with it, so a
reader never sees a half-written object). The stored layout is exactly nats-py's (and Go's):
``ObjectStore.get`` and ``nats object get`` read it back unchanged.

Small outputs skip the Object Store: their bytes travel inline in the ``output`` event
(``FileRef.inline``). ``load_output`` finds that event by its stream sequence (the file id of
``/files/<id>/``) and ``read_file`` returns a file's bytes from wherever they live.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from datetime import UTC, datetime
from hashlib import sha256

from nats.js import JetStreamContext
from nats.js.api import ObjectInfo, ObjectMetaOptions
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore
from pydantic import ValidationError

from qhana.bus import subjects
from qhana.errors import BusUnavailable
from qhana.wire import Failed, FileRef, Output, Succeeded, parse_event

__all__ = ["load_output", "put_new_object", "read_file"]

CHUNK_BYTES = 128 * 1024  # nats-py's and Go's default chunk size


async def put_new_object(
    js: JetStreamContext, bucket: str, name: str, data: bytes, *, timeout_s: float = 10.0
) -> ObjectInfo:
    """Store ``data`` as object ``name`` (which must not exist yet) in ``bucket``."""
    nuid = uuid.uuid4().hex
    chunk_subject = f"$O.{bucket}.C.{nuid}"
    stream = f"OBJ_{bucket}"
    digest = sha256(data).digest()
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
    info = ObjectInfo(
        name=name,
        bucket=bucket,
        nuid=nuid,
        size=len(data),
        chunks=len(chunks),
        mtime=datetime.now(UTC).isoformat(),
        digest="SHA-256=" + base64.urlsafe_b64encode(digest).decode(),
        options=ObjectMetaOptions(max_chunk_size=CHUNK_BYTES),
    )
    meta_subject = f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"
    try:
        async with asyncio.timeout(timeout_s):
            acks = [await js.publish_async(chunk_subject, chunk) for chunk in chunks]
            await asyncio.gather(*acks)
            await js.publish(
                meta_subject,
                json.dumps(info.as_dict()).encode(),
                timeout=timeout_s,
                headers={"Nats-Rollup": "sub"},
            )
    except Exception as exc:
        with contextlib.suppress(Exception):
            await js.purge_stream(stream, subject=chunk_subject)
        raise BusUnavailable(f"storing object {name!r} in {bucket} failed: {exc}") from exc
    return info


async def load_output(js: JetStreamContext, seq: int) -> Output | None:
    """The ``output`` event at stream sequence ``seq`` of ``QHANA_EVENTS`` (a file id), or
    the output folded into the ending event stored there.

    None when there is no such message (never written, or aged out of the stream) or it is
    not an output event; other NATS errors propagate.
    """
    try:
        raw = await js.get_msg(subjects.EVENTS_STREAM, seq)
    except NotFoundError:
        return None
    try:
        event = parse_event(raw.data or b"")
    except ValidationError:
        return None
    if isinstance(event, Succeeded | Failed):  # an output folded into the ending event
        return event.output
    return event if isinstance(event, Output) else None


async def read_file(store: ObjectStore, ref: FileRef) -> bytes:
    """The bytes of a file: inline in its event, or the object ``ref.object_name``."""
    if ref.inline is not None:
        return ref.inline
    result = await store.get(ref.object_name)
    return bytes(result.data or b"")
