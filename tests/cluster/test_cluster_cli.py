"""``qhana cluster`` as operators run it: prints the three node URLs and the edge, stops on TERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp


async def test_qhana_cluster_command(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qhana",
        "cluster",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "c"),
        env={**os.environ, "QHANA_LOG_FORMAT": "json"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        nats_line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        ready_line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert nats_line.startswith("qhana nats: "), nats_line
        urls = nats_line.split(": ", 1)[1].strip().split(",")
        assert len(urls) == 3 and all(u.startswith("nats://127.0.0.1:") for u in urls), urls
        assert ready_line.startswith("qhana ready: http://127.0.0.1:"), ready_line
        base = ready_line.split(": ", 1)[1].strip()
        async with aiohttp.ClientSession() as http, http.get(f"{base}readyz") as resp:
            assert resp.status == 200
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "c" / "cluster").iterdir()) == [
        "node-a",
        "node-b",
        "node-c",
    ]
