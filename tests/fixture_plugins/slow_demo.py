"""A slow plugin on its own queue, for redelivery tests (not shipped)."""

from __future__ import annotations

import asyncio

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class SlowInput(PluginInput):
    seconds: float = field(1.0, title="Seconds", ge=0, le=30)
    text: str = field("slow output", title="Text")


async def run(ctx: TaskContext, params: SlowInput) -> str | None:
    await ctx.log("started")
    for step in range(10):
        await ctx.progress(step * 10)
        await asyncio.sleep(params.seconds / 10)
    await ctx.write_output(
        "slow.txt", params.text, data_type="custom/slow", content_type="text/plain"
    )
    return "done"


plugin = Plugin(
    name="slow-demo",
    version="v1.0.0",
    title="Slow demo",
    description="Sleeps, reports progress, writes one file.",
    type=PluginType.PROCESSING,
    tags=("test",),
    queue="slow",
    input_model=SlowInput,
    handler=run,
)
