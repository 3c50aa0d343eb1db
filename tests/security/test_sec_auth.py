"""Optional JWT verification on the edge (upstream messages), and auth for state changes."""

from __future__ import annotations

import time

import jwt
import pytest
from conftest import StackFactory
from support.stack import Stack

from qhana.edge.auth import JwtVerifier
from qhana.errors import ConfigError
from qhana.settings import Settings

SECRET = "test-secret-with-enough-length-for-hs256"
HELLO = "hello-world@v0-2-1"
INVALID = {
    "code": 401,
    "status": "Unauthorized",
    "message": "Your authentication token is invalid.",
}
EXPIRED = {
    "code": 401,
    "status": "Unauthorized",
    "message": "Your authentication token has expired.",
}
MISSING = {"code": 401, "status": "Unauthorized", "message": "Missing Authorization Header"}


@pytest.fixture
def database_url() -> None:
    """Auth does not depend on the database: the SQLite lane only."""
    return None


def _token(secret: str = SECRET, exp_in_s: float = 300) -> str:
    return jwt.encode({"sub": "ada", "exp": int(time.time() + exp_in_s)}, secret, "HS256")


async def _call(
    stack: Stack, method: str, path: str, token: str | None = None, **kwargs: object
) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with stack.http.request(
        method, stack.base + path, headers=headers, allow_redirects=False, **kwargs
    ) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, body


async def test_tokens_checked_and_writes_need_one(stack_factory: StackFactory) -> None:
    stack = await stack_factory(jwt_secret=SECRET, require_auth_for_writes=True)
    form = {"data": {"inputStr": "input"}}
    # reads: no token is fine, a present token must be valid
    assert (await _call(stack, "GET", "plugins/"))[0] == 200
    assert (await _call(stack, "GET", "plugins/", _token()))[0] == 200
    assert await _call(stack, "GET", "plugins/", "not.a.jwt") == (401, INVALID)
    assert await _call(stack, "GET", "plugins/", "garbage") == (401, INVALID)
    assert await _call(
        stack, "GET", "plugins/", _token(secret="another-secret-0123456789abcdef-0123456789")
    ) == (
        401,
        INVALID,
    )
    assert await _call(stack, "GET", "plugins/", _token(exp_in_s=-60)) == (401, EXPIRED)
    # writes: a valid token is required
    assert await _call(stack, "POST", f"plugins/{HELLO}/process/", **form) == (401, MISSING)
    assert await _call(stack, "POST", f"plugins/{HELLO}/process/", "x", **form) == (401, INVALID)
    status, _ = await _call(stack, "POST", f"plugins/{HELLO}/process/", _token(), **form)
    assert status == 303
    # a CORS pre-flight never needs a token; other schemes are not bearer tokens
    async with stack.http.options(
        stack.base + f"plugins/{HELLO}/process/",
        headers={"Origin": "http://ui", "Access-Control-Request-Method": "POST"},
    ) as resp:
        assert resp.status == 200
    async with stack.http.get(
        stack.base + "plugins/", headers={"Authorization": "Basic YTpi"}
    ) as resp:
        assert resp.status == 200


async def test_without_a_key_tokens_are_ignored(stack: Stack) -> None:
    assert (await _call(stack, "GET", "plugins/", "garbage"))[0] == 200


def test_requiring_auth_without_a_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        JwtVerifier.from_settings(Settings(require_auth_for_writes=True))
    assert JwtVerifier.from_settings(Settings()) is None
