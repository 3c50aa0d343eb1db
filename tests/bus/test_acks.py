"""The ack-subject fast path reads what nats-py's ``msg.metadata`` reads, in both formats."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

from qhana.bus.acks import delivery, pending, stream_seq

REPLIES = (
    "$JS.ACK.QHANA_EVENTS.recorder.3.1234.77.1700000000000000000.5",  # no domain
    "$JS.ACK._.ACCHASH.QHANA_TASKS.tasks-default.1.98765.4.1700000000000000000.0",
    "$JS.ACK.hub.ACCHASH.QHANA_TASKS.tasks-default.2.42.9.1700000000000000000.12.rAnD0m",
)


@pytest.mark.parametrize("reply", REPLIES)
def test_same_as_nats_py_metadata(reply: str) -> None:
    msg = Msg(Client(), subject="qhana.events.task.1", reply=reply, data=b"{}")
    meta = msg.metadata
    assert stream_seq(msg) == meta.sequence.stream
    assert delivery(msg) == (meta.sequence.stream, meta.num_delivered)
    assert pending(msg) == meta.num_pending


NOT_JS = ("", "_INBOX.abc.1", "$JS.ACK.too.short", "$JS.NAK.a.b.1.2.3.4.5")


@pytest.mark.parametrize("reply", NOT_JS)
def test_not_a_jetstream_message(reply: str) -> None:
    msg = Msg(Client(), subject="x", reply=reply, data=b"")
    with pytest.raises(NotJSMessageError):
        stream_seq(msg)
    with pytest.raises(NotJSMessageError):
        pending(msg)
    with pytest.raises(NotJSMessageError):
        msg.metadata  # noqa: B018  (nats-py agrees)
