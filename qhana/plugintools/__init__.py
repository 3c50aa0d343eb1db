"""Tools for plugin authors and operators: requirements install, scaffolding."""

from qhana.plugintools.requirements import Conflict, combine_requirements
from qhana.plugintools.scaffold import scaffold_plugin

__all__ = ["Conflict", "combine_requirements", "scaffold_plugin"]
