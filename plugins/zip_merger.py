"""zip-merger: several input files (URLs, one per line) merged into one ZIP archive."""

from __future__ import annotations

import io
import zipfile

from qhana.sdk import DataSpec, Plugin, PluginInput, PluginType, TaskContext, field


class MergeInput(PluginInput):
    file_urls: str = field(
        title="File URLs",
        description="URLs of the files to merge, one per line.",
        input_type="textarea",
    )


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{dot}{suffix}"
    taken.add(candidate)
    return candidate


async def run(ctx: TaskContext, params: MergeInput) -> str:
    urls = [line.strip() for line in params.file_urls.splitlines() if line.strip()]
    if not urls:
        raise ValueError("No file URLs given.")
    buffer = io.BytesIO()
    taken: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, url in enumerate(urls, start=1):
            fetched = await ctx.fetch_url(url)
            archive.writestr(_unique(fetched.name, taken), fetched.data)
            await ctx.progress(index, target=len(urls), unit="files")
    await ctx.write_output(
        "merged.zip", buffer.getvalue(), data_type="any", content_type="application/zip"
    )
    return f"merged {len(urls)} files: {', '.join(sorted(taken))}"


plugin = Plugin(
    name="zip-merger",
    version="v0.1.0",
    title="ZIP merger",
    description="Merges several files into one ZIP archive.",
    type=PluginType.CONVERSION,
    tags=("conversion", "zip"),
    input_model=MergeInput,
    handler=run,
    data_output=(DataSpec(data_type="any", content_type=["application/zip"]),),
)
