"""UI templates and their tabs as registry resources (spec §2.6, §2.7)."""

from __future__ import annotations

from typing import Any

from qhana.edge.registry_api.links import Api, Link
from qhana.edge.registry_api.paging import Collection

__all__ = [
    "TEMPLATES",
    "group_link",
    "tab_collection_link",
    "tab_item",
    "tab_links",
    "tab_self",
    "template_item",
    "template_links",
    "template_self",
]

Row = dict[str, Any]

TEMPLATES = Collection(
    path="/templates/",
    resource_type="ui-template",
    default_sort="name",
    sort_keys=frozenset({"id", "name"}),
    action_rel=("create", "post"),
)


def template_self(api: Api, row: Row) -> Link:
    return api.link(
        f"/templates/{row['id']}/",
        "ui-template",
        key={"uiTemplateId": str(row["id"])},
        schema="Template",
        name=row["name"],
    )


def tab_collection_link(api: Api, template_id: int, *rel: str) -> Link:
    return api.link(
        f"/templates/{template_id}/tabs/",
        "ui-template-tab",
        rel,
        key={"uiTemplateId": str(template_id)},
        query=[("item-count", "25")],
    )


def _group_name(location: str, tabs: list[Row]) -> str:
    parent, _, key = location.rpartition(".")
    for tab in tabs:
        if parent and tab["location"] == parent and tab["group_key"] == key:
            return str(tab["name"])
    return f"Tab Group: {location}"


def group_link(api: Api, template_id: int, location: str, tabs: list[Row], *rel: str) -> Link:
    return api.link(
        f"/templates/{template_id}/tabs/",
        "ui-template-tab",
        ["collection", *rel],
        key={"uiTemplateId": str(template_id)},
        query=[("group", location)],
        schema="TemplateGroup",
        name=_group_name(location, tabs),
    )


def template_links(api: Api, row: Row) -> list[Link]:
    tid = int(row["id"])
    key = {"uiTemplateId": str(tid)}
    path = f"/templates/{tid}/"
    return [
        tab_collection_link(api, tid, "collection", "first", "page-1", "nav"),
        tab_collection_link(api, tid, "create", "post"),
        TEMPLATES.first_link(api, "up"),
        api.link(path, "ui-template", ["update", "put"], key=key),
        api.link(path, "ui-template", ["delete"], key=key),
    ]


def template_item(api: Api, row: Row, tabs: list[Row]) -> dict[str, Any]:
    locations = list(dict.fromkeys(t["location"] for t in tabs))
    data = {
        "self": template_self(api, row),
        "name": row["name"],
        "description": row["description"],
        "tags": list(row["tags"] or []),
        "groups": [group_link(api, int(row["id"]), loc, tabs) for loc in locations],
    }
    return {"links": template_links(api, row), "data": data}


def tab_self(api: Api, row: Row) -> Link:
    tid, tab_id = str(row["template_id"]), str(row["id"])
    return api.link(
        f"/templates/{tid}/tabs/{tab_id}/",
        "ui-template-tab",
        key={"?group": row["location"], "uiTemplateId": tid, "uiTemplateTabId": tab_id},
        schema="TemplateTab",
        name=row["name"],
    )


def _plugins_link(api: Api, tab_id: int, *rel: str) -> Link:
    return api.link(
        "/plugins/",
        "plugin",
        ["collection", "page", "first", "page-1", *rel],
        query=[("template-tab", str(tab_id))],
        schema="CursorPage",
    )


def tab_links(api: Api, row: Row, tabs: list[Row]) -> list[Link]:
    me = tab_self(api, row)
    key = me["resourceKey"]
    path = me["href"][len(api.base) :]
    up = group_link(api, int(row["template_id"]), row["location"], tabs, "up")
    return [
        _plugins_link(api, int(row["id"]), "nav"),
        up,
        api.link(path, "ui-template-tab", ["update", "put"], key=key),
        api.link(path, "ui-template-tab", ["delete"], key=key),
    ]


def tab_item(api: Api, row: Row, tabs: list[Row]) -> dict[str, Any]:
    data = {
        "self": tab_self(api, row),
        "name": row["name"],
        "description": row["description"],
        "icon": row["icon"],
        "location": row["location"],
        "sortKey": row["sort_key"],
        "groupKey": row["group_key"],
        "filterString": row["filter_string"],
        "plugins": _plugins_link(api, int(row["id"])),
    }
    return {"links": tab_links(api, row, tabs), "data": data}
