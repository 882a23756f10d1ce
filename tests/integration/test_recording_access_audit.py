"""Listening to a recording is written to the hash-chained audit log: who, when, why, which."""

from datetime import datetime, timezone

from callbox.cli import main
from callbox.clock import FixedClock
from callbox.provision import init_box
from callbox.recordings.keystore import KeyStore
from callbox.recordings.recorder import Recorder
from callbox.store import audit
from callbox.store import models as m

PASS = "a long recording passphrase"


def test_export_is_audited_in_the_chain(tmp_path, monkeypatch):
    data = tmp_path / "data"
    clock = FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc))
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862161234567")
    store.close()
    keys = KeyStore.for_data_dir(data)
    keys.init(PASS)
    public = keys.public_key()
    rec = Recorder(data / "recordings" / "call-000001.cbr", public.key, public.key_id,
                   {"call_id": 1, "created_at": clock.now().isoformat(), "industry": "medical"})
    for _ in range(60):
        rec.feed(b"\x01\x00" * 160, b"\x02\x00" * 160)
    rec.stop()
    monkeypatch.setenv("CALLBOX_RECORDING_PASSPHRASE", PASS)
    out = tmp_path / "out.wav"
    code = main(["--data", str(data), "recordings", "export", "call-000001.cbr", "--purpose", "complaint review", "--out", str(out)])
    assert code == 0 and out.read_bytes().startswith(b"RIFF")
    from callbox.store import open_store

    store = open_store(data, clock)
    entries = [e for e in m.AuditEntry.select() if e.action.startswith("recording.")]
    assert entries and entries[-1].subject.startswith("call-000001")
    assert "complaint review" in str(entries[-1].details)
    assert audit.verify(store).ok
    store.close()
