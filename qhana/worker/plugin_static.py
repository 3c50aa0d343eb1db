"""A plugin's static files (``Plugin.static_dir``) into the Object Store, for the edge.

The edge never runs plugin code and never sees a worker's file system: every worker that
offers a plugin with static files puts them under ``plugins/<identifier>/static/<path>`` in
``qhana-files`` at start; the edge serves ``/plugins/<identifier>/static/<path>`` from there
(only paths the plugin announced in ``PluginInfo.static_files``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nats.js.object_store import ObjectStore

from qhana.bus import subjects
from qhana.logging import get_logger
from qhana.sdk import Plugin
from qhana.wire import LoadError

__all__ = ["publish_static_files"]

log = get_logger("qhana.worker.plugin_static")


async def publish_static_files(store: ObjectStore, plugins: Iterable[Plugin]) -> list[LoadError]:
    """Store the static files of ``plugins``; a file that cannot be stored is a load error."""
    errors: list[LoadError] = []
    for plugin in plugins:
        if plugin.static_dir is None:
            continue
        for path in plugin.static_files():
            try:
                data = (Path(plugin.static_dir) / path).read_bytes()
                await store.put(subjects.plugin_static_object(plugin.identifier, path), data)
            except Exception as exc:
                errors.append(
                    LoadError(
                        source=f"{plugin.identifier} static {path}", error=repr(exc), traceback=""
                    )
                )
        log.info("plugin.static_published", plugin=plugin.identifier)
    return errors
