"""Bounded, seeded fuzzing of the registry API: malformed input answers 4xx, never 500."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from support.stack import Stack

NASTY = [
    "",
    "-1",
    "0",
    "1",
    "25",
    "101",
    "1e9",
    "99999999999999999999999",
    "abc",
    "!",
    ",",
    "!,!",
    ">=",
    ">=1.0 <2",
    "~=~",
    "*/*",
    "*",
    "a/b/c",
    "%00",
    "\u00e9\u4e2d",
    "x" * 3000,
    "[",
    "{}",
    "null",
    "1,2,x",
    "name,-version",
    "-id",
    "+name",
    "id,,",
    "v1.0.0",
    "\\",
    "'",
]
PLUGIN_KEYS = [
    "plugin-id",
    "name",
    "version",
    "url",
    "type",
    "tags",
    "input-data-type",
    "input-content-type",
    "last-available-period",
    "template-tab",
    "item-count",
    "cursor",
    "sort",
    "include-unavailable",
]
PAGES = {
    "api/plugins/": PLUGIN_KEYS,
    "api/seeds/": ["item-count", "cursor", "sort"],
    "api/services/": ["item-count", "cursor", "sort", "service-id"],
    "api/templates/": ["item-count", "cursor", "sort", "template-id"],
    "api/env/": ["name"],
    "api/recommendations/": ["plugin-id", "data-type", "content-type", "limit", "experiment"],
}
ITEMS = [
    "api/plugins/{}/",
    "api/seeds/{}/",
    "api/services/{}/",
    "api/env/{}/",
    "api/templates/{}/",
    "api/templates/{}/tabs/",
    "api/templates/1/tabs/{}/",
]
BODIES = {
    "api/seeds/": ["url"],
    "api/services/": ["serviceId", "name", "description", "url"],
    "api/env/": ["name", "value"],
    "api/templates/": ["name", "description", "tags"],
}
VALUES: list[Any] = [None, 1, -1, 2**40, True, "", "x" * 3000, [], ["a", 1], {}, "ok"]


async def _check(stack: Stack, method: str, path: str, json: Any = None) -> None:
    async with stack.http.request(method, stack.base + path, json=json) as resp:
        assert resp.status < 500, (method, path, json, resp.status, await resp.text())
        if resp.status != 204:
            assert resp.headers["Content-Type"] == "application/json", (method, path)


async def test_malformed_requests_never_500(stack: Stack) -> None:
    rng = random.Random(20261123)
    for path, keys in PAGES.items():
        for _ in range(25):
            chosen = rng.sample(keys, k=rng.randint(1, min(4, len(keys))))
            query = "&".join(f"{k}={quote(rng.choice(NASTY))}" for k in chosen)
            await _check(stack, "GET", f"{path}?{query}")
    for template in ITEMS:
        for value in NASTY[:24]:
            await _check(stack, "GET", template.format(quote(value, safe="")))
    for path, fields in BODIES.items():
        for _ in range(15):
            body = {
                f: rng.choice(VALUES) for f in rng.sample(fields, k=rng.randint(0, len(fields)))
            }
            await _check(stack, "POST", path, body)
        await _check(stack, "POST", path, ["not", "an", "object"])
        await _check(stack, "POST", path, {f: "x" * 3000 for f in fields})  # column sizes
    for value in ("x" * 300, "999999999999"):
        await _check(stack, "DELETE", f"api/templates/{value}/")
        await _check(stack, "DELETE", f"api/seeds/{value}/")
        await _check(stack, "PUT", f"api/services/{value}/", {"serviceId": value})
