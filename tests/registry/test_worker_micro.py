"""Workers run as the NATS micro service ``qhana-runner`` (``nats micro ls`` finds them)."""

from __future__ import annotations

import json

import nats
from support.stack import Stack

from qhana.bus import subjects
from qhana.wire import PluginInfo


async def test_worker_answers_srv_ping_info_and_ui_requests(stack: Stack) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        ping = json.loads((await nc.request("$SRV.PING.qhana-runner", b"", timeout=10)).data)
        assert ping["name"] == "qhana-runner" and ping["type"] == "io.nats.micro.v1.ping_response"
        assert ping["metadata"]["runner_id"] == stack.settings.runner_id
        info = json.loads(
            (await nc.request(f"$SRV.INFO.qhana-runner.{ping['id']}", b"", timeout=10)).data
        )
        subjects_by_plugin = {e["metadata"]["plugin"]: e["subject"] for e in info["endpoints"]}
        assert subjects_by_plugin["hello-world@v0-2-1"] == "qhana.ui.hello-world@v0-2-1"
        assert "hello-world@v0-2-1" in info["metadata"]["plugins"].split(",")
        reply = await nc.request(subjects.ui_request("hello-world@v0-2-1"), b"", timeout=10)
        plugin = PluginInfo.model_validate_json(reply.data)
        assert plugin.name == "hello-world" and plugin.input_schema
        stats = json.loads(
            (await nc.request(f"$SRV.STATS.qhana-runner.{ping['id']}", b"", timeout=10)).data
        )
        hello = next(e for e in stats["endpoints"] if e["subject"] == "qhana.ui.hello-world@v0-2-1")
        assert hello["num_requests"] == 1
    finally:
        await nc.close()
