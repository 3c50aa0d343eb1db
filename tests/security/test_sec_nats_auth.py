"""Every role connects to a nats-server that requires user/password or a token; wrong or
missing credentials are a clear BusUnavailable, not a hang."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.faults import FAULT_PLUGINS, LOAD, until_listed
from support.roles import run_roles

from qhana.bus import connect, start_nats_server
from qhana.errors import BusUnavailable
from qhana.settings import NatsSettings

ROLES = {"plugin_folders": str(FAULT_PLUGINS), "queue": "faults"}


@pytest.fixture
def database_url() -> None:
    return None


@pytest.mark.parametrize(
    ("server_args", "credentials"),
    [
        (
            ("--user", "qhana", "--pass", "s3cret-pass"),
            {"user": "qhana", "password": "s3cret-pass"},
        ),
        (("--auth", "s3cret-token"), {"token": "s3cret-token"}),
    ],
    ids=["user-password", "token"],
)
async def test_all_roles_run_against_an_authenticated_server(
    tmp_path: Path, server_args: tuple[str, ...], credentials: dict[str, Any]
) -> None:
    async with run_roles(tmp_path, None, nats_args=server_args, nats=credentials, **ROLES) as roles:
        assert roles.settings.nats.url == roles.nats_url
        await until_listed(roles.http, roles.base, LOAD)  # worker -> registry -> edge
        async with roles.http.post(
            f"{roles.base}plugins/{LOAD}/process/", data={"seconds": "0"}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
            task = resp.headers["Location"]
        async with roles.http.get(roles.base + task.lstrip("/")) as resp:
            assert resp.status == 200


async def test_wrong_or_missing_credentials_are_refused_quickly(tmp_path: Path) -> None:
    args = ("--user", "qhana", "--pass", "s3cret-pass")
    async with start_nats_server(tmp_path / "js", extra_args=args) as server:
        good = NatsSettings(url=server.url, user="qhana", password="s3cret-pass")
        nc = await connect(good, "probe")
        await nc.close()
        for bad in (
            NatsSettings(url=server.url, user="qhana", password="wrong", connect_timeout_s=2),
            NatsSettings(url=server.url, connect_timeout_s=2),
        ):
            with pytest.raises(BusUnavailable, match="refused the credentials"):
                await connect(bad, "probe")
