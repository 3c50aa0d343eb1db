"""Unit tests of the stock micro-frontend renderer (qhana.edge.forms, spec §5.3 and §11)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any

import pytest
from pydantic import BaseModel, Field

from qhana.edge.forms import FormPage, render_form_page

VOID = frozenset({"meta", "link", "input", "br", "img", "hr", "source", "col", "wbr"})


# --- a tiny DOM built with html.parser ---------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.text_parts) + "".join(child.text for child in self.children)

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            yield child
            yield from child.iter()

    def find_all(self, tag: str | None = None, **wanted: str | None) -> list[Node]:
        def matches(node: Node) -> bool:
            if tag is not None and node.tag != tag:
                return False
            for key, value in wanted.items():
                name = key.rstrip("_").replace("_", "-")
                if name not in node.attrs:
                    return False
                if value is not None and node.attrs[name] != value:
                    return False
            return True

        return [node for node in self.iter() if matches(node)]

    def find(self, tag: str | None = None, **wanted: str | None) -> Node:
        found = self.find_all(tag, **wanted)
        assert len(found) == 1, f"expected one <{tag} {wanted}>, found {len(found)}"
        return found[0]

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].text_parts.append(data)


def parse(html: str) -> TreeBuilder:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder


def dom(html: str) -> Node:
    return parse(html).root


# --- schemas -----------------------------------------------------------------------------------


class HelloWorld(BaseModel):
    input_str: str = Field(
        title="Input String",
        description="A simple string input.",
        json_schema_extra={"x-qhana": {"input_type": "textarea"}},
    )


class Colour(StrEnum):
    """Colours of the rainbow."""

    RED = "red"
    GREEN = "green"


class Rich(BaseModel):
    colour: Colour = Colour.GREEN
    maybe_colour: Colour | None = None
    count: int | None = Field(None, ge=1, le=10, title="Count")
    ratio: float = Field(0.5, ge=0, le=1)
    name: str = Field("anon", min_length=2, max_length=20)
    flag: bool = False
    homepage: str = Field("", json_schema_extra={"format": "uri"})
    when: str = Field("", json_schema_extra={"format": "date"})
    entities: str = Field(
        json_schema_extra={
            "x-qhana": {
                "input_type": "data",
                "data_input_type": "entity/list",
                "data_content_types": ["application/json", "text/csv"],
            }
        },
    )
    algorithm: str = Field(
        "",
        json_schema_extra={
            "x-qhana": {
                "input_type": "plugin",
                "plugin_tags": ["quantum", "classification"],
                "plugin_name": "qnn",
                "plugin_version": "v1",
            }
        },
    )
    secret: str = Field("", json_schema_extra={"x-qhana": {"input_type": "private"}})
    nested: dict[str, int] = {}


def page(model: type[BaseModel] = HelloWorld, **overrides: Any) -> FormPage:
    args: dict[str, Any] = {
        "title": "hello-world",
        "schema": model.model_json_schema(),
        "values": {},
        "errors": {},
        "process_url": "/plugins/hello-world@v0-2-1/process/",
        "ui_url": "/plugins/hello-world@v0-2-1/ui/",
    }
    args.update(overrides)
    return FormPage(**args)


def render(model: type[BaseModel] = HelloWorld, **overrides: Any) -> Node:
    return dom(render_form_page(page(model, **overrides)))


def field_of(root: Node, python_name: str) -> Node:
    for div in root.find_all("div", class_=None):
        if div.has_class("qhana-form-field") and any(
            node.attrs.get("id") == python_name for node in div.iter()
        ):
            return div
    raise AssertionError(f"no form field for {python_name}")


# --- tests -------------------------------------------------------------------------------------


def test_document_is_complete_html5_with_assets() -> None:
    html = render_form_page(page(static_prefix="/static/"))
    builder = parse(html)
    assert builder.doctype is not None and builder.doctype.lower() == "doctype html"
    root = builder.root
    assert root.find("title").text == "hello-world"
    assert root.find("h1").text == "hello-world"
    assert root.find("link", rel="stylesheet").attrs["href"] == "/static/forms.css"
    assert root.find("script").attrs["src"] == "/static/microfrontend.js"


def test_form_attributes_are_exact() -> None:
    form = render().find("form")
    assert form.attrs == {
        "class": "qhana-form",
        "action": "",
        "method": "post",
        "data-target": "microfrontend",
        "enctype": "multipart/form-data",
    }


def test_hello_world_textarea() -> None:
    root = render()
    textarea = root.find("textarea")
    assert textarea.attrs["name"] == "inputStr"
    assert textarea.attrs["id"] == "input_str"
    assert "required" in textarea.attrs
    field = field_of(root, "input_str")
    assert field.find("label").attrs["for"] == "input_str"
    assert field.find("label").text == "Input String"
    assert "A simple string input." in field.text


def test_two_buttons_with_exact_texts() -> None:
    buttons = [b for b in render().find_all("button") if b.has_class("qhana-form-submit")]
    assert [(b.text, b.attrs.get("data-target"), b.attrs.get("type")) for b in buttons] == [
        ("validate", "microfrontend", "submit"),
        ("submit", "api", "submit"),
    ]
    assert "formaction" not in buttons[0].attrs
    assert buttons[1].attrs["formaction"] == "/plugins/hello-world@v0-2-1/process/"


def test_values_are_escaped() -> None:
    evil = '</textarea><script>alert("x")</script>'
    html = render_form_page(page(values={"inputStr": evil}, title="<b>t</b>"))
    root = dom(html)
    assert root.find("textarea").text == evil
    assert len(root.find_all("script")) == 1  # only the helper
    assert root.find("title").text == "<b>t</b>"
    assert "<b>" not in html


def test_errors_rendered_next_to_field_and_form_level() -> None:
    errors = {"inputStr": ["Missing data for required field."], "_schema": ["Whole form bad."]}
    root = render(errors=errors)
    field = field_of(root, "input_str")
    messages = [p for p in field.find_all("p") if p.has_class("qhana-error-message")]
    assert [p.find("span").text for p in messages] == ["Missing data for required field."]
    every = [p.text for p in root.find_all("p") if p.has_class("qhana-error-message")]
    assert sorted(every) == ["Missing data for required field.", "Whole form bad."]


def test_valid_marker_only_when_valid() -> None:
    def markers(root: Node) -> list[Node]:
        return [p for p in root.find_all("p") if p.has_class("qhana-validation-ok")]

    assert markers(render()) == []
    assert [p.text for p in markers(render(valid=True))] == ["Validation successful!"]


def test_help_and_example_link() -> None:
    root = render(
        help_text="This is an example help text with basic **Markdown** support.",
        examples={"inputStr": "Sample input string."},
    )
    details = root.find("details", class_="qhana-help")
    assert details.find("strong").text == "Markdown"
    link = details.find("a", class_="qhana-example-values")
    assert link.text == "Fill in example values."
    assert link.attrs["href"] == "/plugins/hello-world@v0-2-1/ui/?inputStr=Sample+input+string."


def test_no_help_without_text_or_examples() -> None:
    assert render().find_all("details") == []


@pytest.mark.parametrize(
    ("description", "check"),
    [
        ("use `a<b>` here", lambda n: n.find("code").text == "a<b>"),
        ("*very* nice", lambda n: n.find("em").text == "very"),
        (
            "[docs](https://example.org/?a=1&b=2)",
            lambda n: n.find("a").attrs["href"].endswith("b=2"),
        ),
        ("[bad](javascript:alert)", lambda n: n.find_all("a") == []),
        ("<img src=x onerror=alert(1)>", lambda n: n.find_all("img") == []),
    ],
)
def test_description_markdown_subset(description: str, check: Callable[[Node], bool]) -> None:
    class Described(BaseModel):
        value: str = Field("", description=description)

    root = render(Described)
    assert check(root.find("div", class_="qhana-field-description"))


def test_enum_select_with_options_and_default() -> None:
    root = render(Rich, values={})
    select = root.find("select", id="colour")
    assert select.attrs["name"] == "colour"
    options = [(o.attrs["value"], "selected" in o.attrs) for o in select.find_all("option")]
    assert options == [("red", False), ("green", True)]
    assert field_of(root, "colour").find("label").text == "Colour"
    assert "rainbow" not in field_of(root, "colour").text  # the enum docstring is not the field's


def test_nullable_enum_has_empty_option_first() -> None:
    select = render(Rich, values={"maybeColour": "red"}).find("select", id="maybe_colour")
    assert select.attrs["name"] == "maybeColour"
    options = [(o.attrs["value"], "selected" in o.attrs) for o in select.find_all("option")]
    assert options == [("", False), ("red", True), ("green", False)]


def test_optional_int_with_bounds() -> None:
    number = render(Rich).find("input", id="count")
    assert number.attrs["type"] == "number"
    assert (number.attrs["min"], number.attrs["max"], number.attrs["step"]) == ("1", "10", "1")
    assert number.attrs["value"] == ""
    assert "required" not in number.attrs


def test_number_step_any_and_lengths() -> None:
    root = render(Rich)
    ratio = root.find("input", id="ratio")
    assert (ratio.attrs["step"], ratio.attrs["min"], ratio.attrs["max"]) == ("any", "0", "1")
    name = root.find("input", id="name")
    assert (name.attrs["type"], name.attrs["minlength"], name.attrs["maxlength"]) == (
        "text",
        "2",
        "20",
    )


@pytest.mark.parametrize(
    ("python_name", "input_type"),
    [("homepage", "url"), ("when", "date"), ("flag", "checkbox"), ("secret", "text")],
)
def test_input_types(python_name: str, input_type: str) -> None:
    assert render(Rich).find("input", id=python_name).attrs["type"] == input_type


def test_private_input_is_marked() -> None:
    assert "data-private" in render(Rich).find("input", id="secret").attrs


def test_checkbox_checked_from_value_and_default() -> None:
    assert "checked" not in render(Rich).find("input", id="flag").attrs
    assert "checked" in render(Rich, values={"flag": "on"}).find("input", id="flag").attrs
    assert "checked" in render(Rich, values={"flag": "true"}).find("input", id="flag").attrs


def test_values_win_over_defaults() -> None:
    root = render(Rich, values={"name": "given", "ratio": "0.25"})
    assert root.find("input", id="name").attrs["value"] == "given"
    assert root.find("input", id="ratio").attrs["value"] == "0.25"
    assert render(Rich).find("input", id="name").attrs["value"] == "anon"


def test_data_url_input() -> None:
    root = render(Rich, values={"entities": "http://files/1"})
    field = field_of(root, "entities")
    data = field.find("input", id="entities")
    assert data.attrs["name"] == "entities"
    assert data.attrs["data-input-type"] == "data"
    assert data.attrs["data-input"] == "entity/list"
    assert data.attrs["data-content-type"] == "application/json text/csv"
    assert data.attrs["value"] == "http://files/1"
    assert "required" in data.attrs
    choose = field.find("button", class_="qhana-choose-file-button")
    assert "hidden" in choose.attrs
    assert choose.attrs["data-input-id"] == "entities"
    assert choose.attrs["data-input"] == "entity/list"
    assert choose.attrs["data-content-type"] == "application/json text/csv"
    hint = field.find("p", class_="selected-file-hint")
    assert hint.find("span", class_="selected-file-name").attrs["data-input-id"] == "entities"
    assert "hidden" in hint.find("button", class_="qhana-show-preview-button").attrs


def test_plugin_url_input() -> None:
    field = field_of(render(Rich), "algorithm")
    assert field.find("input", id="algorithm").attrs["data-input-type"] == "plugin"
    button = field.find("button", class_="qhana-choose-plugin-button")
    assert button.attrs["data-plugin-tags"] == "quantum classification"
    assert button.attrs["data-plugin-name"] == "qnn"
    assert button.attrs["data-plugin-version"] == "v1"
    assert "hidden" in button.attrs


def test_unsupported_field_is_a_note_not_an_exception() -> None:
    root = render(Rich)
    notes = [p for p in root.find_all("p") if p.has_class("qhana-unsupported-field")]
    assert len(notes) == 1 and "nested" in notes[0].text
    assert root.find_all(id="nested") == []


def test_field_order_follows_declaration() -> None:
    form = render(Rich).find("form")
    names = [n.attrs["id"] for n in form.iter() if n.tag in {"input", "select"} and "id" in n.attrs]
    assert names == [
        "colour",
        "maybe_colour",
        "count",
        "ratio",
        "name",
        "flag",
        "homepage",
        "when",
        "entities",
        "algorithm",
        "secret",
    ]


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"properties": "nope"},
        {"properties": {"a": 1}},
        {"properties": {"a": {"$ref": "#/$defs/Missing"}}},
        {"properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}},
        {"properties": {"a": {"type": ["string", "null"]}}, "required": "a"},
        {"properties": {"a": {"type": "string", "x-qhana": {"input_type": "bogus"}}}},
        {"properties": {"a": {"type": "string", "x-qhana": {"input_type": "select"}}}},
    ],
)
def test_odd_schemas_never_raise(schema: Mapping[str, Any]) -> None:
    root = render(schema=schema)
    assert root.find("form") is not None


def test_hinted_select_uses_option_labels() -> None:
    schema = {
        "properties": {
            "mode": {
                "type": "string",
                "title": "Mode",
                "default": "b",
                "x-qhana": {"input_type": "select", "options": {"a": "Alpha", "b": "Beta"}},
            }
        }
    }
    select = render(schema=schema).find("select", id="mode")
    labelled: Sequence[tuple[str, str, bool]] = [
        (o.attrs["value"] or "", o.text, "selected" in o.attrs) for o in select.find_all("option")
    ]
    assert labelled == [("a", "Alpha", False), ("b", "Beta", True)]
