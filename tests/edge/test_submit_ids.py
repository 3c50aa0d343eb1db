"""A new task's command id has the shape of ``uuid.uuid4().hex`` (version 4, RFC 4122)."""

from __future__ import annotations

import uuid

from qhana.edge.submit import _uuid4_hex


def test_command_ids_are_uuid4_hex() -> None:
    ids = {_uuid4_hex() for _ in range(2000)}
    assert len(ids) == 2000
    for hex_id in ids:
        parsed = uuid.UUID(hex=hex_id)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, hex_id)
