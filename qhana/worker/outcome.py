"""Handler outcomes and the one place where they become JetStream acks."""

from __future__ import annotations

from dataclasses import dataclass

from nats.aio.msg import Msg

from qhana.bus.nak import hand_back

__all__ = ["Done", "Failure", "Outcome", "Redeliver", "settle_message"]


@dataclass(frozen=True, slots=True)
class Done:
    """The command was handled and its events are published: ack."""


@dataclass(frozen=True, slots=True)
class Failure:
    """The task failed for good and its ``failed`` event is published: term, never retry."""

    reason: str


@dataclass(frozen=True, slots=True)
class Redeliver:
    """Run the command again after ``delay_s`` (a plugin's Retry, or NATS trouble)."""

    delay_s: float


Outcome = Done | Failure | Redeliver


async def settle_message(msg: Msg, outcome: Outcome) -> None:
    """The only place that acks, naks or terms a task message. Plugins never ack."""
    match outcome:
        case Done():
            await msg.ack()
        case Failure():
            await msg.term()
        case Redeliver(delay_s=delay):
            await hand_back(msg, delay)
