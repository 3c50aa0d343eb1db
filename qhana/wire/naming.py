"""Name conventions shared by every role: plugin identifiers and form keys."""

from __future__ import annotations

__all__ = ["form_key", "plugin_identifier", "subject_token"]


def form_key(name: str) -> str:
    """The upstream camelCase JSON/form key of a snake_case python name.

    Split on ``_`` and title-case every part after the first (``input_str`` -> ``inputStr``);
    a name without underscores (``file-id``) stays as it is.
    """
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def plugin_identifier(name: str, version: str) -> str:
    """``hello-world`` + ``v0.2.1`` -> ``hello-world@v0-2-1`` (the URL path segment)."""
    return name.replace(".", "-") + "@" + version.replace(".", "-")


def subject_token(identifier: str) -> str:
    """A plugin identifier as one NATS subject token (no dots, spaces or wildcards)."""
    return "".join("_" if ch in ". *>" else ch for ch in identifier)
