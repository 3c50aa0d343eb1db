"""Handing a subscription's messages to a plain function, straight from nats-py's read loop.

nats-py passes each message of a callback subscription through an ``asyncio.Queue`` to a
task of that subscription, which awaits the callback: a queue put, a task wake-up and a
coroutine per message. For busy subscriptions whose handlers are short and never await
(pull deliveries, publish acks, the edge's event cache), :func:`deliver_directly` swaps
that queue for an object that calls the handler at once.

It relies on nats-py 2.x internals (``Subscription._pending_queue``,
``_wait_for_msgs_task`` and ``_pending_size``; ``Client._resp_sub_prefix``,
``_resp_map`` and ``_subs`` for the request mux). Where they differ it changes nothing,
logs ``nats.direct_unsupported`` once per subscription, and the subscription keeps
working the usual way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from qhana.logging import get_logger

__all__ = ["deliver_directly", "direct_responses"]

log = get_logger("qhana.bus")

Handler = Callable[[Msg], None]


class _Direct:
    """Stands in for a callback subscription's pending queue: ``put_nowait`` delivers.

    Only what nats-py uses of that queue once the subscription's task is stopped: the
    read loop's ``put_nowait``, and ``qsize``/``empty``/``join``/``task_done`` of
    ``pending_msgs``, ``drain`` and ``unsubscribe`` (nothing ever waits here)."""

    __slots__ = ("_handle", "_sub")

    def __init__(self, sub: Subscription, handle: Handler) -> None:
        self._sub = sub
        self._handle = handle

    def put_nowait(self, msg: Msg) -> None:
        self._sub._pending_size -= len(msg.data)  # the read loop added it before the put
        try:
            self._handle(msg)
        except Exception:  # the read loop must go on: a handler's bug is logged, not raised
            log.exception("nats.handler_failed", subject=msg.subject)

    def qsize(self) -> int:
        return 0

    def empty(self) -> bool:
        return True

    def task_done(self) -> None:
        return None

    async def join(self) -> None:
        return None


def deliver_directly(sub: Subscription, handle: Handler) -> bool:
    """From now on ``handle`` gets each message of ``sub`` (a callback subscription) inside
    the read loop, in order; messages already queued go to it first. ``handle`` must be
    quick and must not raise for a message it expects. False (nothing changed) where
    nats-py's internals are not the ones this was written for."""
    inner = getattr(sub, "_sub", None)  # a JetStream PushSubscription wraps (copies) one
    if isinstance(inner, Subscription):
        sub = inner
    queued = getattr(sub, "_pending_queue", None)
    task = getattr(sub, "_wait_for_msgs_task", None)
    if (
        not isinstance(queued, asyncio.Queue)
        or not isinstance(task, asyncio.Task)
        or not isinstance(getattr(sub, "_pending_size", None), int)
    ):
        log.warning("nats.direct_unsupported", subject=sub.subject)
        return False
    direct = _Direct(sub, handle)
    sub._pending_queue = direct  # type: ignore[assignment]
    # the task only ever waits in the old queue's get (our callbacks never await): no
    # message is in its hands when it is cancelled
    task.cancel()
    while not queued.empty():
        direct.put_nowait(queued.get_nowait())
    return True


async def direct_responses(nc: Client) -> bool:
    """Resolve the futures of nats-py's request mux (``nc.request`` and JetStream API
    calls, and the publish acks of ``qhana.bus.publish``) inside the read loop."""
    if not all(hasattr(nc, name) for name in ("_resp_sub_prefix", "_resp_map", "_subs")):
        log.warning("nats.direct_unsupported", subject="request mux")
        return False
    if not nc._resp_sub_prefix:
        await nc._init_request_sub()
    prefix = nc._resp_sub_prefix
    if not prefix:  # closed meanwhile
        return False
    mux = prefix.decode() + "*"
    sub = next((s for s in list(nc._subs.values()) if s.subject == mux), None)
    if sub is None:
        log.warning("nats.direct_unsupported", subject=mux)
        return False
    cut = len(prefix)
    responses: dict[str, asyncio.Future[Msg]] = nc._resp_map

    def _respond(msg: Msg) -> None:  # nats-py's _request_sub_callback, without the task
        future = responses.get(msg.subject[cut:])
        if future is not None and not future.done():
            future.set_result(msg)

    return deliver_directly(sub, _respond)
