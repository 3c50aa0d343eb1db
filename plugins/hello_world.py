"""hello-world: replaces every "input" with "output" (the upstream demo, byte for byte)."""

from __future__ import annotations

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, TaskContext, field

EMPTY = "Empty input string, no output could be generated!"


class HelloInput(PluginInput):
    input_str: str = field(
        title="Input String", description="A simple string input.", input_type="textarea"
    )


async def run(ctx: TaskContext, params: HelloInput) -> str | None:
    if not params.input_str:
        return EMPTY
    out = params.input_str.replace("input", "output")
    await ctx.write_output(
        "out.txt", out, data_type="custom/hello-world-output", content_type="text/plain"
    )
    return "result: " + repr(out)


plugin = Plugin(
    name="hello-world",
    version="v0.2.1",
    title="hello-world",
    description="Tests the connection of all components by printing some text.",
    type=PluginType.PROCESSING,
    tags=("hello-world", "demo"),
    input_model=HelloInput,
    handler=run,
    help_text="This is an example help text with basic **Markdown** support.",
    examples={"inputStr": "Sample input string."},
    data_output=(
        DataSpec(data_type="custom/hello-world-output", content_type=["text/plain"], required=True),
    ),
)
