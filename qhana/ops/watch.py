"""``qhana tasks watch ID``: a live progress bar fed by the task's Server-Sent Events."""

from __future__ import annotations

from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from qhana.errors import OperatorCommandFailed
from qhana.ops.http import task_events

__all__ = ["watch_task"]


class _Display:
    """One progress bar plus the task's log lines and outputs printed above it."""

    def __init__(self, progress: Progress, bar: TaskID) -> None:
        self.progress = progress
        self.bar = bar

    def say(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def on_event(self, kind: str, data: dict[str, Any]) -> str | None:
        """Show one event; returns the final status once the task is done or waits."""
        match kind:
            case "started":
                self.progress.update(self.bar, description=f"running (attempt {data['attempt']})")
            case "progress":
                self._progress(data)
            case "log":
                self.say(str(data.get("text", "")))
            case "output":
                file = data.get("file", {})
                self.say(f"output: {file.get('name')} ({file.get('content_type')})")
            case "step-requested":
                if data.get("log"):
                    self.say(str(data["log"]))
                self.say(f"waiting for input: step {data['step_id']!r}")
                return "PENDING"
            case "succeeded":
                if data.get("log"):
                    self.say(str(data["log"]))
                total = self.progress.tasks[0].total or 1
                self.progress.update(self.bar, completed=total, description="SUCCESS")
                return "SUCCESS"
            case "failed" | "cancelled":
                self.progress.update(self.bar, description="FAILURE")
                if data.get("log"):
                    self.say(str(data["log"]))
                raise OperatorCommandFailed(f"task {data['task_id']} FAILURE: {data['reason']}")
        return None

    def _progress(self, data: dict[str, Any]) -> None:
        start = float(data.get("start", 0))
        target = float(data.get("target", 100))
        value = float(data.get("value", 0))
        self.progress.update(
            self.bar, total=max(target - start, 1e-9), completed=max(value - start, 0)
        )


async def watch_task(
    http: aiohttp.ClientSession, base: str, task_id: int, *, console: Console | None = None
) -> str:
    """Follow the task until it ends (or waits for a step); FAILURE raises."""
    progress = Progress(
        TextColumn("[bold]task {task.fields[task_id]}[/] {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        console=console or Console(),
        transient=False,
    )
    with progress:
        bar = progress.add_task("pending", total=None, task_id=task_id)
        display = _Display(progress, bar)
        async for kind, data in task_events(http, base, task_id):
            status = display.on_event(kind, data)
            if status is not None:
                return status
    raise OperatorCommandFailed(f"the event stream of task {task_id} ended early")
