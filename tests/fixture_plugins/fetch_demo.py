"""A default-queue plugin that reads one input URL, for URL-map tests (not shipped)."""

from __future__ import annotations

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class FetchInput(PluginInput):
    url: str = field(title="URL", description="What to read.")


async def run(ctx: TaskContext, params: FetchInput) -> str | None:
    return "fetched: " + (await ctx.read_url(params.url)).decode()


plugin = Plugin(
    name="fetch-demo",
    version="v1.0.0",
    title="Fetch demo",
    description="Reads one URL.",
    type=PluginType.PROCESSING,
    tags=("test",),
    input_model=FetchInput,
    handler=run,
)
