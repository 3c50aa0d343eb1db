"""Which input URLs a plugin may make the worker fetch, and how much and how long.

* Schemes: ``QHANA_INPUT_URL_SCHEMES`` (default ``http,https,data``; our own file URLs are
  http(s) and are read from JetStream without a network request).
* Hosts: ``QHANA_INPUT_DENY_HOSTS`` always wins; ``QHANA_INPUT_ALLOW_HOSTS`` admits a host
  even when it is internal; otherwise every address that is not globally routable
  (loopback, private, link-local incl. cloud metadata, CGNAT, multicast, reserved) is refused,
  so a plugin cannot be used to reach internal services. Entries are host names
  (``files.example.org``), suffixes (``.example.org``), addresses or networks (``10.0.0.0/8``).
  The check runs on every resolved address of every connection (redirects included), so DNS
  tricks do not get around it.
* Limits: ``QHANA_INPUT_MAX_BYTES`` per download, ``QHANA_INPUT_TIMEOUT_S`` per fetch
  (redirects included, at most 5).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from qhana.errors import Reject
from qhana.settings import Settings

__all__ = ["UrlPolicy", "policy_get"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REDIRECTS = 5


def _split(raw: str) -> tuple[frozenset[str], tuple[Network, ...]]:
    names: set[str] = set()
    networks: list[Network] = []
    for item in (part.strip().lower() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            names.add(item)
    return frozenset(names), tuple(networks)


def _name_matches(host: str, names: frozenset[str]) -> bool:
    host = host.lower().rstrip(".")
    return host in names or any(n.startswith(".") and host.endswith(n) for n in names)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    schemes: frozenset[str]
    allow_names: frozenset[str]
    allow_networks: tuple[Network, ...]
    deny_names: frozenset[str]
    deny_networks: tuple[Network, ...]
    max_bytes: int
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        allow_names, allow_networks = _split(settings.input_allow_hosts)
        deny_names, deny_networks = _split(settings.input_deny_hosts)
        schemes = frozenset(s.strip().lower() for s in settings.input_url_schemes.split(","))
        return cls(
            schemes=schemes - {""},
            allow_names=allow_names,
            allow_networks=allow_networks,
            deny_names=deny_names,
            deny_networks=deny_networks,
            max_bytes=settings.input_max_bytes,
            timeout_s=settings.input_timeout_s,
        )

    def check_scheme(self, url: str) -> None:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in self.schemes:
            allowed = ", ".join(sorted(self.schemes))
            raise Reject(f"input URL scheme {scheme!r} is not allowed (allowed: {allowed})")

    def allows(self, host: str, address: str) -> bool:
        """May ``host`` (as given in the URL) be reached at ``address``?"""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if _name_matches(host, self.deny_names) or any(ip in n for n in self.deny_networks):
            return False
        if _name_matches(host, self.allow_names) or any(ip in n for n in self.allow_networks):
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_global and not ip.is_multicast

    def check_url(self, url: str) -> str:
        """Scheme and literal-address checks before connecting; returns the host."""
        self.check_scheme(url)
        host = (urlsplit(url).hostname or "").lower()
        if not host:
            raise Reject(f"input URL without a host: {url[:80]!r}")
        if _name_matches(host, self.deny_names):
            raise Reject(f"input URL host {host!r} is not allowed")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host  # a name: checked on every address it resolves to
        if not self.allows(host, host):
            raise Reject(f"input URL address {host!r} is not allowed (internal address)")
        return host


class _PolicyResolver(AbstractResolver):
    """Resolves like aiohttp does, then drops every address the policy refuses."""

    def __init__(self, policy: UrlPolicy) -> None:
        self._policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if self._policy.allows(host, r["host"])]
        if not allowed:
            raise OSError(f"{host} resolves only to internal addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


async def policy_get(url: str, policy: UrlPolicy) -> tuple[str, bytes, Any]:
    """GET ``url`` under ``policy``: ``(final url, body, headers)``; ``Reject`` on refusal."""
    try:
        async with asyncio.timeout(policy.timeout_s):
            return await _get(url, policy)
    except TimeoutError as exc:
        raise Reject(f"fetching {url} took longer than {policy.timeout_s:g} s") from exc


async def _get(url: str, policy: UrlPolicy) -> tuple[str, bytes, Any]:
    connector = aiohttp.TCPConnector(resolver=_PolicyResolver(policy), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(MAX_REDIRECTS + 1):
            policy.check_url(url)
            try:
                async with session.get(url, allow_redirects=False) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in (301, 302, 303, 307, 308) and location:
                        url = urljoin(url, location)
                        continue
                    if resp.status >= 400:
                        raise Reject(f"GET {url} answered {resp.status}")
                    body = await resp.content.read(policy.max_bytes + 1)
                    if len(body) > policy.max_bytes:
                        raise Reject(f"input larger than {policy.max_bytes} bytes: {url}")
                    return url, body, resp.headers
            except aiohttp.ClientConnectorError as exc:
                raise Reject(f"cannot fetch {url}: {exc.os_error}") from exc
            except aiohttp.ClientError as exc:
                raise Reject(f"cannot fetch {url}: {exc}") from exc
    raise Reject(f"too many redirects (more than {MAX_REDIRECTS}): {url}")
