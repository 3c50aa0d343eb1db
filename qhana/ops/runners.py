"""``qhana runners ls``: who is out there, from NATS alone (no database needed).

Three sources, merged by runner id: the last announce / withdraw of every runner kept by
``QHANA_PLUGINS``; heartbeats on ``qhana.plugins.heartbeat.*`` heard for one interval; and
the replies to ``$SRV.INFO`` of NATS micro services (workers that run one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from qhana.bus import subjects
from qhana.wire import Announce, Heartbeat, Withdraw

__all__ = ["RunnerRow", "list_runners"]


@dataclass
class RunnerRow:
    runner_id: str
    queues: list[str] = field(default_factory=list)
    plugins: int | None = None
    running: int | None = None
    withdrawn: bool = False
    seen_via: set[str] = field(default_factory=set)
    service: str | None = None

    @property
    def state(self) -> str:
        if "heartbeat" in self.seen_via or "$SRV" in self.seen_via:
            return "alive"
        return "withdrawn" if self.withdrawn else "silent"


class _Collector:
    def __init__(self) -> None:
        self.rows: dict[str, RunnerRow] = {}

    def row(self, runner_id: str) -> RunnerRow:
        return self.rows.setdefault(runner_id, RunnerRow(runner_id))

    async def on_beat(self, msg: Msg) -> None:
        with contextlib.suppress(ValidationError):
            beat = Heartbeat.model_validate_json(msg.data)
            row = self.row(beat.runner_id)
            row.running = beat.running
            row.seen_via.add("heartbeat")

    async def on_service(self, msg: Msg) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            info: dict[str, Any] = json.loads(msg.data)
            metadata = info.get("metadata") or {}
            runner_id = str(metadata.get("runner_id") or info.get("id"))
            row = self.row(runner_id)
            row.seen_via.add("$SRV")
            row.service = f"{info.get('name')} {info.get('version')} ({info.get('id')})"

    def on_last_word(self, msg: Msg) -> None:
        with contextlib.suppress(ValidationError):
            if ".announce." in msg.subject:
                announce = Announce.model_validate_json(msg.data)
                row = self.row(announce.runner_id)
                row.queues, row.plugins = list(announce.queues), len(announce.plugins)
                row.seen_via.add("announce")
            else:
                row = self.row(Withdraw.model_validate_json(msg.data).runner_id)
                row.withdrawn = True


async def _read_last_words(nc: Client, collector: _Collector) -> None:
    """Replay the announce / withdraw stream (one message per runner and kind)."""
    js = nc.jetstream()
    info = await js.stream_info(subjects.PLUGINS_STREAM)
    if not info.state.messages:
        return
    sub = await js.subscribe(
        "qhana.plugins.>",
        stream=subjects.PLUGINS_STREAM,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            collector.on_last_word(msg)
            if msg.metadata.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()


async def list_runners(nc: Client, listen_s: float) -> list[RunnerRow]:
    """Every runner any source knows of; alive ones answered within ``listen_s``."""
    collector = _Collector()
    beats = await nc.subscribe(subjects.HEARTBEAT_ALL, cb=collector.on_beat)
    inbox = nc.new_inbox()
    services = await nc.subscribe(inbox, cb=collector.on_service)
    try:
        await nc.publish("$SRV.INFO", b"", reply=inbox)
        await _read_last_words(nc, collector)
        await asyncio.sleep(listen_s)  # a listening window: heartbeats come once per interval
    finally:
        await beats.unsubscribe()
        await services.unsubscribe()
    return sorted(collector.rows.values(), key=lambda r: (r.state != "alive", r.runner_id))
