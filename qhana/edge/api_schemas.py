"""Marshmallow schemas of the runner API (spec §1, §2): the OpenAPI document is built from them.

They describe the JSON the routes emit (keys exactly as upstream, camelCase); the routes build
their bodies in ``plugin_json`` / ``task_json``. The contract tests check both agree.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

__all__ = [
    "ErrorSchema",
    "FileIdPathSchema",
    "FileQuerySchema",
    "PluginListQuerySchema",
    "PluginListSchema",
    "PluginMetadataSchema",
    "PluginPathSchema",
    "RootSchema",
    "SubscriptionSchema",
    "TaskIdPathSchema",
    "TaskStatusSchema",
]

STATUSES = ("PENDING", "SUCCESS", "FAILURE", "UNKNOWN")
WEBHOOK_EVENTS = ("status", "steps", "details")
PLUGIN_TYPES = ("processing", "visualization", "conversion", "dataloader", "interaction")


class RootSchema(Schema):
    title = fields.Str(required=True)


class ErrorSchema(Schema):
    """``{"code", "status", "message"?, "errors"?}`` (flask-smorest's error shape)."""

    code = fields.Int(required=True)
    status = fields.Str(required=True)
    message = fields.Str()
    errors = fields.Dict(
        keys=fields.Str(),
        values=fields.Dict(keys=fields.Str(), values=fields.List(fields.Str())),
        metadata={"description": "location (form, json, query) -> key -> messages"},
    )


class PluginListItemSchema(Schema):
    name = fields.Str(required=True)
    version = fields.Str(required=True)
    identifier = fields.Str(required=True)
    api_root = fields.Str(required=True, data_key="apiRoot", metadata={"format": "uri"})
    description = fields.Str(required=True)
    tags = fields.List(fields.Str(), required=True)


class PluginListSchema(Schema):
    plugins = fields.List(fields.Nested(PluginListItemSchema), required=True)


class PluginListQuerySchema(Schema):
    all = fields.Str(
        metadata={"description": "true: also plugins whose runners are gone (not upstream)"}
    )


class PluginPathSchema(Schema):
    plugin = fields.Str(
        required=True, metadata={"description": "identifier name@version (dots as dashes)"}
    )


class DataMetadataSchema(Schema):
    data_type = fields.Str(required=True, data_key="dataType")
    content_type = fields.List(fields.Str(), required=True, data_key="contentType")
    required = fields.Bool(required=True)
    parameter = fields.Str()
    name = fields.Str()


class PluginDependencySchema(Schema):
    parameter = fields.Str(required=True)
    required = fields.Bool(required=True)
    name = fields.Str()
    version = fields.Str()
    tags = fields.List(fields.Str())
    type = fields.Str()


class EntryPointSchema(Schema):
    href = fields.Str(required=True)
    ui_href = fields.Str(required=True, data_key="uiHref")
    plugin_dependencies = fields.List(
        fields.Nested(PluginDependencySchema), required=True, data_key="pluginDependencies"
    )
    data_input = fields.List(fields.Nested(DataMetadataSchema), required=True, data_key="dataInput")
    data_output = fields.List(
        fields.Nested(DataMetadataSchema), required=True, data_key="dataOutput"
    )


class LinkSchema(Schema):
    type = fields.Str(required=True)
    href = fields.Str(required=True)


class PluginMetadataSchema(Schema):
    title = fields.Str(required=True)
    description = fields.Str(required=True)
    name = fields.Str(required=True)
    version = fields.Str(required=True)
    type = fields.Str(required=True, validate=validate.OneOf(PLUGIN_TYPES))
    tags = fields.List(fields.Str(), required=True)
    links = fields.List(fields.Nested(LinkSchema), required=True)
    entry_point = fields.Nested(EntryPointSchema, required=True, data_key="entryPoint")
    runners = fields.List(fields.Str(), metadata={"description": "runner ids (not upstream)"})
    last_available = fields.Str(allow_none=True, data_key="lastAvailable")


class ProgressSchema(Schema):
    value = fields.Int(required=True)
    start = fields.Int(required=True)
    target = fields.Int(required=True)
    unit = fields.Str(required=True)


class StepSchema(Schema):
    href = fields.Str(required=True, metadata={"format": "uri"})
    ui_href = fields.Str(required=True, data_key="uiHref", metadata={"format": "uri"})
    step_id = fields.Str(required=True, data_key="stepId")
    cleared = fields.Bool(required=True)


class OutputSchema(Schema):
    name = fields.Str()
    data_type = fields.Str(required=True, data_key="dataType")
    content_type = fields.Str(required=True, data_key="contentType")
    href = fields.Str(required=True, metadata={"format": "uri"})


class TaskStatusSchema(Schema):
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    log = fields.Str(required=True)
    progress = fields.Nested(ProgressSchema)
    steps = fields.List(fields.Nested(StepSchema))
    outputs = fields.List(fields.Nested(OutputSchema), required=True)
    links = fields.List(fields.Nested(LinkSchema), required=True)


class TaskIdPathSchema(Schema):
    task_id = fields.Int(required=True, validate=validate.Range(min=0))


class FileIdPathSchema(Schema):
    file_id = fields.Int(required=True, validate=validate.Range(min=0))


class FileQuerySchema(Schema):
    file_id = fields.Str(required=True, data_key="file-id")


class SubscriptionSchema(Schema):
    command = fields.Str(
        required=True, allow_none=True, validate=validate.OneOf(("subscribe", "unsubscribe"))
    )
    webhook_href = fields.Url(required=True, data_key="webhookHref")
    event = fields.Str(
        allow_none=True,
        load_default=None,
        validate=validate.OneOf(WEBHOOK_EVENTS),
        metadata={"description": "null: every event"},
    )
