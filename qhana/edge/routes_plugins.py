"""Runner API: plugin list, metadata, micro-frontends, processing and step routes."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami import docs, match_info_schema, querystring_schema, response_schema
from packaging.version import InvalidVersion, Version

from qhana.bus import subjects
from qhana.db.catalogue import CatalogueEntry
from qhana.db.engine import run_read
from qhana.db.task_views import load_task
from qhana.edge.api_schemas import (
    ErrorSchema,
    PluginListQuerySchema,
    PluginListSchema,
    PluginMetadataSchema,
    PluginPathSchema,
)
from qhana.edge.custom_ui import plugin_static_url, render_custom_page
from qhana.edge.forms import FormPage, render_form_page
from qhana.edge.forms_io import read_form
from qhana.edge.ids import path_id
from qhana.edge.keys import CATALOGUE, COMMITS, ENGINE, NATS, SETTINGS
from qhana.edge.plugin_json import list_entry, metadata_document, process_path, ui_path
from qhana.edge.responses import error_response, json_response, see_other, validation_error
from qhana.edge.submit import submit_step, submit_task
from qhana.edge.task_json import step_paths
from qhana.edge.urls import base_url, path_prefix
from qhana.edge.validation import FormValues, validate_form
from qhana.errors import StepNotOpen, TaskNotFound
from qhana.wire import PluginInfo, StepSpec

__all__ = ["routes"]

routes = web.RouteTableDef()


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


@routes.get("/plugins/")
@docs(tags=["plugins"], summary="All loaded plugins, sorted by name and PEP 440 version")
@querystring_schema(PluginListQuerySchema)
@response_schema(PluginListSchema, 200)
async def list_plugins(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    base = base_url(request, settings)
    show_all = request.query.get("all", "").lower() in ("1", "true", "yes")
    # rendered once per catalogue refresh, not per request (the UI polls this list)
    body: bytes = await request.app[CATALOGUE].memo(
        ("plugins", base, show_all), lambda entries: _plugin_list_body(entries, base, show_all)
    )
    return web.Response(body=body, headers={"Content-Type": "application/json"})


def _plugin_list_body(entries: list[CatalogueEntry], base: str, show_all: bool) -> bytes:
    chosen = sorted(
        (e for e in entries if show_all or e.available),
        key=lambda e: (e.info.name, _version_key(e.info.version)),
    )
    return json_response({"plugins": [list_entry(e, base) for e in chosen]}).body  # type: ignore[return-value]


async def _entry_or_404(request: web.Request) -> CatalogueEntry:
    entry = await request.app[CATALOGUE].get(request.match_info["plugin"])
    if entry is None:
        raise web.HTTPNotFound(reason="Plugin not found.")
    return entry


@routes.get("/plugins/{plugin}/")
@docs(
    tags=["plugins"],
    summary="Plugin metadata (identifier) or 302 to the newest version (bare name)",
    responses={302: {"description": "Location: /plugins/<identifier>/"}},
)
@match_info_schema(PluginPathSchema)
@response_schema(PluginMetadataSchema, 200)
@response_schema(ErrorSchema, 404)
async def plugin_root(request: web.Request) -> web.Response:
    segment = request.match_info["plugin"]
    if "@" in segment:
        prefix = path_prefix(request, request.app[SETTINGS])
        return json_response(metadata_document(await _entry_or_404(request), prefix))
    candidates = [e for e in await request.app[CATALOGUE].entries() if e.info.name == segment]
    available = [e for e in candidates if e.available] or candidates
    if not available:
        return error_response(404, "No plugin registered with that name.")
    newest = max(available, key=lambda e: _version_key(e.info.version))
    prefix = path_prefix(request, request.app[SETTINGS])
    raise web.HTTPFound(f"{prefix}/plugins/{newest.info.identifier}/")


def _single_values(form: FormValues) -> dict[str, str]:
    return {k: v[-1] for k, v in form.items() if v}


def _page(
    info: PluginInfo,
    step: StepSpec | None,
    *,
    values: dict[str, str],
    errors: dict[str, list[str]],
    process_url: str,
    ui_url: str,
    valid: bool,
    static_prefix: str = "/static",
) -> web.Response:
    page = FormPage(
        title=step.title if step else info.title,
        schema=step.input_schema if step else info.input_schema,
        values=values,
        errors=errors,
        process_url=process_url,
        ui_url=ui_url,
        help_text=step.help_text if step else info.help_text,
        examples=(step.examples if step else info.examples) or None,
        valid=valid,
        static_prefix=static_prefix,
    )
    if info.ui_template and step is None:  # the plugin's own page (data, not code)
        static_url = plugin_static_url(static_prefix.removesuffix("/static"), info.identifier)
        text = render_custom_page(page, info.ui_template, static_url)
    else:
        text = render_form_page(page)
    return web.Response(text=text, content_type="text/html", charset="utf-8")


async def _form_of(request: web.Request) -> FormValues:
    if request.method == "GET":
        return {k: request.query.getall(k) for k in request.query}
    values, _ = await read_form(request, None, frozenset())
    return values


async def _render_ui(
    request: web.Request,
    info: PluginInfo,
    step: StepSpec | None,
    process_url: str,
    ui_url: str,
    prefill: dict[str, str],
) -> web.Response:
    form = await _form_of(request)
    schema = step.input_schema if step else info.input_schema
    _, errors = validate_form(schema, form)
    values = {**prefill, **_single_values(form)}
    prefix = path_prefix(request, request.app[SETTINGS])  # behind a proxy that strips it
    if request.method == "GET":
        # upstream validates GET partially: only the keys that were given
        errors = {k: v for k, v in errors.items() if k in form}
    return _page(
        info,
        step,
        values=values,
        errors=errors,
        process_url=prefix + process_url,
        ui_url=prefix + ui_url,
        valid=request.method == "POST" and not errors,
        static_prefix=prefix + "/static",
    )


@routes.route("*", "/plugins/{plugin}/ui/")
async def plugin_ui(request: web.Request) -> web.Response:
    if request.method not in ("GET", "POST"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    info = (await _entry_or_404(request)).info
    return await _render_ui(request, info, None, process_path(info), ui_path(info), {})


@routes.post("/plugins/{plugin}/process/")
@docs(
    tags=["plugins"],
    summary="Start a task (form body; per-plugin fields under each plugin's own path)",
    responses={303: {"description": "Location: /tasks/<id>/"}},
)
@match_info_schema(PluginPathSchema)
@response_schema(ErrorSchema, 400)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 422)
async def plugin_process(request: web.Request) -> web.Response:
    info = (await _entry_or_404(request)).info
    nc = request.app[NATS]
    store = await nc.jetstream().object_store(subjects.FILES_BUCKET) if info.upload_fields else None
    form, files = await read_form(request, store, frozenset(info.upload_fields))
    params, errors = validate_form(info.input_schema, form)
    if errors:
        return validation_error("form", errors)
    task_id = await submit_task(nc, info, params, files)
    prefix = path_prefix(request, request.app[SETTINGS])
    return see_other(f"{prefix}/tasks/{task_id}/")


async def _step_context(request: web.Request) -> tuple[PluginInfo, StepSpec, int, str]:
    info = (await _entry_or_404(request)).info
    route = request.match_info["route"]
    step_id, _, kind = route.rpartition("-")
    step = info.step(step_id)
    if step is None or kind not in ("ui", "process"):
        raise web.HTTPNotFound(reason="Step not found.")
    return info, step, path_id(request, "task_id", "Task not found."), kind


@routes.route("*", r"/plugins/{plugin}/{task_id:\d+}/{route}/")
async def plugin_step(request: web.Request) -> web.Response:
    info, step, task_id, kind = await _step_context(request)
    engine = request.app[ENGINE]
    task = await run_read(engine, load_task, task_id)
    if task is None or task.plugin != info.identifier:
        return error_response(404, "Task not found.")
    process_url, ui_url = step_paths(info.identifier, task_id, step.step_id)
    if kind == "ui":
        if request.method not in ("GET", "POST"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
        prefill = next((s.prefill for s in reversed(task.steps) if s.step_id == step.step_id), {})
        return await _render_ui(request, info, step, process_url, ui_url, prefill)
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    if task.status.finished:
        return error_response(409, f"The task has already finished with status {task.status}.")
    form, _ = await read_form(request, None, frozenset())
    params, errors = validate_form(step.input_schema, form)
    if errors:
        return validation_error("form", errors)
    try:
        commits = request.app[COMMITS]
        await submit_step(request.app[NATS], commits, info, task_id, step.step_id, params)
    except TaskNotFound:
        return error_response(404, "Task not found.")
    except StepNotOpen:
        return error_response(409, f"Step {step.step_id!r} of this task is not open.")
    prefix = path_prefix(request, request.app[SETTINGS])
    return see_other(f"{prefix}/tasks/{task_id}/")
