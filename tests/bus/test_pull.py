"""``Puller``: the first message before the probe, never a wait for a full batch, a request
ended by the server (not by a client timer), error statuses raised, stragglers kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, StreamConfig

from qhana.bus import pull, start_nats_server
from qhana.bus.pull import Puller, pull_batch
from qhana.errors import BusUnavailable

NEXT = "$JS.API.CONSUMER.MSG.NEXT.T.c"


@pytest.fixture
async def nc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    # a request must end by the server's status: a client-side wait this long fails the test
    monkeypatch.setattr(pull, "_MARGIN_S", 60.0)
    async with start_nats_server(tmp_path / "js") as server:
        client = await nats.connect(server.url)
        js = client.jetstream()
        await js.add_stream(StreamConfig(name="T", subjects=["t.>"]))
        await js.add_consumer("T", ConsumerConfig(durable_name="c"))
        try:
            yield client
        finally:
            await client.close()


class _CountingRequests:
    """Counts the pull requests a client sends (wraps ``publish``)."""

    def __init__(self, nc: Client, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[dict[str, Any]] = []
        publish = nc.publish

        async def counting(subject: str, payload: bytes = b"", **kwargs: Any) -> None:
            if subject == NEXT:
                self.sent.append(orjson.loads(payload))
            await publish(subject, payload, **kwargs)

        monkeypatch.setattr(nc, "publish", counting)


async def test_first_message_is_taken_before_the_probe(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the probe's own 1 ms lets a loaded machine miss a message that is there; a wider
    # window keeps "the probe takes what is there" a property, not a race
    monkeypatch.setattr(pull, "_PROBE_S", 0.2)
    requests = _CountingRequests(nc, monkeypatch)
    puller = await Puller(nc, "T", "c").start()
    taken: list[tuple[bytes, int]] = []

    def take(msg: Msg) -> None:
        taken.append((msg.data, len(requests.sent)))

    async with asyncio.timeout(10):
        assert await puller.pull(5, 0.05, take) == 0  # nothing there: the server's 408 ends it
        for n in range(3):
            await nc.jetstream().publish("t.x", str(n).encode())
        requests.sent.clear()
        assert await puller.pull(5, 1.0, take) == 3  # ended by the probe's 404, not a full batch
    # the first before the second request (the probe) was sent, the rest after it
    assert taken == [(b"0", 1), (b"1", 2), (b"2", 2)]
    assert requests.sent[0]["batch"] == 1 and "no_wait" not in requests.sent[0]
    assert requests.sent[1]["batch"] == 4 and requests.sent[1]["no_wait"] is True
    assert await puller.close() == []


async def test_a_failing_probe_keeps_what_was_taken(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    puller = await Puller(nc, "T", "c").start()
    await nc.jetstream().publish("t.x", b"first")
    await nc.jetstream().publish("t.x", b"second")  # pending behind the first: a probe
    request = puller._request
    calls = 0

    async def failing_second(wanted: int, expires_s: float, *, no_wait: bool) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise BusUnavailable("gone")
        await request(wanted, expires_s, no_wait=no_wait)

    monkeypatch.setattr(puller, "_request", failing_second)
    async with asyncio.timeout(10):
        msgs = await pull_batch(puller, 5, 1.0)
    assert [m.data for m in msgs] == [b"first"] and calls == 2
    await puller.close()


async def test_no_probe_after_a_message_with_nothing_pending(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = _CountingRequests(nc, monkeypatch)
    puller = await Puller(nc, "T", "c").start()
    js = nc.jetstream()
    async with asyncio.timeout(10):
        await js.publish("t.x", b"lone")
        assert [m.data for m in await pull_batch(puller, 5, 1.0)] == [b"lone"]
        assert [r["batch"] for r in requests.sent] == [1]  # the first request only
        for n in range(2):
            await js.publish("t.x", str(n).encode())
        requests.sent.clear()
        # "0" has "1" pending behind it: the probe takes it in the same pull
        assert [m.data for m in await pull_batch(puller, 5, 1.0)] == [b"0", b"1"]
        assert [r["batch"] for r in requests.sent] == [1, 4]
    assert await puller.close() == []


async def test_an_error_status_is_raised(nc: Client) -> None:
    missing = await Puller(nc, "T", "no-such-consumer").start()
    async with asyncio.timeout(10):
        with pytest.raises(BusUnavailable, match="503"):
            await missing.pull(1, 5.0, lambda _msg: None)
    await missing.close()


async def test_late_deliveries_are_taken_first_and_handed_over_on_close(nc: Client) -> None:
    js = nc.jetstream()
    for n in range(3):
        await js.publish("t.x", str(n).encode())
    puller = await Puller(nc, "T", "c").start()
    # as a request the client stopped waiting for: its messages arrive with none open
    await nc.publish(NEXT, b'{"batch": 2}', reply=f"{puller._inbox}.late")
    async with asyncio.timeout(10):
        while len(puller._ready) < 2:  # delivered, not taken
            await asyncio.sleep(0.01)
        first = await pull_batch(puller, 1, 1.0)
        assert [m.data for m in first] == [b"0"]  # from the earlier request, no new one
        left = await puller.close()
    assert [m.data for m in left] == [b"1"]
    await left[0].ack_sync()
    info = await js.consumer_info("T", "c")
    # "0" taken (not acked yet), "1" acked, "2" still there: nothing lost or taken twice
    assert info.num_ack_pending == 1 and info.num_pending == 1
