"""A default-queue plugin that waits, for cancel tests (not shipped)."""

from __future__ import annotations

import asyncio

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class WaitInput(PluginInput):
    seconds: float = field(30.0, title="Seconds", ge=0, le=60)


async def run(ctx: TaskContext, params: WaitInput) -> str | None:
    await ctx.log("waiting")
    await asyncio.sleep(params.seconds)
    return "waited"


plugin = Plugin(
    name="wait-demo",
    version="v1.0.0",
    title="Wait demo",
    description="Waits (until cancelled).",
    type=PluginType.PROCESSING,
    tags=("test",),
    input_model=WaitInput,
    handler=run,
)
