"""A message handed back (NAK) just before the server stops comes again at once after the
restart, not only after ``ack_wait``: the NAK carries a delay, which the consumer stores
(a plain NAK lives in the server's memory only; ``qhana up`` stops its server right after
its worker hands back the commands a late pull delivered)."""

from __future__ import annotations

from pathlib import Path

import nats
from nats.js.api import ConsumerConfig, StreamConfig

from qhana.bus import start_nats_server
from qhana.worker.outcome import Redeliver, settle_message

ACK_WAIT_S = 120.0  # far beyond the test's wait: only the handed-back delay can bring it


async def test_a_handed_back_message_survives_a_server_restart(tmp_path: Path) -> None:
    store = tmp_path / "js"
    async with start_nats_server(store) as server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="T", subjects=["t.>"], retention="workqueue"))
        await js.add_consumer("T", ConsumerConfig(durable_name="c", ack_wait=ACK_WAIT_S))
        await js.publish("t.x", b"command")
        sub = await js.pull_subscribe_bind(durable="c", stream="T")
        (msg,) = await sub.fetch(1, timeout=5)
        await settle_message(msg, Redeliver(0))  # as a stopping worker returns a straggler
        # a PING/PONG: the server has read the NAK before it is stopped, as a worker's
        # drain makes sure (close() only writes it; a run here timed out waiting for it)
        await nc.flush()
        await nc.close()
    async with start_nats_server(store) as server:
        nc = await nats.connect(server.url)
        try:
            sub = await nc.jetstream().pull_subscribe_bind(durable="c", stream="T")
            (again,) = await sub.fetch(1, timeout=5)
            assert again.data == b"command" and again.metadata.num_delivered == 2
        finally:
            await nc.close()
