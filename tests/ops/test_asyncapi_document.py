"""streams/asyncapi.yaml cannot drift from the wire models or from qhana.bus.subjects."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import yaml

from qhana.bus import subjects
from qhana.bus.asyncapi import WIRE_MODELS, default_path, render

REF = "#/components/schemas/{model}"


def _document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(default_path().read_text())
    return doc


def test_file_is_what_the_code_generates() -> None:
    assert default_path().read_text() == render(), "stale: run `qhana asyncapi`"


@pytest.mark.parametrize("model", WIRE_MODELS, ids=lambda m: m.__name__)
def test_payload_schema_is_the_pydantic_schema(model: Any) -> None:
    own = model.model_json_schema(ref_template=REF)
    own.pop("$defs", None)
    schemas = _document()["components"]["schemas"]
    assert schemas[model.__name__] == own


def _messages(channel: dict[str, Any]) -> list[dict[str, Any]]:
    message = channel["publish"]["message"]
    return list(message.get("oneOf", [message]))


def test_every_message_payload_is_defined() -> None:
    doc = _document()
    schemas = doc["components"]["schemas"]
    for name, channel in doc["channels"].items():
        assert channel["publish"]["message"] == channel["subscribe"]["message"], name
        for message in _messages(channel):
            payload = message["payload"]
            if "$ref" in payload:
                assert payload["$ref"].rsplit("/", 1)[1] in schemas, (name, payload)


def _channel_pattern(name: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", r"[^.]+", re.escape(name)) + "$")


def _sample_subjects() -> dict[str, str]:
    """Every subject ``qhana.bus.subjects`` can produce, with sample tokens filled in."""
    found: dict[str, str] = {}
    for name in subjects.__all__:
        value = getattr(subjects, name)
        if callable(value):
            args = [42 if p.annotation in (int, "int") else "tok" for p in _params(value)]
            value = value(*args)
        if isinstance(value, str) and value.startswith("qhana.") and not name.endswith("PREFIX"):
            found[name] = value.replace("*", "tok").replace(">", "tok")
    return found


def _params(func: Any) -> list[inspect.Parameter]:
    return list(inspect.signature(func).parameters.values())


def test_every_subject_has_a_channel() -> None:
    patterns = [_channel_pattern(name) for name in _document()["channels"]]
    samples = _sample_subjects()
    assert {"task", "event", "announce", "heartbeat", "cancel"} <= samples.keys()
    missing = {n: s for n, s in samples.items() if not any(p.match(s) for p in patterns)}
    assert not missing, f"add these to CHANNELS in qhana/bus/asyncapi.py: {missing}"
