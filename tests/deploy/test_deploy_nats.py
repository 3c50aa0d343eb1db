"""deploy/nats/accounts.conf: syntax, subjects, and the permissions against a live server.

- `nats-server -t` on the file (alone and included from the compose cluster config);
- every channel of the AsyncAPI table (qhana.bus.asyncapi) is open to the roles it names;
- live: the streams are created as `qhana streams apply` does (qhana.bus.apply_streams, as
  the admin user), then each role's user is driven with nats-py's own JetStream, KV,
  object store and request/reply calls -- what it must be able to do, and what not.

test_deploy_roles.py runs the real roles as these users.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from qhana.bus import apply_queue_consumer, apply_streams
from qhana.bus.asyncapi import CHANNELS, Channel
from qhana.bus.pull import Puller, pull_batch
from qhana.bus.streams import load_spec

from . import _natsconf
from ._natsserver import check_config, running_server
from ._paths import ACCOUNTS_CONF, NATS_CONF, NATS_USERS, nats_password_env, password_of

DENIED_S = 0.5  # how long a request whose publish the server refuses takes to time out


def test_accounts_conf_is_valid() -> None:
    done = check_config(ACCOUNTS_CONF, env=nats_password_env())
    assert done.returncode == 0, done.stderr


def test_accounts_conf_needs_the_passwords_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = nats_password_env()
    del env["QHANA_NATS_PASSWORD_EDGE"]
    monkeypatch.delenv("QHANA_NATS_PASSWORD_EDGE", raising=False)
    done = check_config(ACCOUNTS_CONF, env=env)
    assert done.returncode != 0
    assert "QHANA_NATS_PASSWORD_EDGE" in done.stderr


def test_accounts_conf_composes_with_the_cluster_config(tmp_path: Path) -> None:
    shutil.copy(ACCOUNTS_CONF, tmp_path / "accounts.conf")
    config = tmp_path / "nats.conf"
    config.write_text(NATS_CONF.read_text(encoding="utf-8") + "\ninclude ./accounts.conf\n")
    done = check_config(config, "--name", "nats-1", env=nats_password_env())
    assert done.returncode == 0, done.stderr


def test_nats_server_t_is_strict(tmp_path: Path) -> None:
    """The check above means something: a misspelt permission key fails it."""
    broken = tmp_path / "accounts.conf"
    broken.write_text(ACCOUNTS_CONF.read_text(encoding="utf-8").replace("deny:", "deny_list:", 1))
    done = check_config(broken, env=nats_password_env())
    assert done.returncode != 0
    assert "deny_list" in done.stderr


def test_every_user_of_the_config_is_known() -> None:
    users = re.findall(r"\{ user: ([\w-]+),", ACCOUNTS_CONF.read_text(encoding="utf-8"))
    assert sorted(users) == sorted(NATS_USERS)


# --- the subjects of the AsyncAPI document (qhana.bus.asyncapi) ---------------------------

ROLE_USERS = {
    "edge": ("qhana-edge",),
    "worker": ("qhana-worker-default", "qhana-worker-quantum"),
    "registry": ("qhana-registry",),
    "recorder": ("qhana-recorder",),
}
SAMPLE_TOKENS = {
    "queue": "default",
    "plugin": "hello-world_v0-1-0",
    "task_id": "7",
    "runner_id": "runner-1",
}


@pytest.fixture(scope="module")
def permissions() -> dict[str, _natsconf.Permissions]:
    return _natsconf.load(ACCOUNTS_CONF)


def roles_named(text: str) -> set[str]:
    """The roles a channel's publishers/subscribers text names (not its remarks in brackets)."""
    text = re.sub(r"\([^)]*\)", "", text)
    return {role for role in ROLE_USERS if re.search(rf"\b{role}\b", text)}


def stored_in_a_stream(subject: str) -> bool:
    """Stream subjects are consumed through JetStream consumers, not core subscriptions."""
    patterns = [p for stream in load_spec().streams for p in stream["subjects"]]
    return any(_natsconf.subject_matches(pattern, subject) for pattern in patterns)


