"""`callbox keys ...` and `callbox recordings ...` through the handlers, with a parser built here."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from callbox.cli import recordings as cli
from callbox.recordings.keystore import KeyStore, WrongPassphrase
from callbox.recordings.recorder import Recorder, interleave
from callbox.recordings.stream import decrypt
from rec_support import PASSPHRASE, run_cli

NEW = "another long recording passphrase"
CALLEE, BOX = bytes(range(256)) + bytes(64), bytes(range(255, -1, -1)) + bytes(64)


run = run_cli


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv(cli.ENV_PASSPHRASE, PASSPHRASE)
    monkeypatch.delenv(cli.ENV_NEW_PASSPHRASE, raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)  # never prompt in tests
    return monkeypatch


def record(data: Path, name: str, frames: int = 120, created: str = "2026-01-10T08:00:00+08:00") -> bytes:
    pub = KeyStore.for_data_dir(data).public_key()
    rec = Recorder(data / "recordings" / name, pub.key, pub.key_id, {"call_id": name[:-4], "created_at": created})
    for _ in range(frames):
        rec.feed(CALLEE, BOX)
    rec.stop()
    return interleave(CALLEE, BOX) * frames


@pytest.fixture
def box(data_dir: Path, env: pytest.MonkeyPatch) -> Path:
    assert run(data_dir, "keys", "init") == 0  # takes $CALLBOX_RECORDING_PASSPHRASE
    return data_dir


def access_log(data: Path) -> list[dict]:
    path = data / "recordings" / "access.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------------------------------ keys
def test_init_and_unlock(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (box / "keys" / "box.key.enc").stat().st_mode & 0o777 == 0o600
    assert run(box, "keys", "unlock") == 0
    assert "passphrase ok" in capsys.readouterr().out


def test_init_twice_is_refused(box: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv(cli.ENV_NEW_PASSPHRASE, NEW)
    before = (box / "keys" / "box.key.enc").read_bytes()
    assert run(box, "keys", "init") == 2
    assert "keys rotate" in capsys.readouterr().err
    assert (box / "keys" / "box.key.enc").read_bytes() == before


def test_init_without_passphrase_names_the_options(data_dir: Path, env: pytest.MonkeyPatch, capsys) -> None:
    env.delenv(cli.ENV_PASSPHRASE)
    assert run(data_dir, "keys", "init") == 2
    err = capsys.readouterr().err
    assert "--new-passphrase-file" in err and cli.ENV_NEW_PASSPHRASE in err
    assert not (data_dir / "keys" / "box.key.enc").exists()


def test_wrong_passphrase(box: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv(cli.ENV_PASSPHRASE, "this is not it at all")
    assert run(box, "keys", "unlock") == 2
    assert "recording passphrase is wrong; nothing was changed" in capsys.readouterr().err


def test_missing_keys(data_dir: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data_dir, "keys", "unlock") == 2
    assert "callbox keys init" in capsys.readouterr().err


def test_init_prefers_the_new_passphrase_file(data_dir: Path, env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = tmp_path / "new"
    f.write_text(NEW)
    assert run(data_dir, "keys", "init", "--new-passphrase-file", str(f)) == 0
    assert KeyStore.for_data_dir(data_dir).unlock(NEW)
    with pytest.raises(WrongPassphrase):
        KeyStore.for_data_dir(data_dir).unlock(PASSPHRASE)


def test_weak_passphrase(data_dir: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv(cli.ENV_PASSPHRASE, "short")
    assert run(data_dir, "keys", "init") == 2
    assert "at least 12" in capsys.readouterr().err


def test_passphrase_file(box: Path, env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv(cli.ENV_PASSPHRASE)
    f = tmp_path / "pass"
    f.write_text(PASSPHRASE + "\n")
    assert run(box, "keys", "unlock", "--passphrase-file", str(f)) == 0
    assert run(box, "keys", "unlock") == 2  # no source at all, no tty: usage error, not a prompt


def test_lock(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(box, "keys", "lock") == 0
    assert "nothing to lock" in capsys.readouterr().out


def test_rotate_and_change_passphrase_keep_old_recordings_playable(box: Path, env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    audio = record(box, "old.cbr")
    old_key = KeyStore.for_data_dir(box).public_key().key_id
    assert run(box, "keys", "rotate") == 0
    assert KeyStore.for_data_dir(box).public_key().key_id != old_key
    env.setenv(cli.ENV_NEW_PASSPHRASE, NEW)
    assert run(box, "keys", "change-passphrase") == 0
    assert run(box, "keys", "unlock") == 2  # the old passphrase no longer works
    env.setenv(cli.ENV_PASSPHRASE, NEW)
    out = tmp_path / "old.wav"
    assert run(box, "recordings", "play", "old", "--purpose", "QA check", "--out", str(out)) == 0
    with wave.open(str(out)) as w:
        assert w.readframes(w.getnframes()) == audio


# ------------------------------------------------------------------------------------------ recordings
def test_list(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(box, "a.cbr", frames=120)
    assert run(box, "recordings", "list", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [
        {
            "call_id": "a",
            "created_at": "2026-01-10T08:00:00+08:00",
            "key_id": KeyStore.for_data_dir(box).public_key().key_id,
            "name": "a.cbr",
            "seconds": 2.4,
            "status": "complete",
            "transcript": False,
        }
    ]


def test_play_to_file_writes_wav_and_audits(box: Path, tmp_path: Path) -> None:
    audio = record(box, "a.cbr")
    out = tmp_path / "a.wav"
    assert run(box, "recordings", "play", "a.cbr", "--purpose", "complaint 17", "--operator", "dr-li", "--out", str(out)) == 0
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 2, 2)
        assert w.readframes(w.getnframes()) == audio
    assert out.stat().st_mode & 0o777 == 0o600
    [entry] = access_log(box)
    assert entry["action"] == "recording.played" and entry["subject"] == "a.cbr"
    assert entry["details"]["purpose"] == "complaint 17" and entry["details"]["operator"] == "dr-li"


def test_play_to_stdout(box: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    audio = record(box, "a.cbr")
    assert run(box, "recordings", "play", "a", "--purpose", "QA", "--out", "-") == 0
    out = capsysbinary.readouterr().out
    assert out[:4] == b"RIFF" and out[44:] == audio


def test_play_requires_purpose(box: Path) -> None:
    record(box, "a.cbr")
    with pytest.raises(SystemExit) as info:
        run(box, "recordings", "play", "a", "--out", "-")
    assert info.value.code == 2
    assert access_log(box) == []


def test_play_refuses_plaintext_inside_data_dir(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(box, "a.cbr")
    assert run(box, "recordings", "play", "a", "--purpose", "QA", "--out", str(box / "a.wav")) == 2
    assert "inside the data dir" in capsys.readouterr().err
    assert not (box / "a.wav").exists()


def test_play_without_out_and_without_player(box: Path, env: pytest.MonkeyPatch, capsys) -> None:
    record(box, "a.cbr")
    env.setattr(cli.shutil, "which", lambda name: None)
    assert run(box, "recordings", "play", "a", "--purpose", "QA") == 2
    assert "--out" in capsys.readouterr().err


def test_play_unknown_recording(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(box, "recordings", "play", "../keys/box", "--purpose", "x", "--out", "-") == 2
    assert "not a path" in capsys.readouterr().err
    assert run(box, "recordings", "play", "nope", "--purpose", "x", "--out", "-") == 2
    assert "recordings list" in capsys.readouterr().err


def test_play_wrong_passphrase_is_audited(box: Path, env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    record(box, "a.cbr")
    env.setenv(cli.ENV_PASSPHRASE, "this is not it at all")
    assert run(box, "recordings", "play", "a", "--purpose", "QA", "--out", str(tmp_path / "x.wav")) == 2
    assert not (tmp_path / "x.wav").exists()
    assert [e["action"] for e in access_log(box)] == ["recording.played_denied"]


def test_play_tampered_recording(box: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(box, "a.cbr", frames=120)
    path = box / "recordings" / "a.cbr"
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    assert run(box, "recordings", "play", "a", "--purpose", "QA", "--out", str(tmp_path / "x.wav")) == 2
    assert "chunk 2 fails authentication" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def test_play_salvage_of_crashed_recording(box: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(box, "a.cbr", frames=120)
    path = box / "recordings" / "a.cbr"
    path.write_bytes(path.read_bytes()[:-300])  # the final chunk never made it to disk
    out = tmp_path / "x.wav"
    assert run(box, "recordings", "play", "a", "--purpose", "QA", "--out", str(out)) == 2
    assert "truncated after chunk 2" in capsys.readouterr().err
    assert run(box, "recordings", "play", "a", "--purpose", "QA", "--salvage", "--out", str(out)) == 0
    with wave.open(str(out)) as w:
        assert w.getnframes() == 2 * 32000 // 4


def test_export(box: Path, tmp_path: Path) -> None:
    audio = record(box, "a.cbr")
    out = tmp_path / "usb" / "a.wav"
    out.parent.mkdir()
    assert run(box, "recordings", "export", "a", "--purpose", "court order 2026-17", "--out", str(out)) == 0
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    import hashlib

    assert manifest["wav_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["purpose"] == "court order 2026-17" and manifest["complete"] is True
    assert manifest["metadata"]["call_id"] == "a" and manifest["recording"] == "a.cbr"
    assert out.read_bytes()[44:] == audio
    assert [e["action"] for e in access_log(box)] == ["recording.exported"]
    assert run(box, "recordings", "export", "a", "--purpose", "again", "--out", str(out)) == 2  # never overwrites


def test_sweep(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(box, "old.cbr", created="2025-01-01T00:00:00+00:00")
    record(box, "new.cbr", created="2026-06-01T00:00:00+00:00")
    record(box, "held.cbr", created="2024-01-01T00:00:00+00:00")
    now = "2026-07-01T00:00:00+00:00"
    assert run(box, "recordings", "sweep", "--dry-run", "--months", "6", "--hold", "held", "--now", now) == 0
    assert "would shred old.cbr" in capsys.readouterr().out
    assert (box / "recordings" / "old.cbr").exists()
    assert run(box, "recordings", "sweep", "--months", "6", "--hold", "held", "--now", now) == 0
    assert "shredded 1, kept 1, on hold 1" in capsys.readouterr().out
    assert sorted(p.name for p in (box / "recordings").glob("*.cbr")) == ["held.cbr", "new.cbr"]
    actions = [(e["action"], e["subject"]) for e in access_log(box)]
    assert actions == [("recording.would_shred", "old.cbr"), ("recording.shredded", "old.cbr")]
    keys = KeyStore.for_data_dir(box).unlock(PASSPHRASE)
    assert decrypt(box / "recordings" / "new.cbr", keys).complete


def test_sweep_bad_input(box: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(box, "a.cbr")
    assert run(box, "recordings", "sweep", "--months", "6", "--now", "2026-07-01") == 2
    assert "offset" in capsys.readouterr().err
    assert run(box, "recordings", "sweep", "--months", "6", "--industry", "finance") == 2
    assert "NAME=MONTHS" in capsys.readouterr().err
