"""Reading plugin inputs given as URLs: ``data:``, http/https, and our own file URLs.

Our own ``/files/<id>/?file-id=<token>`` URLs are read straight from JetStream: the file id
is the stream sequence of the task's ``output`` event in ``QHANA_EVENTS``; the event carries
the token and either the bytes (a small output, inline) or the Object Store object's name.
A URL that merely looks like ours (another deployment's edge, a wrong token) falls back to a
plain HTTP GET.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from qhana.bus.objects import load_output, read_file
from qhana.errors import Reject
from qhana.logging import get_logger
from qhana.sdk.urls import FetchedFile, guess_type, name_from_url, parse_data_url
from qhana.urlmap import UrlRewriter
from qhana.worker.url_policy import UrlPolicy, policy_get

__all__ = ["OwnFiles", "fetch_url", "read_data_url", "read_url"]

log = get_logger("qhana.worker.inputs")
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
_OWN_PATH = re.compile(r"/files/(\d+)/?$")


@dataclass(frozen=True, slots=True)
class OwnFiles:
    """Where our own output files live."""

    js: JetStreamContext
    store: ObjectStore

    async def get(self, url: str) -> FetchedFile | None:
        parts = urlsplit(url)
        match = _OWN_PATH.search(parts.path)
        token = parse_qs(parts.query).get("file-id", [""])[0]
        if match is None or not token:
            return None
        try:
            event = await load_output(self.js, int(match.group(1)))
        except Exception as exc:  # NATS trouble (or no such sequence): try HTTP instead
            log.debug("inputs.own_file_miss", url=url, error=str(exc))
            return None
        if event is None or not hmac.compare_digest(event.token.encode(), token.encode()):
            return None
        return FetchedFile(
            data=await read_file(self.store, event.file),
            name=event.file.name,
            content_type=event.file.content_type,
        )


def read_data_url(url: str) -> bytes:
    """Decode ``data:[<mime>][;charset=..][;base64],<data>`` (standard or URL-safe base64)."""
    return parse_data_url(url).data


async def _http_get(url: str, timeout_s: float) -> FetchedFile:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
        if resp.status >= 400:
            raise Reject(f"GET {url} answered {resp.status}")
        body = await resp.content.read(MAX_DOWNLOAD_BYTES + 1)
        if len(body) > MAX_DOWNLOAD_BYTES:
            raise Reject(f"download larger than {MAX_DOWNLOAD_BYTES} bytes: {url}")
        name = name_from_url(url, resp.headers.get("Content-Disposition"))
        content_type = resp.headers.get("Content-Type", "").split(";")[0] or guess_type(name)
        return FetchedFile(data=body, name=name, content_type=content_type)


async def _policy_http_get(url: str, policy: UrlPolicy) -> FetchedFile:
    final, body, headers = await policy_get(url, policy)
    name = name_from_url(final, headers.get("Content-Disposition"))
    content_type = headers.get("Content-Type", "").split(";")[0] or guess_type(name)
    return FetchedFile(data=body, name=name, content_type=content_type)


async def fetch_url(
    url: str,
    own: OwnFiles | None = None,
    timeout_s: float = 60.0,
    rewrite: UrlRewriter | None = None,
    policy: UrlPolicy | None = None,
) -> FetchedFile:
    """Read an input URL; with a ``policy`` (every worker has one) schemes, hosts, size and
    time are limited as ``qhana/worker/url_policy.py`` describes."""
    if policy is not None:
        policy.check_scheme(url)
    if url.startswith("data:"):
        return parse_data_url(url)
    if rewrite:  # URL_MAP_FROM_LOCALHOST: e.g. localhost -> a host reachable from here
        url = rewrite(url)
    if not url.startswith(("http://", "https://")):
        raise Reject(f"unsupported URL scheme: {url.split(':', 1)[0]!r}")
    if own is not None and (found := await own.get(url)) is not None:
        return found  # our own files: read from JetStream, no request leaves the worker
    if policy is not None:
        return await _policy_http_get(url, policy)
    return await _http_get(url, timeout_s)


async def read_url(url: str, timeout_s: float = 60.0) -> bytes:
    return (await fetch_url(url, None, timeout_s)).data
