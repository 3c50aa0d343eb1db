"""One stored task event as Server-Sent Events frames."""

from __future__ import annotations

import orjson

__all__ = ["sse_frames"]

_FOLDED = ("started", "output")


def sse_frames(seq: int, data: bytes) -> tuple[bytes, str]:
    """The frames of the event stored at ``seq``, and its kind.

    An ending event with events folded into it (``qhana.wire.unfold``) is written as those
    events first, each in a frame of its own without an ``id`` (a client resuming by
    ``Last-Event-ID`` gets the whole message again), then the ending event with ``id: seq``.
    So an SSE client sees the same events whether or not the worker folded them."""
    event = orjson.loads(data)
    kind = str(event.get("kind", "message"))
    folded = [event.pop(key) for key in _FOLDED if event.get(key) is not None]
    if not folded:
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), data), kind
    frames = [
        b"event: %s\ndata: %s\n\n" % (str(part["kind"]).encode(), orjson.dumps(part))
        for part in folded
    ]
    frames.append(b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), orjson.dumps(event)))
    return b"".join(frames), kind
