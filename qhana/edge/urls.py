"""Absolute URLs as clients see them: QHANA_PUBLIC_URL, or the request (behind proxies too)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from qhana.settings import Settings

__all__ = ["base_url", "external", "path_prefix"]


def _forwarded(request: web.Request, name: str, hops: int) -> str | None:
    raw = request.headers.get(name)
    if not raw:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if not values:
        return None
    return values[-hops] if len(values) >= hops else values[0]


def base_url(request: web.Request, settings: Settings) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme, host, prefix = request.scheme, request.host, ""
    hops = settings.reverse_proxy_count
    if hops > 0:
        scheme = _forwarded(request, "X-Forwarded-Proto", hops) or scheme
        host = _forwarded(request, "X-Forwarded-Host", hops) or host
        port = _forwarded(request, "X-Forwarded-Port", hops)
        if port and ":" not in host.rsplit("]", 1)[-1]:
            default = (scheme == "http" and port == "80") or (scheme == "https" and port == "443")
            host = host if default else f"{host}:{port}"
        prefix = (_forwarded(request, "X-Forwarded-Prefix", hops) or "").rstrip("/")
    return f"{scheme}://{host}{prefix}"


def external(request: web.Request, settings: Settings, path: str) -> str:
    return base_url(request, settings) + path


def path_prefix(request: web.Request, settings: Settings) -> str:
    """The path the edge is mounted under (no trailing slash): for root-relative URLs."""
    if settings.public_url:
        return urlsplit(settings.public_url).path.rstrip("/")
    hops = settings.reverse_proxy_count
    if hops > 0:
        return (_forwarded(request, "X-Forwarded-Prefix", hops) or "").rstrip("/")
    return ""
