"""Paginated collections (CursorPage, spec §1.7): item-count, opaque offset cursors, sort."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from multidict import MultiMapping

from qhana.edge.registry_api.errors import unprocessable
from qhana.edge.registry_api.links import Api, Link, response

__all__ = ["Collection", "PageArgs", "page_args", "page_response", "sort_items"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Collection:
    """A paginated collection: its path, item type, default sort and sort keys."""

    path: str
    resource_type: str
    default_sort: str
    sort_keys: frozenset[str]
    action_rel: tuple[str, ...]  # ("post",) for plugins, ("create", "post") elsewhere

    def first_link(self, api: Api, *rel: str) -> Link:
        """The first page as other resources point at it (no sort, no filters)."""
        return api.link(
            self.path,
            self.resource_type,
            ["collection", "page", "first", "page-1", *rel],
            query=[("item-count", "25")],
            schema="CursorPage",
        )

    def action_link(self, api: Api) -> Link:
        query = [("item-count", "25")] if "create" in self.action_rel else []
        return api.link(self.path, self.resource_type, self.action_rel, query=query)


@dataclass(frozen=True, slots=True)
class PageArgs:
    item_count: int
    offset: int
    sort: str
    filters: list[tuple[str, str]]


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> int:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("o") or not text[1:].isdecimal():
        raise unprocessable("query", {"cursor": ["Not a valid cursor."]})
    return int(text[1:])


def page_args(
    query: MultiMapping[str], collection: Collection, filter_keys: Sequence[str]
) -> PageArgs:
    raw_count = query.get("item-count", "25")
    if not raw_count.strip().lstrip("-").isdecimal() or not 1 <= int(raw_count) <= 100:
        raise unprocessable(
            "query",
            {"item-count": ["Must be greater than or equal to 1 and less than or equal to 100."]},
        )
    offset = _decode_cursor(query["cursor"]) if query.get("cursor") else 0
    sort = query.get("sort") or collection.default_sort
    for part in sort.split(","):
        key = part.strip().lstrip("+-")
        if key not in collection.sort_keys:
            raise unprocessable("query", {"sort": [f"Unknown sort key '{key}'."]})
    filters = [(k, query[k]) for k in filter_keys if k in query]
    return PageArgs(int(raw_count), offset, sort, filters)


def sort_items(items: list[T], sort: str, keys: dict[str, Callable[[T], Any]]) -> list[T]:
    """Stable multi-key sort: ``name,-version``."""
    out = list(items)
    for part in reversed([p.strip() for p in sort.split(",") if p.strip()]):
        out.sort(key=keys[part.lstrip("+-")], reverse=part.startswith("-"))
    return out


def _page_link(
    api: Api, coll: Collection, args: PageArgs, number: int, current: int, last: int | None
) -> Link:
    query: list[tuple[str, str]] = [("item-count", str(args.item_count))]
    if number > 1:
        query.append(("cursor", _encode_cursor((number - 1) * args.item_count)))
    query.append(("sort", args.sort))
    query.extend(args.filters)
    rel = ["collection", "page", f"page-{number}"]
    rel += ["first"] if number == 1 else []
    rel += ["last"] if number == last else []
    rel += ["prev"] if number == current - 1 else []
    rel += ["next"] if number == current + 1 else []
    return api.link(coll.path, coll.resource_type, rel, query=query, schema="CursorPage")


def page_response(
    api: Api,
    coll: Collection,
    args: PageArgs,
    items: Sequence[dict[str, Any]],
    extra_links: Sequence[Link] = (),
) -> dict[str, Any]:
    """One page of ``items`` (full item responses, already filtered and sorted)."""
    total = len(items)
    last = max(1, -(-total // args.item_count))
    current = args.offset // args.item_count + 1
    chosen = list(items[args.offset : args.offset + args.item_count])
    pages = [1, current, last, *range(max(1, current - 5), min(last, current + 5) + 1)]
    page_links: list[Link] = []
    seen: set[str] = set()
    for number in pages:
        link = _page_link(api, coll, args, number, current, last)
        if number > last and number != current or link["href"] in seen:
            continue
        seen.add(link["href"])
        page_links.append(link)
    self_link = _page_link(api, coll, args, current, current, last)
    data = {
        "self": self_link,
        "collectionSize": total,
        "page": current,
        "items": [item["data"]["self"] for item in chosen],
    }
    links = [api.root_link(["up"]), coll.action_link(api), *extra_links, *page_links]
    return response(data, links, list(chosen))
