"""``/api-spec.json`` (OpenAPI 3.0.2, as upstream) and a Swagger UI at ``/swagger-ui/``.

The static part is generated once at start-up by aiohttp-apigami from the ``@docs`` /
``@response_schema`` decorators of every route; each plugin's processing and UI routes are
added per request from the catalogue (their form fields come from the announced input
schema). The Swagger UI assets are the ones aiohttp-apigami ships: no CDN.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import aiohttp_apigami
from aiohttp import web
from aiohttp_apigami.core import resolver
from aiohttp_apigami.plugin import ApigamiPlugin
from aiohttp_apigami.route_processor import RouteProcessor
from aiohttp_apigami.utils import make_json_serializable
from apispec import APISpec

from qhana.edge.keys import CATALOGUE
from qhana.edge.plugin_json import process_path, ui_path
from qhana.edge.responses import json_response
from qhana.wire import PluginInfo, form_key

__all__ = ["SPEC_PATH", "SWAGGER_PATH", "setup_openapi"]

SPEC_PATH = "/api-spec.json"
SWAGGER_PATH = "/swagger-ui/"
SWAGGER_ASSETS = "/swagger-ui/static/"
SWAGGER_DIR = Path(aiohttp_apigami.__file__).parent / "swagger_ui"
TITLE = "QHAna plugin runner api."

STATIC_DOC = web.AppKey("openapi_static", dict[str, Any])

_SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{assets}swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}favicon-32x32.png" sizes="32x32">
</head><body><div id="swagger-ui"></div>
<script src="{assets}swagger-ui-bundle.js"></script>
<script src="{assets}swagger-ui-standalone-preset.js"></script>
<script>
window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "{spec}", dom_id: "#swagger-ui", deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  }});
}};
</script></body></html>
"""

_SCHEMA_KEYS = (
    "type",
    "format",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "title",
    "description",
    "default",
    "items",
)


def setup_openapi(app: web.Application) -> None:
    """Register the spec route, the Swagger UI page and its assets; build the doc on start-up."""

    async def _build(app: web.Application) -> None:
        spec = APISpec(
            title=TITLE,
            version="v1",
            openapi_version="3.0.2",
            plugins=(ApigamiPlugin(schema_name_resolver=resolver),),
        )
        for scheme in ("jwt", "jwt-refresh-token"):  # declared as upstream does (not enforced)
            spec.components.security_scheme(
                scheme, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            )
        RouteProcessor(spec).register_routes(app)
        doc = make_json_serializable(spec.to_dict())
        _add_undecorated(app, doc.setdefault("paths", {}))
        app[STATIC_DOC] = doc

    app.on_startup.append(_build)
    app.router.add_get(SPEC_PATH, api_spec)
    app.router.add_get(SWAGGER_PATH, swagger_ui)
    app.router.add_static(SWAGGER_ASSETS, SWAGGER_DIR)


_METHODS = frozenset({"get", "post", "put", "patch", "delete"})
_SKIPPED = ("/api-spec.json", "/swagger-ui/")  # the document itself and its viewer


def _add_undecorated(app: web.Application, paths: dict[str, Any]) -> None:
    """Routes without apigami decorators (e.g. the registry API) still get an operation:
    summary from the handler's docstring, path parameters, a default response. (``*``
    routes, the micro-frontends and steps, are documented per plugin instead.)"""
    for route in app.router.routes():
        method = route.method.lower()
        resource = route.resource
        if method not in _METHODS or resource is None or isinstance(resource, web.StaticResource):
            continue
        path = resource.canonical
        if path.startswith(_SKIPPED) or method in paths.get(path, {}):
            continue
        doc = (getattr(route.handler, "__doc__", None) or "").strip()
        names = re.findall(r"{(\w+)}", path)
        paths.setdefault(path, {})[method] = {
            "tags": [path.strip("/").split("/")[0] or "root"],
            "summary": doc.splitlines()[0] if doc else f"{method.upper()} {path}",
            "parameters": [
                {"in": "path", "name": n, "required": True, "schema": {"type": "string"}}
                for n in names
            ],
            "responses": {"default": {"description": "see the route's specification"}},
        }


async def api_spec(request: web.Request) -> web.Response:
    doc = copy.deepcopy(request.app[STATIC_DOC])
    paths: dict[str, Any] = doc.setdefault("paths", {})
    for entry in await request.app[CATALOGUE].available():
        paths.update(plugin_paths(entry.info))
    return json_response(doc)


