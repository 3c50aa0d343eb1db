"""NATS connection, subjects and JetStream resources."""

from qhana.bus.connection import connect
from qhana.bus.embedded import EmbeddedNats, find_nats_server, start_nats_server
from qhana.bus.streams import apply_queue_consumer, apply_streams, load_spec

__all__ = [
    "EmbeddedNats",
    "apply_queue_consumer",
    "apply_streams",
    "connect",
    "find_nats_server",
    "load_spec",
    "start_nats_server",
]
