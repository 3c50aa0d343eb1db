"""``deliver_directly`` and ``direct_responses``: messages reach a plain function inside the
read loop, in order, none lost (also those queued before the swap), drain and unsubscribe
still work, a failing handler does not stop the next message, and where nats-py's
internals differ nothing changes."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy, StreamConfig

from qhana.bus.direct import _Direct, deliver_directly, direct_responses
from qhana.bus.publish import _acked_publish

pytestmark = pytest.mark.timeout(30)

# Each test publishes and subscribes with one client (the shared ``nc`` fixture): the server
# then has its SUB before the PUBs that follow it (a second connection's PUBs may come
# first, seen).


async def _never(msg: Msg) -> None:
    raise AssertionError(f"the queued path got {msg.data!r}")


class _Collect:
    def __init__(self, expected: int) -> None:
        self.got: list[bytes] = []
        self.expected = expected
        self.all = asyncio.get_running_loop().create_future()

    def __call__(self, msg: Msg) -> None:
        self.got.append(msg.data)
        if len(self.got) == self.expected and not self.all.done():
            self.all.set_result(None)


async def test_messages_queued_before_and_sent_after_the_swap_arrive_in_order(
    nc: Client,
) -> None:
    collect = _Collect(200)
    sub = await nc.subscribe("d.*", cb=_never)
    # let messages pile up in the subscription's queue first: its task is swapped for one
    # that never reads, as if the swap came while they were waiting there
    sub._wait_for_msgs_task.cancel()  # type: ignore[union-attr]
    sub._wait_for_msgs_task = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
    for n in range(100):
        await nc.publish("d.x", str(n).encode())
    await nc.flush()
    async with asyncio.timeout(10):  # delivered after the flush's PONG, not before (seen)
        while sub.pending_msgs < 100:
            await asyncio.sleep(0.005)
    assert sub.pending_msgs == 100
    assert deliver_directly(sub, collect)
    assert isinstance(sub._pending_queue, _Direct)
    assert collect.got == [str(n).encode() for n in range(100)]
    for n in range(100, 200):
        await nc.publish("d.x", str(n).encode())
    await nc.flush()
    await asyncio.wait_for(collect.all, 10)
    assert collect.got == [str(n).encode() for n in range(200)]
    assert sub.pending_msgs == 0 and sub.pending_bytes == 0
    await sub.drain()  # type: ignore[no-untyped-call]  # returns: nothing is ever queued


async def test_a_failing_handler_does_not_stop_the_next_message(
    nc: Client,
) -> None:
    collect = _Collect(2)

    def handle(msg: Msg) -> None:
        if msg.data == b"bad":
            raise ValueError("a bug in the handler")
        collect(msg)

    sub = await nc.subscribe("d.*", cb=_never)
    assert deliver_directly(sub, handle)
    for data in (b"1", b"bad", b"2"):
        await nc.publish("d.x", data)
    await nc.flush()
    await asyncio.wait_for(collect.all, 10)
    assert collect.got == [b"1", b"2"]
    await sub.unsubscribe()
    await nc.publish("d.x", b"after")
    await nc.flush()
    assert collect.got == [b"1", b"2"]


async def test_a_jetstream_push_subscription_delivers_through_its_inner_subscription(
    nc: Client,
) -> None:
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="D", subjects=["d.>"]))
    collect = _Collect(50)
    psub = await nc.jetstream().subscribe(
        "d.>", stream="D", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW, cb=_never
    )
    assert deliver_directly(psub, collect)
    for n in range(50):
        await js.publish("d.x", str(n).encode())
    await asyncio.wait_for(collect.all, 10)
    assert collect.got == [str(n).encode() for n in range(50)]
    await psub.unsubscribe()


async def test_requests_and_publish_acks_are_answered_through_the_direct_mux(
    nc: Client,
) -> None:
    assert await direct_responses(nc)
    mux = next(s for s in nc._subs.values() if s.subject.endswith(".*"))
    assert isinstance(mux._pending_queue, _Direct)

    async def echo(msg: Msg) -> None:
        await msg.respond(b"re:" + msg.data)

    await nc.subscribe("echo", cb=echo)  # the same client: the server has its SUB first
    answers = await asyncio.gather(*(nc.request("echo", str(n).encode()) for n in range(20)))
    assert [a.data for a in answers] == [f"re:{n}".encode() for n in range(20)]
    await nc.jetstream().add_stream(StreamConfig(name="A", subjects=["a.>"]))
    seqs = [await _acked_publish(nc, "a.x", b"x", f"id-{n}", 5.0) for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert not nc._resp_map  # every answered request left the map


async def test_other_internals_change_nothing(nc: Client) -> None:
    sub = await nc.subscribe("d.*")  # no callback: an iterator, no task to replace
    assert not deliver_directly(sub, lambda msg: None)
    assert isinstance(sub._pending_queue, asyncio.Queue)
    await nc.publish("d.x", b"still")
    await nc.flush()
    assert (await sub.next_msg(timeout=5)).data == b"still"
