"""A plugin's own micro-frontend page (template as data) and static files via the Object Store."""

from __future__ import annotations

from pathlib import Path

from support.stack import start_stack

from qhana.settings import Settings

FANCY = '''
from pathlib import Path

from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field

TEMPLATE = """<!DOCTYPE html>
<html><head><title>$title</title>$head
<link rel="stylesheet" href="$static_url/style.css"></head>
<body><header class="fancy">Fancy <img src="$static_url/img/logo.svg"></header>
$form
<p>price: $$5 <span data-x="$unknown"></span></p></body></html>
"""


class In(PluginInput):
    word: str = field(title="Word")


async def run(ctx: TaskContext, params: In) -> str:
    return params.word.upper()


plugin = Plugin(
    name="fancy", version="v1.0.0", title="Fancy <b>UI</b>", description="own page",
    type=PluginType.VISUALIZATION, input_model=In, handler=run,
    ui_template=TEMPLATE, static_dir=Path(__file__).parent / "static",
)
'''


def _plugin_folder(root: Path) -> Path:
    package = root / "fancy"
    (package / "static" / "img").mkdir(parents=True)
    (package / "__init__.py").write_text(FANCY)
    (package / "static" / "style.css").write_text(".fancy { color: teal }\n")
    (package / "static" / "img" / "logo.svg").write_text("<svg></svg>")
    (package / "static" / ".secret").write_text("hidden")
    return root


async def test_custom_page_and_static_files(tmp_path: Path) -> None:
    folder = _plugin_folder(tmp_path / "plugins")
    settings = Settings.model_validate({"heartbeat_interval_s": 0.2, "plugin_folders": str(folder)})
    stack = await start_stack(tmp_path / "data", settings)
    base = f"{stack.base}plugins/fancy@v1-0-0/"
    try:
        async with stack.http.get(base + "ui/?word=hi") as resp:
            assert resp.status == 200
            page = await resp.text()
        assert "<title>Fancy &lt;b&gt;UI&lt;/b&gt;</title>" in page
        assert '<header class="fancy">' in page
        assert 'href="/plugins/fancy@v1-0-0/static/style.css"' in page
        assert 'src="/static/microfrontend.js"' in page  # the QHAna protocol still works
        assert '<form class="qhana-form"' in page and 'value="hi"' in page
        assert "price: $5" in page and 'data-x="$unknown"' in page

        async with stack.http.get(base + "static/style.css") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/css")
            assert await resp.text() == ".fancy { color: teal }\n"
        async with stack.http.get(base + "static/img/logo.svg") as resp:
            assert (resp.status, await resp.text()) == (200, "<svg></svg>")
        for missing in ("static/.secret", "static/nope.css", "static/../__init__.py"):
            async with stack.http.get(base + missing) as resp:
                assert resp.status == 404, missing

        doc = await stack.finished(await stack.submit("fancy@v1-0-0", word="hi"))
        assert (doc["status"], doc["log"]) == ("SUCCESS", "HI")
        async with stack.http.get(f"{stack.base}plugins/hello-world@v0-2-1/ui/") as resp:
            assert '<header class="fancy">' not in await resp.text()  # others keep the stock page
    finally:
        await stack.close()
