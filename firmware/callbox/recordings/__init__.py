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


def audit_hook(data_dir: Path, clock: Clock | None = None) -> AuditFn:
    """Return ``audit(action, subject, details)`` for recording access (who, when, why, which).

    For now it appends JSON lines to ``<data>/recordings/access.log`` (fsynced: an access record that a
    crash can lose is worthless). The store owner will point this at the hash-chained audit log; keep
    every caller going through this one function.
    """
    log = Path(data_dir) / "recordings" / "access.log"
    clock = clock or SystemClock()

    def audit(action: str, subject: str, details: dict) -> None:
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = {"at": clock.now().isoformat(), "action": action, "subject": subject, "details": details}
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    return audit
