"""Operator commands: ``qhana tasks submit|watch``, ``qhana plugins ls``, ``qhana runners ls``.

They talk to a running system like any client: HTTP to the edge (``--url``, else
``QHANA_PUBLIC_URL``, else ``http://127.0.0.1:5005``) and, for runners, NATS.
"""

from qhana.ops.commands import add_ops_commands

__all__ = ["add_ops_commands"]
