"""A task as the upstream runner's ``TaskStatusSchema`` JSON."""

from __future__ import annotations

from typing import Any

from qhana.db.task_views import FileView, TaskView

__all__ = ["file_href", "step_paths", "task_document"]


def file_href(base: str, file: FileView) -> str:
    return f"{base}/files/{file.id}/?file-id={file.token}"


def step_paths(plugin: str, task_id: int, step_id: str) -> tuple[str, str]:
    """Root-relative (process, ui) paths of a step's routes."""
    prefix = f"/plugins/{plugin}/{task_id}/{step_id}"
    return f"{prefix}-process/", f"{prefix}-ui/"


def task_document(task: TaskView, base: str) -> dict[str, Any]:
    """Status, log, progress (also when 0), steps, outputs (once finished) and links."""
    doc: dict[str, Any] = {"status": task.status.value, "log": task.log}
    if task.progress is not None:
        value, start, target, unit = task.progress
        doc["progress"] = {
            "value": int(value),
            "start": int(start),
            "target": int(target),
            "unit": unit,
        }
    if task.steps and task.plugin:
        doc["steps"] = []
        for step in task.steps:
            href, ui_href = step_paths(task.plugin, task.id, step.step_id)
            doc["steps"].append(
                {
                    "href": base + href,
                    "uiHref": base + ui_href,
                    "stepId": step.step_id,
                    "cleared": step.cleared,
                }
            )
    outputs = task.outputs if task.status.finished else []
    doc["outputs"] = [
        {
            "name": f.name,
            "dataType": f.data_type,
            "contentType": f.content_type,
            "href": file_href(base, f),
        }
        for f in outputs
    ]
    doc["links"] = [{"type": "subscribe", "href": f"{base}/tasks/{task.id}/"}]
    return doc
