"""The AsyncAPI 2.6 document of every subject (``streams/asyncapi.yaml``), built from the code.

Payload schemas come from the pydantic models of ``qhana.wire``; the channel table below
names every subject of ``qhana.bus.subjects``. ``qhana asyncapi`` writes the file and
``qhana asyncapi --check`` (and a test) fails when the file and the code disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from qhana.bus import subjects
from qhana.wire import (
    Accepted,
    Announce,
    Cancelled,
    Failed,
    Heartbeat,
    LogLine,
    Output,
    Progress,
    Started,
    StepRequested,
    StepSubmitted,
    Succeeded,
    TaskCommand,
    Withdraw,
)

__all__ = ["CHANNELS", "Channel", "build_document", "default_path", "render"]

_REF = "#/components/schemas/{model}"
EVENT_MODELS: tuple[type[BaseModel], ...] = (
    Accepted,
    StepSubmitted,
    Started,
    Progress,
    LogLine,
    Output,
    StepRequested,
    Succeeded,
    Failed,
    Cancelled,
)
WIRE_MODELS: tuple[type[BaseModel], ...] = (
    TaskCommand,
    *EVENT_MODELS,
    Announce,
    Heartbeat,
    Withdraw,
)

_TEXT = {"type": "string"}


@dataclass(frozen=True)
class Channel:
    """One subject (``{param}`` for a variable token) and what travels on it."""

    name: str
    description: str
    publishers: str
    subscribers: str
    models: tuple[type[BaseModel], ...] = ()
    raw_payload: dict[str, Any] | None = None
    content_type: str = "application/json"
    bindings: dict[str, Any] = field(default_factory=dict)


_TASK_ID = {"description": "integer task id (stream sequence of its first command)"}
_RUNNER_ID = {"description": "runner id as one subject token"}
CHANNELS: tuple[Channel, ...] = (
    Channel(
        "qhana.tasks.{queue}.{plugin}",
        f"Task commands, stream {subjects.TASKS_STREAM} (work queue); Nats-Msg-Id = command_id. "
        "Durable pull consumer tasks-{queue} per queue.",
        "edge",
        "worker",
        (TaskCommand,),
    ),
    Channel(
        "qhana.events.task.{task_id}",
        f"Task lifecycle events, stream {subjects.EVENTS_STREAM}; Nats-Msg-Id = event_id. "
        "Consumed by the recorder (durable 'recorder') and SSE.",
        "edge, worker, recorder (max-deliveries FAILURE)",
        "recorder, edge (SSE)",
        EVENT_MODELS,
    ),
    Channel(
        "qhana.webhooks.task.{task_id}",
        f"Webhook jobs, stream {subjects.WEBHOOKS_STREAM} (work queue): the events that fire "
        "webhooks of tasks with subscriptions, byte for byte, once SQL shows them; "
        "Nats-Msg-Id = event_id. Durable pull consumer 'webhooks'.",
        "recorder",
        "recorder (webhook dispatcher)",
        EVENT_MODELS,
    ),
    Channel(
        "qhana.plugins.announce.{runner_id}",
        f"Full plugin set of a runner, stream {subjects.PLUGINS_STREAM} (last per subject).",
        "worker",
        "registry, qhana runners ls",
        (Announce,),
    ),
    Channel(
        "qhana.plugins.withdraw.{runner_id}",
        f"A runner's graceful goodbye, stream {subjects.PLUGINS_STREAM} (last per subject).",
        "worker",
        "registry, qhana runners ls",
        (Withdraw,),
    ),
    Channel(
        "qhana.plugins.heartbeat.{runner_id}",
        "Liveness beat (core NATS, every QHANA_HEARTBEAT_INTERVAL_S).",
        "worker",
        "registry, qhana runners ls",
        (Heartbeat,),
    ),
    Channel(
        "qhana.control.task.{task_id}.cancel",
        "Cancel a running task (core NATS); the payload is the reason as text.",
        "edge",
        "worker",
        raw_payload=_TEXT,
        content_type="text/plain",
    ),
    Channel(
        "qhana.recorded.task.{task_id}",
        "SQL now reflects the task's events up to this stream sequence (core NATS).",
        "recorder",
        "edge (SSE, waiters), tests, tools",
        raw_payload={"type": "string", "pattern": "^[0-9]+$"},
        content_type="text/plain",
    ),
    Channel(
        subjects.REGISTRY_CHANGED,
        "The plugin catalogue changed (core NATS, empty payload).",
        "registry",
        "edge (catalogue cache)",
        raw_payload={"type": "string", "maxLength": 0},
        content_type="text/plain",
    ),
    Channel(
        subjects.SEED_POLL,
        "Ask the seed bridge to poll an upstream runner (core NATS).",
        "edge (registry API)",
        "registry (seed bridge)",
        raw_payload={
            "type": "object",
            "properties": {"url": {"type": "string"}},
            "additionalProperties": True,
        },
    ),
    Channel(
        subjects.UP_FINISHED,
        "Tasks the helper recorder of `qhana up` saw finish, for that process's /metrics "
        "(core NATS; rows of task id, plugin, status, duration in seconds or null).",
        "qhana up (its helper recorder process; no deployment uses it)",
        "qhana up (its /metrics)",
        raw_payload={
            "type": "array",
            "items": {"type": "array", "minItems": 4, "maxItems": 4},
        },
    ),
    Channel(
        "qhana.ui.{plugin}",
        "Plugin UI / metadata by request-reply (micro service qhana-runner).",
        "edge",
        "worker",
        raw_payload={"type": "object"},
    ),
)

_PARAMETERS = {
    "queue": {"description": "task queue", "schema": {"type": "string"}},
    "plugin": {"description": "plugin identifier name@version as one token", "schema": _TEXT},
    "task_id": {**_TASK_ID, "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "runner_id": {**_RUNNER_ID, "schema": _TEXT},
}


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema([(model, "validation") for model in WIRE_MODELS], ref_template=_REF)
    defs: dict[str, Any] = top.get("$defs", {})
    return dict(sorted(defs.items()))


def _message(channel: Channel, model: type[BaseModel] | None) -> dict[str, Any]:
    if model is None:
        return {"contentType": channel.content_type, "payload": channel.raw_payload}
    return {
        "name": model.__name__,
        "contentType": channel.content_type,
        "payload": {"$ref": _REF.format(model=model.__name__)},
    }


def _channel(channel: Channel) -> dict[str, Any]:
    messages = [_message(channel, m) for m in channel.models] or [_message(channel, None)]
    message: dict[str, Any] = messages[0] if len(messages) == 1 else {"oneOf": messages}
    doc: dict[str, Any] = {
        "description": channel.description,
        "publish": {"summary": f"published by {channel.publishers}", "message": message},
        "subscribe": {"summary": f"consumed by {channel.subscribers}", "message": message},
    }
    params = [p for p in _PARAMETERS if "{" + p + "}" in channel.name]
    if params:
        doc["parameters"] = {p: _PARAMETERS[p] for p in params}
    return doc


def build_document() -> dict[str, Any]:
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "QHAna on NATS JetStream",
            "version": "1.0.0",
            "description": "Every subject of the platform and its payload. Generated by "
            "`qhana asyncapi` from qhana/wire (payloads) and qhana/bus/asyncapi.py "
            "(channels); checked by tests/ops/test_asyncapi_document.py.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"url": "nats://127.0.0.1:4222", "protocol": "nats"},
        },
        "channels": {c.name: _channel(c) for c in CHANNELS},
        "components": {"schemas": _schemas()},
    }


def render() -> str:
    header = (
        "# GENERATED by `qhana asyncapi` from qhana/wire + qhana/bus/asyncapi.py; do not edit\n"
    )
    plain = json.loads(json.dumps(build_document()))  # no shared objects, so no YAML anchors
    return header + yaml.safe_dump(plain, sort_keys=False, width=100)


def default_path() -> Path:
    return Path(__file__).resolve().parents[2] / "streams" / "asyncapi.yaml"
