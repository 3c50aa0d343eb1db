"""Plugins' own micro-frontend pages and static files, without running plugin code.

A plugin may announce ``ui_template``: an HTML document with ``string.Template``
placeholders, filled in here as data (all values escaped):

``$title``, ``$head`` (the stock stylesheet and postMessage script), ``$form`` (the stock
help and form, so the QHAna protocol keeps working), ``$process_url``, ``$ui_url``,
``$static_url`` (the plugin's own static files) and ``$qhana_static``.

Static files a worker put into the Object Store are served from
``/plugins/<identifier>/static/<path>`` (only the announced paths).
"""

from __future__ import annotations

import mimetypes
from html import escape
from string import Template

from aiohttp import web

from qhana.bus import subjects
from qhana.edge.forms import FormPage, render_form_fragment
from qhana.edge.keys import CATALOGUE, NATS
from qhana.edge.responses import error_response

__all__ = ["render_custom_page", "routes"]

routes = web.RouteTableDef()


def plugin_static_url(path_prefix: str, identifier: str) -> str:
    return f"{path_prefix}/plugins/{identifier}/static"


def render_custom_page(page: FormPage, template: str, static_url: str) -> str:
    qhana_static = page.static_prefix.rstrip("/")
    head = (
        f'<link rel="stylesheet" href="{escape(qhana_static + "/forms.css")}">\n'
        f'<script src="{escape(qhana_static + "/microfrontend.js")}" defer></script>'
    )
    return Template(template).safe_substitute(
        title=escape(page.title),
        head=head,
        form=render_form_fragment(page),
        process_url=escape(page.process_url),
        ui_url=escape(page.ui_url),
        static_url=escape(static_url),
        qhana_static=escape(qhana_static),
    )


@routes.get("/plugins/{plugin}/static/{path:.+}")
async def plugin_static(request: web.Request) -> web.Response:
    entry = await request.app[CATALOGUE].get(request.match_info["plugin"])
    path = request.match_info["path"]
    if entry is None or path not in entry.info.static_files:
        return error_response(404, "File not found.")
    store = await request.app[NATS].jetstream().object_store(subjects.FILES_BUCKET)
    try:
        result = await store.get(subjects.plugin_static_object(entry.info.identifier, path))
    except Exception:
        return error_response(404, "File not found.")
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return web.Response(
        body=bytes(result.data or b""),
        content_type=content_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
