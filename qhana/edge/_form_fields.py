"""One JSON-schema property -> one form control (spec §5.3).

`field_specs` normalises the pydantic v2 JSON schema of an input model (``$ref`` into ``$defs``,
``anyOf`` with ``null`` for optionals, the ``x-qhana`` extension key) into `FieldSpec`s;
`render_control` turns one spec plus its current value into the HTML of its input element(s).
Nothing here raises on an odd schema: what cannot be rendered becomes an "Unsupported field" note.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from qhana.wire.naming import form_key

__all__ = ["FieldSpec", "attrs", "field_specs", "render_control"]

JsonSchema = Mapping[str, Any]
AttrValue = str | int | float | bool | None

_WRAPPERS = ("$ref", "anyOf", "oneOf", "allOf")
_MAX_DEPTH = 8
_STRING_FORMATS = {
    "uri": "url",
    "email": "email",
    "date": "date",
    "time": "time",
    "date-time": "datetime-local",
    "password": "password",
    "binary": "file",
}
_TYPE_KINDS = {"integer": "number", "number": "number", "boolean": "checkbox"}
_PLAIN_INPUTS = frozenset(
    {"text", "email", "url", "number", "date", "time", "datetime-local", "password", "checkbox"}
)
_LENGTH_KINDS = frozenset(
    {"text", "textarea", "email", "url", "password", "private", "data", "plugin", "datalist"}
)
_TRUE_WORDS = frozenset({"on", "true", "1", "yes"})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A schema property, resolved: ``schema`` has ``$ref``/``anyOf`` unwrapped."""

    name: str
    key: str
    title: str
    description: str
    required: bool
    nullable: bool
    schema: JsonSchema
    hints: JsonSchema

    @property
    def kind(self) -> str:
        """The control to render (``text``, ``select``, ``data`` …, or ``unsupported``)."""
        input_type = self.hints.get("input_type")
        if isinstance(input_type, str):
            return _hinted_kind(input_type)
        if _enum_values(self.schema) is not None:
            return "select"
        json_type = self.schema.get("type")
        if json_type == "string":
            return _STRING_FORMATS.get(str(self.schema.get("format")), "text")
        if isinstance(json_type, str):
            return _TYPE_KINDS.get(json_type, "unsupported")
        return "unsupported"


def attrs(values: Mapping[str, AttrValue]) -> str:
    """HTML attributes: ``True`` -> bare attribute, ``None``/``False`` -> left out."""
    parts: list[str] = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            parts.append(f" {name}")
        else:
            parts.append(f' {name}="{escape(str(value), quote=True)}"')
    return "".join(parts)


