"""Every registered route of the edge, every method it declares, fed garbage (bad query
parameters, malformed JSON and form bodies, unknown ids): never a 5xx, never a stack trace,
and every error is JSON in the upstream shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support.stack import Stack

from qhana.edge.app import create_app

HELLO = "hello-world@v0-2-1"
SAMPLES = {
    "plugin": [HELLO, "nope@v9", "..%2f..", "x" * 300],
    "task_id": ["1", "999999999"],
    "file_id": ["1", "0"],
}
BODIES: list[dict[str, Any]] = [
    {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
    {"data": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    {"json": {"unexpected": ["x"] * 3, "page": -1}},
    {"json": []},
    {"data": b"plain", "headers": {"Content-Type": "text/plain"}},
]
QUERY = "?page=-1&item-count=abc&per_page=%ff&all=maybe&file-id=&tags=%00&name=%27--"


@pytest.fixture
def database_url() -> None:
    return None


def _paths(template: str) -> list[str]:
    names = re.findall(r"\{(\w+)(?::[^}]*)?\}", template)
    paths = [re.sub(r"\{(\w+)(?::[^}]*)?\}", "{\\1}", template)]
    for name in names:
        values = SAMPLES.get(name, ["x", "999"])
        paths = [p.replace("{" + name + "}", v) for p in paths for v in values]
    return paths


async def test_no_route_answers_5xx_to_garbage(stack: Stack) -> None:
    await stack.finished(await stack.submit(HELLO, inputStr="input"))  # task 1, file 1
    app = create_app(stack.settings)
    routes: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        template = info.get("formatter") or info.get("path")
        if not template or template.startswith("/static"):
            continue
        methods = ["GET", "POST", "PUT", "DELETE"] if route.method == "*" else [route.method]
        routes.update((m, template) for m in methods if m not in ("HEAD", "OPTIONS"))
    assert len(routes) > 10, routes
    failures: list[str] = []
    sent = 0
    for method, template in sorted(routes):
        for path in _paths(template):
            url = stack.base + path.lstrip("/")
            cases = [{}] if method == "GET" else BODIES
            for kwargs in cases:
                target = url + QUERY if method == "GET" else url
                if "events" in path and method == "GET":
                    continue  # SSE of an existing task streams until the task ends
                async with stack.http.request(
                    method, target, allow_redirects=False, **kwargs
                ) as resp:
                    text = await resp.text()
                    sent += 1
                    bad = resp.status >= 500 or "Traceback" in text or 'File "' in text
                    if resp.status >= 400 and resp.content_type != "application/json":
                        bad = True  # every error is JSON in the upstream shape
                    if bad:
                        failures.append(f"{method} {path} {kwargs} -> {resp.status} {text[:120]}")
    print("route sweep:", len(routes), "routes", sent, "requests")
    assert not failures, "\n".join(failures[:40])
