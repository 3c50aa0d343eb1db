"""Entity lists as QHAna passes them around: CSV (``ID`` column first) or a JSON list."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from qhana.errors import Reject

__all__ = ["Entities", "load_entities"]


@dataclass(frozen=True, slots=True)
class Entities:
    """Rows keyed by attribute name; ``columns`` in file order, ``ID`` first."""

    columns: list[str]
    rows: list[dict[str, Any]]

    @property
    def ids(self) -> list[str]:
        return [str(row.get("ID", i)) for i, row in enumerate(self.rows)]

    def numeric_columns(self) -> list[str]:
        """Attributes whose every value parses as a number (``ID`` excluded)."""
        return [
            c for c in self.columns if c != "ID" and all(_is_number(r.get(c)) for r in self.rows)
        ]

    def matrix(self, columns: list[str] | None = None) -> list[list[float]]:
        cols = columns if columns is not None else self.numeric_columns()
        return [[float(row[c]) for c in cols] for row in self.rows]


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def load_entities(data: bytes, content_type: str = "") -> Entities:
    """Parse an entity CSV or JSON list (the format is sniffed when the type is unknown)."""
    text = data.decode("utf-8-sig")
    if "json" in content_type or text.lstrip().startswith(("[", "{")):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Reject(f"entity JSON is malformed: {exc}") from exc
        rows = loaded if isinstance(loaded, list) else [loaded]
        if not all(isinstance(r, dict) for r in rows):
            raise Reject("entity JSON must be a list of objects")
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        return Entities(columns=columns, rows=rows)
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise Reject("entity CSV has no header row")
    return Entities(columns=list(reader.fieldnames), rows=[dict(r) for r in reader])
