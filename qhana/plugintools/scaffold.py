"""``qhana plugin new NAME``: a plugin package with a handler, an input model and a test."""

from __future__ import annotations

import re
from pathlib import Path

from qhana.errors import ConfigError

__all__ = ["scaffold_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")

_PLUGIN = '''"""{name}: {title} (created by `qhana plugin new`)."""

from __future__ import annotations

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, TaskContext, field


class {model}(PluginInput):
    text: str = field(title="Text", description="Some text to work on.", input_type="textarea")
    repeat: int = field(1, title="Repeat", description="How often to repeat it.", ge=1, le=100)


async def run(ctx: TaskContext, params: {model}) -> str:
    await ctx.progress(0)
    result = " ".join([params.text.upper()] * params.repeat)
    await ctx.write_output(
        "result.txt", result, data_type="custom/{name}-output", content_type="text/plain"
    )
    await ctx.progress(100)
    return f"wrote {{len(result)}} characters"


plugin = Plugin(
    name="{name}",
    version="v0.1.0",
    title="{title}",
    description="Describe what {name} does.",
    type=PluginType.PROCESSING,
    tags=("{name}",),
    input_model={model},
    handler=run,
    requirements=(),  # pip requirements, installed by `qhana plugins install`
    data_output=(DataSpec(data_type="custom/{name}-output", content_type=["text/plain"]),),
)
'''

_TEST = '''"""Tests of {name}: the handler runs in-process, without NATS (qhana.sdk.testing)."""

from __future__ import annotations

from qhana.sdk.testing import run_plugin

from {package} import plugin


def test_writes_the_upper_cased_text() -> None:
    result = run_plugin(plugin, {{"text": "hello", "repeat": 2}})
    assert result.status == "SUCCESS", result.log
    assert result.output("result.txt").text() == "HELLO HELLO"
    assert result.log == "wrote 11 characters"


def test_metadata() -> None:
    assert plugin.identifier == "{name}@v0-1-0"
'''


def scaffold_plugin(name: str, parent: Path) -> Path:
    """Create ``parent/<package>/`` (``__init__.py`` + a test); returns the package folder."""
    if not _NAME.match(name):
        raise ConfigError(
            f"plugin name {name!r}: use lower-case letters, digits and '-' (e.g. my-plugin)"
        )
    package = name.replace("-", "_")
    folder = parent / package
    if folder.exists():
        raise ConfigError(f"{folder} already exists")
    model = "".join(part.capitalize() for part in name.split("-")) + "Input"
    title = name.replace("-", " ").capitalize()
    values = {"name": name, "title": title, "model": model, "package": package}
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(_PLUGIN.format(**values))
    (folder / f"test_{package}.py").write_text(_TEST.format(**values))
    return folder
