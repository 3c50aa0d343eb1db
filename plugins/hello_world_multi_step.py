"""hello-world-multi-step: a preprocessing step, a user step, then processing (upstream demo)."""

from __future__ import annotations

from qhana.sdk import Plugin, PluginInput, PluginType, Step, TaskContext, field

EMPTY = "Empty input string, no output could be generated!"
DATA_TYPE = "hello-world-output"  # sic: upstream omits the custom/ prefix here


class HelloInput(PluginInput):
    input_str: str = field(
        title="Input String", description="A simple string input.", input_type="textarea"
    )


async def preprocess(ctx: TaskContext, params: HelloInput) -> str | None:
    ctx.state["input_str"] = params.input_str
    ctx.request_step(
        "demo-step",
        prefill={"inputStr": f"Input from preprocessing: {params.input_str}"},
        progress=50,
    )
    if not params.input_str:
        return EMPTY
    out = f"Processed in the preprocessing step: {params.input_str}"
    await ctx.write_output("output1.txt", out, data_type=DATA_TYPE, content_type="text/plain")
    return "result: " + repr(out)


async def process(ctx: TaskContext, params: HelloInput) -> str | None:
    if not params.input_str:
        return EMPTY
    out = f"Processed in the processing step: {ctx.state.get('input_str', '')} {params.input_str}"
    await ctx.write_output("output2.txt", out, data_type=DATA_TYPE, content_type="text/plain")
    return "result: " + repr(out)


plugin = Plugin(
    name="hello-world-multi-step",
    version="v0.2.1",
    title="hello-world-multi-step",
    description=(
        "Tests the connection of all components by printing some text. "
        "Also tests the ability to execute multi-step plugins."
    ),
    type=PluginType.PROCESSING,
    tags=("hello-world", "demo", "multistep"),
    input_model=HelloInput,
    handler=preprocess,
    examples={"inputStr": "Test."},
    steps=(
        Step(
            step_id="demo-step",
            title="hello-world-multi-step",
            input_model=HelloInput,
            handler=process,
            examples={"inputStr": "Sample input string."},
        ),
    ),
)
