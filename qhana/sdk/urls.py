"""Plain helpers for inputs given as URLs: ``data:`` URLs and what a fetch returns."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from qhana.errors import Reject

__all__ = ["FetchedFile", "name_from_url", "parse_data_url"]


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """The content of an input URL with the name and media type the source gave it."""

    data: bytes
    name: str
    content_type: str

    def text(self, encoding: str = "utf-8") -> str:
        return self.data.decode(encoding)


def parse_data_url(url: str) -> FetchedFile:
    """Decode ``data:[<mime>][;charset=..][;base64],<data>`` (standard or URL-safe base64)."""
    header, sep, data = url[5:].partition(",")
    if not url.startswith("data:") or not sep:
        raise Reject(f"malformed data URL: {url[:40]!r}")
    params = header.split(";")
    mime = params[0] or "text/plain"
    if params[-1] == "base64":
        raw = unquote_to_bytes(data)
        altchars = b"-_" if b"-" in raw or b"_" in raw else None
        try:
            body = base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=altchars)
        except binascii.Error as exc:
            raise Reject(f"malformed base64 in data URL: {exc}") from exc
    else:
        body = unquote_to_bytes(data)
    return FetchedFile(data=body, name="data", content_type=mime)


def name_from_url(url: str, content_disposition: str | None = None) -> str:
    """The file name from a Content-Disposition header, else the last path segment."""
    if content_disposition:
        for part in content_disposition.split(";"):
            key, _, value = part.strip().partition("=")
            if key.lower() == "filename*" and "''" in value:
                return unquote(value.split("''", 1)[1])
            if key.lower() == "filename" and value:
                return value.strip('"')
    segments = [s for s in urlsplit(url).path.split("/") if s]
    return unquote(segments[-1]) if segments else "download"


def guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
