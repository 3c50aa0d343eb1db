"""``qhana up`` starts cheaply: nats-server starts while the roles are imported, and the
set-up runs without the cyclic collector. Behaviour around both stays what it was."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qhana import cli, roles
from qhana.settings import Settings

# what importing qhana.roles used to pull in before nats-server could be spawned
ROLE_INTERNALS = ("sqlalchemy", "alembic", "qhana.db", "qhana.edge.app", "qhana.worker.service")


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout.strip()


def test_cli_and_roles_import_none_of_the_roles() -> None:
    loaded = _python(
        "import sys, qhana.cli, qhana.roles\n"
        f"print(sorted(m for m in {ROLE_INTERNALS!r} if m in sys.modules))"
    )
    assert loaded == "[]"


def test_the_bus_starts_before_the_roles_are_imported() -> None:
    """The bus's first step (embedded_bus: spawning nats-server) runs before the imports;
    its next one after them. A failing bus fails ``run_up`` with its own error."""
    out = _python(
        """
import asyncio, contextlib, sys
from pathlib import Path
from qhana.roles import run_up
from qhana.settings import Settings

seen = []

@contextlib.asynccontextmanager
async def bus(data_dir, host):
    seen.append("qhana.edge.app" in sys.modules)
    await asyncio.sleep(0)
    seen.append("qhana.edge.app" in sys.modules)
    raise RuntimeError("bus failed")
    yield "nats://unused"

async def main():
    try:
        await run_up(
            Settings(), asyncio.Event(), host="127.0.0.1", port=0, data_dir=Path("."), bus=bus
        )
    except RuntimeError as exc:
        print(seen, exc)

asyncio.run(main())
"""
    )
    assert out == "[False, True] bus failed"


class FakeBus:
    """Records what happened to it; ``ready`` gates its start like a nats-server would."""

    def __init__(self, *, awaits_ready: bool) -> None:
        self.events: list[str] = []
        self.awaits_ready = awaits_ready

    @contextlib.asynccontextmanager
    async def __call__(self, data_dir: Path, host: str) -> AsyncIterator[str]:
        self.events.append("spawned")
        try:
            if self.awaits_ready:
                await asyncio.Event().wait()  # never ready
            self.events.append("ready")
            yield "nats://unused"
        finally:
            self.events.append("stopped")


@pytest.mark.parametrize(
    ("awaits_ready", "events"),
    [
        (True, ["spawned", "stopped"]),  # still starting: cancelled
        (False, ["spawned", "ready", "stopped"]),  # started already: exited
    ],
)
async def test_an_import_error_stops_the_bus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, awaits_ready: bool, events: list[str]
) -> None:
    monkeypatch.setattr(roles, "ROLE_MODULES", ("qhana_no_such_module",))
    bus = FakeBus(awaits_ready=awaits_ready)
    with pytest.raises(ModuleNotFoundError, match="qhana_no_such_module"):
        await roles.run_up(
            Settings(), asyncio.Event(), host="127.0.0.1", port=0, data_dir=tmp_path, bus=bus
        )
    assert bus.events == events


def test_set_up_runs_without_the_collector_which_only_up_keeps_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import qhana.logging

    monkeypatch.setattr(qhana.logging, "configure_logging", lambda *_: None)
    during_setup: list[bool] = []
    at_run: dict[str, bool] = {}
    setup = cli._setup

    def _setup(argv: list[str] | None) -> tuple[object, Settings]:
        during_setup.append(gc.isenabled())
        return setup(argv)

    def _main(args: object, settings: Settings) -> int:
        at_run[str(getattr(args, "command", ""))] = gc.isenabled()
        return 0

    monkeypatch.setattr(cli, "_setup", _setup)
    monkeypatch.setattr(cli, "_main", _main)
    assert gc.isenabled()
    assert cli.main(["up", "--data-dir", str(tmp_path)]) == 0
    assert gc.isenabled()
    assert cli.main(["streams", "apply"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])
    assert gc.isenabled()
    assert during_setup == [False, False, False]
    assert at_run == {"up": False, "streams": True}
