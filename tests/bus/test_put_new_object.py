"""``put_new_object`` writes exactly what nats-py's ObjectStore reads back (any size)."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from qhana.bus import start_nats_server
from qhana.bus.objects import CHUNK_BYTES, put_new_object


@pytest.mark.parametrize("size", [0, 5, CHUNK_BYTES, 2 * CHUNK_BYTES + 7])
async def test_object_reads_back_like_objectstore_put(tmp_path: Path, size: int) -> None:
    async with start_nats_server(tmp_path / "js") as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            store = await js.create_object_store("files")
            data = bytes((i * 7) % 251 for i in range(size))
            await put_new_object(js, "files", f"tasks/1/1.1.1.2/out-{size}.txt", data)
            got = await store.get(f"tasks/1/1.1.1.2/out-{size}.txt")
            assert (got.data or b"") == data
            reference = await store.put("reference", data)
            info = await store.get_info(f"tasks/1/1.1.1.2/out-{size}.txt")
            assert (info.size, info.chunks, info.digest) == (
                reference.size,
                reference.chunks,
                reference.digest,
            )
        finally:
            await nc.close()
