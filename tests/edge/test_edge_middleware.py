"""``edge_middleware`` (CORS, JSON errors, size limits, auth, slash redirects in one layer)
answers as the five middlewares it replaced did, in their order: CORS outermost, then errors,
limits, auth, slash."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import jwt
import nats.errors
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import OperationalError
from support.cli import clean_env

from qhana.edge.auth import setup_auth
from qhana.edge.keys import SETTINGS
from qhana.edge.limits import UploadTooLarge
from qhana.edge.middleware import edge_middleware
from qhana.errors import BusUnavailable
from qhana.settings import Settings

Client_ = TestClient[web.Request, web.Application]
SECRET = "a-test-secret-of-at-least-32-bytes!!"
ACAO = "Access-Control-Allow-Origin"


def _raising(exc: BaseException) -> web.Handler:
    async def handler(_request: web.Request) -> web.StreamResponse:
        raise exc

    return handler


async def _ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


def _app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[edge_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    setup_auth(app, settings)
    app.router.add_route("*", "/ok/", _ok)
    app.router.add_get("/redirect/", _raising(web.HTTPFound("/ok/")))
    app.router.add_get("/gone/", _raising(web.HTTPGone(reason="It went away.")))
    app.router.add_get("/plain-404/", _raising(web.HTTPNotFound()))
    app.router.add_get("/bus/", _raising(BusUnavailable("down")))
    app.router.add_get("/nats/", _raising(nats.errors.TimeoutError()))
    app.router.add_get("/db/", _raising(OperationalError("SELECT 1", {}, Exception("gone"))))
    app.router.add_get("/bug/", _raising(RuntimeError("a bug")))
    app.router.add_get("/upload/", _raising(UploadTooLarge(10)))
    return app


@pytest.fixture
async def client() -> AsyncIterator[Client_]:
    settings = Settings(max_body_bytes=1024, jwt_secret=SECRET)
    async with TestClient(TestServer(_app(settings))) as client:
        yield client


async def _json(client: Client_, method: str, path: str, **kw: object) -> tuple[int, object]:
    async with client.request(method, path, allow_redirects=False, **kw) as resp:  # type: ignore[arg-type]
        assert resp.headers[ACAO] == "*"
        return resp.status, await resp.json()


async def test_success_and_redirects_carry_cors(client: Client_) -> None:
    async with client.get("/ok/") as resp:
        assert (resp.status, resp.headers[ACAO], await resp.text()) == (200, "*", "ok")
    async with client.get("/redirect/", allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"], resp.headers[ACAO]) == (302, "/ok/", "*")
    async with client.post("/ok?x=1", data=b"a", allow_redirects=False) as resp:
        assert resp.status == 308  # slash redirect, method and query kept
        assert (resp.headers["Location"], resp.headers[ACAO]) == ("/ok/?x=1", "*")
    async with client.get("/missing") as resp:
        assert resp.status == 404  # no slashed route either: the handler's 404


async def test_options(client: Client_) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-A",
        "Authorization": "Bearer not-a-token",  # never checked for a pre-flight
    }
    async with client.options("/anything/", headers=preflight) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Headers"] == "X-A"
        assert resp.headers["Access-Control-Allow-Methods"] == (
            "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
        )
        assert resp.headers[ACAO] == "*"
    async with client.options("/gone/") as resp:
        assert (resp.status, resp.headers["Allow"], resp.headers[ACAO]) == (
            200,
            "GET, HEAD, OPTIONS",
            "*",
        )


async def test_errors_are_json(client: Client_) -> None:
    assert await _json(client, "GET", "/gone/") == (
        410,
        {"code": 410, "status": "Gone", "message": "It went away."},
    )
    assert await _json(client, "GET", "/plain-404/") == (404, {"code": 404, "status": "Not Found"})
    status, body = await _json(client, "DELETE", "/gone/")
    assert (status, body) == (405, {"code": 405, "status": "Method Not Allowed"})
    for path in ("/bus/", "/nats/"):
        async with client.get(path) as resp:
            assert (resp.status, resp.headers["Retry-After"]) == (503, "2")
            assert (await resp.json())["message"] == (
                "The message bus is unavailable; retry shortly."
            )
    async with client.get("/db/") as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (503, "2")
        assert (await resp.json())["message"] == "The database is unavailable; retry shortly."
    assert await _json(client, "GET", "/bug/") == (
        500,
        {"code": 500, "status": "Internal Server Error"},
    )


async def test_limits_come_before_auth(client: Client_) -> None:
    bad = {"Authorization": "Bearer not-a-token"}
    status, body = await _json(client, "POST", "/ok/", data=b"x" * 1025, headers=bad)
    assert (status, body) == (
        413,
        {
            "code": 413,
            "status": "Request Entity Too Large",
            "message": "The request body is larger than the limit of 1024 bytes.",
        },
    )
    status, body = await _json(client, "GET", "/upload/")
    assert status == 413
    assert body == {
        "code": 413,
        "status": "Request Entity Too Large",
        "message": "The uploaded file is larger than the limit of 10 bytes.",
    }


async def test_auth_comes_before_slash_and_handler(client: Client_) -> None:
    async with client.get("/ok", headers={"Authorization": "Bearer nope"}) as resp:
        assert (resp.status, resp.headers["WWW-Authenticate"], resp.headers[ACAO]) == (
            401,
            "Bearer",
            "*",
        )
        assert (await resp.json())["message"] == "Your authentication token is invalid."
    token = jwt.encode({"sub": "someone"}, SECRET, algorithm="HS256")
    async with client.get("/ok/", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200


_LOADS_JWT = """
import sys
from qhana.edge.app import create_app
from qhana.settings import Settings
create_app(Settings(jwt_secret=sys.argv[1] or None))
print("jwt" in sys.modules, "cryptography" in sys.modules)
"""


@pytest.mark.parametrize(("secret", "loaded"), [("", "False False"), (SECRET, "True True")])
def test_pyjwt_is_loaded_only_with_a_key(secret: str, loaded: str) -> None:
    """PyJWT and cryptography (~10 MiB resident) stay out of an edge without a key."""
    out = subprocess.run(
        [sys.executable, "-c", _LOADS_JWT, secret],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
        timeout=60,
    )
    assert out.stdout.strip() == loaded
