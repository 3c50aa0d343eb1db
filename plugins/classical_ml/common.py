"""Shared by the ML plugins: read a numeric entity matrix, write CSV and plots."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qhana.sdk import DataSpec, SyncTaskContext
from qhana.sdk.entities import load_entities

if TYPE_CHECKING:  # numpy and matplotlib are imported on first use, not at worker start
    import numpy as np
    from numpy.typing import NDArray

ENTITY_TYPES = ["text/csv", "application/json"]
# what both plugins need and read: pip requirements and the one entity input
REQUIREMENTS = ("scikit-learn>=1.3", "numpy>=1.24", "matplotlib>=3.7")
ENTITY_INPUT = DataSpec(
    data_type="entity/vector", content_type=ENTITY_TYPES, parameter="entityPointsUrl"
)


def read_matrix(ctx: SyncTaskContext, url: str) -> tuple[list[str], list[str], NDArray[np.float64]]:
    """Entity ids, numeric attribute names and the matrix (rows = entities)."""
    import numpy as np

    fetched = ctx.fetch_url(url)
    entities = load_entities(fetched.data, fetched.content_type)
    columns = entities.numeric_columns()
    if not columns or not entities.rows:
        raise ValueError(f"{fetched.name} has no numeric attributes")
    return entities.ids, columns, np.asarray(entities.matrix(columns), dtype=np.float64)


def to_csv(ids: Sequence[str], header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["ID", *header])
    for entity, row in zip(ids, rows, strict=True):
        writer.writerow([entity, *row])
    return buffer.getvalue()


def scatter(
    points: NDArray[np.float64], colors: Sequence[int] | None, title: str, fmt: str
) -> bytes:
    """A 2-D scatter plot (the second axis is 0 for 1-D data) as PNG or SVG bytes."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ys = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))
    fig, ax = plt.subplots(figsize=(5, 4), dpi=80)
    try:
        ax.scatter(points[:, 0], ys, c=list(colors) if colors is not None else None, s=16)
        ax.set_title(title)
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt)
    finally:
        plt.close(fig)
    return buffer.getvalue()
