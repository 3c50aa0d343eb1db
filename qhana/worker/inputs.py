"""Reading plugin inputs given as URLs (``data:`` and http/https)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_to_bytes

import aiohttp

from qhana.errors import Reject

__all__ = ["read_data_url", "read_url"]

MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024


def read_data_url(url: str) -> bytes:
    """Decode ``data:[<mime>][;charset=..][;base64],<data>`` (standard or URL-safe base64)."""
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise Reject(f"malformed data URL: {url[:40]!r}")
    if header.endswith(";base64"):
        raw = unquote_to_bytes(data)
        try:
            return base64.b64decode(
                raw + b"=" * (-len(raw) % 4), altchars=b"-_" if b"-" in raw or b"_" in raw else None
            )
        except binascii.Error as exc:
            raise Reject(f"malformed base64 in data URL: {exc}") from exc
    return unquote_to_bytes(data)


async def read_url(url: str, timeout_s: float = 60.0) -> bytes:
    if url.startswith("data:"):
        return read_data_url(url)
    if not url.startswith(("http://", "https://")):
        raise Reject(f"unsupported URL scheme: {url.split(':', 1)[0]!r}")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
        if resp.status >= 400:
            raise Reject(f"GET {url} answered {resp.status}")
        body = await resp.content.read(MAX_DOWNLOAD_BYTES + 1)
        if len(body) > MAX_DOWNLOAD_BYTES:
            raise Reject(f"download larger than {MAX_DOWNLOAD_BYTES} bytes: {url}")
        return body