async def swagger_ui(_: web.Request) -> web.Response:
    page = _SWAGGER_PAGE.format(title=TITLE, assets=SWAGGER_ASSETS, spec=SPEC_PATH)
    return web.Response(text=page, content_type="text/html", charset="utf-8")


# --- per-plugin routes -------------------------------------------------------------------------


def _resolve(root: dict[str, Any], node: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Inline ``$ref`` into ``$defs`` and unwrap ``anyOf: [X, null]`` (OpenAPI 3.0 has no null)."""
    out = dict(node)
    nullable = False
    if "anyOf" in out:
        options = [o for o in out.pop("anyOf") if o.get("type") != "null"]
        nullable = len(options) == 1
        if len(options) == 1:
            out = {**options[0], **out}
    ref = out.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#/$defs/") and depth < 8:
        target = root.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
        out = {**_resolve(root, target, depth + 1), **out}
    clean = {k: v for k, v in out.items() if k in _SCHEMA_KEYS}
    if isinstance(clean.get("items"), dict):
        clean["items"] = _resolve(root, clean["items"], depth + 1)
    if "type" not in clean and "enum" not in clean:
        clean["type"] = "string"
    if nullable:
        clean["nullable"] = True
    return clean


def form_schema(input_schema: dict[str, Any]) -> dict[str, Any]:
    """The announced (pydantic) input schema as an OpenAPI form body schema (camelCase keys)."""
    props = input_schema.get("properties", {})
    required = [form_key(name) for name in input_schema.get("required", []) if name in props]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {form_key(name): _resolve(input_schema, p) for name, p in props.items()},
    }
    if required:
        schema["required"] = required
    return schema


_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_HTML = {"text/html": {"schema": {"type": "string"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def plugin_paths(info: PluginInfo) -> dict[str, Any]:
    """OpenAPI path items of one plugin's processing and micro-frontend routes."""
    body = form_schema(info.input_schema)
    content = {"application/x-www-form-urlencoded": {"schema": body}}
    content["multipart/form-data"] = {"schema": body}
    tags = [info.identifier]
    not_found = {"description": "unknown plugin", "content": _json(_ERROR_REF)}
    bad_form = {"description": "not a well-formed form body", "content": _json(_ERROR_REF)}
    process = {
        "tags": tags,
        "summary": f"Start {info.title}",
        "description": info.description,
        "requestBody": {"required": True, "content": content},
        "responses": {
            "303": {
                "description": "task accepted; Location is /tasks/<id>/",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            "400": bad_form,
            "404": not_found,
            "422": {"description": "invalid form field", "content": _json(_ERROR_REF)},
        },
    }
    page = {
        "200": {"description": "the micro-frontend", "content": _HTML},
        "400": bad_form,
        "404": not_found,
    }
    ui = {
        "get": {"tags": tags, "summary": f"{info.title} micro-frontend", "responses": page},
        "post": {
            "tags": tags,
            "summary": f"Validate a {info.title} form (re-renders it)",
            "requestBody": {"content": content},
            "responses": page,
        },
    }
    paths: dict[str, Any] = {process_path(info): {"post": process}, ui_path(info): ui}
    for step in info.steps:
        paths.update(_step_paths(info, step.step_id, form_schema(step.input_schema)))
    return paths


def _step_paths(info: PluginInfo, step_id: str, body: dict[str, Any]) -> dict[str, Any]:
    prefix = f"/plugins/{info.identifier}/{{task_id}}/{step_id}"
    task_id = {"in": "path", "name": "task_id", "required": True, "schema": {"type": "integer"}}
    content = {"application/x-www-form-urlencoded": {"schema": body}}
    tags = [info.identifier]
    errors = {
        "400": {"description": "not a well-formed form body", "content": _json(_ERROR_REF)},
        "404": {"description": "unknown task", "content": _json(_ERROR_REF)},
        "409": {"description": "the step is not open", "content": _json(_ERROR_REF)},
        "422": {"description": "invalid form field", "content": _json(_ERROR_REF)},
    }
    process = {
        "tags": tags,
        "summary": f"Submit step {step_id}",
        "parameters": [task_id],
        "requestBody": {"required": True, "content": content},
        "responses": {"303": {"description": "Location: /tasks/<id>/"}, **errors},
    }
    page = {
        "200": {"description": "the step's micro-frontend", "content": _HTML},
        "404": errors["404"],
    }
    ui = {"tags": tags, "summary": f"Step {step_id} micro-frontend", "parameters": [task_id]}
    return {
        f"{prefix}-process/": {"post": process},
        f"{prefix}-ui/": {"get": {**ui, "responses": page}},
    }
