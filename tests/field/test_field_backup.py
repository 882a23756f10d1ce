"""Backup and restore end to end: people, consent, DNC, calls, audit chain and a real encrypted recording."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbox import backup
from callbox.cli import main
from callbox.recordings import stream
from callbox.recordings.keystore import KeyStore
from field_support import BACKUP_PASSPHRASE, REC_PASSPHRASE, populated_box, snapshot


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, dict]:
    data = tmp_path / "box"
    return data, populated_box(data)


@pytest.fixture
def passfile(tmp_path: Path) -> Path:
    p = tmp_path / "backup.pass"
    p.write_text(BACKUP_PASSPHRASE + "\n")
    return p


def test_backup_restore_round_trip_via_cli(box, passfile, tmp_path, capsys):
    data, made = box
    before = snapshot(data)
    out = tmp_path / "usb" / "box.cbbackup"
    assert main(["--data", str(data), "backup", "create", "--out", str(out), "--passphrase-file", str(passfile)]) == 0
    assert out.exists() and not list(out.parent.glob(".*partial"))
    assert b"13800" not in out.read_bytes()  # encrypted: no phone number in the clear

    target = tmp_path / "newcard" / "data"
    assert main(["backup", "restore", str(out), "--data", str(target), "--passphrase-file", str(passfile)]) == 0
    assert snapshot(target) == before
    assert "restored" in capsys.readouterr().out

    # the recording plays with the restored keys and the recording passphrase
    keys = KeyStore.for_data_dir(target).unlock(REC_PASSPHRASE)
    assert stream.decrypt(target / "recordings" / "call-000001.cbr", keys).audio == made["audio"]
    assert (target / "lines.toml").exists() and (target / "audit.head").exists()
    assert oct((target / "keys").stat().st_mode & 0o777) == "0o700"

    from callbox.store import audit
    from callbox.store.db import open_store

    store = open_store(target)
    assert audit.verify(store).ok
    store.close()


def test_restore_refuses_non_empty_dir_without_force(box, passfile, tmp_path):
    data, _ = box
    out = tmp_path / "b.cbbackup"
    backup.create_backup(data, out, BACKUP_PASSPHRASE)
    other = tmp_path / "other"
    populated_box(other, contacts=1, calls=0, recording=False)
    with pytest.raises(backup.BackupError, match="--force"):
        backup.restore_backup(out, other, BACKUP_PASSPHRASE)
    assert main(["backup", "restore", str(out), "--data", str(other), "--passphrase-file", str(passfile)]) == 2
    report = backup.restore_backup(out, other, BACKUP_PASSPHRASE, force=True)
    assert report.moved_aside is not None and (report.moved_aside / "callbox.sqlite3").exists()
    assert snapshot(other) == snapshot(data)


def test_restore_onto_freshly_initialised_box_needs_no_force(box, tmp_path):
    from callbox.clock import FixedClock
    from callbox.provision import init_box
    from field_support import T0

    data, _ = box
    out = tmp_path / "b.cbbackup"
    backup.create_backup(data, out, BACKUP_PASSPHRASE)
    fresh = tmp_path / "fresh"
    init_box(fresh, FixedClock(T0), "cn", "新卡", "+86 10 8888 6666").close()
    assert backup.is_blank(fresh)
    backup.restore_backup(out, fresh, BACKUP_PASSPHRASE)
    assert snapshot(fresh) == snapshot(data)


def test_wrong_passphrase_and_tampering_restore_nothing(box, tmp_path):
    data, _ = box
    out = tmp_path / "b.cbbackup"
    backup.create_backup(data, out, BACKUP_PASSPHRASE)
    with pytest.raises(backup.BackupError, match="wrong backup passphrase"):
        backup.restore_backup(out, tmp_path / "t1", "not the passphrase!!")
    raw = bytearray(out.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    tampered = tmp_path / "tampered.cbbackup"
    tampered.write_bytes(bytes(raw))
    with pytest.raises(backup.BackupError, match="damaged"):
        backup.restore_backup(tampered, tmp_path / "t2", BACKUP_PASSPHRASE)
    truncated = tmp_path / "truncated.cbbackup"
    truncated.write_bytes(out.read_bytes()[:-100])
    with pytest.raises(backup.BackupError):
        backup.restore_backup(truncated, tmp_path / "t3", BACKUP_PASSPHRASE)
    for name in ("t1", "t2", "t3"):
        assert not (tmp_path / name).exists()
    assert not list(tmp_path.glob(".t*restore-*"))  # staging cleaned up


def test_stream_is_chunked_and_rejects_reordering(tmp_path):
    import io
    import struct

    plain = bytes(range(256)) * 9000  # > 2 chunks
    sink = io.BytesIO()
    w = backup.EncryptingWriter(sink, BACKUP_PASSPHRASE)
    w.write(plain)
    w.close()
    blob = sink.getvalue()
    assert backup.DecryptingReader(io.BytesIO(blob), BACKUP_PASSPHRASE).read() == plain
    # swap the first two frames
    start = len(backup.MAGIC) + 4 + struct.unpack(">I", blob[len(backup.MAGIC):len(backup.MAGIC) + 4])[0]
    frames, pos = [], start
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos:pos + 4])
        frames.append(blob[pos:pos + 4 + n])
        pos += 4 + n
    assert len(frames) >= 3
    swapped = blob[:start] + frames[1] + frames[0] + b"".join(frames[2:])
    with pytest.raises(backup.BackupError):
        backup.DecryptingReader(io.BytesIO(swapped), BACKUP_PASSPHRASE).read()
    dropped_last = blob[:start] + b"".join(frames[:-1])
    with pytest.raises(backup.BackupError, match="ends early"):
        backup.DecryptingReader(io.BytesIO(dropped_last), BACKUP_PASSPHRASE).read()


def test_short_passphrase_and_output_inside_data_are_refused(box, tmp_path):
    data, _ = box
    with pytest.raises(backup.BackupError, match="at least"):
        backup.create_backup(data, tmp_path / "x.cbbackup", "short")
    with pytest.raises(backup.BackupError, match="inside the data directory"):
        backup.create_backup(data, data / "x.cbbackup", BACKUP_PASSPHRASE)
