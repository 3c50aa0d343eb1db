"""data-preview: renders a CSV or JSON entity list as an HTML page (table + column summary)."""

from __future__ import annotations

from html import escape
from statistics import fmean

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, TaskContext, field
from qhana.sdk.entities import Entities, load_entities


class PreviewInput(PluginInput):
    data: str = field(
        title="Data",
        description="URL of an entity list (CSV or JSON).",
        input_type="data",
        data_input_type="entity/*",
        data_content_types=["text/csv", "application/json"],
    )
    max_rows: int = field(50, title="Rows", description="Rows shown in the table.", ge=1, le=1000)


def _summary(entities: Entities) -> str:
    cells = []
    for column in entities.numeric_columns():
        values = [float(r[column]) for r in entities.rows]
        cells.append(
            f"<tr><th>{escape(column)}</th><td>{min(values):g}</td>"
            f"<td>{max(values):g}</td><td>{fmean(values):.4g}</td></tr>"
        )
    head = "<tr><th>attribute</th><th>min</th><th>max</th><th>mean</th></tr>"
    return f'<table class="summary">{head}{"".join(cells)}</table>'


def render(entities: Entities, title: str, max_rows: int) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in entities.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape(str(r.get(c, '')))}</td>" for c in entities.columns)
        + "</tr>"
        for r in entities.rows[:max_rows]
    )
    shown = min(max_rows, len(entities.rows))
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        "</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>{len(entities.rows)} entities, {len(entities.columns)} attributes"
        f" (showing {shown}).</p>"
        f"{_summary(entities)}"
        f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        "</body></html>\n"
    )


async def run(ctx: TaskContext, params: PreviewInput) -> str:
    source = await ctx.fetch_url(params.data)
    entities = load_entities(source.data, source.content_type)
    page = render(entities, f"Preview of {source.name}", params.max_rows)
    await ctx.write_output(
        "preview.html", page, data_type="custom/data-preview", content_type="text/html"
    )
    return f"previewed {len(entities.rows)} entities of {source.name}"


plugin = Plugin(
    name="data-preview",
    version="v0.1.0",
    title="Data preview",
    description="Shows an entity list (CSV or JSON) as a table with a per-attribute summary.",
    type=PluginType.VISUALIZATION,
    tags=("visualization", "data"),
    input_model=PreviewInput,
    handler=run,
    data_input=(
        DataSpec(
            data_type="entity/*",
            content_type=["text/csv", "application/json"],
            parameter="data",
        ),
    ),
    data_output=(DataSpec(data_type="custom/data-preview", content_type=["text/html"]),),
)
