"""Waiting until a JetStream consumer has settled everything (nothing pending, nothing unacked).

JetStream has no event for "this consumer is idle", so this is a bounded poll of its info.
"""

from __future__ import annotations

import asyncio

import nats


async def consumer_idle(
    nats_url: str, stream: str, durable: str, *, timeout_s: float = 30, poll_s: float = 0.05
) -> None:
    """Return once ``durable`` on ``stream`` has no pending and no unacked message."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        async with asyncio.timeout(timeout_s):
            while True:
                info = await js.consumer_info(stream, durable)
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return
                await asyncio.sleep(poll_s)
    finally:
        await nc.close()
