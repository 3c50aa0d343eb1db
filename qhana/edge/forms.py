"""The stock micro-frontend page of a plugin (spec §5.3, §11): a pure HTML renderer.

`render_form_page` turns the pydantic JSON schema of a plugin's input model into a complete,
stand-alone HTML5 document. Inputs are keyed by the camelCase form key (``name``) and the
snake_case python name (``id``); the page loads ``<static_prefix>/forms.css`` and
``<static_prefix>/microfrontend.js`` (the postMessage helper) and works without JavaScript too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from qhana.edge._form_fields import FieldSpec, attrs, field_specs, render_control

__all__ = ["FormPage", "render_form_fragment", "render_form_page"]

_TOKEN = re.compile(r"`([^`\n]+)`|\[([^\]\n]+)\]\(([^)\s]+)\)")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_EM = re.compile(
    r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])|(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"
)
_BULLET = re.compile(r"^[-*+]\s+")
_HEADING = re.compile(r"^(#{1,4})\s+(.*)$")
_SAFE_SCHEMES = frozenset({"", "http", "https", "mailto"})


@dataclass(frozen=True, slots=True)
class FormPage:
    """Everything the stock form page shows."""

    title: str
    schema: Mapping[str, Any]
    values: Mapping[str, str]
    errors: Mapping[str, Sequence[str]]
    process_url: str
    ui_url: str
    help_text: str | None = None
    examples: Mapping[str, str] | None = None
    valid: bool = False
    static_prefix: str = "/static"


def render_form_page(page: FormPage) -> str:
    """The complete HTML5 document of the plugin's micro-frontend."""
    title = escape(page.title)
    static = page.static_prefix.rstrip("/")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f'<link rel="stylesheet" href="{escape(static + "/forms.css")}">',
            f'<script src="{escape(static + "/microfrontend.js")}" defer></script>',
            "</head>",
            "<body>",
            '<main class="qhana-microfrontend">',
            f'<h1 class="qhana-title">{title}</h1>',
            _help(page),
            _form(page),
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def render_form_fragment(page: FormPage) -> str:
    """Help and form of the stock page, for a plugin's own page template (``$form``)."""
    return "\n".join(part for part in (_help(page), _form(page)) if part)


def _markdown(text: str) -> str:
    """A small, safe Markdown subset: paragraphs, ``-`` lists, ``#`` headings, **strong**,
    *em*, ``code`` and ``[links](https://…)``. Everything else is escaped text."""
    blocks = re.split(r"\n[ \t]*\n", text.strip())
    return "".join(_block(block) for block in blocks if block.strip())


# --- page parts --------------------------------------------------------------------------------


def _help(page: FormPage) -> str:
    if not page.help_text and not page.examples:
        return ""
    parts = ['<details class="qhana-help">', "<summary>Help</summary>"]
    if page.help_text:
        parts.append(f'<div class="qhana-help-text">{_markdown(page.help_text)}</div>')
    if page.examples:
        separator = "&" if "?" in page.ui_url else "?"
        href = page.ui_url + separator + urlencode(dict(page.examples))
        parts.append(f'<p><a class="qhana-example-values"{attrs({"href": href})}>')
        parts.append("Fill in example values.</a></p>")
    parts.append("</details>")
    return "".join(parts)


def _form(page: FormPage) -> str:
    specs = field_specs(page.schema)
    known = {spec.key for spec in specs}
    form_attrs = {
        "class": "qhana-form",
        "action": "",
        "method": "post",
        "data-target": "microfrontend",
        "enctype": "multipart/form-data",
    }
    parts = [f"<form{attrs(form_attrs)}>", _form_errors(page.errors, known)]
    parts.extend(
        _field(spec, page.values.get(spec.key), page.errors.get(spec.key, ())) for spec in specs
    )
    if page.valid:
        parts.append('<p class="qhana-validation-ok">Validation successful!</p>')
    parts.append(_buttons(page.process_url))
    parts.append("</form>")
    return "\n".join(part for part in parts if part)


def _field(spec: FieldSpec, value: str | None, errors: Sequence[str]) -> str:
    label_for = None if spec.kind == "unsupported" else spec.name
    parts = [
        f'<div class="qhana-form-field{" qhana-field-invalid" if errors else ""}">',
        f"<label{attrs({'for': label_for})}>{escape(spec.title)}</label>",
        render_control(spec, value),
    ]
    if spec.description:
        parts.append(f'<div class="qhana-field-description">{_markdown(spec.description)}</div>')
    parts.extend(_error_message(message) for message in errors)
    parts.append("</div>")
    return "".join(parts)


def _form_errors(errors: Mapping[str, Sequence[str]], known: set[str]) -> str:
    messages = [
        message if key.startswith("_") else f"{key}: {message}"
        for key, key_messages in errors.items()
        if key not in known
        for message in key_messages
    ]
    if not messages:
        return ""
    return '<div class="qhana-form-errors">' + "".join(map(_error_message, messages)) + "</div>"


def _error_message(message: str) -> str:
    return f'<p class="qhana-error-message"><span>{escape(message)}</span></p>'


def _buttons(process_url: str) -> str:
    validate = {"class": "qhana-form-submit", "type": "submit", "data-target": "microfrontend"}
    submit = {"class": "qhana-form-submit", "type": "submit", "data-target": "api"}
    return (
        '<div class="qhana-form-buttons">'
        f"<button{attrs(validate)}>validate</button>"
        f"<button{attrs({**submit, 'formaction': process_url})}>submit</button>"
        "</div>"
    )


# --- markdown subset ---------------------------------------------------------------------------


def _block(block: str) -> str:
    lines = [line.strip() for line in block.strip().splitlines()]
    if all(_BULLET.match(line) for line in lines):
        items = "".join(f"<li>{_inline(_BULLET.sub('', line, count=1))}</li>" for line in lines)
        return f"<ul>{items}</ul>"
    heading = _HEADING.match(lines[0]) if len(lines) == 1 else None
    if heading is not None:
        level = len(heading.group(1)) + 2
        return f"<h{level}>{_inline(heading.group(2))}</h{level}>"
    return f"<p>{_inline(' '.join(lines))}</p>"


def _inline(text: str) -> str:
    """Code spans and links are cut out first so emphasis never reaches into them."""
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        out.append(_emphasis(escape(text[position : match.start()])))
        code, label, href = match.groups()
        if code is not None:
            out.append(f"<code>{escape(code)}</code>")
        else:
            out.append(_link(label, href))
        position = match.end()
    out.append(_emphasis(escape(text[position:])))
    return "".join(out)


def _link(label: str, href: str) -> str:
    text = _emphasis(escape(label))
    try:
        scheme = urlsplit(href).scheme.lower()
    except ValueError:
        return text
    if scheme not in _SAFE_SCHEMES:
        return text
    link = {"href": href, "target": "_blank", "rel": "noopener noreferrer"}
    return f"<a{attrs(link)}>{text}</a>"


def _emphasis(html: str) -> str:
    html = _STRONG.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", html)
    return _EM.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", html)