def field_specs(schema: JsonSchema) -> list[FieldSpec]:
    """The model's properties in declaration order."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    defs = schema.get("$defs")
    defs_map: JsonSchema = defs if isinstance(defs, Mapping) else {}
    return [
        _field_spec(str(name), prop, name in required_names, defs_map)
        for name, prop in properties.items()
    ]


def render_control(spec: FieldSpec, value: str | None) -> str:
    """The input element(s) of one field, pre-filled with ``value`` (else the default)."""
    renderer = _RENDERERS.get(spec.kind)
    if renderer is None:
        renderer = _input if spec.kind in _PLAIN_INPUTS else _unsupported
    return renderer(spec, _initial_value(spec, value))


# --- schema resolution -------------------------------------------------------------------------


def _field_spec(name: str, prop: object, required: bool, defs: JsonSchema) -> FieldSpec:
    raw: JsonSchema = prop if isinstance(prop, Mapping) else {"type": "__invalid__"}
    schema, nullable = _resolve(raw, defs)
    hints = schema.get("x-qhana")
    title = schema.get("title")
    description = schema.get("description")
    return FieldSpec(
        name=name,
        key=form_key(name),
        title=title if isinstance(title, str) and title else name.replace("_", " ").title(),
        description=description if isinstance(description, str) else "",
        required=required,
        nullable=nullable,
        schema=schema,
        hints=hints if isinstance(hints, Mapping) else {},
    )


def _resolve(prop: JsonSchema, defs: JsonSchema) -> tuple[dict[str, Any], bool]:
    """Unwrap ``$ref``/``anyOf``/``oneOf``/``allOf``; outer keys win over referenced ones."""
    out = dict(prop)
    nullable = False
    for _ in range(_MAX_DEPTH):
        inner = _unwrap(out, defs)
        if inner is None:
            break
        branch, branch_nullable = inner
        nullable = nullable or branch_nullable
        out = {**branch, **{k: v for k, v in out.items() if k not in _WRAPPERS}}
    else:
        out["type"] = "__too_deep__"
    json_type = out.get("type")
    if isinstance(json_type, list):
        non_null = [t for t in json_type if t != "null"]
        nullable = nullable or len(non_null) < len(json_type)
        out["type"] = non_null[0] if len(non_null) == 1 else non_null
    return out, nullable


def _unwrap(schema: JsonSchema, defs: JsonSchema) -> tuple[JsonSchema, bool] | None:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rpartition("/")[2]) if ref.startswith("#/$defs/") else None
        if not isinstance(target, Mapping):
            return {"type": "__unresolved__"}, False
        # the title/description of a referenced definition (e.g. an enum's docstring) is not
        # the field's own
        return {k: v for k, v in target.items() if k not in ("title", "description")}, False
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if not isinstance(branches, list):
            continue
        non_null = [b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")]
        nullable = len(non_null) < len(branches)
        if len(non_null) == 1 and isinstance(non_null[0], Mapping):
            return non_null[0], nullable
        return {"type": "__union__"}, nullable
    return None


def _hinted_kind(input_type: str) -> str:
    if input_type == "text_with_datalist":
        return "datalist"
    if input_type in _PLAIN_INPUTS or input_type in _RENDERERS:
        return input_type
    return "unsupported"


def _enum_values(schema: JsonSchema) -> list[str] | None:
    enum = schema.get("enum")
    if isinstance(enum, list):
        return [_stringify(v) for v in enum if v is not None]
    if "const" in schema:
        return [_stringify(schema["const"])]
    return None


def _options(spec: FieldSpec) -> list[tuple[str, str]]:
    """(value, label) pairs from ``x-qhana.options`` or else the enum."""
    labels = spec.hints.get("options")
    label_map: JsonSchema = labels if isinstance(labels, Mapping) else {}
    values = _enum_values(spec.schema)
    if values is None:
        values = [str(v) for v in label_map]
    return [(v, _stringify(label_map.get(v, v))) for v in values]


def _stringify(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value)


def _initial_value(spec: FieldSpec, value: str | None) -> str:
    return value if value is not None else _stringify(spec.schema.get("default"))


# --- renderers ---------------------------------------------------------------------------------


def _base(spec: FieldSpec) -> dict[str, AttrValue]:
    return {"id": spec.name, "name": spec.key}


def _constraints(spec: FieldSpec, kind: str) -> dict[str, AttrValue]:
    schema = spec.schema
    out: dict[str, AttrValue] = {"required": spec.required and kind != "checkbox"}
    if kind == "number":
        integer = schema.get("type") == "integer"
        out["min"] = _bound(schema, "minimum", "exclusiveMinimum", 1 if integer else 0)
        out["max"] = _bound(schema, "maximum", "exclusiveMaximum", -1 if integer else 0)
        step = spec.hints.get("step")
        out["step"] = (
            str(step) if isinstance(step, int | float | str) else (1 if integer else "any")
        )
    if kind in _LENGTH_KINDS:
        out["minlength"] = _number(schema.get("minLength"))
        out["maxlength"] = _number(schema.get("maxLength"))
    return out


def _bound(schema: JsonSchema, inclusive: str, exclusive: str, shift: int) -> AttrValue:
    value = _number(schema.get(inclusive))
    if value is not None:
        return value
    value = _number(schema.get(exclusive))
    return None if value is None else value + shift


def _number(value: object) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _input(spec: FieldSpec, value: str) -> str:
    kind = spec.kind
    base: dict[str, AttrValue] = {"type": kind, **_base(spec), **_constraints(spec, kind)}
    if kind == "checkbox":
        return f"<input{attrs({**base, 'checked': value.lower() in _TRUE_WORDS})}>"
    return f"<input{attrs({**base, 'value': value})}>"


def _private(spec: FieldSpec, value: str) -> str:
    base = {"type": "text", **_base(spec), **_constraints(spec, "private"), "value": value}
    return f"<input{attrs({**base, 'data-private': True})}>"


def _textarea(spec: FieldSpec, value: str) -> str:
    extra = {"rows": _number(spec.hints.get("rows")) or 4}
    return (
        f"<textarea{attrs({**_base(spec), **_constraints(spec, 'textarea'), **extra})}>"
        f"{escape(value)}</textarea>"
    )


def _select(spec: FieldSpec, value: str) -> str:
    options = _options(spec)
    if not options:
        return _unsupported(spec, value)
    if spec.nullable or (not spec.required and spec.schema.get("default") is None):
        options = [("", ""), *options]
    rendered = "".join(
        f"<option{attrs({'value': v, 'selected': v == value})}>{escape(label)}</option>"
        for v, label in options
    )
    return f"<select{attrs({**_base(spec), **_constraints(spec, 'select')})}>{rendered}</select>"


def _datalist(spec: FieldSpec, value: str) -> str:
    list_id = f"{spec.name}-datalist"
    base = {"type": "text", **_base(spec), **_constraints(spec, "datalist")}
    options = "".join(
        f"<option{attrs({'value': v})}>{escape(label)}</option>" for v, label in _options(spec)
    )
    return (
        f"<input{attrs({**base, 'list': list_id, 'value': value})}>"
        f'<datalist id="{escape(list_id)}">{options}</datalist>'
    )


def _file(spec: FieldSpec, _value: str) -> str:
    accept = _word_list(spec.hints.get("data_content_types"), "")
    base = {"type": "file", **_base(spec), **_constraints(spec, "file")}
    return f"<input{attrs({**base, 'accept': accept or None})}>"


def _data(spec: FieldSpec, value: str) -> str:
    data_type = spec.hints.get("data_input_type")
    typed: dict[str, AttrValue] = {
        "data-input": data_type if isinstance(data_type, str) and data_type else "*",
        "data-content-type": _word_list(spec.hints.get("data_content_types"), "*"),
    }
    field = {"type": "url", **_base(spec), **_constraints(spec, "data"), "value": value}
    button = {"type": "button", "class": "qhana-choose-file-button", "data-input-id": spec.name}
    preview = {"type": "button", "class": "qhana-show-preview-button", "data-input-id": spec.name}
    return (
        f'<div class="qhana-input-group">'
        f"<input{attrs({**field, 'data-input-type': 'data', **typed})}>"
        f"<button{attrs({**button, **typed, 'hidden': True})}>choose file</button></div>"
        f'<p class="selected-file-hint">'
        f"<span{attrs({'class': 'selected-file-name', 'data-input-id': spec.name})}></span> "
        f"<button{attrs({**preview, 'hidden': True})}>preview</button></p>"
    )


def _plugin(spec: FieldSpec, value: str) -> str:
    field = {"type": "url", **_base(spec), **_constraints(spec, "plugin"), "value": value}
    button: dict[str, AttrValue] = {
        "type": "button",
        "class": "qhana-choose-plugin-button",
        "data-input-id": spec.name,
        "data-plugin-tags": _word_list(spec.hints.get("plugin_tags"), ""),
        "data-plugin-name": _text_hint(spec, "plugin_name"),
        "data-plugin-version": _text_hint(spec, "plugin_version"),
        "hidden": True,
    }
    return (
        f'<div class="qhana-input-group">'
        f"<input{attrs({**field, 'data-input-type': 'plugin'})}>"
        f"<button{attrs(button)}>choose plugin</button></div>"
        f'<p class="selected-plugin-hint">'
        f"<span{attrs({'class': 'selected-plugin-name', 'data-input-id': spec.name})}></span></p>"
    )


def _unsupported(spec: FieldSpec, _value: str) -> str:
    json_type = spec.schema.get("type")
    what = json_type if isinstance(json_type, str) and not json_type.startswith("__") else "?"
    return (
        f'<p class="qhana-unsupported-field">Unsupported field '
        f"<code>{escape(spec.name)}</code> (type {escape(what)}).</p>"
    )


def _word_list(value: object, fallback: str) -> str:
    if isinstance(value, str):
        return value or fallback
    if isinstance(value, Sequence):
        return " ".join(str(v) for v in value) or fallback
    return fallback


def _text_hint(spec: FieldSpec, key: str) -> str | None:
    value = spec.hints.get(key)
    return value if isinstance(value, str) and value else None


_RENDERERS: dict[str, Callable[[FieldSpec, str], str]] = {
    "textarea": _textarea,
    "select": _select,
    "datalist": _datalist,
    "data": _data,
    "plugin": _plugin,
    "file": _file,
    "private": _private,
    "unsupported": _unsupported,
}
