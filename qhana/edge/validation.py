"""Validate form data against a plugin's announced JSON schema (the edge never runs plugins).

Messages follow marshmallow's wording, as upstream's 422 bodies do.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from qhana.wire import form_key

__all__ = ["FormValues", "validate_form"]

FormValues = Mapping[str, list[str]]
MISSING = "Missing data for required field."
_URL_SCHEMES = ("http", "https", "ftp", "ftps", "file", "data")
_TRUE = {"true", "on", "1", "yes", "y", "t"}
_FALSE = {"false", "off", "0", "no", "n", "f"}
# computed once per property name, not per field of every request
_form_key = functools.lru_cache(maxsize=4096)(form_key)


def _resolve(schema: Mapping[str, Any], prop: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Follow ``$ref`` and unwrap ``anyOf: [X, null]``; returns (schema, nullable)."""
    nullable = False
    node = dict(prop)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        if len(options) == 1:
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **options[0]}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = schema.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node, nullable


def _check_string(node: Mapping[str, Any], value: str) -> tuple[Any, str | None]:
    if node.get("format") == "uri":
        parts = urlsplit(value)
        if parts.scheme not in _URL_SCHEMES or (
            parts.scheme != "data" and not parts.netloc and parts.scheme != "file"
        ):
            return None, "Not a valid URL."
    if "minLength" in node and len(value) < node["minLength"]:
        return None, f"Shorter than minimum length {node['minLength']}."
    if "maxLength" in node and len(value) > node["maxLength"]:
        return None, f"Longer than maximum length {node['maxLength']}."
    return value, None


def _check_number(node: Mapping[str, Any], value: str) -> tuple[Any, str | None]:
    integer = node.get("type") == "integer"
    try:
        number: float | int = int(value) if integer else float(value)
    except ValueError:
        return None, "Not a valid integer." if integer else "Not a valid number."
    if "minimum" in node and number < node["minimum"]:
        return None, f"Must be greater than or equal to {node['minimum']}."
    if "maximum" in node and number > node["maximum"]:
        return None, f"Must be less than or equal to {node['maximum']}."
    if "exclusiveMinimum" in node and number <= node["exclusiveMinimum"]:
        return None, f"Must be greater than {node['exclusiveMinimum']}."
    if "exclusiveMaximum" in node and number >= node["exclusiveMaximum"]:
        return None, f"Must be less than {node['exclusiveMaximum']}."
    return number, None


def _coerce(node: Mapping[str, Any], value: str) -> tuple[Any, str | None]:
    if "enum" in node:
        allowed = [str(v) for v in node["enum"]]
        if value not in allowed:
            return None, "Must be one of: " + ", ".join(allowed) + "."
        return node["enum"][allowed.index(value)], None
    kind = node.get("type", "string")
    if kind in ("integer", "number"):
        return _check_number(node, value)
    if kind == "boolean":
        lowered = value.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE, None
        return None, "Not a valid boolean."
    if kind == "string":
        return _check_string(node, value)
    return None, "Unsupported field type."


def _blank_is_missing(node: Mapping[str, Any]) -> bool:
    return node.get("type", "string") != "string" or "enum" in node or node.get("format") == "uri"


def _field(
    schema: Mapping[str, Any], prop: Mapping[str, Any], raw: list[str], required: bool
) -> tuple[Any, str | None, bool]:
    """Returns (value, error, present)."""
    node, nullable = _resolve(schema, prop)
    if node.get("type") == "array":
        items, _ = _resolve(schema, node.get("items", {}))
        values = [v for v in raw if v != ""]
        out = []
        for v in values:
            item, error = _coerce(items, v)
            if error:
                return None, error, True
            out.append(item)
        if not out and required:
            return None, MISSING, False
        return out, None, bool(out)
    value = raw[-1] if raw else None
    if value == "" and _blank_is_missing(node):
        value = None
    if value is None:
        if node.get("type") == "boolean" and not nullable and raw == []:
            return False, None, True  # an unchecked checkbox is not sent at all
        return None, (MISSING if required else None), False
    coerced, error = _coerce(node, value)
    return coerced, error, True


def validate_form(
    schema: Mapping[str, Any], form: FormValues
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Coerce form values (keyed by camelCase form key) to parameters keyed by python name.

    Returns ``(params, errors)``; ``errors`` is keyed by form key. Unknown keys are ignored.
    """
    required = set(schema.get("required", []))
    params: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, prop in schema.get("properties", {}).items():
        key = _form_key(name)
        value, error, present = _field(schema, prop, list(form.get(key, [])), name in required)
        if error:
            errors.setdefault(key, []).append(error)
        elif present:
            params[name] = value
    return params, errors
