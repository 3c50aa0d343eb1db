"""``/api-spec.json`` (OpenAPI 3) and ``/swagger-ui/``; schemathesis against the served document.

Checks: no 5xx, responses match their schema, every status code is documented. Schemathesis
is synchronous (requests), so it runs in a thread while the stack serves on the
loop. Bounded: a few examples per operation, only the runner routes and the demo plugins (other
plugins fetch input URLs or need heavy libraries).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from support.stack import Stack

HELLO = "hello-world@v0-2-1"
MULTI = "hello-world-multi-step@v0-2-1"
RUNNER_PATHS = {
    "/",
    "/plugins/",
    "/plugins/{plugin}/",
    "/plugins/{plugin}/process/",
    "/tasks/{task_id}/",
    "/tasks/{task_id}/cancel",
    "/tasks/{task_id}/cancel/",
    "/tasks/{task_id}/events",
    "/files/{file_id}/",
}
TESTED = re.compile(
    r"^/(plugins/|tasks/\{task_id\}/(cancel/?)?|files/\{file_id\}/|"
    rf"plugins/({re.escape(HELLO)}|{re.escape(MULTI)})/.*)?$"
)


async def _doc(stack: Stack) -> dict[str, Any]:
    async with stack.http.get(f"{stack.base}api-spec.json") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        doc: dict[str, Any] = await resp.json()
        return doc


async def test_document_covers_runner_and_plugin_routes(stack: Stack) -> None:
    doc = await _doc(stack)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "QHAna plugin runner api."
    assert set(doc["components"]["securitySchemes"]) == {"jwt", "jwt-refresh-token"}
    assert RUNNER_PATHS <= set(doc["paths"])
    assert {"/healthz", "/readyz", "/api/"} <= set(doc["paths"])  # undecorated routes too
    task = doc["paths"]["/tasks/{task_id}/"]["get"]
    assert task["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskStatus"
    }
    [param] = [p for p in task["parameters"] if p["in"] == "path"]
    assert param["schema"]["type"] == "integer"
    process = doc["paths"][f"/plugins/{HELLO}/process/"]["post"]
    form = process["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["inputStr"]
    assert form["properties"]["inputStr"]["type"] == "string"
    assert set(process["responses"]) == {"303", "400", "404", "422"}
    step = f"/plugins/{MULTI}/{{task_id}}/demo-step-process/"
    assert step in doc["paths"]
    schemas = doc["components"]["schemas"]
    assert set(schemas["TaskStatus"]["required"]) == {"status", "log", "outputs", "links"}


async def test_swagger_ui_is_served_from_our_own_files(stack: Stack) -> None:
    async with stack.http.get(f"{stack.base}swagger-ui/") as resp:
        assert resp.status == 200
        page = await resp.text()
    assert "/api-spec.json" in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/swagger-ui/static/") for a in assets), assets
    for asset in assets:
        async with stack.http.get(stack.base + asset.lstrip("/")) as resp:
            assert resp.status == 200, asset
            assert len(await resp.read()) > 0


def _fuzz(spec_url: str, base_url: str) -> list[str]:
    """Run schemathesis over the selected operations; returns the failures it found."""
    schema = schemathesis.openapi.from_url(spec_url)
    failures: list[str] = []
    session = requests.Session()
    operations = [r.ok() for r in schema.get_all_operations()]
    selected = [op for op in operations if TESTED.match(op.path) and "events" not in op.path]
    assert len(selected) >= 10, [op.path for op in selected]
    for operation in selected:

        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def _check(case: Any) -> None:
            response = case.call(
                base_url=base_url, session=session, allow_redirects=False, timeout=20
            )
            case.validate_response(
                response,
                checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
            )

        try:
            _check()
        except Exception as exc:  # collect all, report together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    session.close()
    return failures


async def test_schemathesis_finds_no_5xx_and_no_schema_violation(stack: Stack) -> None:
    # a finished task with an output, so GETs of existing ids are exercised too
    await stack.finished(await stack.submit(HELLO, inputStr="fuzz input"))
    failures = await asyncio.to_thread(_fuzz, f"{stack.base}api-spec.json", stack.base.rstrip("/"))
    assert not failures, "\n\n".join(failures)
