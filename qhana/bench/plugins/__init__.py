"""Bench-only plugin (not shipped in plugins/): a CPU-bound sync handler on queue ``bench``.

``qhana bench`` starts separate ``qhana worker --queue bench`` processes with
``PLUGIN_FOLDERS`` pointing at this folder to measure how tasks scale over processes.
"""

from __future__ import annotations

from qhana.sdk import Plugin, PluginInput, PluginType, SyncTaskContext, field


class BurnInput(PluginInput):
    rounds: int = field(200_000, title="Rounds", ge=1, le=50_000_000)


def burn(ctx: SyncTaskContext, params: BurnInput) -> str | None:
    """Pure-Python arithmetic: holds the GIL, so one worker process is one core."""
    total = 0
    for i in range(params.rounds):
        total = (total + i * i) % 1_000_003
    return f"burned {params.rounds} rounds: {total}"


plugin = Plugin(
    name="bench-cpu-burn",
    version="v1.0.0",
    title="CPU burn (benchmark)",
    description="Spends a fixed amount of pure-Python CPU time; for qhana bench only.",
    type=PluginType.PROCESSING,
    tags=("bench",),
    queue="bench",
    input_model=BurnInput,
    handler=burn,
)
