"""A worker whose queue has plain (sync) handlers only takes no more commands than its
thread pool runs at once, so a burst spreads over every worker of the queue."""

from __future__ import annotations

from qhana.sdk import Plugin, PluginInput, PluginType, Step, SyncTaskContext, TaskContext
from qhana.worker.service import task_slots


def _sync(ctx: SyncTaskContext, params: PluginInput) -> str | None:
    return None


async def _async(ctx: TaskContext, params: PluginInput) -> str | None:
    return None


def _plugin(name: str, handler: object, steps: tuple[Step, ...] = ()) -> Plugin:
    return Plugin(
        name=name,
        version="v1.0.0",
        title=name,
        description=name,
        type=PluginType.PROCESSING,
        input_model=PluginInput,
        handler=handler,  # type: ignore[arg-type]
        steps=steps,
    )


def test_sync_only_queue_takes_what_its_pool_runs() -> None:
    assert task_slots([_plugin("a", _sync), _plugin("b", _sync)], 64, 4) == 4
    assert task_slots([_plugin("a", _sync)], 2, 4) == 2  # never more than configured


def test_any_async_handler_keeps_the_configured_concurrency() -> None:
    assert task_slots([_plugin("a", _sync), _plugin("b", _async)], 64, 4) == 64
    step = Step(step_id="next", title="next", input_model=PluginInput, handler=_async)
    assert task_slots([_plugin("a", _sync, (step,))], 64, 4) == 64
    assert task_slots([], 64, 4) == 64
