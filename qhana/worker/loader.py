"""Find plugins: the repo's plugins/, PLUGIN_FOLDERS and the ``qhana.plugins`` entry points.

A module offers its plugins through one explicit module attribute: ``plugin`` (one) or
``plugins`` (a sequence). A module that fails to import is reported loudly (log + the
``load_errors`` of the announce); the others are still served.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from qhana.logging import get_logger
from qhana.sdk import Plugin
from qhana.wire import LoadError

__all__ = ["LoadedPlugins", "default_plugin_dir", "load_plugins"]

log = get_logger("qhana.worker.loader")
ENTRY_POINT_GROUP = "qhana.plugins"


@dataclass
class LoadedPlugins:
    plugins: dict[str, Plugin] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)

    def add(self, plugin: Plugin, source: str) -> None:
        if plugin.identifier in self.plugins:
            self.error(source, f"duplicate plugin {plugin.identifier}; the first one is kept", "")
            return
        self.plugins[plugin.identifier] = plugin

    def error(self, source: str, message: str, tb: str) -> None:
        log.error("plugin.load_failed", source=source, error=message, traceback=tb)
        self.errors.append(LoadError(source=source, error=message, traceback=tb))


def default_plugin_dir() -> Path | None:
    """The ``plugins/`` folder of a source checkout, if there is one."""
    path = Path(__file__).resolve().parents[2] / "plugins"
    return path if path.is_dir() else None


def _offered(module: ModuleType) -> list[Plugin]:
    found: list[object] = []
    if hasattr(module, "plugin"):
        found.append(module.plugin)
    found.extend(getattr(module, "plugins", ()))
    if not found:
        raise LookupError("module defines neither `plugin` nor `plugins`")
    bad = [p for p in found if not isinstance(p, Plugin)]
    if bad:
        raise TypeError(f"not a qhana.sdk.Plugin: {bad!r}")
    return [p for p in found if isinstance(p, Plugin)]


def _import_path(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path.parent).encode()).hexdigest()[:8]
    name = f"qhana_plugin_{digest}_{path.stem.replace('-', '_')}"
    target = path / "__init__.py" if path.is_dir() else path
    spec = importlib.util.spec_from_file_location(
        name, target, submodule_search_locations=[str(path)] if path.is_dir() else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _folder_entries(folder: Path) -> Iterable[Path]:
    if (folder / "__init__.py").is_file():
        yield folder
        return
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.suffix == ".py" or (entry / "__init__.py").is_file():
            yield entry


def _load_module(result: LoadedPlugins, source: str, load: Callable[[], ModuleType]) -> None:
    try:
        module = load()
        for plugin in _offered(module):
            result.add(plugin, source)
    except Exception as exc:  # a broken plugin must never take the worker down
        result.error(source, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def load_plugins(folders: Iterable[Path], *, entry_points: bool = True) -> LoadedPlugins:
    """Import every plugin module of the folders (and entry points)."""
    result = LoadedPlugins()
    for folder in folders:
        if not folder.is_dir():
            result.error(str(folder), "plugin folder does not exist", "")
            continue
        for entry in _folder_entries(folder):
            _load_module(result, str(entry), functools.partial(_import_path, entry))
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            load = functools.partial(_entry_point_module, ep)
            _load_module(result, f"entry point {ep.name}", load)
    log.info("plugins.loaded", count=len(result.plugins), errors=len(result.errors))
    return result


def _entry_point_module(ep: importlib.metadata.EntryPoint) -> ModuleType:
    obj = ep.load()
    if isinstance(obj, ModuleType):
        return obj
    module = ModuleType("qhana_entry_point")
    module.plugin = obj  # type: ignore[attr-defined]
    return module
