"""Discovery through the ``qhana.plugins`` entry-point group of an installed distribution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qhana.worker.loader import load_plugins

MODULE = """
from qhana.sdk import Plugin, PluginInput, PluginType


class In(PluginInput):
    pass


async def run(ctx, params):
    return "from an entry point"


plugin = Plugin(
    name="entry-point-demo", version="v2.0.0", title="ep", description="ep",
    type=PluginType.PROCESSING, input_model=In, handler=run,
)
"""


def test_entry_point_plugins_are_loaded(tmp_path: Path) -> None:
    (tmp_path / "ep_demo_module.py").write_text(MODULE)
    (tmp_path / "ep_demo_broken.py").write_text("import not_installed_anywhere\n")
    dist = tmp_path / "ep_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[qhana.plugins]\ndemo = ep_demo_module\nbroken = ep_demo_broken\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        loaded = load_plugins([], entry_points=True)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("ep_demo_module", None)
    assert "entry-point-demo@v2-0-0" in loaded.plugins
    [error] = [e for e in loaded.errors if e.source == "entry point broken"]
    assert error.error == "ModuleNotFoundError: No module named 'not_installed_anywhere'"
    assert "Traceback" in error.traceback


def test_platform_never_imports_the_ml_stack() -> None:
    """numpy / scikit-learn / matplotlib are the plugins' business, not the platform's."""
    code = (
        # qhana.roles imports the roles lazily (start-up): import what run_up imports
        "import sys, importlib, qhana.cli, qhana.roles, qhana.worker.service, "
        "qhana.sdk.testing, qhana.sdk.entities, qhana.plugintools; "
        "[importlib.import_module(name) for name in qhana.roles.ROLE_MODULES]; "
        "print(sorted(m for m in ('numpy', 'sklearn', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
