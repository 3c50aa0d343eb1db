"""Optional JWT bearer verification, as upstream does it (``require_jwt("jwt", optional=True)``).

* No verification key configured: the ``Authorization`` header is ignored (upstream allows a
  re-implementation to ignore auth).
* A key configured: a request without a bearer token passes, but a *present* token must be
  valid: malformed or badly signed → 401 "Your authentication token is invalid.", expired →
  401 "Your authentication token has expired." (the upstream messages).
* ``QHANA_REQUIRE_AUTH_FOR_WRITES=true``: every state-changing request (POST, PUT, PATCH,
  DELETE) needs a valid token; a missing one → 401 "Missing Authorization Header".

The verified claims are put at ``request[CLAIMS]``. PyJWT (and the ``cryptography`` it loads,
~10 MiB of resident memory) is imported only once a key is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from qhana.edge.responses import error_response
from qhana.errors import ConfigError
from qhana.settings import Settings

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["CLAIMS", "JwtVerifier", "auth_refusal", "setup_auth"]

CLAIMS: web.RequestKey[dict[str, Any]] = web.RequestKey("CLAIMS", dict)
VERIFIER: web.AppKey[JwtVerifier | None] = web.AppKey("VERIFIER")

INVALID = "Your authentication token is invalid."
EXPIRED = "Your authentication token has expired."
MISSING = "Missing Authorization Header"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class JwtVerifier:
    key: str | bytes
    algorithms: tuple[str, ...]
    audience: str | None
    issuer: str | None
    required_for_writes: bool
    jwt: ModuleType  # PyJWT, imported when the verifier is built

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier | None:
        """None when no key is configured (and auth is not required)."""
        key: str | bytes | None = None
        if settings.jwt_public_key:
            text = settings.jwt_public_key.strip()
            key = text if text.startswith("-----BEGIN") else Path(text).read_text()
        elif settings.jwt_secret is not None:
            key = settings.jwt_secret.get_secret_value()
        if key is None:
            if settings.require_auth_for_writes:
                raise ConfigError(
                    "QHANA_REQUIRE_AUTH_FOR_WRITES needs QHANA_JWT_SECRET or QHANA_JWT_PUBLIC_KEY"
                )
            return None
        import jwt

        algorithms = tuple(a.strip() for a in settings.jwt_algorithms.split(",") if a.strip())
        return cls(
            key=key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            required_for_writes=settings.require_auth_for_writes,
            jwt=jwt,
        )

    def check(self, token: str) -> dict[str, Any] | str:
        """The token's claims, or the upstream message that refuses it (expired, invalid)."""
        try:
            return self.verify(token)
        except self.jwt.ExpiredSignatureError:
            return EXPIRED
        except self.jwt.InvalidTokenError:
            return INVALID

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises ``jwt.ExpiredSignatureError`` / ``jwt.InvalidTokenError``."""
        claims: dict[str, Any] = self.jwt.decode(
            token,
            self.key,
            algorithms=list(self.algorithms),
            audience=self.audience,
            issuer=self.issuer,
        )
        return claims


def _bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None for other schemes."""
    value = headers.get("Authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _unauthorized(message: str) -> web.Response:
    return error_response(401, message, headers={"WWW-Authenticate": "Bearer"})


def auth_refusal(request: web.Request) -> web.Response | None:
    """The 401 answer for ``request``, or None when it may pass (claims at ``request[CLAIMS]``).

    Called by ``qhana.edge.middleware.edge_middleware`` before the handler."""
    verifier = request.app.get(VERIFIER)
    if verifier is None or request.method == "OPTIONS":
        return None
    token = _bearer(request.headers)
    if token is None:
        if verifier.required_for_writes and request.method in _WRITES:
            return _unauthorized(MISSING)
        return None
    claims = verifier.check(token)
    if isinstance(claims, str):
        return _unauthorized(claims)
    request[CLAIMS] = claims
    return None


def setup_auth(app: web.Application, settings: Settings) -> None:
    """Install the verifier (None = verification off) for ``auth_refusal``."""
    app[VERIFIER] = JwtVerifier.from_settings(settings)
