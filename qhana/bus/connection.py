"""Opening a NATS connection from the settings, with credentials and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client

from qhana.errors import BusUnavailable
from qhana.logging import get_logger
from qhana.settings import NatsSettings

__all__ = ["connect", "require_connected"]

log = get_logger("qhana.bus")


def _options(settings: NatsSettings, name: str) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "servers": settings.servers,
        "name": name,
        "connect_timeout": settings.connect_timeout_s,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "allow_reconnect": True,
    }
    if settings.user:
        opts["user"] = settings.user
    if settings.password:
        opts["password"] = settings.password.get_secret_value()
    if settings.token:
        opts["token"] = settings.token.get_secret_value()
    if settings.creds:
        opts["user_credentials"] = str(settings.creds)
    if settings.nkey_seed:
        opts["nkeys_seed"] = str(settings.nkey_seed)
    if settings.tls_ca or settings.tls_cert:
        ctx = ssl.create_default_context(cafile=str(settings.tls_ca) if settings.tls_ca else None)
        if settings.tls_cert and settings.tls_key:
            ctx.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
        opts["tls"] = ctx
    return opts


async def connect(settings: NatsSettings, name: str) -> Client:
    """Connect, waiting for a server that is not up yet; ``BusUnavailable`` at once when the
    server refuses the credentials (or when nats-py gives up)."""

    async def _on_disconnect() -> None:
        log.warning("nats.disconnected", client=name)

    async def _on_reconnect() -> None:
        log.info("nats.reconnected", client=name)

    refused: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def _on_error(exc: Exception) -> None:
        log.warning("nats.error", client=name, error=str(exc))
        if _is_auth_error(exc) and not refused.done():
            refused.set_result(exc)

    connecting: asyncio.Future[Any] = asyncio.ensure_future(
        nats.connect(
            **_options(settings, name),
            disconnected_cb=_on_disconnect,
            reconnected_cb=_on_reconnect,
            error_cb=_on_error,
        )
    )
    # an unreachable server is waited for (it may still be starting); refused credentials
    # never get better, so they end the attempt at once with a clear error
    waiting: set[asyncio.Future[Any]] = {connecting, refused}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
        raise BusUnavailable(
            f"NATS at {settings.url} refused the credentials of {name} "
            f"(or its TLS certificate is not trusted): {refused.result()}"
        )
    try:
        nc: Client = connecting.result()
    except Exception as exc:  # nats raises several unrelated types here
        raise BusUnavailable(f"cannot connect to NATS at {settings.url}: {exc}") from exc
    return nc


def _is_auth_error(exc: Exception) -> bool:
    """Refusals that retrying cannot fix: bad credentials, an untrusted TLS certificate."""
    text = str(exc).lower()
    return (
        isinstance(exc, nats.errors.AuthorizationError | ssl.SSLCertVerificationError)
        or "authorization" in text
        or "certificate verify failed" in text
    )


def require_connected(nc: Client) -> None:
    """Fail fast while the client is reconnecting, instead of buffering and waiting.

    The edge calls this before it publishes on behalf of an HTTP request, so a NATS outage
    answers 503 with ``Retry-After`` at once rather than after the publish timeouts.
    """
    if not nc.is_connected:
        raise BusUnavailable("not connected to NATS (reconnecting)")
