"""ApiLinks and response envelopes of the registry API (MUSE4Anything format, spec §1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from qhana.edge.keys import SETTINGS
from qhana.edge.urls import base_url

__all__ = [
    "Api",
    "Link",
    "changed_response",
    "deleted_response",
    "new_response",
    "response",
]

Link = dict[str, Any]
Query = Sequence[tuple[str, str]]


class Api:
    """Builds absolute links for one request (``BASE/api/...``)."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.origin = base_url(request, request.app[SETTINGS])
        self.base = self.origin + "/api"

    def schema(self, name: str) -> str:
        return f"{self.base}/api-spec.json#/components/schemas/{name}"

    def link(
        self,
        path: str,
        resource_type: str,
        rel: Iterable[str] = (),
        *,
        key: dict[str, str] | None = None,
        query: Query = (),
        schema: str | None = None,
        name: str | None = None,
    ) -> Link:
        href = self.base + path
        if query:
            href += "?" + urlencode(list(query))
        out: Link = {"href": href, "rel": list(rel), "resourceType": resource_type}
        resource_key = dict(key or {})
        resource_key.update({f"?{k}": v for k, v in query})
        if resource_key:
            out["resourceKey"] = resource_key
        if schema is not None:
            out["schema"] = self.schema(schema)
        if name is not None:
            out["name"] = name
        return out

    def root_link(self, rel: Iterable[str] = ()) -> Link:
        return self.link("/", "api-root", rel, schema="Root")


def with_rel(link: Link, *rel: str, resource_type: str | None = None) -> Link:
    """A copy of ``link`` with more rels (and maybe another resourceType)."""
    out = dict(link)
    out["rel"] = [*link["rel"], *(r for r in rel if r not in link["rel"])]
    if resource_type is not None:
        out["resourceType"] = resource_type
    return out


def response(
    data: dict[str, Any], links: list[Link], embedded: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"links": links, "data": data}
    if embedded is not None:
        body["embedded"] = [{"links": e["links"], "data": e["data"]} for e in embedded]
    return body


def new_response(
    collection: Link, collection_links: list[Link], item: dict[str, Any]
) -> dict[str, Any]:
    """POST answer: ``NewApiObject`` pointing at the created item."""
    item_self: Link = item["data"]["self"]
    self_link = with_rel(
        collection, "create", "post", item_self["resourceType"], resource_type="new"
    )
    data = {"self": self_link, "new": item_self}
    return response(data, [*collection_links, item_self], [item])


def changed_response(item: dict[str, Any], self_link: Link | None = None) -> dict[str, Any]:
    """PUT answer (and env POST): ``ChangedApiObject``."""
    item_self: Link = item["data"]["self"]
    base = self_link or item_self
    changed = with_rel(base, item_self["resourceType"], "update", "put", resource_type="changed")
    data = {"self": changed, "changed": item_self}
    return response(data, [*item["links"], item_self], [item])


def deleted_response(
    item_self: Link,
    item_links: list[Link],
    redirect_to: Link,
    embedded: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """DELETE answer: ``DeletedApiObject`` with ``redirectTo``."""
    delete_link: Link = {**item_self, "rel": ["delete"], "resourceType": "deleted"}
    data = {
        "self": delete_link,
        "deleted": with_rel(item_self, "deleted"),
        "redirectTo": redirect_to,
    }
    return response(data, item_links, embedded)
