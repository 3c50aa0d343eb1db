"""Opening a NATS connection from the settings, with credentials and TLS."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client

from qhana.bus.direct import direct_responses
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


# while an unreachable server is waited for: a first warning after this long, then again
WAITING_LOG_S = (1.0, 10.0)


async def connect(
    settings: NatsSettings, name: str, *, stop: asyncio.Event | None = None
) -> Client:
    """Connect, waiting for a server that is not up yet (a ``nats.waiting`` warning after
    1 s, then every 10 s); ``BusUnavailable`` at once when the server refuses the
    credentials (or when nats-py gives up), and when ``stop`` is set while waiting (SIGTERM
    or Ctrl-C of a role whose NATS is unreachable)."""

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
    stopping = asyncio.ensure_future(stop.wait()) if stop is not None else None
    try:
        await _wait_for_server(settings, name, connecting, refused, stopping)
    finally:
        if stopping is not None:
            stopping.cancel()
    if not connecting.done():
        _abandon(connecting)
        if not refused.done():
            raise BusUnavailable(f"stopped while waiting for NATS at {settings.url}")
        raise BusUnavailable(
            f"NATS at {settings.url} refused the credentials of {name} "
            f"(or its TLS certificate is not trusted): {refused.result()}"
        )
    try:
        nc: Client = connecting.result()
    except Exception as exc:  # nats raises several unrelated types here
        raise BusUnavailable(f"cannot connect to NATS at {settings.url}: {exc}") from exc
    await direct_responses(nc)
    return nc


def _abandon(connecting: asyncio.Future[Any]) -> None:
    """Cancel a connect attempt without waiting for it: nats-py can swallow a cancellation
    while it retries (a stopped worker then hung in its retry loop). Should it still connect,
    the connection is closed at once."""

    def _close_late_connection(done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is None:
            asyncio.ensure_future(done.result().close())

    connecting.add_done_callback(_close_late_connection)
    connecting.cancel()


async def _wait_for_server(
    settings: NatsSettings,
    name: str,
    connecting: asyncio.Future[Any],
    refused: asyncio.Future[Exception],
    stopping: asyncio.Future[Any] | None,
) -> None:
    """Until connected, refused or stopped; says so now and then while it waits."""
    waiting: set[asyncio.Future[Any]] = {connecting, refused}
    if stopping is not None:
        waiting.add(stopping)
    first, every = WAITING_LOG_S
    waited = 0.0
    while True:
        timeout = first if waited == 0.0 else every
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if done:
            return
        waited += timeout
        log.warning("nats.waiting", client=name, url=settings.url, waited_s=waited)


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
