"""The raw JetStream ceiling: a task round trip in one Python process, no HTTP, no SQL.

One round trip = publish a task message (awaited PubAck), fetch it from a pull consumer,
publish one event (awaited PubAck), ack the task message. Producers and the consumer run
concurrently in one process against the stack's own nats-server, on throw-away streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

__all__ = ["raw_ceiling"]


async def _produce(js: JetStreamContext, subject: str, count: int, clients: int) -> None:
    payload = b'{"plugin":"hello-world@v0-2-1","params":{"inputStr":"bench input"}}'
    counter = iter(range(count))

    async def _client() -> None:
        for i in counter:
            await js.publish(subject, payload, headers={"Nats-Msg-Id": f"raw-{i}"})

    await asyncio.gather(*(_client() for _ in range(clients)))


async def _consume(
    js: JetStreamContext, sub: JetStreamContext.PullSubscription, events: str, count: int
) -> None:
    done = 0

    async def _one(msg: Msg) -> None:
        await js.publish(f"{events}.{msg.metadata.sequence.stream}", b'{"kind":"succeeded"}')
        await msg.ack()

    while done < count:
        try:
            msgs = await sub.fetch(64, timeout=0.05)
        except (NatsTimeout, TimeoutError):
            continue
        await asyncio.gather(*(_one(m) for m in msgs))
        done += len(msgs)


async def raw_ceiling(nats_url: str, count: int, clients: int = 16) -> float:
    """Round trips per second (bounded: ``count`` tasks, at most 120 s)."""
    suffix = uuid.uuid4().hex[:8]
    tasks_stream, events_stream = f"BENCH_RAW_TASKS_{suffix}", f"BENCH_RAW_EVENTS_{suffix}"
    task_subject, event_subject = f"bench.{suffix}.tasks.run", f"bench.{suffix}.events"
    nc = await nats.connect(nats_url, name="qhana-bench-raw")
    js = nc.jetstream()
    try:
        await js.add_stream(
            StreamConfig(
                name=tasks_stream,
                subjects=[task_subject],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
            )
        )
        await js.add_stream(
            StreamConfig(
                name=events_stream, subjects=[f"{event_subject}.*"], storage=StorageType.FILE
            )
        )
        sub = await js.pull_subscribe(
            task_subject,
            durable="raw",
            stream=tasks_stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1000),
        )
        started = time.perf_counter()
        async with asyncio.timeout(120):
            await asyncio.gather(
                _produce(js, task_subject, count, clients),
                _consume(js, sub, event_subject, count),
            )
        elapsed = time.perf_counter() - started
        return count / elapsed
    finally:
        for name in (tasks_stream, events_stream):
            with contextlib.suppress(Exception):
                await js.delete_stream(name)
        await nc.close()
