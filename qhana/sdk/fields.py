"""``field()``: a pydantic Field with the form hints the micro-frontend renderer reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field
from pydantic.config import JsonDict

__all__ = ["field"]


def field(
    default: Any = ...,
    *,
    title: str,
    description: str = "",
    input_type: str | None = None,
    data_input_type: str | None = None,
    data_content_types: Sequence[str] | None = None,
    plugin_tags: Sequence[str] | None = None,
    options: Mapping[str, str] | None = None,
    private: bool = False,
    **constraints: Any,
) -> Any:
    """Declare one form field. ``input_type``: textarea, select, data, plugin, file, password."""
    hints: dict[str, Any] = {}
    if input_type:
        hints["input_type"] = input_type
    if data_input_type:
        hints["data_input_type"] = data_input_type
    if data_content_types:
        hints["data_content_types"] = list(data_content_types)
    if plugin_tags:
        hints["plugin_tags"] = list(plugin_tags)
    if options:
        hints["options"] = dict(options)
    if private:
        hints["private"] = True
    extra: JsonDict | None = {"x-qhana": hints} if hints else None
    return Field(
        default, title=title, description=description, json_schema_extra=extra, **constraints
    )
