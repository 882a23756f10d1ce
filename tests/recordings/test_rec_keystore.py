"""Key store: init, unlock, wrong passphrase, missing files, rotation and passphrase change."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from callbox.recordings import keystore
from callbox.recordings.keystore import (
    KdfParams,
    KeyFileDamaged,
    KeysExist,
    KeysMissing,
    KeyStore,
    WeakPassphrase,
    WrongPassphrase,
)
from callbox.recordings.stream import decrypt, key_id_for
from rec_support import PASSPHRASE
from rec_helpers import audio_pattern, write_recording

NEW = "a completely different passphrase"


def test_init_writes_private_files(store: KeyStore) -> None:
    assert store.private_path.stat().st_mode & 0o777 == 0o600
    assert len(store.public_path.read_bytes()) == 32
    pub = store.public_key()
    assert pub.key_id == key_id_for(pub.raw) and len(pub.key_id) == 16
    blob = store.private_path.read_bytes()
    keys = store.unlock(PASSPHRASE)
    raw = keys[pub.key_id].private_bytes_raw()
    assert raw not in blob  # the private key is not stored in clear
    assert keys.current_key_id == pub.key_id
    assert not list(store.dir.glob("*.tmp"))  # no temp files left behind


def test_header_records_kdf_parameters(store: KeyStore, fast_kdf: KdfParams) -> None:
    data = store.private_path.read_bytes()
    (n,) = struct.unpack_from(">I", data, len(keystore.KEYFILE_MAGIC))
    header = json.loads(data[len(keystore.KEYFILE_MAGIC) + 4 :][:n])
    assert header["kdf"]["name"] == "argon2id"
    assert header["kdf"]["time_cost"] == fast_kdf.time_cost
    assert header["kdf"]["memory_cost_kib"] == fast_kdf.memory_cost_kib
    assert len(header["kdf"]["salt"]) >= 20


def test_unlock_uses_parameters_from_the_file(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keystore, "DEFAULT_KDF", KdfParams(2, 16, 1))  # a later firmware default changes
    assert store.unlock(PASSPHRASE).current_key_id == store.public_key().key_id


def test_init_refuses_to_overwrite(store: KeyStore) -> None:
    before = store.private_path.read_bytes()
    with pytest.raises(KeysExist, match="keys rotate"):
        store.init(PASSPHRASE)
    assert store.private_path.read_bytes() == before


def test_wrong_passphrase(store: KeyStore) -> None:
    before = store.private_path.read_bytes()
    with pytest.raises(WrongPassphrase, match="recording passphrase is wrong; nothing was changed"):
        store.unlock("not the passphrase at all")
    with pytest.raises(WrongPassphrase):
        store.rotate("not the passphrase at all")
    with pytest.raises(WrongPassphrase):
        store.change_passphrase("not the passphrase at all", NEW)
    assert store.private_path.read_bytes() == before


def test_weak_passphrase(data_dir: Path) -> None:
    with pytest.raises(WeakPassphrase, match="at least 12"):
        KeyStore.for_data_dir(data_dir).init("short")


def test_missing_key_files(data_dir: Path) -> None:
    store = KeyStore.for_data_dir(data_dir)
    with pytest.raises(KeysMissing, match="callbox keys init"):
        store.unlock(PASSPHRASE)
    with pytest.raises(KeysMissing, match="callbox keys init"):
        store.public_key()


def test_missing_private_file_after_init(store: KeyStore) -> None:
    store.private_path.unlink()
    with pytest.raises(KeysMissing, match="callbox keys init"):
        store.unlock(PASSPHRASE)


def test_damaged_key_file(store: KeyStore) -> None:
    store.private_path.write_bytes(b"garbage")
    with pytest.raises(KeyFileDamaged, match="restore keys/"):
        store.unlock(PASSPHRASE)


def test_altered_header_is_detected(store: KeyStore) -> None:
    """The JSON header is the GCM associated data: editing it (consistently framed) fails to open."""
    data = store.private_path.read_bytes()
    start = len(keystore.KEYFILE_MAGIC) + 4
    (n,) = struct.unpack_from(">I", data, len(keystore.KEYFILE_MAGIC))
    header = json.loads(data[start : start + n])
    header["current_key_id"] = "00" * 8
    hbytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    store.private_path.write_bytes(keystore.KEYFILE_MAGIC + struct.pack(">I", len(hbytes)) + hbytes + data[start + n :])
    with pytest.raises(WrongPassphrase):
        store.unlock(PASSPHRASE)


def test_rotate_then_read_old_and_new(store: KeyStore, tmp_path: Path) -> None:
    old_audio, new_audio = audio_pattern(300, 1), audio_pattern(300, 2)
    old_id = store.public_key().key_id
    old_rec = write_recording(store, tmp_path / "old.cbr", old_audio)
    new_id = store.rotate(PASSPHRASE)
    assert new_id != old_id and store.public_key().key_id == new_id
    new_rec = write_recording(store, tmp_path / "new.cbr", new_audio)
    keys = store.unlock(PASSPHRASE)
    assert set(keys) == {old_id, new_id} and keys.current_key_id == new_id
    assert decrypt(old_rec, keys).audio == old_audio
    assert decrypt(new_rec, keys).audio == new_audio
    assert decrypt(new_rec, keys).header.key_id == new_id


def test_change_passphrase_then_read(store: KeyStore, tmp_path: Path) -> None:
    audio = audio_pattern(500)
    rec = write_recording(store, tmp_path / "r.cbr", audio)
    rec_bytes = rec.read_bytes()
    store.rotate(PASSPHRASE)
    store.change_passphrase(PASSPHRASE, NEW)
    assert rec.read_bytes() == rec_bytes  # audio untouched
    with pytest.raises(WrongPassphrase):
        store.unlock(PASSPHRASE)
    keys = store.unlock(NEW)
    assert len(keys) == 2
    assert decrypt(rec, keys).audio == audio


def test_lock_forgets_keys(store: KeyStore, tmp_path: Path) -> None:
    rec = write_recording(store, tmp_path / "r.cbr", b"abc")
    with store.unlock(PASSPHRASE) as keys:
        assert decrypt(rec, keys).audio == b"abc"
    assert len(keys) == 0


def test_check_public_detects_substituted_public_key(store: KeyStore, tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "elsewhere")
    other.init(PASSPHRASE)
    store.public_path.write_bytes(other.public_path.read_bytes())
    with pytest.raises(KeyFileDamaged, match="not the current private key"):
        store.check_public(store.unlock(PASSPHRASE))
