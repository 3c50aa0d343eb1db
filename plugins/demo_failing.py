"""failing-demo: fails on purpose, to show how a plugin error reaches the task log."""

from __future__ import annotations

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class FailInput(PluginInput):
    message: str = field(
        "This plugin always fails.", title="Message", description="Text of the error."
    )


class DemoFailure(RuntimeError):
    """The error this demo raises."""


async def run(ctx: TaskContext, params: FailInput) -> str | None:
    await ctx.log("about to fail on purpose")
    raise DemoFailure(params.message)


plugin = Plugin(
    name="failing-demo",
    version="v0.1.0",
    title="Failing demo",
    description="Always fails with the given message (to see error reporting at work).",
    type=PluginType.PROCESSING,
    tags=("demo",),
    input_model=FailInput,
    handler=run,
)
