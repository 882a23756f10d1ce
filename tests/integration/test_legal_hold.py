"""Legal holds are stored on the box and respected by the sweeper; the periods come from the rule pack."""

from datetime import datetime, timezone

from callbox.cli import main
from callbox.clock import FixedClock
from callbox.provision import init_box
from callbox.recordings.keystore import KeyStore
from callbox.recordings.recorder import Recorder
from callbox.store import audit, open_store
from callbox.store import models as m

CREATED = datetime(2025, 1, 10, 2, 0, tzinfo=timezone.utc)


def record(data, call_id):
    public = KeyStore.for_data_dir(data).public_key()
    path = data / "recordings" / f"call-{call_id:06d}.cbr"
    rec = Recorder(path, public.key, public.key_id,
                   {"call_id": call_id, "created_at": CREATED.isoformat(), "industry": "general"})
    for _ in range(10):
        rec.feed(b"\x01\x00" * 160, b"\x02\x00" * 160)
    rec.stop()
    return path


def test_hold_keeps_an_expired_recording_until_released(tmp_path):
    data = tmp_path / "data"
    init_box(data, FixedClock(CREATED), "cn", "阳光口腔诊所", "+862161234567").close()
    KeyStore.for_data_dir(data).init("a long recording passphrase")
    held, free = record(data, 1), record(data, 2)
    assert main(["--data", str(data), "recordings", "hold", held.name, "--reason", "complaint 2025-17", "--by", "admin"]) == 0
    # cn pack: 6 months for general. A year later both have expired; only the free one goes.
    now = "2026-01-20T10:00:00+08:00"
    assert main(["--data", str(data), "recordings", "sweep", "--now", now]) == 0
    assert held.exists() and not free.exists()
    assert main(["--data", str(data), "recordings", "release", held.name, "--reason", "case closed", "--by", "admin"]) == 0
    assert main(["--data", str(data), "recordings", "sweep", "--now", now]) == 0
    assert not held.exists()
    store = open_store(data)
    actions = [e.action for e in m.AuditEntry.select().order_by(m.AuditEntry.seq)]
    assert "recording.hold" in actions and "recording.hold_released" in actions
    assert audit.verify(store).ok
    store.close()


def test_a_second_hold_or_a_release_without_hold_is_refused(tmp_path, capsys):
    data = tmp_path / "data"
    init_box(data, FixedClock(CREATED), "cn", "阳光口腔诊所", "+862161234567").close()
    assert main(["--data", str(data), "recordings", "release", "call-000009.cbr", "--reason", "x", "--by", "a"]) == 2
    assert "not under legal hold" in capsys.readouterr().err
