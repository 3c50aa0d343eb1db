"""Low-latency batch pulls from a durable JetStream pull consumer, one wait per request.

A pull blocks for the first message, then takes whatever else is there without waiting for
more (``fetch(n, timeout)`` waits for the *whole* batch once it lingers, which would add up
to ``timeout`` of latency to every message of an idle consumer). The first message goes to
``take`` before the probe for more is sent, so a worker starts a lone command at once. A
message the server sent with nothing pending behind it (``num_pending`` 0 in its ack
subject) needs no probe: at a low rate, one request and one message per message, not two.

A :class:`Puller` sends the ``CONSUMER.MSG.NEXT`` requests itself and subscribes once, with
a callback, to an inbox of its own: the messages a request brings land in a local queue,
and a request is waited for once, until it got all it asked for or the server ends it with
a status on that request's own reply subject. nats-py's ``PullSubscription.fetch`` awaits
each message through ``Subscription.next_msg`` (a task, ``asyncio.wait_for`` and a uuid4 per
message) and follows an empty probe with one more lingering request: a 16-message pull cost
43 against 16 µs of CPU per message here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NotJSMessageError
from nats.js.api import Header

from qhana.bus.acks import pending
from qhana.bus.direct import deliver_directly
from qhana.errors import BusUnavailable

__all__ = ["Puller", "pull_batch"]

# the probe's expiry: with ``expires`` the server ends a no-wait request even when the
# consumer's max_ack_pending is reached (no_wait alone then stays open, seen: ~100 ms)
_PROBE_S = 0.001
# beyond a request's expiry the client stops waiting for its end (a server that went away
# never sends it); what the request brought later is taken by the next pull
_MARGIN_S = 1.0
_HEARTBEAT = "100"
_ENDS = frozenset({"404", "408"})  # no messages now / the request expired


class _Request:
    __slots__ = ("done", "error", "got", "reply", "wanted")

    def __init__(self, reply: str, wanted: int, done: asyncio.Future[None]) -> None:
        self.reply = reply
        self.wanted = wanted
        self.got = 0
        self.done = done
        self.error: BusUnavailable | None = None

    def end(self, error: BusUnavailable | None = None) -> None:
        if not self.done.done():
            self.error = error
            self.done.set_result(None)


class Puller:
    """Pulls batches of one durable consumer (``start`` first, ``close`` at the end)."""

    def __init__(self, nc: Client, stream: str, consumer: str) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = ""
        self._sub: Subscription | None = None
        self._ready: deque[Msg] = deque()
        self._open: _Request | None = None
        self._tokens = itertools.count()

    async def start(self) -> Puller:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_msg_cb)
        deliver_directly(self._sub, self._on_msg)
        return self

    async def close(self) -> list[Msg]:
        """Stop taking deliveries; returns those delivered but not taken yet (stragglers of
        a request that outlived its client-side wait), for the caller to settle."""
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):  # closed or draining connection
                await sub.drain()  # type: ignore[no-untyped-call]  # all sent reach _on_msg
        left = list(self._ready)
        self._ready.clear()
        return left

    async def _on_msg_cb(self, msg: Msg) -> None:  # used only where deliver_directly cannot
        self._on_msg(msg)

    def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get(Header.STATUS) if headers and not msg.data else None
        request = self._open
        if status is None:
            self._ready.append(msg)
            if request is not None:
                request.got += 1
                if request.got >= request.wanted:
                    request.end()
            return
        if status == _HEARTBEAT or request is None or msg.subject != request.reply:
            return  # the end of an earlier request, already given up on
        if status in _ENDS:
            request.end()
        else:  # 409 consumer deleted / leadership change, 503 no responders, ...
            reason = headers.get(Header.DESCRIPTION, "") if headers else ""
            request.end(BusUnavailable(f"pull from {self._next}: {status} {reason}".strip()))

    def _take(self, limit: int, take: Callable[[Msg], None]) -> int:
        taken = 0
        while taken < limit and self._ready:
            take(self._ready.popleft())
            taken += 1
        return taken

    async def _request(self, wanted: int, expires_s: float, *, no_wait: bool) -> None:
        """Ask for up to ``wanted`` messages; returns when the server ended the request, it
        brought them all, or it is ``_MARGIN_S`` past its expiry (raises on an error status)."""
        loop = asyncio.get_running_loop()
        request = _Request(f"{self._inbox}.{next(self._tokens)}", wanted, loop.create_future())
        body: dict[str, object] = {"batch": wanted, "expires": int(expires_s * 1e9)}
        if no_wait:
            body["no_wait"] = True
        self._open = request
        timer = loop.call_later(expires_s + _MARGIN_S, request.end)
        try:
            await self._nc.publish(self._next, orjson.dumps(body), reply=request.reply)
            await request.done
        finally:
            timer.cancel()
            if self._open is request:
                self._open = None
        if request.error is not None:
            raise request.error

    async def pull(self, batch: int, wait_s: float, take: Callable[[Msg], None]) -> int:
        """Up to ``batch`` messages to ``take``: waits at most ``wait_s`` for the first, never
        for the rest (probed for only if the first had others pending behind it). Returns
        how many were taken; a failing probe ends the pull with what was taken (the next
        pull sees the error)."""
        taken = self._take(batch, take)  # delivered late to an earlier request
        if not taken:
            await self._request(1, wait_s, no_wait=False)
            lone = len(self._ready) == 1 and _nothing_behind(self._ready[0])
            taken = self._take(batch, take)
            if not taken:
                return 0
            if lone:  # the consumer had nothing more when it sent this one: no probe
                return taken
        if taken < batch:
            taken += await self.probe(batch - taken, take)
        return taken

    async def probe(self, batch: int, take: Callable[[Msg], None]) -> int:
        """Up to ``batch`` messages the consumer has now (the server waits ~1 ms at most).
        Never raises: trouble ends the probe with what it took, the next pull sees it."""
        taken = self._take(batch, take)
        if taken < batch:
            try:
                await self._request(batch - taken, _PROBE_S, no_wait=True)
            except Exception:  # the caller keeps what it has
                return taken
            taken += self._take(batch - taken, take)
        return taken


def _nothing_behind(msg: Msg) -> bool:
    """The consumer had no other message to deliver when it delivered ``msg``
    (``num_pending`` 0; redeliveries that fall due are not counted: the next pull gets them)."""
    try:
        return pending(msg) == 0
    except (NotJSMessageError, IndexError, ValueError):
        return False


async def pull_batch(puller: Puller, batch: int, wait_s: float) -> list[Msg]:
    """``Puller.pull`` collecting into a list."""
    msgs: list[Msg] = []
    await puller.pull(batch, wait_s, msgs.append)
    return msgs
