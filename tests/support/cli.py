"""Running ``qhana`` as a subprocess, as an operator would, without this shell's settings."""

from __future__ import annotations

import os

__all__ = ["clean_env"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``QHANA_*`` / ``PLUGIN_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QHANA_", "PLUGIN_"))}
    return {**env, **extra}
