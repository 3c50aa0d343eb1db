"""A poison task on the ``faults`` queue: its handler kills the worker process every time."""

from __future__ import annotations

import asyncio
import os

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class PoisonInput(PluginInput):
    delay_s: float = field(0.3, title="Delay before the crash", ge=0, le=10)


async def run(ctx: TaskContext, params: PoisonInput) -> str | None:
    await ctx.log("about to crash")
    # let tasks fetched in the same batch finish first: only the poison itself should repeat
    await asyncio.sleep(params.delay_s)
    os._exit(1)


plugin = Plugin(
    name="poison",
    version="v1.0.0",
    title="Poison",
    description="Crashes the worker process (fault-injection tests).",
    type=PluginType.PROCESSING,
    tags=("test",),
    queue="faults",
    input_model=PoisonInput,
    handler=run,
)
