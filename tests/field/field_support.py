"""Helpers for the field tests: a populated box (contacts, consent, DNC, calls, a real encrypted recording)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from callbox.clock import FixedClock
from callbox.provision import init_box
from callbox.recordings import stream
from callbox.recordings.keystore import KeyStore
from callbox.store import models as m
from callbox.store import queries

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
REC_PASSPHRASE = "correct horse battery staple"
BACKUP_PASSPHRASE = "four random words for backup"


def audio(n: int) -> bytes:
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


def populated_box(data: Path, contacts: int = 5, calls: int = 3, recording: bool = True) -> dict:
    """A box with people in it; returns what a restore must bring back."""
    clock = FixedClock(T0)
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+86 10 8888 6666", industry="medical")
    phones = [f"+8613800{i:06d}" for i in range(contacts)]
    with store.atomic():
        for i, phone in enumerate(phones):
            contact = queries.add_contact(store, phone, name=f"病人{i}")
            queries.add_consent(store, contact, "appointment_reminder", T0 - timedelta(days=3), "paper_form",
                                evidence=f"form-{i}")
    queries.add_dnc(store, phones[0], "dtmf", "pressed 9", actor="callee")
    queries.add_dnc(store, "+8613999999999", "staff", "asked at the desk", actor="staff")
    for i in range(calls):
        attempt = m.Attempt.create(phone=phones[i % len(phones)], purpose="appointment_reminder", at=T0, outcome="confirmed")
        m.Call.create(attempt=attempt, line_id="sip1", started_at=T0, ended_at=T0 + timedelta(seconds=40),
                      outcome="confirmed", recording="on" if i == 0 else "none")
    rec_audio = b""
    if recording:
        keys = KeyStore.for_data_dir(data)
        keys.init(REC_PASSPHRASE)
        pub = keys.public_key()
        (data / "recordings").mkdir(exist_ok=True)
        rec_audio = audio(40_000)
        w = stream.RecordingWriter(data / "recordings" / "call-000001.cbr", pub.key, pub.key_id,
                                   {"call_id": 1, "created_at": T0.isoformat(), "industry": "medical"}, chunk_size=4000)
        w.write(rec_audio)
        w.finish()
    store.close()
    return {"phones": phones, "audio": rec_audio}


def snapshot(data: Path) -> dict:
    """The rows a restore must reproduce exactly."""
    from callbox.store.db import open_store

    store = open_store(data, FixedClock(T0))
    try:
        return {
            "contacts": sorted((c.phone, c.name) for c in m.Contact.select()),
            "consents": sorted((c.contact.phone, c.purpose, c.method, c.evidence) for c in m.Consent.select()),
            "dnc": sorted((d.phone, d.phone_hash, d.source) for d in m.DoNotCall.select()),
            "calls": sorted((c.id, c.line_id, c.outcome, c.recording) for c in m.Call.select()),
            "audit": [(e.seq, e.hash) for e in m.AuditEntry.select().order_by(m.AuditEntry.seq)],
        }
    finally:
        store.close()
