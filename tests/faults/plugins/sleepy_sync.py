"""A synchronous handler that outlives its plugin's timeout (fault-injection tests)."""

from __future__ import annotations

import time

from qhana.sdk import Plugin, PluginInput, PluginType, SyncTaskContext, field


class SleepySyncInput(PluginInput):
    seconds: float = field(3.0, title="Seconds", ge=0, le=10)


def run(ctx: SyncTaskContext, params: SleepySyncInput) -> str | None:
    time.sleep(params.seconds)  # a thread cannot be killed: its result is ignored
    ctx.write_output("late.txt", "too late", data_type="custom/late", content_type="text/plain")
    return "woke up"


plugin = Plugin(
    name="sleepy-sync",
    version="v1.0.0",
    title="Sleepy (sync)",
    description="Blocks longer than its timeout.",
    type=PluginType.PROCESSING,
    tags=("test",),
    queue="faults",
    input_model=SleepySyncInput,
    handler=run,
    timeout_s=0.5,
)
