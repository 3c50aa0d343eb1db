"""The worker's local view of cancelled tasks: no KV round trip per task in the common case.

The edge cancels a task by putting the marker ``cancelled.<id>`` into ``qhana-task-state``
and, once JetStream has acknowledged it, publishing ``qhana.control.task.<id>.cancel`` on
the same connection. The view subscribes to both subjects, loads the markers already stored
and then answers ``is_cancelled`` from memory. Why that is safe when the view is *current*:

* The caller registers the attempt (so a control message finds it) before asking.
* While the KV stream is a single-server (R1, not clustered) stream on the very server this
  connection talks to, every acknowledged marker was routed through that server, which hands
  it to this subscription in the same step as it hands it to the stream. The control message
  comes after it (one publisher, one connection: NATS keeps the order). So if the marker is
  not in the view (and nothing sits unprocessed in the two subscriptions), neither message has
  been read yet: the control message arrives after the attempt was registered and cancels it
  like any running task, exactly as when the command had been fetched a moment earlier.
* A reconnect may lose core messages: the view is current again only after a fresh load
  started after the subscriptions were replayed (a marker stored before that load is in it;
  one stored later was acknowledged later, so its control message reaches the view).

When the view cannot show it is current (a JetStream cluster or a leaf node, whose routes can
drop core messages; before the first load; after a reconnect until the reload), it asks the
KV bucket as before. A marker it has seen answers ``True`` without a round trip in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from qhana.bus import subjects
from qhana.logging import get_logger

__all__ = ["CancelView"]

log = get_logger("qhana.worker")

_MARKER_PREFIX = subjects.cancelled_marker(0).removesuffix("0")  # "cancelled."
_DELETES = {"DEL", "PURGE"}  # KV-Operation of a deleted or purged marker


def _task_id(token: str) -> int | None:
    try:
        return int(token)
    except ValueError:
        return None


class CancelView:
    """Which task ids carry a cancel marker, kept current by two core subscriptions."""

    def __init__(
        self,
        nc: Client,
        state: KeyValue,
        *,
        bucket: str = subjects.STATE_BUCKET,
        on_cancel: Callable[[int], None] = lambda _task_id: None,
    ) -> None:
        self._nc = nc
        self._state = state
        self._bucket = bucket
        self._on_cancel = on_cancel
        self._ids: set[int] = set()
        self._subs: list[Subscription] = []
        self._synced_at: int | None = None  # the reconnect count the last good load saw
        self._local = False  # the KV stream is R1 on the server of this connection
        self._syncing: asyncio.Task[None] | None = None
        self.fallbacks = 0  # KV round trips taken (for tests and diagnostics)

    @property
    def current(self) -> bool:
        """True when a missing id proves there is no marker (see the module docstring)."""
        return (
            self._local
            and bool(self._subs)
            and self._synced_at == self._nc.stats["reconnects"]
            and all(sub.pending_msgs == 0 for sub in self._subs)
        )

    async def start(self) -> None:
        """Subscribe (unbounded, so nothing is dropped as a slow consumer), then load."""
        marker_subject = f"$KV.{self._bucket}.{_MARKER_PREFIX}*"
        control_subject = f"{subjects.CONTROL_PREFIX}.task.*.cancel"
        handlers = ((marker_subject, self._on_marker), (control_subject, self._on_control))
        self._subs = [
            await self._nc.subscribe(subject, cb=cb, pending_msgs_limit=0, pending_bytes_limit=0)
            for subject, cb in handlers
        ]
        await self._resync()  # on failure the view stays "not current": KV gets until a reload

    async def stop(self) -> None:
        if self._syncing is not None:
            self._syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._syncing
        subs, self._subs = self._subs, []  # not current any more: KV gets from now on
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def is_cancelled(self, task_id: int) -> bool:
        """Was the task cancelled? Register the attempt for control messages *before*."""
        if task_id in self._ids:
            return True
        if self.current:
            return False
        if self._synced_at != self._nc.stats["reconnects"] and self._syncing is None:
            self._syncing = asyncio.create_task(self._resync())
        self.fallbacks += 1
        try:
            await self._state.get(subjects.cancelled_marker(task_id))
        except KeyNotFoundError:
            return False
        self._ids.add(task_id)
        return True

    async def sync(self) -> None:
        """Load every stored marker; the view is current if no reconnect happened meanwhile."""
        reconnects = self._nc.stats["reconnects"]
        watcher = await self._state.watch(f"{_MARKER_PREFIX}*", meta_only=True)
        try:
            while True:
                entry = await watcher.updates(timeout=10.0)  # type: ignore[no-untyped-call]
                if entry is None:  # the stored markers are all read
                    break
                task_id = _task_id(entry.key.removeprefix(_MARKER_PREFIX))
                if task_id is not None:
                    self._apply(task_id, entry.operation)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]
        self._local = await self._stream_is_local()
        if self._nc.stats["reconnects"] == reconnects:
            self._synced_at = reconnects
        log.info("worker.cancel_view_synced", markers=len(self._ids), local=self._local)

    async def _resync(self) -> None:
        try:
            await self.sync()
        except Exception as exc:  # the next fallback tries again
            log.warning("worker.cancel_view_sync_failed", error=str(exc))
        finally:
            self._syncing = None

    async def _stream_is_local(self) -> bool:
        info = await self._nc.jetstream().stream_info(f"KV_{self._bucket}")
        cluster = info.cluster
        server_name = self._nc._server_info.get("server_name")  # no public accessor
        return (
            cluster is not None
            and cluster.name is None
            and not cluster.replicas
            and cluster.leader is not None
            and cluster.leader == server_name
        )

    def _apply(self, task_id: int, operation: str | None) -> None:
        if operation in _DELETES:
            self._ids.discard(task_id)
        else:
            self._ids.add(task_id)

    async def _on_marker(self, msg: Msg) -> None:
        task_id = _task_id(msg.subject.rsplit(".", 1)[-1])
        if task_id is not None:
            operation = msg.headers.get("KV-Operation") if msg.headers else None
            self._apply(task_id, operation)

    async def _on_control(self, msg: Msg) -> None:
        parts = msg.subject.split(".")
        task_id = _task_id(parts[3]) if len(parts) > 3 else None
        if task_id is not None:
            self._ids.add(task_id)  # published only after the marker was stored
            self._on_cancel(task_id)
