"""Apply the declarative JetStream resources of ``streams/streams.yaml`` idempotently."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError

from qhana.errors import ConfigError
from qhana.logging import get_logger
from qhana.settings import QueueLimits

__all__ = [
    "QueueLimits",
    "StreamsSpec",
    "apply_queue_consumer",
    "apply_streams",
    "ensure_stream",
    "load_spec",
    "retire_consumers",
]

log = get_logger("qhana.bus.streams")

_DELIVER = {"all": DeliverPolicy.ALL, "new": DeliverPolicy.NEW}
_RETENTION = {
    "limits": RetentionPolicy.LIMITS,
    "workqueue": RetentionPolicy.WORK_QUEUE,
    "interest": RetentionPolicy.INTEREST,
}


@dataclass(frozen=True, slots=True)
class StreamsSpec:
    streams: list[dict[str, Any]]
    consumers: list[dict[str, Any]]
    key_value: list[dict[str, Any]]
    object_store: list[dict[str, Any]]
    retired_consumers: list[dict[str, Any]]


def _spec_path() -> Path:
    candidates = [
        Path(__file__).resolve().parents[2] / "streams" / "streams.yaml",
        Path(sys.prefix) / "share" / "qhana" / "streams" / "streams.yaml",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(f"streams/streams.yaml not found (looked in {candidates})")


def load_spec(path: Path | None = None) -> StreamsSpec:
    raw = yaml.safe_load((path or _spec_path()).read_text())
    if not isinstance(raw, dict):
        raise ConfigError("streams.yaml must be a mapping")
    return StreamsSpec(
        streams=list(raw.get("streams", [])),
        consumers=list(raw.get("consumers", [])),
        key_value=list(raw.get("key_value", [])),
        object_store=list(raw.get("object_store", [])),
        retired_consumers=list(raw.get("retired_consumers", [])),
    )


def _stream_config(item: dict[str, Any], replicas: int, events_max_age_s: float) -> StreamConfig:
    max_age = item.get("max_age_s")
    if item["name"] == "QHANA_EVENTS":
        max_age = events_max_age_s
    return StreamConfig(
        name=item["name"],
        description=item.get("description"),
        subjects=list(item["subjects"]),
        retention=_RETENTION[item.get("retention", "limits")],
        storage=StorageType.MEMORY if item.get("storage") == "memory" else StorageType.FILE,
        max_age=float(max_age) if max_age else None,
        max_msgs_per_subject=int(item.get("max_msgs_per_subject", -1)),
        duplicate_window=float(item.get("duplicate_window_s", 120)),
        num_replicas=replicas,
    )


def consumer_config(
    item: dict[str, Any], queue: str | None, replicas: int, limits: QueueLimits | None = None
) -> ConsumerConfig:
    durable = str(item["durable"]).format(queue=queue)
    filter_subject = item.get("filter_subject")
    limits = limits if queue is not None and limits is not None else QueueLimits()
    return ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=limits.ack_wait_s or float(item.get("ack_wait_s", 30)),
        max_deliver=limits.max_deliver or int(item.get("max_deliver", -1)),
        max_ack_pending=int(item.get("max_ack_pending", 1000)),
        deliver_policy=_DELIVER.get(str(item.get("deliver_policy", "all")), DeliverPolicy.ALL),
        filter_subject=str(filter_subject).format(queue=queue) if filter_subject else None,
        num_replicas=replicas,
    )


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("streams.created", stream=config.name)
        return
    await js.update_stream(config)


async def _apply_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create or update a durable consumer, keeping the metadata it carries (a projection
    rebuild stores its replay boundary there: ``qhana/recorder/rebuild.py``)."""
    assert config.durable_name is not None
    try:
        info = await js.consumer_info(stream, config.durable_name)
    except NotFoundError:
        pass
    else:
        if info.config.metadata:
            config = dataclasses.replace(config, metadata=dict(info.config.metadata))
    await js.add_consumer(stream, config)


async def retire_consumers(js: JetStreamContext, spec: StreamsSpec | None = None) -> None:
    """Delete the consumers an earlier version created and this one no longer reads."""
    for item in (spec or load_spec()).retired_consumers:
        try:
            await js.delete_consumer(item["stream"], item["durable"])
        except NotFoundError:
            continue
        log.info("streams.consumer_retired", stream=item["stream"], durable=item["durable"])


async def ensure_stream(
    js: JetStreamContext, name: str, *, replicas: int = 1, spec: StreamsSpec | None = None
) -> None:
    """Create one stream of the spec and its (not per-queue) consumers where they are
    missing; existing ones are left as they are. What a role needs before it runs when
    ``qhana streams apply`` has not been run since an upgrade."""
    spec = spec or load_spec()
    item = next(s for s in spec.streams if s["name"] == name)
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(_stream_config(item, replicas, float(item.get("max_age_s") or 0)))
        log.info("streams.created", stream=name)
    for consumer in spec.consumers:
        if consumer["stream"] != name or consumer.get("per_queue"):
            continue
        try:
            await js.consumer_info(name, consumer["durable"])
        except NotFoundError:
            await js.add_consumer(name, consumer_config(consumer, None, replicas))


async def apply_queue_consumer(
    js: JetStreamContext,
    queue: str,
    replicas: int = 1,
    limits: QueueLimits | None = None,
    spec: StreamsSpec | None = None,
) -> float:
    """Create (or update) the durable pull consumer of one task queue; returns its ack wait."""
    spec = spec or load_spec()
    item = next(c for c in spec.consumers if c.get("per_queue"))
    config = consumer_config(item, queue, replicas, limits)
    info = await js.add_consumer(item["stream"], config)
    return float(info.config.ack_wait or 30.0)


async def apply_streams(
    js: JetStreamContext,
    *,
    replicas: int = 1,
    queues: tuple[str, ...] = ("default",),
    events_max_age_s: float = 30 * 24 * 3600.0,
    limits: QueueLimits | None = None,
) -> None:
    """Create or update every stream, consumer, KV bucket and object store bucket."""
    spec = load_spec()
    for item in spec.streams:
        await _ensure_stream(js, _stream_config(item, replicas, events_max_age_s))
    for item in spec.consumers:
        for queue in queues if item.get("per_queue") else (None,):
            config = consumer_config(item, queue, replicas, limits)
            await _apply_consumer(js, item["stream"], config)
    await retire_consumers(js, spec)
    for item in spec.key_value:
        try:
            await js.key_value(item["bucket"])
        except BucketNotFoundError:
            await js.create_key_value(
                KeyValueConfig(
                    bucket=item["bucket"],
                    description=item.get("description"),
                    history=int(item.get("history", 1)),
                    replicas=replicas,
                )
            )
    for item in spec.object_store:
        try:
            await js.object_store(item["bucket"])
        except (BucketNotFoundError, NotFoundError):
            await js.create_object_store(
                item["bucket"],
                ObjectStoreConfig(
                    bucket=item["bucket"], description=item.get("description"), replicas=replicas
                ),
            )
    log.info("streams.applied", streams=len(spec.streams), replicas=replicas)
