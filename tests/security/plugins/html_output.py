"""Writes an HTML output with a hostile name (file-serving security tests, not shipped)."""

from __future__ import annotations

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class HtmlInput(PluginInput):
    name: str = field("../../../etc/evil.html", title="Output name")


async def run(ctx: TaskContext, params: HtmlInput) -> str | None:
    page = "<html><body><script>fetch('/tasks/1/')</script>hostile</body></html>"
    await ctx.write_output(params.name, page, data_type="custom/html", content_type="text/html")
    return None


plugin = Plugin(
    name="html-output",
    version="v1.0.0",
    title="HTML output",
    description="Writes an HTML page as output.",
    type=PluginType.PROCESSING,
    tags=("test",),
    input_model=HtmlInput,
    handler=run,
)
