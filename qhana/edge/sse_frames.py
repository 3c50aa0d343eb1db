"""Stored task events as Server-Sent Events frames, for one SSE stream."""

from __future__ import annotations

from typing import Any

import orjson

from qhana.wire import EventKind

__all__ = ["SseFrames"]

_ACCEPTED = EventKind.ACCEPTED.value


def _unfold(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The events folded into ``event`` (``qhana.wire.unfold``), in order, taken out of it:
    a started's ``accepted``; an ending event's ``started`` (unfolded in turn) and
    ``output``."""
    parts: list[dict[str, Any]] = []
    for key in ("accepted", "started", "output"):
        part = event.pop(key, None)
        if isinstance(part, dict):
            parts.extend((*_unfold(part), part))
    return parts


class SseFrames:
    """The frames of one stream's events, each written once.

    An event with events folded into it is written as those events first, each in a frame
    of its own without an ``id`` (a client resuming by ``Last-Event-ID`` gets the whole
    message again), then the event itself with ``id: seq``. So an SSE client sees the same
    events whether or not the worker folded them. ``accepted`` is stored twice for most
    tasks (the edge's, and the copy folded into the worker's ``started``): the first one
    is written, the other skipped."""

    def __init__(self) -> None:
        self.last_seq = 0  # stream sequence of the last event written (0: none)
        self._accepted = False

    def frames(self, seq: int, data: bytes) -> tuple[bytes, str] | None:
        """The frames of the event stored at ``seq`` and its kind; None if it was written
        already (a handover replays from an earlier point)."""
        if seq <= self.last_seq:
            return None
        self.last_seq = seq
        event = orjson.loads(data)
        kind = str(event.get("kind", "message"))
        if not self._first(kind):
            return b"", kind
        folded = _unfold(event)
        if not folded:
            return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), data), kind
        frames = [
            b"event: %s\ndata: %s\n\n" % (part_kind.encode(), orjson.dumps(part))
            for part in folded
            if self._first(part_kind := str(part.get("kind")))
        ]
        rest = orjson.dumps(event)
        frames.append(b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), rest))
        return b"".join(frames), kind

    def _first(self, kind: str) -> bool:
        """Whether an event of ``kind`` is to be written: False for a second ``accepted``."""
        if kind != _ACCEPTED:
            return True
        written, self._accepted = self._accepted, True
        return not written
