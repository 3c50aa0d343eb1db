"""The plugin descriptor: one explicit, frozen object per plugin."""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict

from qhana.errors import PluginError
from qhana.sdk.context import PeriodicContext, SyncTaskContext, TaskContext
from qhana.wire import (
    DataSpec,
    LinkSpec,
    PluginDependencySpec,
    PluginInfo,
    PluginType,
    StepSpec,
    form_key,
    plugin_identifier,
)

__all__ = [
    "AsyncHandler",
    "Handler",
    "Periodic",
    "PeriodicHandler",
    "Plugin",
    "PluginInput",
    "Step",
    "SyncHandler",
]

AsyncHandler = Callable[[TaskContext, Any], Awaitable[str | None]]
SyncHandler = Callable[[SyncTaskContext, Any], str | None]
Handler = AsyncHandler | SyncHandler
PeriodicHandler = Callable[[PeriodicContext], Awaitable[None] | None]


class PluginInput(BaseModel):
    """Base class of plugin input models: form keys are the upstream camelCase names."""

    model_config = ConfigDict(alias_generator=form_key, populate_by_name=True, extra="ignore")


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=False)


@dataclass(frozen=True, slots=True)
class Step:
    """A later step of a multi-step plugin: its form model and handler."""

    step_id: str
    title: str
    input_model: type[BaseModel]
    handler: Handler
    help_text: str | None = None
    examples: Mapping[str, str] = field(default_factory=dict)

    def spec(self) -> StepSpec:
        return StepSpec(
            step_id=self.step_id,
            title=self.title,
            input_schema=_schema(self.input_model),
            help_text=self.help_text,
            examples=dict(self.examples),
        )


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job run every ``every_s`` seconds, once per period across all workers of the plugin.

    Periods are aligned to the epoch (``floor(time / every_s)``); the worker that claims a
    period in the KV bucket ``qhana-periodic`` runs it, the others skip it. At most once per
    period: a worker that dies while running its job does not hand it over.
    """

    name: str
    every_s: float
    handler: PeriodicHandler

    def __post_init__(self) -> None:
        if not self.name or not all(ch.isalnum() or ch in "-_" for ch in self.name):
            raise PluginError(f"periodic job name {self.name!r}: use letters, digits, - and _")
        if self.every_s <= 0:
            raise PluginError(f"periodic job {self.name}: every_s must be positive")

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)


@dataclass(frozen=True, slots=True)
class Plugin:
    """Everything the platform needs to know to offer and run one plugin."""

    name: str
    version: str
    title: str
    description: str
    type: PluginType
    input_model: builtins.type[BaseModel]
    handler: Handler
    tags: Sequence[str] = ()
    queue: str = "default"
    timeout_s: float | None = None
    steps: Sequence[Step] = ()
    help_text: str | None = None
    examples: Mapping[str, str] = field(default_factory=dict)
    data_input: Sequence[DataSpec] = ()
    data_output: Sequence[DataSpec] = ()
    plugin_dependencies: Sequence[PluginDependencySpec] = ()
    links: Sequence[LinkSpec] = ()
    requirements: Sequence[str] = ()
    upload_fields: Sequence[str] = ()
    periodic: Sequence[Periodic] = ()
    ui_template: str | None = None
    static_dir: Path | None = None

    def __post_init__(self) -> None:
        try:
            Version(self.version)
        except InvalidVersion as exc:
            raise PluginError(f"plugin {self.name}: invalid version {self.version!r}") from exc
        if not self.name or any(ch in self.name for ch in " /*>"):
            raise PluginError(f"invalid plugin name {self.name!r}")
        if not callable(self.handler):
            raise PluginError(f"plugin {self.name}: handler is not callable")
        ids = [s.step_id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise PluginError(f"plugin {self.name}: duplicate step ids {ids}")
        if self.static_dir is not None and not Path(self.static_dir).is_dir():
            raise PluginError(f"plugin {self.name}: static_dir {self.static_dir} is no folder")
        jobs = [p.name for p in self.periodic]
        if len(set(jobs)) != len(jobs):
            raise PluginError(f"plugin {self.name}: duplicate periodic jobs {jobs}")

    @property
    def identifier(self) -> str:
        return plugin_identifier(self.name, self.version)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.step_id == step_id), None)

    def info(self) -> PluginInfo:
        return PluginInfo(
            name=self.name,
            version=self.version,
            title=self.title,
            description=self.description,
            type=self.type,
            tags=list(self.tags),
            queue=self.queue,
            timeout_s=self.timeout_s,
            input_schema=_schema(self.input_model),
            help_text=self.help_text,
            examples=dict(self.examples),
            data_input=list(self.data_input),
            data_output=list(self.data_output),
            plugin_dependencies=list(self.plugin_dependencies),
            links=list(self.links),
            steps=[s.spec() for s in self.steps],
            upload_fields=list(self.upload_fields),
            ui_template=self.ui_template,
            static_files=self.static_files(),
        )

    def static_files(self) -> list[str]:
        """Paths (posix, relative to ``static_dir``) of the plugin's static files."""
        if self.static_dir is None:
            return []
        root = Path(self.static_dir)
        return sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