def test_the_parser_reads_every_user(permissions: dict[str, _natsconf.Permissions]) -> None:
    assert set(permissions) == set(NATS_USERS)
    assert permissions["qhana-admin"].publish.permits("$JS.API.STREAM.CREATE.QHANA_TASKS")
    edge = permissions["qhana-edge"].publish
    assert not edge.permits("$JS.API.CONSUMER.MSG.NEXT.QHANA_TASKS.tasks-default")


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda channel: channel.name)
def test_each_role_may_use_its_channels(
    channel: Channel, permissions: dict[str, _natsconf.Permissions]
) -> None:
    """Publishers and (core NATS) subscribers named by the AsyncAPI channel table."""
    subject = channel.name.format(**SAMPLE_TOKENS)
    for role in roles_named(channel.publishers):
        for user in ROLE_USERS[role]:
            assert permissions[user].publish.permits(subject), f"{user} publish {subject}"
    if stored_in_a_stream(subject):
        return
    for role in roles_named(channel.subscribers):
        for user in ROLE_USERS[role]:
            assert permissions[user].subscribe.permits(subject), f"{user} subscribe {subject}"


# --- live permissions -------------------------------------------------------------------


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    with running_server(ACCOUNTS_CONF, tmp_path, env=nats_password_env()) as url:
        yield url


class Session:
    """A connection as one user, with the permission errors the server sent it."""

    def __init__(self, client: Client, errors: list[str]) -> None:
        self.client = client
        self.js: JetStreamContext = client.jetstream(timeout=2)
        self.errors = errors

    async def denied(self, subject: str, wait_s: float = 2.0) -> bool:
        """Whether the server reports a permission violation for `subject` within `wait_s`."""
        needle = f'"{subject.lower()}"'
        deadline = asyncio.get_running_loop().time() + wait_s
        await self.client.flush(timeout=2)
        while True:
            if any("permissions violation" in e and needle in e for e in self.errors):
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)


@asynccontextmanager
async def session(url: str, user: str) -> AsyncIterator[Session]:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    client = await nats.connect(
        url, user=user, password=password_of(user), error_cb=on_error, allow_reconnect=False
    )
    try:
        yield Session(client, errors)
    finally:
        await client.close()


async def create_streams(url: str) -> None:
    """What the init step creates -- `qhana streams apply --queue default --queue quantum`."""
    async with session(url, "qhana-admin") as admin:
        await apply_streams(admin.js, replicas=1, queues=("default", "quantum"))


async def request_when_served(client: Client, subject: str) -> Msg:
    """A request, retried while the server does not yet see the responder's subscription."""
    for _ in range(40):
        try:
            return await client.request(subject, b"", timeout=2)
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nobody answers {subject}")


async def stream_messages(url: str, stream: str) -> int:
    async with session(url, "qhana-admin") as admin:
        return (await admin.js.stream_info(stream)).state.messages


async def test_edge_publishes_tasks_but_cannot_take_them(nats_url: str) -> None:
    await create_streams(nats_url)
    async with session(nats_url, "qhana-edge") as edge:
        ack = await edge.js.publish(
            "qhana.tasks.default.hello", b"{}", headers={"Nats-Msg-Id": "c1"}
        )
        assert ack.stream == "QHANA_TASKS"
        # reads a first command while its accepted is not stored (qhana/edge/unrecorded.py)
        assert (await edge.js.get_msg("QHANA_TASKS", seq=ack.seq)).data == b"{}"
        await edge.js.publish("qhana.events.task.1", b"accepted")
        await edge.client.publish("qhana.control.task.1.cancel", b"")

        pull = await edge.js.pull_subscribe_bind("tasks-default", stream="QHANA_TASKS")
        with pytest.raises(nats.errors.TimeoutError):
            await pull.fetch(1, timeout=DENIED_S)
        assert await edge.denied("$JS.API.CONSUMER.MSG.NEXT.QHANA_TASKS.tasks-default")

        await edge.client.subscribe("qhana.tasks.>")
        assert await edge.denied("qhana.tasks.>")
    assert await stream_messages(nats_url, "QHANA_TASKS") == 1  # still there for a worker


