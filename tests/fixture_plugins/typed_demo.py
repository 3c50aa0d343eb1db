"""A plugin with typed, bounded and enum fields, for validation contract tests (not shipped)."""

from __future__ import annotations

from enum import StrEnum

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class TypedInput(PluginInput):
    count: int = field(title="Count", description="How many.", ge=1, le=10)
    ratio: float | None = field(None, title="Ratio", ge=0, le=1)
    colour: Colour = field(Colour.RED, title="Colour", input_type="select")
    verbose: bool = field(False, title="Verbose")
    source: str = field(
        "",
        title="Source",
        input_type="data",
        data_input_type="entity/list",
        data_content_types=["application/json"],
    )


async def run(ctx: TaskContext, params: TypedInput) -> str | None:
    return f"count={params.count} colour={params.colour.value} verbose={params.verbose}"


plugin = Plugin(
    name="typed-demo",
    version="v1.0.0",
    title="Typed demo",
    description="Typed form fields for validation tests.",
    type=PluginType.PROCESSING,
    tags=("test",),
    input_model=TypedInput,
    handler=run,
)
