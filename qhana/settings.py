"""The one settings object, read once in ``main()`` and passed down.

Every setting has a ``QHANA_`` variable (nested ones use ``__``, e.g. ``QHANA_NATS__URL``
is the same as the short alias ``QHANA_NATS_URL``).  The upstream variable names
(``PLUGIN_FOLDERS``, ``SQLALCHEMY_DATABASE_URI``, ...) are accepted too, so an
upstream deployment can switch over; a ``QHANA_`` name wins over an upstream name.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["NatsSettings", "QueueLimits", "Settings", "load_settings"]

_SECRET_NAME = re.compile(r"secret|password|token|key|url|uri", re.IGNORECASE)


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot pass {type(value).__name__} to a child process")


def _default_runner_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _env_preloads() -> dict[str, str]:
    """``QHANA_ENV_<NAME>=<value>`` entries: registry env entries preloaded at start."""
    prefix = "QHANA_ENV_"
    return {k[len(prefix) :]: v for k, v in os.environ.items() if k.startswith(prefix) and k[10:]}


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """Per-deployment overrides of the task consumers (QHANA_ACK_WAIT_S, QHANA_MAX_DELIVER)."""

    ack_wait_s: float | None = None
    max_deliver: int | None = None


class NatsSettings(BaseModel):
    """How every role reaches NATS."""

    url: str = "nats://127.0.0.1:4222"
    user: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    creds: Path | None = None
    nkey_seed: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    replicas: int = Field(default=1, ge=1, le=5)
    connect_timeout_s: float = 5.0

    @property
    def servers(self) -> list[str]:
        return [part.strip() for part in self.url.split(",") if part.strip()]


class Settings(BaseSettings):
    """All configuration of all roles."""

    model_config = SettingsConfigDict(
        env_prefix="QHANA_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    nats: NatsSettings = Field(default_factory=NatsSettings)
    nats_url: str | None = Field(default=None, validation_alias=AliasChoices("QHANA_NATS_URL"))
    database_url: str = Field(
        default="sqlite+aiosqlite:///.qhana/qhana.db",
        validation_alias=AliasChoices("QHANA_DATABASE_URL", "SQLALCHEMY_DATABASE_URI"),
    )
    public_url: str | None = Field(default=None, validation_alias=AliasChoices("QHANA_PUBLIC_URL"))
    http_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("QHANA_HTTP_HOST"))
    http_port: int = Field(
        default=5005, ge=0, le=65535, validation_alias=AliasChoices("QHANA_HTTP_PORT")
    )
    runner_id: str = Field(
        default_factory=_default_runner_id, validation_alias=AliasChoices("QHANA_RUNNER_ID")
    )
    queue: str = Field(default="default", validation_alias=AliasChoices("QHANA_QUEUE"))
    plugin_folders: str = Field(
        default="", validation_alias=AliasChoices("QHANA_PLUGIN_FOLDERS", "PLUGIN_FOLDERS")
    )
    git_plugins: str = Field(
        default="", validation_alias=AliasChoices("QHANA_GIT_PLUGINS", "GIT_PLUGINS")
    )
    git_plugins_dir: Path = Field(
        default=Path("git-plugins"), validation_alias=AliasChoices("QHANA_GIT_PLUGINS_DIR")
    )
    heartbeat_interval_s: float = Field(  # 1 s x 3 missed: a dead runner is off within ~3 s
        default=1.0, gt=0, validation_alias=AliasChoices("QHANA_HEARTBEAT_INTERVAL_S")
    )
    missed_heartbeats: int = Field(
        default=3, ge=1, validation_alias=AliasChoices("QHANA_MISSED_HEARTBEATS")
    )
    worker_concurrency: int = Field(
        default=64, ge=1, validation_alias=AliasChoices("QHANA_WORKER_CONCURRENCY")
    )
    sync_pool_size: int = Field(
        default=4, ge=1, validation_alias=AliasChoices("QHANA_SYNC_POOL_SIZE")
    )
    ack_wait_s: float | None = Field(
        default=None, gt=0, validation_alias=AliasChoices("QHANA_ACK_WAIT_S")
    )
    max_deliver: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("QHANA_MAX_DELIVER")
    )
    events_max_age_s: float = Field(
        default=30 * 24 * 3600.0, gt=0, validation_alias=AliasChoices("QHANA_EVENTS_MAX_AGE_S")
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, validation_alias=AliasChoices("QHANA_MAX_BODY_BYTES")
    )
    # outputs up to this size ride inline in their output event, larger ones go to the Object
    # Store; capped well below nats-server's default max_payload (1 MiB; base64 adds a third)
    inline_output_max_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        le=512 * 1024,
        validation_alias=AliasChoices("QHANA_INLINE_OUTPUT_MAX_BYTES"),
    )
    # a task's started event and one output wait this long to ride in its ending event: a
    # task that ends by then is one event message instead of three; 0 publishes at once
    event_linger_s: float = Field(
        default=0.02, ge=0, le=1.0, validation_alias=AliasChoices("QHANA_EVENT_LINGER_S")
    )
    # --- reliability and security (README "Reliability and security", docs/security.md) ---
    max_upload_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, validation_alias=AliasChoices("QHANA_MAX_UPLOAD_BYTES")
    )
    jwt_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QHANA_JWT_SECRET", "JWT_SECRET_KEY")
    )
    jwt_public_key: str | None = Field(
        default=None, validation_alias=AliasChoices("QHANA_JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY")
    )
    jwt_algorithms: str = Field(
        default="HS256", validation_alias=AliasChoices("QHANA_JWT_ALGORITHMS")
    )
    jwt_audience: str | None = Field(
        default=None, validation_alias=AliasChoices("QHANA_JWT_AUDIENCE")
    )
    jwt_issuer: str | None = Field(default=None, validation_alias=AliasChoices("QHANA_JWT_ISSUER"))
    require_auth_for_writes: bool = Field(
        default=False, validation_alias=AliasChoices("QHANA_REQUIRE_AUTH_FOR_WRITES")
    )
    input_url_schemes: str = Field(
        default="http,https,data", validation_alias=AliasChoices("QHANA_INPUT_URL_SCHEMES")
    )
    input_allow_hosts: str = Field(
        default="", validation_alias=AliasChoices("QHANA_INPUT_ALLOW_HOSTS")
    )
    input_deny_hosts: str = Field(
        default="", validation_alias=AliasChoices("QHANA_INPUT_DENY_HOSTS")
    )
    input_max_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1, validation_alias=AliasChoices("QHANA_INPUT_MAX_BYTES")
    )
    input_timeout_s: float = Field(
        default=60.0, gt=0, validation_alias=AliasChoices("QHANA_INPUT_TIMEOUT_S")
    )
    reverse_proxy_count: int = Field(
        default=0,
        ge=0,
        validation_alias=AliasChoices("QHANA_REVERSE_PROXY_COUNT", "REVERSE_PROXY_COUNT"),
    )
    # --- webhook delivery (runner API, POST /tasks/<id>/ subscriptions) ---
    webhook_attempts: int = Field(
        default=6, ge=1, le=50, validation_alias=AliasChoices("QHANA_WEBHOOK_ATTEMPTS")
    )
    webhook_backoff_s: float = Field(
        default=0.5, ge=0, validation_alias=AliasChoices("QHANA_WEBHOOK_BACKOFF_S")
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, validation_alias=AliasChoices("QHANA_WEBHOOK_TIMEOUT_S")
    )
    # the upstream runner's URL_REWRITE_RULES: applied by workers before URL_MAP_FROM_LOCALHOST
    url_map: str = Field(default="", validation_alias=AliasChoices("QHANA_URL_MAP", "URL_MAP"))
    # --- registry (upstream names accepted; see README "Registry") ---
    registry_env: dict[str, str] = Field(
        default_factory=_env_preloads, validation_alias=AliasChoices("QHANA_REGISTRY_ENV")
    )
    ui_template_paths: str = Field(
        default="", validation_alias=AliasChoices("QHANA_UI_TEMPLATE_PATHS", "UI_TEMPLATE_PATHS")
    )
    preconfigured_services: str = Field(
        default="",
        validation_alias=AliasChoices("QHANA_PRECONFIGURED_SERVICES", "PRECONFIGURED_SERVICES"),
    )
    initial_plugin_seeds: str = Field(
        default="",
        validation_alias=AliasChoices("QHANA_INITIAL_PLUGIN_SEEDS", "INITIAL_PLUGIN_SEEDS"),
    )
    url_map_from_localhost: str = Field(
        default="",
        validation_alias=AliasChoices("QHANA_URL_MAP_FROM_LOCALHOST", "URL_MAP_FROM_LOCALHOST"),
    )
    url_map_to_localhost: str = Field(
        default="",
        validation_alias=AliasChoices("QHANA_URL_MAP_TO_LOCALHOST", "URL_MAP_TO_LOCALHOST"),
    )
    plugin_discovery_interval: int = Field(
        default=900,
        validation_alias=AliasChoices(
            "QHANA_PLUGIN_DISCOVERY_INTERVAL", "PLUGIN_DISCOVERY_INTERVAL"
        ),
    )
    plugin_batch_size: int = Field(
        default=50,
        ge=1,
        validation_alias=AliasChoices("QHANA_PLUGIN_BATCH_SIZE", "PLUGIN_BATCH_SIZE"),
    )
    plugin_purge_interval: int = Field(
        default=900,
        validation_alias=AliasChoices("QHANA_PLUGIN_PURGE_INTERVAL", "PLUGIN_PURGE_INTERVAL"),
    )
    plugin_purge_after: str = Field(
        default="604800",
        validation_alias=AliasChoices("QHANA_PLUGIN_PURGE_AFTER", "PLUGIN_PURGE_AFTER"),
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias=AliasChoices("QHANA_METRICS_PORT")
    )  # standalone recorder: serve its /metrics here (the edge serves /metrics itself)
    uvloop: bool = Field(
        default=True, validation_alias=AliasChoices("QHANA_UVLOOP")
    )  # run every role on uvloop when it is installed (faster loop, same semantics)
    # SSE of fresh tasks from an edge-local cache that follows every task event while SSE
    # clients are around (qhana/edge/event_cache.py); off: every SSE request pays two
    # JetStream round trips, and the edge no CPU per event of tasks nobody watches
    sse_event_cache: bool = Field(
        default=True, validation_alias=AliasChoices("QHANA_SSE_EVENT_CACHE")
    )
    # `qhana up`: 0 runs the worker inside the one process (least memory, fastest start);
    # N > 0 runs N worker processes next to the edge/registry/recorder process (more
    # throughput: plugins get their own cores; a crashing plugin cannot stop the edge)
    up_worker_processes: int = Field(
        default=0, ge=0, le=16, validation_alias=AliasChoices("QHANA_UP_WORKER_PROCESSES")
    )
    # `qhana up`: when its recorder sees this many task events waiting, a helper recorder
    # process takes over the SQL projection on another core until it has been idle for
    # 20 s (qhana/up_recorder.py); 0: never, the one process records everything
    up_recorder_helper_backlog: int = Field(
        default=1000, ge=0, validation_alias=AliasChoices("QHANA_UP_RECORDER_HELPER_BACKLOG")
    )
    log_format: str = Field(default="auto", validation_alias=AliasChoices("QHANA_LOG_FORMAT"))
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("QHANA_LOG_LEVEL", "DEFAULT_LOG_LEVEL")
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept upstream's sync URLs and pick the async driver for them."""
        for sync, async_ in (
            ("sqlite:///", "sqlite+aiosqlite:///"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgresql+psycopg2://", "postgresql+asyncpg://"),
            ("postgresql+psycopg://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
        ):
            if value.startswith(sync):
                return async_ + value[len(sync) :]
        return value

    def model_post_init(self, __context: object) -> None:
        if self.nats_url:
            self.nats = self.nats.model_copy(update={"url": self.nats_url})

    def to_child_json(self) -> bytes:
        """These exact settings for a child process (``Settings.model_validate_json`` reads
        them back, environment ignored). Holds the secrets in clear: a pipe, never a log."""
        data = self.model_dump(mode="python")
        data["nats_url"] = None  # ``nats.url`` already is the effective URL
        return json.dumps(data, default=_plain).encode()

    @property
    def queue_limits(self) -> QueueLimits:
        return QueueLimits(ack_wait_s=self.ack_wait_s, max_deliver=self.max_deliver)

    @field_validator("plugin_discovery_interval")
    @classmethod
    def _discovery_interval(cls, value: int) -> int:
        """``-1`` (or any negative) switches off; otherwise at least 5 seconds (as upstream)."""
        return -1 if value < 0 else max(value, 5)

    @field_validator("plugin_purge_interval")
    @classmethod
    def _purge_interval(cls, value: int) -> int:
        return -1 if value < 0 else max(value, 1)

    @field_validator("plugin_purge_after")
    @classmethod
    def _purge_after(cls, value: str) -> str:
        raw = value.strip().lower()
        if raw not in ("", "auto", "never", "none", "null"):
            float(raw)  # ValueError -> a clear settings error at start
        return raw

    @property
    def purge_after_s(self) -> float | None:
        """``PLUGIN_PURGE_AFTER`` in seconds: a number, ``auto`` (10 x discovery) or off."""
        raw = self.plugin_purge_after.strip().lower()
        if raw in ("", "never", "none", "null", "-1"):
            return None
        if raw == "auto":
            interval = self.plugin_discovery_interval
            return 10.0 * (interval if interval > 0 else 900)
        value = float(raw)
        return value if value >= 0 else None

    @property
    def plugin_folder_paths(self) -> list[Path]:
        return [Path(p) for p in self.plugin_folders.split(":") if p.strip()]


def load_settings(settings_json: bytes | None = None) -> Settings:
    """The settings of a command: from the environment, or from ``settings_json`` (how
    ``qhana up`` hands its settings to worker processes). A bad value is a ``ConfigError``
    naming each variable, its problem and the value given, e.g. ``QHANA_HTTP_PORT: Input
    should be a valid integer ... (got 'abc')``; the CLI prints it as one line. Values of
    secrets, keys, tokens, passwords and URLs (which may hold a password) are not shown."""
    from pydantic import ValidationError

    from qhana.errors import ConfigError

    try:
        if settings_json is not None:
            return Settings.model_validate_json(settings_json)
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            shown = "not shown" if _SECRET_NAME.search(name) else repr(error.get("input"))
            problems.append(f"{name}: {error['msg']} (got {shown})")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None
