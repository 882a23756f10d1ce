"""The hash-chained audit log.

Every entry stores the SHA-256 of (previous hash + canonical JSON of its own content). Editing,
inserting or deleting any entry breaks the chain from that point on, which :func:`verify` reports.
Entries are only ever appended; nothing in the firmware updates or deletes them.

A chain walk cannot see the *last* entries being deleted (what is left is still a valid chain), so
the head is checkpointed twice:

1. the ``AuditHead`` row (seq + hash of the newest entry), written in the same transaction as every
   append, so the data and the checkpoint never disagree after a crash;
2. the file ``<data>/audit.head`` (``seq hash`` on one line), rewritten atomically (write, fsync,
   rename) once the outermost transaction that appended commits (peewee ``after_commit``; a rolled
   back append never reaches the file). A crash between commit and file write leaves the file one
   transaction behind: it may lag the chain, never lead it.

Deleting the tail and fixing the row still leaves the file pointing past the end: tampering needs
edits in two places (three, counting deleting the file, which ``verify`` reports as unchecked),
and an operator who copies the head hash off the box (``callbox audit verify`` prints it) closes
the remaining gap.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from callbox.store import models as m
from callbox.store.db import Store
from callbox.store.models_compliance import AuditHead

GENESIS = "0" * 64
HEAD_FILE = "audit.head"


def _entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str, details: dict) -> str:
    body = json.dumps(
        {"seq": seq, "at": at.isoformat(), "actor": actor, "action": action, "subject": subject, "details": details},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def head_path(store: Store) -> Path:
    return Path(store.path).parent / HEAD_FILE


def read_head_file(store: Store) -> tuple[int, str] | None:
    """The file checkpoint, or None when there is none yet. A garbled file reads as (-1, text)."""
    path = head_path(store)
    if not path.exists():
        return None
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        seq, digest = text.split()
        return int(seq), digest
    except ValueError:
        return -1, text


def _write_head_file(store: Store, seq: int, digest: str) -> None:
    path = head_path(store)
    tmp = path.with_suffix(".head.tmp")
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{seq} {digest}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def append(store: Store, actor: str, action: str, subject: str = "", details: dict | None = None) -> m.AuditEntry:
    """Append one entry. Call inside the transaction that makes the change it describes."""
    details = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    at = store.clock.now()
    with store.db.atomic():
        last = m.AuditEntry.select().order_by(m.AuditEntry.seq.desc()).first()
        seq = (last.seq + 1) if last else 1
        prev = last.hash if last else GENESIS
        digest = _entry_hash(prev, seq, at, actor, action, subject, details)
        entry = m.AuditEntry.create(
            seq=seq, at=at, actor=actor, action=action, subject=subject, details=details, prev_hash=prev, hash=digest
        )
        updated = AuditHead.update(seq=seq, hash=digest, updated_at=at).where(AuditHead.id == 1).execute()
        if not updated:
            AuditHead.create(id=1, seq=seq, hash=digest, updated_at=at)
        _after_commit(store, seq, digest)
    return entry


# Latest uncommitted head per (database, thread): peewee keeps one transaction per thread, and the
# commit callbacks of a rolled-back transaction are dropped, so a stale value is always overwritten
# by the next append before any callback could write it.
_pending: dict[tuple[int, int], tuple[Store, int, str]] = {}
_file_lock = threading.Lock()


def _after_commit(store: Store, seq: int, digest: str) -> None:
    key = (id(store.db), threading.get_ident())
    _pending[key] = (store, seq, digest)
    store.db.after_commit(lambda: _flush(key))


def _flush(key: tuple[int, int]) -> None:
    item = _pending.pop(key, None)
    if item is None:
        return  # an earlier callback of the same transaction already wrote the newest head
    store, seq, digest = item
    with _file_lock:
        on_file = read_head_file(store)
        if on_file is not None and on_file[0] >= seq:
            return  # another thread already recorded a later head
        _write_head_file(store, seq, digest)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""
    head_hash: str = GENESIS
    file_checked: bool = False  # False when there is no audit.head yet (nothing committed on its own)


def verify(store: Store) -> ChainReport:
    """Walk the chain from the start; report the first entry edited, inserted or removed, and a
    tail that ends before either head checkpoint (the last entries were deleted)."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    hashes: dict[int, str] = {}
    for seq, prev_hash, digest, at, actor, action, subject, details in (
        m.AuditEntry.select(
            m.AuditEntry.seq, m.AuditEntry.prev_hash, m.AuditEntry.hash, m.AuditEntry.at, m.AuditEntry.actor,
            m.AuditEntry.action, m.AuditEntry.subject, m.AuditEntry.details,
        ).order_by(m.AuditEntry.seq).tuples()
    ):
        count += 1
        if seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"entry {expected_seq} is missing (deleted)")
        if prev_hash != prev:
            return ChainReport(False, count, seq, f"entry {seq} does not follow entry {seq - 1}")
        if _entry_hash(prev, seq, at, actor, action, subject, details) != digest:
            return ChainReport(False, count, seq, f"entry {seq} was modified after it was written")
        hashes[seq] = digest
        prev = digest
        expected_seq += 1
    last_seq = expected_seq - 1

    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is None and last_seq > 0:
        return ChainReport(False, count, last_seq, "the audit head checkpoint row is missing (deleted)")
    if head is not None:
        if head.seq > last_seq:
            return ChainReport(
                False, count, last_seq + 1,
                f"entries {last_seq + 1}..{head.seq} are missing: the log ends before its head checkpoint (deleted)",
            )
        if head.seq < last_seq or head.hash != hashes.get(head.seq):
            return ChainReport(False, count, head.seq, "the audit head checkpoint row does not match the last entry")

    on_file = read_head_file(store)
    if on_file is not None:
        file_seq, file_hash = on_file
        if file_seq < 0:
            return ChainReport(False, count, None, f"{HEAD_FILE} is unreadable: {file_hash[:40]!r}")
        if file_seq > last_seq:
            return ChainReport(
                False, count, last_seq + 1,
                f"entries {last_seq + 1}..{file_seq} are missing: {HEAD_FILE} records more entries than the log has",
            )
        if file_seq > 0 and hashes.get(file_seq) != file_hash:
            return ChainReport(False, count, file_seq, f"entry {file_seq} differs from the hash recorded in {HEAD_FILE}")
    return ChainReport(True, count, head_hash=prev, file_checked=on_file is not None)
