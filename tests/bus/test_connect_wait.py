"""An unreachable NATS is waited for, visibly, and a stop ends the wait."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from qhana.bus import connection
from qhana.bus.connection import connect
from qhana.errors import BusUnavailable
from qhana.settings import NatsSettings


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nothing listens on (bound, so no one else takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def test_a_stop_ends_the_wait_for_an_unreachable_server(
    closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "WAITING_LOG_S", (0.05, 0.05))
    stop = asyncio.Event()
    url = f"nats://127.0.0.1:{closed_port}"
    waited = asyncio.Event()

    async def _stop_once_waiting() -> None:
        await waited.wait()
        stop.set()

    with capture_logs() as logs:
        original = connection.log.warning

        def _warning(event: str, **kw: object) -> None:
            original(event, **kw)
            if event == "nats.waiting":
                waited.set()

        monkeypatch.setattr(connection.log, "warning", _warning)
        stopper = asyncio.create_task(_stop_once_waiting())
        with pytest.raises(BusUnavailable, match=f"stopped while waiting for NATS at {url}"):
            await asyncio.wait_for(connect(NatsSettings(url=url), "test", stop=stop), 20)
        await stopper
    waiting = [entry for entry in logs if entry["event"] == "nats.waiting"]
    assert waiting and waiting[0]["url"] == url and waiting[0]["client"] == "test"