async def test_worker_takes_its_queue_only_and_cannot_publish_tasks(nats_url: str) -> None:
    await create_streams(nats_url)
    async with session(nats_url, "qhana-edge") as edge:
        await edge.js.publish("qhana.tasks.default.hello", b"{}")
        await edge.js.publish("qhana.tasks.quantum.qaoa", b"{}")

    async with session(nats_url, "qhana-worker-default") as worker:
        await apply_queue_consumer(worker.js, "default")  # as every worker does at start
        impatient = worker.client.jetstream(timeout=DENIED_S)
        with pytest.raises(nats.errors.TimeoutError):
            await apply_queue_consumer(impatient, "quantum")
        assert await worker.denied("$JS.API.CONSUMER.DURABLE.CREATE.QHANA_TASKS.tasks-quantum")

        puller = await Puller(worker.client, "QHANA_TASKS", "tasks-default").start()
        (msg,) = await pull_batch(puller, 1, 2)  # as the task loop pulls
        assert msg.subject == "qhana.tasks.default.hello"
        await msg.in_progress()
        await msg.in_progress()  # several answers to one delivery
        await msg.ack_sync(timeout=2)
        await worker.js.publish("qhana.events.task.1", b"started")
        await worker.client.publish("qhana.plugins.heartbeat.runner-1", b"")
        await worker.js.publish("qhana.plugins.announce.runner-1", b"[]")

        other = await worker.js.pull_subscribe_bind("tasks-quantum", stream="QHANA_TASKS")
        with pytest.raises(nats.errors.TimeoutError):
            await other.fetch(1, timeout=DENIED_S)
        assert await worker.denied("$JS.API.CONSUMER.MSG.NEXT.QHANA_TASKS.tasks-quantum")

        with pytest.raises(nats.errors.TimeoutError):
            await worker.js.publish("qhana.tasks.default.evil", b"{}", timeout=DENIED_S)
        assert await worker.denied("qhana.tasks.default.evil")
        with pytest.raises(nats.errors.TimeoutError):
            impatient = worker.client.jetstream(timeout=DENIED_S)
            await impatient.add_stream(name="EVIL", subjects=["evil.>"])
        assert await worker.denied("$JS.API.STREAM.CREATE.EVIL")

    assert await stream_messages(nats_url, "QHANA_TASKS") == 1  # the quantum task


async def test_worker_uses_kv_and_object_store_and_answers_ui_requests(nats_url: str) -> None:
    await create_streams(nats_url)
    async with (
        session(nats_url, "qhana-worker-quantum") as worker,
        session(nats_url, "qhana-edge") as edge,
    ):
        kv = await worker.js.key_value("qhana-task-state")
        await kv.put("7", b'{"step": 2}')
        assert (await kv.get("7")).value == b'{"step": 2}'

        files = await worker.js.object_store("qhana-files")
        output = bytes(range(256)) * 1200  # several chunks
        await files.put("output-7", output)
        await files.put("output-7", output[:10])  # overwrite purges the old chunks
        downloads = await edge.js.object_store("qhana-files")
        assert (await downloads.get("output-7")).data == output[:10]
        await downloads.put("upload-8", b"input")
        assert (await files.get("upload-8")).data == b"input"

        async def render(msg: Msg) -> None:
            await msg.respond(b"<form></form>")

        await worker.client.subscribe("qhana.ui.hello.v1", queue="qhana-runner", cb=render)
        await worker.client.flush()
        reply = await request_when_served(edge.client, "qhana.ui.hello.v1")
        assert reply.data == b"<form></form>"
        assert not worker.errors and not edge.errors


async def test_registry_and_recorder_consume_their_streams(nats_url: str) -> None:
    await create_streams(nats_url)
    async with session(nats_url, "qhana-worker-default") as worker:
        await worker.js.publish("qhana.plugins.announce.runner-1", b"[]")
        await worker.js.publish("qhana.events.task.1", b"succeeded")

    async with session(nats_url, "qhana-registry") as registry:
        announced: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_announce(msg: Msg) -> None:
            await announced.put(msg.data)

        # as the registry replays and follows the plugins stream
        await registry.js.subscribe(
            "qhana.plugins.>", stream="QHANA_PLUGINS", ordered_consumer=True, cb=on_announce
        )
        assert await asyncio.wait_for(announced.get(), 2) == b"[]"
        await registry.client.subscribe("qhana.plugins.heartbeat.>")
        with pytest.raises(nats.errors.TimeoutError):
            await registry.js.publish("qhana.tasks.default.x", b"{}", timeout=DENIED_S)
        assert await registry.denied("qhana.tasks.default.x")
        assert not await registry.denied("qhana.plugins.heartbeat.>", wait_s=0.3)

    async with session(nats_url, "qhana-recorder") as recorder:
        puller = await Puller(recorder.client, "QHANA_EVENTS", "recorder").start()
        (msg,) = await pull_batch(puller, 1, 2)  # as the recorder pulls
        assert msg.data == b"succeeded"
        await msg.ack_sync(timeout=2)
        advisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.QHANA_TASKS.tasks-default"
        await recorder.client.subscribe(advisory)
        assert not await recorder.denied(advisory, wait_s=0.3)
        tasks = await recorder.js.pull_subscribe_bind("tasks-default", stream="QHANA_TASKS")
        with pytest.raises(nats.errors.TimeoutError):
            await tasks.fetch(1, timeout=DENIED_S)
        assert await recorder.denied("$JS.API.CONSUMER.MSG.NEXT.QHANA_TASKS.tasks-default")
