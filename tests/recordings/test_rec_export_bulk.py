"""`callbox recordings transcript` and `export` (single and bulk) on a real box: store, hash-chained audit,
panel admins, sealed recordings and transcripts."""

from __future__ import annotations

import hashlib
import json
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from callbox.cli import recordings as cli
from callbox.clock import FixedClock
from callbox.provision import init_box
from callbox.recordings import transcript
from callbox.recordings.keystore import KeyStore
from callbox.recordings.recorder import Recorder, interleave
from callbox.store import audit
from callbox.store import models as m
from callbox.store.db import open_store
from callbox.store.models_panel import PanelUser
from rec_support import PASSPHRASE, run_cli

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
WORDS = "Yes, I will be there at three."
FRAME = bytes(range(256)) + bytes(64)


run = run_cli


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A set-up box with keys, a campaign and three calls: 1 recorded + transcript, 2 transcript only,
    3 recorded + transcript but in another campaign and a day later."""
    monkeypatch.setenv(cli.ENV_PASSPHRASE, PASSPHRASE)
    monkeypatch.delenv(cli.ENV_PANEL_PASSWORD, raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    data = tmp_path / "data"
    clock = FixedClock(T0)
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical")
    KeyStore.for_data_dir(data).init(PASSPHRASE)
    pub = KeyStore.for_data_dir(data).public_key()
    spring = m.Campaign.create(name="spring", purpose="reminder", script="appointment_reminder", records=True,
                               status="running", created_at=T0)
    other = m.Campaign.create(name="other", purpose="reminder", script="appointment_reminder", records=True,
                              status="running", created_at=T0)
    for call_id, campaign, recorded, when in ((1, spring, True, T0), (2, spring, False, T0),
                                              (3, other, True, T0 + timedelta(days=1))):
        attempt = m.Attempt.create(phone=f"+861380013800{call_id}", purpose="reminder", campaign=campaign, at=when)
        meta = {"call_id": call_id, "created_at": when.isoformat(), "industry": "medical"}
        name = f"call-{call_id:06d}"
        if recorded:
            rec = Recorder(data / "recordings" / f"{name}.cbr", pub.key, pub.key_id, meta)
            for _ in range(60):
                rec.feed(FRAME, FRAME)
            rec.stop()
        turns = [{"who": "box", "text": "您好，这里是阳光口腔诊所"},
                 {"who": "callee", "text": WORDS if recorded else "[consent_no]", "words": recorded}]
        transcript.write(data / "recordings" / f"{name}.cbt", turns, pub.key, pub.key_id, meta)
        m.Call.create(id=call_id, attempt=attempt, line_id="sip1", started_at=when, recording="on" if recorded else "off",
                      recording_file=f"{name}.cbr" if recorded else None, transcript_file=f"{name}.cbt")
    store.close()
    return data


def chain(data: Path) -> list[m.AuditEntry]:
    store = open_store(data, FixedClock(T0))
    try:
        assert audit.verify(store).ok
        return [e for e in m.AuditEntry.select().order_by(m.AuditEntry.seq) if e.action.startswith("recording.")]
    finally:
        store.close()


def test_transcript_is_shown_only_with_a_purpose_and_audited(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(box, "recordings", "transcript", "1")  # --purpose is required
    assert run(box, "recordings", "transcript", "1", "--purpose", "complaint 17", "--operator", "dr-li") == 0
    out = capsys.readouterr().out
    assert "callee: " + WORDS in out and "box: 您好，这里是阳光口腔诊所" in out
    [entry] = chain(box)
    assert entry.action == "recording.transcript_read" and entry.subject == "call-000001.cbt"
    assert entry.details["purpose"] == "complaint 17" and entry.details["operator"] == "dr-li"


def test_transcript_wrong_passphrase_is_refused_and_audited(box: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(cli.ENV_PASSPHRASE, "this is not the passphrase")
    assert run(box, "recordings", "transcript", "call-000001.cbr", "--purpose", "QA") == 2
    assert "passphrase is wrong" in capsys.readouterr().err
    assert [e.action for e in chain(box)] == ["recording.transcript_read_denied"]


def test_transcript_tampered_is_named(box: Path, capsys) -> None:
    path = box / "recordings" / "call-000002.cbt"
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 1
    path.write_bytes(bytes(raw))
    assert run(box, "recordings", "transcript", "2", "--purpose", "QA") == 2
    assert "fails authentication" in capsys.readouterr().err


def test_single_export_bundles_the_transcript(box: Path, tmp_path: Path) -> None:
    out = tmp_path / "usb" / "one.wav"
    out.parent.mkdir()
    assert run(box, "recordings", "export", "call-000001", "--purpose", "court order 17", "--out", str(out)) == 0
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    text = out.with_suffix(".transcript.json")
    assert manifest["transcript"] == text.name
    for path in (out, text):
        assert manifest["files"][path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(text.read_text())["turns"][1]["text"] == WORDS
    with wave.open(str(out)) as w:
        assert w.readframes(w.getnframes()) == interleave(FRAME, FRAME) * 60
    [entry] = chain(box)
    assert entry.action == "recording.exported" and entry.details["transcript"] == "call-000001.cbt"


def test_bulk_export_needs_an_admin(box: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "usb"
    assert run(box, "recordings", "export", "--all", "--purpose", "audit", "--out", str(out)) == 2
    assert "admin-only" in capsys.readouterr().err
    store = open_store(box, FixedClock(T0))
    ph = PasswordHasher()
    for name, role in (("wang", "admin"), ("li", "reviewer")):
        PanelUser.create(username=name, password_hash=ph.hash(f"{name} panel password"), role=role,
                         created_at=T0, password_changed_at=T0)
    store.close()
    monkeypatch.setenv(cli.ENV_PANEL_PASSWORD, "li panel password")
    assert run(box, "recordings", "export", "--all", "--purpose", "audit", "--out", str(out), "--by", "li") == 2
    assert "not an active panel admin" in capsys.readouterr().err
    monkeypatch.setenv(cli.ENV_PANEL_PASSWORD, "not wang's password")
    assert run(box, "recordings", "export", "--all", "--purpose", "audit", "--out", str(out), "--by", "wang") == 2
    assert "password of wang is wrong" in capsys.readouterr().err
    assert not out.exists()
    assert [e.action for e in chain(box)] == ["recording.bulk_export_denied"] * 2


def test_bulk_export_by_campaign_writes_manifest_and_audits_each_call(box: Path, tmp_path: Path, monkeypatch) -> None:
    store = open_store(box, FixedClock(T0))
    PanelUser.create(username="wang", password_hash=PasswordHasher().hash("wang panel password"), role="admin",
                     created_at=T0, password_changed_at=T0)
    store.close()
    monkeypatch.setenv(cli.ENV_PANEL_PASSWORD, "wang panel password")
    out = tmp_path / "usb" / "spring"
    assert run(box, "recordings", "export", "--campaign", "spring", "--purpose", "regulator request 5",
               "--out", str(out), "--by", "wang") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["call"] for c in manifest["calls"]] == ["call-000001", "call-000002"]
    assert sorted(manifest["files"]) == ["call-000001.transcript.json", "call-000001.wav", "call-000002.transcript.json"]
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert "[consent_no]" in (out / "call-000002.transcript.json").read_text()
    entries = chain(box)  # verifies the hash chain too
    assert [e.action for e in entries] == ["recording.exported", "recording.exported", "recording.bulk_exported"]
    assert {e.actor for e in entries} == {"wang"}
    summary = entries[-1].details
    assert summary["manifest_sha256"] == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    assert summary["purpose"] == "regulator request 5" and summary["calls"] == ["call-000001", "call-000002"]


def test_bulk_export_since_and_refusals(box: Path, tmp_path: Path, capsys) -> None:
    # No panel users on this box: the recording passphrase is the admin's proof, --by is recorded.
    out = tmp_path / "later"
    assert run(box, "recordings", "export", "--since", "2026-03-03", "--purpose", "QA", "--out", str(out),
               "--by", "owner") == 0
    assert sorted(json.loads((out / "manifest.json").read_text())["files"]) == [
        "call-000003.transcript.json", "call-000003.wav"]
    assert run(box, "recordings", "export", "--all", "--purpose", "QA", "--out", str(out), "--by", "owner") == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert run(box, "recordings", "export", "--all", "--purpose", "QA", "--out", str(box / "x"), "--by", "owner") == 2
    assert "inside the data dir" in capsys.readouterr().err


def test_bulk_export_leaves_out_a_tampered_call(box: Path, tmp_path: Path, capsys) -> None:
    path = box / "recordings" / "call-000001.cbr"
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 1
    path.write_bytes(bytes(raw))
    out = tmp_path / "all"
    assert run(box, "recordings", "export", "--all", "--purpose", "QA", "--out", str(out), "--by", "owner") == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert "call-000001" in manifest["failed"] and not (out / "call-000001.wav").exists()
    assert not (out / "call-000001.transcript.json").exists()
    assert [c["call"] for c in manifest["calls"]] == ["call-000002", "call-000003"]
    actions = [e.action for e in chain(box)]
    assert actions.count("recording.export_failed") == 1 and actions[-1] == "recording.bulk_exported"
