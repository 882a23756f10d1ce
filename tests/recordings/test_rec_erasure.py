"""Erasing a person crypto-shreds the recordings and sealed transcripts of their calls (legal holds excepted)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from callbox.clock import FixedClock
from callbox.provision import init_box
from callbox.recordings import names, transcript
from callbox.recordings.keystore import KeyStore
from callbox.recordings.stream import RecordingWriter
from callbox.recordings.policy import place_hold
from callbox.store import audit, queries
from callbox.store import models as m
from rec_support import PASSPHRASE

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
ERASED, HELD, OTHER = "+8613800138001", "+8613800138002", "+8613800138003"


def test_erasure_shreds_recordings_and_transcripts_of_the_persons_calls(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = init_box(data, FixedClock(T0), "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical")
    KeyStore.for_data_dir(data).init(PASSPHRASE)
    pub = KeyStore.for_data_dir(data).public_key()
    files = {}
    for phone in (ERASED, ERASED, HELD, OTHER):
        attempt = m.Attempt.create(phone=phone, purpose="reminder", at=T0)
        call = m.Call.create(attempt=attempt, line_id="sip1", started_at=T0)
        name = names.transcript_name(call.id)
        transcript.write(data / "recordings" / name, [{"who": "callee", "text": "我的名字是王小明"}], pub.key,
                         pub.key_id, {"call_id": call.id, "created_at": T0.isoformat()})
        audio = names.recording_name(call.id)
        writer = RecordingWriter(data / "recordings" / audio, pub.key, pub.key_id,
                                 {"call_id": call.id, "created_at": T0.isoformat()})
        writer.write(b"\x01\x02" * 4000)
        writer.finish()
        call.transcript_file, call.recording_file, call.recording = name, audio, "on"
        call.save()
        files.setdefault(phone, []).append(call)
    held_call = files[HELD][0]
    place_hold(store, str(held_call.id), "court case 2026-17", "admin")

    counts = queries.erase_numbers(store, [ERASED, HELD], "admin", "asked at the desk")

    assert counts["transcripts_shredded"] == 2 and counts["transcripts_held"] == 1
    assert counts["recordings_shredded"] == 2 and counts["recordings_held"] == 1
    folder = data / "recordings"
    for call in files[ERASED]:
        assert not (folder / call.transcript_file).exists() and not (folder / call.recording_file).exists()
        after = m.Call.get_by_id(call.id)
        assert after.transcript_file is None and after.recording_file is None
    for kept in (held_call, files[OTHER][0]):  # a legal hold outranks the erasure; others are untouched
        assert (folder / kept.transcript_file).exists() and (folder / kept.recording_file).exists()
    shredded = [e for e in m.AuditEntry.select() if e.action == "recording.shredded"]
    erased_files = [c.transcript_file for c in files[ERASED]] + [c.recording_file for c in files[ERASED]]
    assert sorted(e.subject for e in shredded) == sorted(erased_files)
    assert all(e.details["reason"] == "personal_data.erase" for e in shredded)
    assert audit.verify(store).ok
    store.close()
