"""What a worker tells the world about its plugins (announce / heartbeat / withdraw)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qhana.wire.enums import PluginType
from qhana.wire.naming import plugin_identifier

__all__ = [
    "Announce",
    "DataSpec",
    "Heartbeat",
    "LinkSpec",
    "LoadError",
    "PluginDependencySpec",
    "PluginInfo",
    "StepSpec",
    "Withdraw",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Wire):
    """A declared data input or output (``entryPoint.dataInput`` / ``dataOutput``)."""

    data_type: str
    content_type: list[str]
    required: bool = True
    parameter: str | None = None
    name: str | None = None


class PluginDependencySpec(_Wire):
    parameter: str
    required: bool = True
    name: str | None = None
    version: str | None = None
    tags: list[str] | None = None
    type: PluginType | None = None


class LinkSpec(_Wire):
    type: str
    href: str


class StepSpec(_Wire):
    """An extra step of a multi-step plugin: its form and its help."""

    step_id: str
    title: str
    input_schema: dict[str, Any]
    help_text: str | None = None
    examples: dict[str, str] = Field(default_factory=dict)


class PluginInfo(_Wire):
    """Everything the edge and the registry need to know about one plugin."""

    name: str
    version: str
    title: str
    description: str
    type: PluginType
    tags: list[str] = Field(default_factory=list)
    queue: str = "default"
    timeout_s: float | None = None
    input_schema: dict[str, Any]
    help_text: str | None = None
    examples: dict[str, str] = Field(default_factory=dict)
    data_input: list[DataSpec] = Field(default_factory=list)
    data_output: list[DataSpec] = Field(default_factory=list)
    plugin_dependencies: list[PluginDependencySpec] = Field(default_factory=list)
    links: list[LinkSpec] = Field(default_factory=list)
    steps: list[StepSpec] = Field(default_factory=list)
    upload_fields: list[str] = Field(default_factory=list)
    # a custom micro-frontend page (string.Template HTML, rendered by the edge as data, never
    # code) and the plugin's static files (served from the Object Store ``qhana-files``)
    ui_template: str | None = None
    static_files: list[str] = Field(default_factory=list)
    # set only for plugins of unmodified upstream runners (the registry's seed bridge):
    # absolute plugin root, processing and micro-frontend URLs
    api_root: str | None = None
    entry_href: str | None = None
    ui_href: str | None = None

    @property
    def identifier(self) -> str:
        return plugin_identifier(self.name, self.version)

    def step(self, step_id: str) -> StepSpec | None:
        return next((s for s in self.steps if s.step_id == step_id), None)


class LoadError(_Wire):
    source: str
    error: str
    traceback: str


class Announce(_Wire):
    """The full plugin set of one runner; the last one per runner is kept by the stream."""

    runner_id: str
    queues: list[str]
    plugins: list[PluginInfo]
    load_errors: list[LoadError] = Field(default_factory=list)
    heartbeat_interval_s: float
    sent_at: datetime


class Heartbeat(_Wire):
    runner_id: str
    sent_at: datetime
    running: int = 0
    announce_seq: int | None = None


class Withdraw(_Wire):
    runner_id: str
    sent_at: datetime
    reason: str = "shutdown"
