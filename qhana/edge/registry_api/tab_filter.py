"""The template tab filter expression (spec §5.3): validation and evaluation at query time.

::

    Filter := {} | {"and": [Filter...]} | {"or": [Filter...]} | {"not": Filter}
            | {"id": str} | {"tag": str} | {"name": str} | {"version": str} | {"type": str}

``{}``, ``""`` and empty ``and``/``or`` lists match nothing; ``not`` is the complement.
"""

from __future__ import annotations

import json
from difflib import SequenceMatcher
from typing import Any, Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = ["FilterError", "Filterable", "matches", "parse_filter"]

_LEAVES = ("id", "tag", "name", "version", "type")


class FilterError(ValueError):
    """A malformed filter; the message says where."""


class Filterable(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...


def parse_filter(filter_string: str) -> dict[str, Any] | None:
    """The validated expression; None for ``""`` (no filter, matches nothing)."""
    if filter_string.strip() == "":
        return None
    try:
        expr = json.loads(filter_string)
    except json.JSONDecodeError as exc:
        raise FilterError(f"filterString is not valid JSON: {exc.msg}") from None
    _validate(expr, "filter")
    assert isinstance(expr, dict)
    return expr


def _validate(expr: Any, where: str) -> None:
    if not isinstance(expr, dict):
        raise FilterError(f"{where}: a filter must be a JSON object")
    if len(expr) > 1:
        raise FilterError(f"{where}: Only one filter key allowed per level")
    for key, value in expr.items():
        if key in ("and", "or"):
            if not isinstance(value, list):
                raise FilterError(f"{where}.{key}: must be a list of filters")
            for i, sub in enumerate(value):
                _validate(sub, f"{where}.{key}[{i}]")
        elif key == "not":
            _validate(value, f"{where}.not")
        elif key in _LEAVES:
            if not isinstance(value, str):
                raise FilterError(f"{where}.{key}: must be a string")
            if key == "version":
                try:
                    SpecifierSet(value)
                except InvalidSpecifier:
                    raise FilterError(f"{where}.version: invalid version specifier") from None
        else:
            raise FilterError(f"{where}: unknown filter key '{key}'")


def _leaf(key: str, value: str, plugin: Filterable) -> bool:
    if key == "id":
        return value in (plugin.name, f"{plugin.name}@{plugin.version}")
    if key == "tag":
        return value in plugin.tags
    if key == "name":
        return SequenceMatcher(None, value.lower(), plugin.title.lower()).ratio() > 0.8
    if key == "type":
        return value.lower() == plugin.type.lower()
    try:
        return SpecifierSet(value).contains(Version(plugin.version))
    except InvalidVersion:
        return False


def matches(expr: dict[str, Any] | None, plugin: Filterable) -> bool:
    if not expr:
        return False
    (key, value), *_ = expr.items()
    if key == "and":
        return bool(value) and all(matches(sub, plugin) for sub in value)
    if key == "or":
        return any(matches(sub, plugin) for sub in value)
    if key == "not":
        return not matches(value, plugin)
    return _leaf(key, value, plugin)
