"""data-creator: small, reproducible example data sets (entities + attributes, CSV and JSON)."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from typing import Literal

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, TaskContext, field

Shape = Literal["blobs", "circles", "uniform"]


class CreatorInput(PluginInput):
    dataset: Shape = field(
        "blobs",
        title="Data set",
        description="Shape of the generated points.",
        input_type="select",
        options={"blobs": "Three blobs", "circles": "Two circles", "uniform": "Uniform noise"},
    )
    entities: int = field(30, title="Entities", description="Number of entities.", ge=1, le=5000)
    attributes: int = field(
        2, title="Attributes", description="Number of numeric attributes.", ge=1, le=20
    )
    seed: int = field(42, title="Seed", description="Random seed (same seed, same data).")


def _point(shape: Shape, index: int, dims: int, rng: random.Random) -> tuple[list[float], int]:
    if shape == "blobs":
        group = index % 3
        return [group * 4.0 + rng.gauss(0, 0.5) for _ in range(dims)], group
    if shape == "circles":
        group = index % 2
        angle = rng.uniform(0, 2 * math.pi)
        radius = (1.0 + 2.0 * group) + rng.gauss(0, 0.1)
        base = [radius * math.cos(angle), radius * math.sin(angle)]
        return (base + [rng.gauss(0, 0.1) for _ in range(dims - 2)])[:dims], group
    return [rng.uniform(-1, 1) for _ in range(dims)], 0


def generate(params: CreatorInput) -> tuple[list[str], list[dict[str, object]]]:
    """Attribute names and entity rows (``ID``, ``label``, ``x0``..)."""
    rng = random.Random(params.seed)
    names = [f"x{i}" for i in range(params.attributes)]
    rows: list[dict[str, object]] = []
    for i in range(params.entities):
        values, group = _point(params.dataset, i, params.attributes, rng)
        row: dict[str, object] = {"ID": f"ent-{i + 1:04d}", "label": f"class-{group}"}
        row.update({n: round(v, 4) for n, v in zip(names, values, strict=True)})
        rows.append(row)
    return names, rows


def _csv(names: list[str], rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["ID", "label", *names], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _attributes(names: list[str]) -> list[dict[str, object]]:
    meta: list[dict[str, object]] = [
        {"ID": "ID", "title": "ID", "type": "string", "refTarget": None},
        {"ID": "label", "title": "Label", "type": "string", "refTarget": None},
    ]
    meta += [{"ID": n, "title": n, "type": "number", "refTarget": None} for n in names]
    return meta


async def run(ctx: TaskContext, params: CreatorInput) -> str:
    names, rows = generate(params)
    await ctx.write_output(
        "entities.csv", _csv(names, rows), data_type="entity/vector", content_type="text/csv"
    )
    await ctx.write_output(
        "entities.json",
        json.dumps(rows, indent=1),
        data_type="entity/vector",
        content_type="application/json",
    )
    await ctx.write_output(
        "attributes.json",
        json.dumps(_attributes(names), indent=1),
        data_type="entity/attribute-metadata",
        content_type="application/json",
    )
    return f"created {len(rows)} entities with {len(names)} attributes ({params.dataset})"


plugin = Plugin(
    name="data-creator",
    version="v0.1.0",
    title="Data creator",
    description="Creates small example data sets: entities with numeric attributes.",
    type=PluginType.DATALOADER,
    tags=("data-loading", "demo"),
    input_model=CreatorInput,
    handler=run,
    help_text="Generates reproducible toy data (blobs, circles or noise) as CSV and JSON.",
    data_output=(
        DataSpec(data_type="entity/vector", content_type=["text/csv"], name="entities.csv"),
        DataSpec(data_type="entity/vector", content_type=["application/json"]),
        DataSpec(data_type="entity/attribute-metadata", content_type=["application/json"]),
    ),
)
