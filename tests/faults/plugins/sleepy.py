"""A task that outlives its plugin's timeout (fault-injection tests)."""

from __future__ import annotations

import asyncio

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class SleepyInput(PluginInput):
    seconds: float = field(30.0, title="Seconds", ge=0, le=60)


async def run(ctx: TaskContext, params: SleepyInput) -> str | None:
    await ctx.log("sleeping")
    await asyncio.sleep(params.seconds)
    await ctx.write_output(
        "late.txt", "too late", data_type="custom/late", content_type="text/plain"
    )
    return "woke up"


plugin = Plugin(
    name="sleepy",
    version="v1.0.0",
    title="Sleepy",
    description="Sleeps longer than its timeout.",
    type=PluginType.PROCESSING,
    tags=("test",),
    queue="faults",
    input_model=SleepyInput,
    handler=run,
    timeout_s=0.5,
)
