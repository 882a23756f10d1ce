"""Line states across processes: the daemon writes them to the store, the panel reads them.

Why a table and not a socket: in production the daemon and the panel are separate processes that
already share the store, and a table survives either side restarting. The daemon's listener must
return quickly (it runs on a line's own thread), so :func:`persist_listener` only queues the event; a
small writer thread upserts the latest state per line.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime
from typing import Any

from callbox.store.db import Store
from callbox.store.models_panel import LineStatus

log = logging.getLogger(__name__)


def write_state(store: Store, line_id: str, state: str, detail: str = "", at: datetime | None = None) -> None:
    """Upsert one line's state (also used by tests to play the daemon)."""
    at = at or store.clock.now()
    (
        LineStatus.insert(line_id=line_id, state=state, detail=detail, updated_at=at)
        .on_conflict(conflict_target=[LineStatus.line_id],
                     update={LineStatus.state: state, LineStatus.detail: detail, LineStatus.updated_at: at})
        .execute()
    )


class _PersistingListener:
    """Callable ``(LineEvent) -> None`` that hands events to a writer thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="linestate-writer", daemon=True)
        self._thread.start()

    def __call__(self, event: Any) -> None:
        self._queue.put(event)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued event is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                state = getattr(item.state, "value", str(item.state))
                write_state(self.store, item.line_id, state, item.detail or "", item.at)
            except Exception:  # the panel's view of a line must never disturb a call
                log.exception("could not store line state for %s", getattr(item, "line_id", "?"))


def persist_listener(store: Store) -> _PersistingListener:
    """A line-state listener for the daemon that keeps ``LineStatus`` up to date."""
    return _PersistingListener(store)


def snapshot() -> dict[str, dict]:
    """Current state of every line that has reported, keyed by line id."""
    return {
        row.line_id: {"line": row.line_id, "state": row.state, "detail": row.detail, "at": row.updated_at.isoformat()}
        for row in LineStatus.select().order_by(LineStatus.line_id)
    }
