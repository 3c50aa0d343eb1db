"""Low-latency batch pulls from a JetStream pull consumer.

``PullSubscription.fetch(n, timeout)`` waits for the *whole* batch once it is lingering, so
an idle consumer would add up to ``timeout`` of latency to every message. Instead: block for
the first message, then take whatever else is already there without waiting for more.
"""

from __future__ import annotations

from collections.abc import Callable

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext

__all__ = ["pull_batch", "pull_into"]

# nats-py sends the probe with ``expires``, so the server lets it linger when nothing else is
# waiting: the probe's length is added to every message of an idle consumer (5 ms made a
# lone task start 5-7 ms late). Messages that arrive after it are taken by the next pull.
_PROBE_S = 0.001


async def pull_batch(
    sub: JetStreamContext.PullSubscription, batch: int, wait_s: float
) -> list[Msg]:
    """Up to ``batch`` messages: waits at most ``wait_s`` for the first, never for the rest
    (``pull_into`` collecting into a list)."""
    msgs: list[Msg] = []
    await pull_into(sub, batch, wait_s, msgs.append)
    return msgs


async def pull_into(
    sub: JetStreamContext.PullSubscription, batch: int, wait_s: float, take: Callable[[Msg], None]
) -> int:
    """``pull_batch`` for a consumer that starts work per message: the first message goes to
    ``take`` before the probe for more, so a lone message is not held back by the probe's
    ~1 ms (nats-py sends it with ``expires``, so the server lingers). Returns how many were
    taken; a failing probe ends the pull with what was taken (the next pull sees the error)."""
    try:
        first: list[Msg] = await sub.fetch(1, timeout=wait_s)
    except (NatsTimeout, TimeoutError):
        return 0
    for msg in first:
        take(msg)
    taken = len(first)
    if batch > 1:
        try:
            more: list[Msg] = await sub.fetch(batch - 1, timeout=_PROBE_S)
        except Exception:  # nothing more (timeout) or NATS trouble: keep what was taken
            return taken
        for msg in more:
            take(msg)
        taken += len(more)
    return taken
