"""A worker on a connection it is handed (``qhana up``): it opens none of its own, runs tasks
over it, and leaves it open when it stops (the other roles still use it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.roles import run_roles

from qhana.bus import connect
from qhana.worker import service
from qhana.worker.service import run_worker

pytestmark = pytest.mark.timeout(90)


async def test_a_worker_on_a_shared_connection_leaves_it_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with run_roles(tmp_path, None) as roles:
        await roles.stop("worker")  # the roles' own worker: ours is the only one left
        shared = await connect(roles.settings.nats, "qhana-shared")
        try:

            async def _no_own_connection(*args: object, **kwargs: object) -> None:
                raise AssertionError("a worker with a shared connection connected itself")

            monkeypatch.setattr(service, "connect", _no_own_connection)
            ready, stop = asyncio.Event(), asyncio.Event()
            worker = asyncio.create_task(run_worker(roles.settings, stop, ready=ready, nc=shared))
            await asyncio.wait_for(ready.wait(), 30)
            async with asyncio.timeout(30):  # the registry lists it again (announced anew)
                while True:
                    async with roles.http.get(f"{roles.base}plugins/hello-world@v0-2-1/") as r:
                        if r.status == 200:
                            break
                    await asyncio.sleep(0.02)
            async with roles.http.post(
                f"{roles.base}plugins/hello-world@v0-2-1/process/",
                data={"inputStr": "shared input"},
                allow_redirects=False,
            ) as resp:
                assert resp.status == 303, await resp.text()
                location = roles.base.rstrip("/") + resp.headers["Location"]
            async with asyncio.timeout(30):
                while True:
                    async with roles.http.get(location) as resp:
                        doc = await resp.json()
                    if doc["status"] == "SUCCESS":
                        break
                    assert doc["status"] == "PENDING", doc
                    await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(worker, 30)
            assert shared.is_connected
            await shared.flush()  # still usable
        finally:
            await shared.close()
