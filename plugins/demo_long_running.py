"""long-running-demo: counts slowly, reports progress, stops early when cancelled."""

from __future__ import annotations

import asyncio

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, TaskContext, field


class LongInput(PluginInput):
    steps: int = field(10, title="Steps", description="How many steps to count.", ge=1, le=10000)
    step_seconds: float = field(
        0.5, title="Seconds per step", description="Pause per step.", ge=0, le=60
    )


async def run(ctx: TaskContext, params: LongInput) -> str:
    done = 0
    for done in range(1, params.steps + 1):
        if ctx.cancelled:
            await ctx.log(f"cancelled after {done - 1} of {params.steps} steps")
            return "cancelled"
        await asyncio.sleep(params.step_seconds)
        await ctx.progress(done, target=params.steps, unit="steps")
    await ctx.write_output(
        "count.txt",
        "\n".join(str(i) for i in range(1, done + 1)),
        data_type="custom/count",
        content_type="text/plain",
    )
    return f"counted to {done}"


plugin = Plugin(
    name="long-running-demo",
    version="v0.1.0",
    title="Long running demo",
    description="Counts slowly with progress; can be cancelled.",
    type=PluginType.PROCESSING,
    tags=("demo",),
    input_model=LongInput,
    handler=run,
    data_output=(DataSpec(data_type="custom/count", content_type=["text/plain"]),),
)
