"""The worker role: load plugins, run tasks of one queue. Needs only a NATS URL."""

from qhana.worker.loader import LoadedPlugins, load_plugins
from qhana.worker.service import discover_plugins, run_worker

__all__ = ["LoadedPlugins", "discover_plugins", "load_plugins", "run_worker"]
