"""file-upload: store an uploaded file as a task output (spec §6.3; a synchronous handler)."""

from __future__ import annotations

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, SyncTaskContext, field


class UploadInput(PluginInput):
    data_type: str = field(title="Data Type", description="The data type of the file.")
    content_type: str = field(
        title="Content Type", description="The content type (media type) of the file."
    )
    file: str | None = field(None, title="File", description="The file.", input_type="file")


def run(ctx: SyncTaskContext, params: UploadInput) -> str | None:
    upload = ctx.uploads.get("file")
    if upload is None:
        raise ValueError("No file in request.")
    data = ctx.read_upload("file")
    ctx.write_output(
        upload.name, data, data_type=params.data_type, content_type=params.content_type
    )
    return None


plugin = Plugin(
    name="file-upload",
    version="v0.2.0",
    title="File Upload",
    description="Uploads files to use in the workflow.",
    type=PluginType.DATALOADER,
    tags=("data-loading",),
    input_model=UploadInput,
    handler=run,
    upload_fields=("file",),
    data_output=(DataSpec(data_type="*", content_type=["*"], required=True),),
)
