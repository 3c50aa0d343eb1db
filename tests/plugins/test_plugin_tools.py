"""`qhana plugins install` (combined requirements, conflicts) and `qhana plugin new`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qhana.errors import ConfigError
from qhana.plugintools import combine_requirements, scaffold_plugin
from qhana.plugintools.commands import run_install
from qhana.settings import Settings
from qhana.worker.loader import load_plugins

PLUGIN_TEMPLATE = """
from qhana.sdk import Plugin, PluginInput, PluginType


class In(PluginInput):
    pass


async def run(ctx, params):
    return None


plugin = Plugin(
    name="{name}", version="v1.0.0", title="{name}", description="test",
    type=PluginType.PROCESSING, input_model=In, handler=run, requirements={requirements!r},
)
"""


def _plugin_folder(root: Path, plugins: dict[str, tuple[str, ...]]) -> Path:
    root.mkdir()
    for name, requirements in plugins.items():
        text = PLUGIN_TEMPLATE.format(name=name, requirements=requirements)
        (root / f"{name.replace('-', '_')}.py").write_text(textwrap.dedent(text))
    return root


def _qhana(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "QHANA_LOG_FORMAT": "json", **env}
    return subprocess.run(
        [sys.executable, "-m", "qhana", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_requirements_are_merged_per_distribution() -> None:
    combined = combine_requirements(
        [
            ("numpy>=1.24", "a@v1"),
            ("NumPy<3", "b@v1"),
            ("requests[socks]==2.32.0", "b@v1"),
            ("# a comment", "b@v1"),
            ("tomli>=1; python_version < '3.11'", "a@v1"),
            ("tomli>=2; python_version < '3.11'", "b@v1"),
        ]
    )
    assert not combined.conflicts and not combined.invalid
    assert [line.split()[0] for line in combined.lines] == [
        "numpy<3,>=1.24",
        "requests[socks]==2.32.0",
        "tomli>=1,>=2;",
    ]
    assert combined.lines[2].startswith('tomli>=1,>=2; python_version < "3.11"')
    assert combined.lines[0].endswith("# a@v1, b@v1")


def test_conflicting_pins_and_ranges_are_reported() -> None:
    combined = combine_requirements(
        [
            ("numpy<2", "old-plugin@v1"),
            ("numpy>=2.1", "new-plugin@v2"),
            ("scipy==1.10.0", "a@v1"),
            ("scipy==1.11.0", "b@v1"),
            ("pandas>=2,!=2.0.1", "a@v1"),
            ("pandas<=2.0.1", "b@v1"),
            ("not a requirement!", "c@v1"),
        ]
    )
    described = [c.describe() for c in combined.conflicts]
    assert described == [
        "conflicting requirements for numpy: numpy<2 (from old-plugin@v1); "
        "numpy>=2.1 (from new-plugin@v2)",
        "conflicting requirements for scipy: scipy==1.10.0 (from a@v1); scipy==1.11.0 (from b@v1)",
    ]  # pandas 2.0.0 satisfies both of its ranges
    assert combined.lines[0].startswith("pandas!=2.0.1,<=2.0.1,>=2")
    assert len(combined.invalid) == 1 and "c@v1" in combined.invalid[0]


def _settings(folder: Path) -> Settings:
    return Settings.model_validate({"plugin_folders": str(folder)})


def test_install_dry_run_prints_combined_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _plugin_folder(
        tmp_path / "plugins", {"uses-a": ("packaging>=20",), "uses-b": ("packaging<1000",)}
    )
    assert run_install(_settings(folder), dry_run=True) == 0
    out = capsys.readouterr().out
    assert "scikit-learn>=1.3" in out  # the shipped plugins' requirements are there too
    mine = [line for line in out.splitlines() if "uses-" in line]
    assert mine == [f"{'packaging<1000,>=20':<40}  # uses-a@v1-0-0, uses-b@v1-0-0"]


def test_install_reports_conflicts_and_installs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _plugin_folder(
        tmp_path / "plugins", {"wants-old": ("packaging<2",), "wants-new": ("packaging>=24",)}
    )
    assert run_install(_settings(folder), dry_run=False) == 1
    captured = capsys.readouterr()
    assert (
        "error: conflicting requirements for packaging: packaging>=24 (from wants-new@v1-0-0); "
        "packaging<2 (from wants-old@v1-0-0)"
    ) in captured.err
    assert "Requirement" not in captured.out  # pip never ran


def test_install_runs_pip(tmp_path: Path) -> None:
    folder = _plugin_folder(tmp_path / "plugins", {"needs-packaging": ("packaging>=20",)})
    # no index: the requirement is already installed, so pip must not need the network
    result = _qhana(
        "plugins", "install", cwd=tmp_path, PLUGIN_FOLDERS=str(folder), PIP_NO_INDEX="1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Requirement already satisfied: packaging>=20" in result.stdout


def test_scaffold_generates_a_passing_test(tmp_path: Path) -> None:
    created = _qhana("plugin", "new", "word-shouter", "--dir", str(tmp_path), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    package = tmp_path / "word_shouter"
    assert sorted(p.name for p in package.iterdir()) == ["__init__.py", "test_word_shouter.py"]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package)],
        cwd=tmp_path,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # plain pytest, and fast
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout
    loaded = load_plugins([tmp_path], entry_points=False)
    assert list(loaded.plugins) == ["word-shouter@v0-1-0"] and not loaded.errors
    with pytest.raises(ConfigError, match="already exists"):
        scaffold_plugin("word-shouter", tmp_path)
    with pytest.raises(ConfigError, match="lower-case"):
        scaffold_plugin("Bad Name", tmp_path)
