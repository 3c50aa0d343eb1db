"""Oversize bodies and uploads: 413 with a JSON body in the upstream shape, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from conftest import StackFactory

HELLO = "hello-world@v0-2-1"
UPLOAD = "file-upload@v0-2-0"


@pytest.fixture
def database_url() -> None:
    return None


async def test_oversize_body_and_upload_are_413(stack_factory: StackFactory) -> None:
    stack = await stack_factory(max_body_bytes=4096, max_upload_bytes=1000)
    url = f"{stack.base}plugins/{HELLO}/process/"
    async with stack.http.post(url, data={"inputStr": "x" * 5000}) as resp:
        assert resp.status == 413
        assert resp.headers["Content-Type"] == "application/json"
        assert await resp.json() == {
            "code": 413,
            "status": "Request Entity Too Large",
            "message": "The request body is larger than the limit of 4096 bytes.",
        }

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: caught while reading
        yield b"inputStr="
        for _ in range(10):
            yield b"y" * 1000

    async with stack.http.post(
        url, data=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as resp:
        assert resp.status == 413
        assert (await resp.json())["message"].startswith("The request body is larger")

    form = aiohttp.FormData()
    form.add_field("dataType", "x/y")
    form.add_field("contentType", "text/plain")
    form.add_field("file", b"z" * 2000, filename="big.txt", content_type="text/plain")
    async with stack.http.post(f"{stack.base}plugins/{UPLOAD}/process/", data=form) as resp:
        assert resp.status == 413
        assert await resp.json() == {
            "code": 413,
            "status": "Request Entity Too Large",
            "message": "The uploaded file is larger than the limit of 1000 bytes.",
        }
    small = aiohttp.FormData()
    small.add_field("dataType", "x/y")
    small.add_field("contentType", "text/plain")
    small.add_field("file", b"z" * 500, filename="small.txt", content_type="text/plain")
    async with stack.http.post(
        f"{stack.base}plugins/{UPLOAD}/process/", data=small, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
