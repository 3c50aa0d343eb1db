"""The plugin registry role: catalogue fed by events."""

from qhana.registry.service import Registry, run_registry

__all__ = ["Registry", "run_registry"]
