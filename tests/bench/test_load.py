"""The bench's lean form poster speaks plain HTTP/1.1 to a real aiohttp server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from support.http_app import served

from qhana.bench.load import submit_many


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, str]], list[int]]]:
    forms: list[dict[str, str]] = []
    connections: list[int] = []

    async def process(request: web.Request) -> web.Response:
        form = await request.post()
        forms.append({k: str(v) for k, v in form.items()})
        assert request.transport is not None
        connections.append(request.transport.get_extra_info("peername")[1])  # client port
        if request.match_info["plugin"] == "refused":
            return web.json_response({"message": "no"}, status=422)
        if request.match_info["plugin"] == "closing":
            headers = {"Location": f"/tasks/{len(forms)}/", "Connection": "close"}
            return web.Response(status=303, headers=headers)
        return web.Response(status=303, headers={"Location": f"/tasks/{len(forms)}/"})

    app = web.Application()
    app.router.add_post("/plugins/{plugin}/process/", process)
    async with served(app) as base:
        yield f"{base}/", forms, connections


async def test_every_post_arrives_with_its_form_over_kept_alive_connections(
    server: tuple[str, list[dict[str, str]], list[int]],
) -> None:
    base, forms, connections = server
    result = await submit_many(base, 40, 4, "hello@v1", {"inputStr": "a b&c=d"})
    assert sorted(result.task_ids) == list(range(1, 41))
    assert forms == [{"inputStr": "a b&c=d"}] * 40
    assert len(set(connections)) == 4  # one connection per client, kept alive


async def test_a_closed_connection_is_opened_again(
    server: tuple[str, list[dict[str, str]], list[int]],
) -> None:
    base, _, connections = server
    result = await submit_many(base, 6, 2, "closing")
    assert len(result.task_ids) == 6
    assert len(set(connections)) == 6  # the server said close each time


async def test_an_answer_other_than_303_is_an_error(
    server: tuple[str, list[dict[str, str]], list[int]],
) -> None:
    base, _, _ = server
    with pytest.raises(RuntimeError, match=r"submit answered 422: b'\{\"message\": \"no\"\}'"):
        await submit_many(base, 1, 1, "refused")
