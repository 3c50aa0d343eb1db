"""Opening an HTTP listener (the edge, a role's ``/metrics``) with a clear error.

A port that is taken is the commonest start-up mistake on a laptop (a second ``qhana up``);
aiohttp reports it as an ``OSError`` traceback. Here it becomes a ``ConfigError`` that the
CLI prints as one line.
"""

from __future__ import annotations

import errno
from typing import Any

from aiohttp import web

from qhana.errors import ConfigError

__all__ = ["listen"]


async def listen(runner: web.AppRunner, host: str, port: int, **site: Any) -> None:
    """Start a TCP site of the (set-up) ``runner``; on failure clean it up and raise
    ``ConfigError`` naming the address."""
    try:
        await web.TCPSite(runner, host, port, **site).start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"{host}:{port} is already in use (another qhana running?): stop it or choose"
                " another port (--port, QHANA_HTTP_PORT, --metrics-port)"
            ) from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
