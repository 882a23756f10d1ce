"""The hash-chained audit log.

Every entry stores the SHA-256 of (previous hash + canonical JSON of its own content). Editing,
inserting or deleting any entry breaks the chain from that point on, which :func:`verify` reports.
Entries are only ever appended; nothing in the firmware updates or deletes them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from callbox.store import models as m
from callbox.store.db import Store

GENESIS = "0" * 64


def _entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str, details: dict) -> str:
    body = json.dumps(
        {"seq": seq, "at": at.isoformat(), "actor": actor, "action": action, "subject": subject, "details": details},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(store: Store, actor: str, action: str, subject: str = "", details: dict | None = None) -> m.AuditEntry:
    """Append one entry. Call inside the transaction that makes the change it describes."""
    details = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    at = store.clock.now()
    with store.db.atomic():
        last = m.AuditEntry.select().order_by(m.AuditEntry.seq.desc()).first()
        seq = (last.seq + 1) if last else 1
        prev = last.hash if last else GENESIS
        digest = _entry_hash(prev, seq, at, actor, action, subject, details)
        return m.AuditEntry.create(
            seq=seq, at=at, actor=actor, action=action, subject=subject, details=details, prev_hash=prev, hash=digest
        )


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify(store: Store) -> ChainReport:
    """Walk the chain from the start; report the first entry that was edited, inserted or removed."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for entry in m.AuditEntry.select().order_by(m.AuditEntry.seq):
        count += 1
        if entry.seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"entry {expected_seq} is missing (deleted)")
        if entry.prev_hash != prev:
            return ChainReport(False, count, entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}")
        digest = _entry_hash(prev, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.details)
        if digest != entry.hash:
            return ChainReport(False, count, entry.seq, f"entry {entry.seq} was modified after it was written")
        prev = entry.hash
        expected_seq += 1
    return ChainReport(True, count)
