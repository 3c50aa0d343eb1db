"""A short task on the ``faults`` queue: log, progress, one output (fault-injection load)."""

from __future__ import annotations

import asyncio

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class LoadInput(PluginInput):
    seconds: float = field(0.1, title="Seconds", ge=0, le=30)
    text: str = field("load output", title="Text")


async def run(ctx: TaskContext, params: LoadInput) -> str | None:
    await ctx.log("working")
    await ctx.progress(50)
    await asyncio.sleep(params.seconds)
    await ctx.write_output(
        "load.txt", params.text, data_type="custom/load", content_type="text/plain"
    )
    return "done"


plugin = Plugin(
    name="fault-load",
    version="v1.0.0",
    title="Fault load",
    description="Logs, sleeps, writes one file (fault-injection tests).",
    type=PluginType.PROCESSING,
    tags=("test",),
    queue="faults",
    input_model=LoadInput,
    handler=run,
)
