"""GIT_PLUGINS: repositories cloned (then updated) at worker start, from a local bare repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.stack import start_stack

from qhana.settings import Settings
from qhana.worker.git_plugins import parse_line, sync_git_plugins
from qhana.worker.loader import load_plugins

ECHO = """
from qhana.sdk import Plugin, PluginInput, PluginType, TaskContext, field


class In(PluginInput):
    text: str = field(title="Text")


async def run(ctx: TaskContext, params: In) -> str:
    return "{prefix}" + params.text


plugin = Plugin(
    name="git-echo", version="{version}", title="git echo", description="from git",
    type=PluginType.PROCESSING, input_model=In, handler=run,
)
"""


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _publish(work: Path, prefix: str, version: str) -> None:
    (work / "plugins").mkdir(exist_ok=True)
    (work / "plugins" / "git_echo.py").write_text(ECHO.format(prefix=prefix, version=version))
    (work / "README.md").write_text("not a plugin folder\n")
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", f"echo {version}", cwd=work)
    _git("push", "-q", "origin", "HEAD:main", cwd=work)


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, Path]:
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    _git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    _git("clone", "-q", str(bare), str(work), cwd=tmp_path)
    _publish(work, "one: ", "v1.0.0")
    return bare, work


def test_parse_pip_style_lines() -> None:
    spec = parse_line("git+https://example.org/org/repo.git@v1.2#subdirectory=plugins")
    assert (spec.url, spec.ref, spec.subdirectory) == (
        "https://example.org/org/repo.git",
        "v1.2",
        "plugins",
    )
    ssh = parse_line("git+ssh://git@example.org/org/repo.git")
    assert (ssh.url, ssh.ref) == ("ssh://git@example.org/org/repo.git", None)
    with pytest.raises(ValueError, match="inside the repository"):
        parse_line("git+https://example.org/r.git#subdirectory=../../etc")


async def test_clone_then_pull(origin: tuple[Path, Path], tmp_path: Path) -> None:
    bare, work = origin
    text = f"git+file://{bare}#subdirectory=plugins\ngit+file://{tmp_path}/missing.git\n"
    folders, errors = await sync_git_plugins(text, tmp_path / "git-plugins")
    assert [f.name for f in folders] == ["plugins"]
    [error] = errors
    assert "missing.git" in error.source and "git clone failed" in error.error
    assert list(load_plugins(folders, entry_points=False).plugins) == ["git-echo@v1-0-0"]

    _publish(work, "two: ", "v2.0.0")
    again, _ = await sync_git_plugins(text, tmp_path / "git-plugins")
    assert again == folders  # same clone, updated in place
    assert list(load_plugins(again, entry_points=False).plugins) == ["git-echo@v2-0-0"]


async def test_worker_serves_git_plugins(origin: tuple[Path, Path], tmp_path: Path) -> None:
    bare, _ = origin
    settings = Settings.model_validate(
        {
            "heartbeat_interval_s": 0.2,
            "git_plugins": f"git+file://{bare}@main#subdirectory=plugins",
            "git_plugins_dir": str(tmp_path / "git-plugins"),
        }
    )
    stack = await start_stack(tmp_path / "data", settings)
    try:
        doc = await stack.finished(await stack.submit("git-echo@v1-0-0", text="hi"))
        assert (doc["status"], doc["log"]) == ("SUCCESS", "one: hi")
    finally:
        await stack.close()
