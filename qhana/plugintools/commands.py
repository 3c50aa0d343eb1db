"""The ``qhana plugins ...`` (alias ``qhana plugin ...``) sub-commands."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from qhana.errors import ConfigError
from qhana.plugintools.requirements import Combined, combine_requirements
from qhana.plugintools.scaffold import scaffold_plugin
from qhana.settings import Settings

__all__ = [
    "add_plugin_commands",
    "collect_requirements",
    "install_requirements",
    "run_install",
]


def collect_requirements(settings: Settings) -> Combined:
    from qhana.worker.git_plugins import sync_git_plugins
    from qhana.worker.service import discover_plugins

    git = sync_git_plugins(settings.git_plugins, settings.git_plugins_dir)
    folders, git_errors = asyncio.run(git)
    loaded = discover_plugins(settings, folders)
    loaded.errors.extend(git_errors)
    for error in loaded.errors:
        print(f"warning: {error.source}: {error.error}", file=sys.stderr)
    return combine_requirements(
        (line, plugin.identifier)
        for plugin in loaded.plugins.values()
        for line in plugin.requirements
    )


def install_requirements(combined: Combined) -> int:
    """``pip install -r`` the combined requirements in a subprocess; returns pip's exit code."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="qhana-plugins-") as handle:
        handle.write(combined.text())
        handle.flush()
        return subprocess.call([sys.executable, "-m", "pip", "install", "-r", handle.name])


def _install(settings: Settings, args: argparse.Namespace) -> int:
    return run_install(settings, dry_run=args.dry_run)


def run_install(settings: Settings, *, dry_run: bool) -> int:
    """``qhana plugins install [--dry-run]``; returns the exit code."""
    combined = collect_requirements(settings)
    for problem in combined.invalid:
        print(f"error: invalid requirement {problem}", file=sys.stderr)
    for conflict in combined.conflicts:
        print(f"error: {conflict.describe()}", file=sys.stderr)
    if combined.conflicts or combined.invalid:
        return 1
    if dry_run:
        print(combined.text(), end="")
        return 0
    if not combined.lines:
        print("no plugin declares requirements")
        return 0
    return install_requirements(combined)


def _new(settings: Settings, args: argparse.Namespace) -> int:
    try:
        folder = scaffold_plugin(args.name, Path(args.dir))
    except ConfigError as exc:
        print(f"qhana: error: {exc}", file=sys.stderr)
        return 1
    print(f"created {folder}/ (test: pytest {folder})")
    return 0


def add_plugin_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plugins = sub.add_parser("plugins", aliases=["plugin"], help="plugin requirements, scaffold")
    actions = plugins.add_subparsers(dest="action", required=True, metavar="ACTION")
    install = actions.add_parser(
        "install", help="pip install the requirements of all discovered plugins"
    )
    install.add_argument(
        "-d", "--dry-run", action="store_true", help="only print the combined requirements"
    )
    install.set_defaults(sync_run=_install)
    new = actions.add_parser("new", help="create a plugin package with a test")
    new.add_argument("name", help="plugin name, e.g. my-plugin")
    new.add_argument("--dir", default="plugins", help="parent folder (default: plugins)")
    new.set_defaults(sync_run=_new)
