"""Every role connects to a nats-server that requires user/password or a token; wrong or
missing credentials are a clear BusUnavailable, not a hang."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from support.faults import FAULT_PLUGINS, LOAD, until_listed
from support.roles import Roles, run_roles

from qhana.bus import connect, start_nats_server
from qhana.errors import BusUnavailable
from qhana.settings import NatsSettings

ROLES = {"plugin_folders": str(FAULT_PLUGINS), "queue": "faults"}


@pytest.fixture
def database_url() -> None:
    return None


async def _submit_once(roles: Roles) -> str:
    """Worker -> registry -> edge: the plugin is listed, a submit answers 303; its Location."""
    await until_listed(roles.http, roles.base, LOAD)
    async with roles.http.post(
        f"{roles.base}plugins/{LOAD}/process/", data={"seconds": "0"}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
        return resp.headers["Location"]


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
        task = await _submit_once(roles)
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


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qhana-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_all_roles_run_over_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    args = ("--tls", "--tlscert", str(cert), "--tlskey", str(key))
    async with run_roles(
        tmp_path, None, nats_args=args, nats={"tls_ca": str(cert)}, **ROLES
    ) as roles:
        await _submit_once(roles)
    other, _ = _self_signed(
        tmp_path / "other" if (tmp_path / "other").mkdir() is None else tmp_path
    )
    async with start_nats_server(tmp_path / "js2", extra_args=args) as server:
        untrusted = NatsSettings(url=server.url, tls_ca=other, connect_timeout_s=2)
        with pytest.raises(BusUnavailable, match="not trusted"):
            await asyncio.wait_for(connect(untrusted, "probe"), 10)


async def test_all_roles_run_with_an_nkey(tmp_path: Path) -> None:
    import os

    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(seed)
    conf = tmp_path / "nkey.conf"
    conf.write_text("authorization { users = [ { nkey: " + f'"{public}"' + " } ] }\n")
    args = ("-c", str(conf))
    async with run_roles(
        tmp_path, None, nats_args=args, nats={"nkey_seed": str(seed_file)}, **ROLES
    ) as roles:
        await _submit_once(roles)
    async with start_nats_server(tmp_path / "js3", extra_args=args) as server:
        with pytest.raises(BusUnavailable, match="refused the credentials"):
            await asyncio.wait_for(connect(NatsSettings(url=server.url), "probe"), 10)
