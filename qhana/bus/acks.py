"""What the hot paths read from a JetStream message's ack subject, without ``msg.metadata``.

``Msg.metadata`` builds three dataclasses and a datetime per message: py-spy put it at
~3 % of the edge (the SSE event cache) and ~1 % of the recorder and the worker under load,
which only need the stream sequence and the delivery count. The ack subject carries both:
``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>``, or
with domain and account hash (``$JS.ACK.<domain>.<hash>.<stream>...``, 11+ tokens).
"""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

__all__ = ["delivery", "pending", "stream_seq"]

_V1_TOKENS = 9  # no domain, no account hash
_V2_MIN_TOKENS = 11  # a trailing random token may follow


def _tokens(msg: Msg) -> tuple[list[str], int]:
    """The subject's tokens and the index of the ``delivered`` token."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) >= _V1_TOKENS and tokens[0] == "$JS" and tokens[1] == "ACK":
        if len(tokens) == _V1_TOKENS:
            return tokens, 4
        if len(tokens) >= _V2_MIN_TOKENS:
            return tokens, 6
    raise NotJSMessageError


def stream_seq(msg: Msg) -> int:
    """The message's sequence in its stream (``msg.metadata.sequence.stream``)."""
    tokens, delivered = _tokens(msg)
    return int(tokens[delivered + 1])


def delivery(msg: Msg) -> tuple[int, int]:
    """Stream sequence and delivery count (``msg.metadata``'s ``sequence.stream`` and
    ``num_delivered``)."""
    tokens, delivered = _tokens(msg)
    return int(tokens[delivered + 1]), int(tokens[delivered])


def pending(msg: Msg) -> int:
    """Messages the consumer still had to deliver after this one (``num_pending``)."""
    tokens, delivered = _tokens(msg)
    return int(tokens[delivered + 4])
