"""Handing a JetStream message back for redelivery (a NAK) so that it survives a restart.

A plain NAK puts the message in the consumer's redelivery queue, which only the server's
memory holds: stop the server right after (``qhana up`` stops its embedded nats-server last)
and the restarted server finds the message still pending, so it comes again only once
``ack_wait`` has passed since its delivery. A NAK with a delay moves the pending entry's
deadline instead, and that is stored with the consumer. So every NAK carries at least a
millisecond of delay.
"""

from __future__ import annotations

from nats.aio.msg import Msg

__all__ = ["MIN_DELAY_S", "hand_back"]

MIN_DELAY_S = 0.001


async def hand_back(msg: Msg, delay_s: float = 0.0) -> None:
    """NAK ``msg``: delivered again after ``delay_s`` (at least ``MIN_DELAY_S``)."""
    await msg.nak(delay=max(delay_s, MIN_DELAY_S))
