"""Encrypted call recordings: streaming ``.cbr`` format, box key pairs, recorder, retention sweep.

Recordings are the most sensitive data on the box. They are encrypted as they are recorded (plaintext
never touches disk), survive a crash up to the last full chunk, and are crypto-shredded when retention
ends. See :mod:`.stream` for the format, :mod:`.keystore` for keys, :mod:`.recorder` for the live
recorder and :mod:`.retention` for the sweeper.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from callbox.clock import Clock, SystemClock

AuditFn = Callable[[str, str, dict], None]


def audit_hook(data_dir: Path, clock: Clock | None = None, actor: str | None = None) -> AuditFn:
    """Return ``audit(action, subject, details)`` for recording access (who, when, why, which).

    Every access goes into the store's hash-chained audit log (the same chain ``callbox audit verify``
    checks), as ``recording.<action>`` (never doubled), in its own committed transaction before the audio is
    released. Without a store (keys used on a bare directory) it falls back to an fsynced JSON-lines
    file ``<data>/recordings/access.log`` so no access goes unrecorded.
    """
    clock = clock or SystemClock()
    prefix = "recording."
    who = actor or os.environ.get("SUDO_USER") or os.environ.get("USER") or "operator"
    data_dir = Path(data_dir)

    def audit(action: str, subject: str, details: dict) -> None:
        from callbox.store.db import DB_FILENAME

        # Callers pass "played" or "recording.played"; the chain gets "recording.played" either way.
        action = action if action.startswith(prefix) else prefix + action

        if (data_dir / DB_FILENAME).exists():
            from callbox.store import audit as chain
            from callbox.store import models
            from callbox.store.db import Store, open_store

            path = data_dir / DB_FILENAME
            bound = models.database_proxy.obj
            if bound is not None and Path(bound.database).resolve() == path.resolve():
                # This process already has the store open (e.g. the panel): use it, don't rebind.
                chain.append(Store(bound, path, clock), str(details.get("by", who)), action, subject, details)
                return
            store = open_store(data_dir, clock)
            try:
                chain.append(store, str(details.get("by", who)), action, subject, details)
            finally:
                store.close()
            return
        log = data_dir / "recordings" / "access.log"
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = {"at": clock.now().isoformat(), "action": action, "subject": subject, "details": details, "by": who}
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    return audit
