"""The live recorder: interleaving, chunking, stop/discard, thread safety, no plaintext on disk."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from callbox.recordings.keystore import KeyStore, UnlockedKeys
from callbox.recordings.recorder import FRAME_BYTES, Recorder, interleave
from callbox.recordings.stream import DEFAULT_CHUNK_SIZE, RecordingTruncated, decrypt

META = {"call_id": "call-42", "created_at": "2026-02-01T09:30:00+08:00"}


def frames(n: int, seed: int) -> list[bytes]:
    return [bytes(((i * 31 + j + seed) & 0xFF) for j in range(FRAME_BYTES)) for i in range(n)]


def make(store: KeyStore, path: Path, **kw) -> Recorder:
    pub = store.public_key()
    return Recorder(path, pub.key, pub.key_id, META, **kw)


def test_interleave() -> None:
    left = b"\x01\x02\x03\x04"
    right = b"\xa1\xa2\xa3\xa4"
    assert interleave(left, right) == b"\x01\x02\xa1\xa2\x03\x04\xa3\xa4"


def test_records_both_legs_as_stereo(store: KeyStore, keys: UnlockedKeys, tmp_path: Path) -> None:
    callee, box = frames(123, 1), frames(123, 2)  # 2.46 s: two full chunks and a partial one
    rec = make(store, tmp_path / "rec" / "a.cbr")
    for c, b in zip(callee, box):
        rec.feed(c, b)
    assert rec.chunks_written == 2
    summary = rec.stop()
    assert summary.chunks == 3
    result = decrypt(rec.path, keys)
    assert result.audio == b"".join(interleave(c, b) for c, b in zip(callee, box))
    assert result.seconds == pytest.approx(2.46)
    assert result.header.metadata["call_id"] == "call-42"
    assert result.header.metadata["channel_roles"] == ["callee", "box"]
    assert result.header.chunk_size == DEFAULT_CHUNK_SIZE == 32000
    data = rec.path.read_bytes()
    assert callee[5] not in data and box[5] not in data and interleave(callee[5], box[5])[:64] not in data


def test_chunks_reach_the_file_before_stop(store: KeyStore, keys: UnlockedKeys, tmp_path: Path) -> None:
    rec = make(store, tmp_path / "a.cbr", fsync=False)
    for c, b in zip(frames(60, 1), frames(60, 2)):
        rec.feed(c, b)
    salvaged = decrypt(rec.path, keys, salvage=True)  # read while the call is still going
    assert salvaged.chunks == 1 and len(salvaged.audio) == 32000
    assert isinstance(salvaged.problem, RecordingTruncated)
    rec.stop()
    assert decrypt(rec.path, keys).chunks == 2


def test_created_at_is_required(store: KeyStore, tmp_path: Path) -> None:
    pub = store.public_key()
    for meta in ({"call_id": "x"}, {"created_at": "2026-01-01T10:00:00"}):  # missing; no offset
        with pytest.raises(ValueError, match="created_at"):
            Recorder(tmp_path / "a.cbr", pub.key, pub.key_id, meta)
    assert not (tmp_path / "a.cbr").exists()


def test_wrong_frame_size(store: KeyStore, tmp_path: Path) -> None:
    rec = make(store, tmp_path / "a.cbr")
    with pytest.raises(ValueError, match="320 bytes"):
        rec.feed(b"\0" * 160, b"\0" * 320)
    rec.stop()


def test_discard_removes_the_file(store: KeyStore, tmp_path: Path) -> None:
    rec = make(store, tmp_path / "rec" / "a.cbr")
    for c, b in zip(frames(80, 1), frames(80, 2)):
        rec.feed(c, b)
    rec.discard()
    assert not rec.path.exists()
    rec.feed(b"\0" * 320, b"\0" * 320)  # the media thread racing the discard is not an error
    assert rec.frames_dropped == 1
    assert list((tmp_path / "rec").iterdir()) == []


def test_stop_twice_raises(store: KeyStore, tmp_path: Path) -> None:
    rec = make(store, tmp_path / "a.cbr")
    rec.stop()
    with pytest.raises(ValueError, match="already closed"):
        rec.stop()


def test_concurrent_feed_and_stop(store: KeyStore, keys: UnlockedKeys, tmp_path: Path) -> None:
    rec = make(store, tmp_path / "a.cbr")
    frame_a, frame_b = b"\x11" * 320, b"\x22" * 320
    started = threading.Barrier(5)

    def feeder() -> None:
        started.wait()
        for _ in range(400):
            rec.feed(frame_a, frame_b)

    threads = [threading.Thread(target=feeder) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    for t in threads:
        t.join()
    rec.stop()
    result = decrypt(rec.path, keys)
    assert len(result.audio) == 4 * 400 * 640  # no frame lost or torn between threads
    assert result.audio == interleave(frame_a, frame_b) * 1600


def test_stop_while_feeding_drops_late_frames(store: KeyStore, keys: UnlockedKeys, tmp_path: Path) -> None:
    rec = make(store, tmp_path / "a.cbr")
    go = threading.Event()

    def feeder() -> None:
        go.set()
        for _ in range(3000):
            rec.feed(b"\x01" * 320, b"\x02" * 320)

    t = threading.Thread(target=feeder)
    t.start()
    go.wait()
    summary = rec.stop()
    t.join()
    result = decrypt(rec.path, keys)
    assert result.complete
    assert len(result.audio) // 640 + rec.frames_dropped == 3000
    assert summary.audio_bytes == len(result.audio)


def test_disk_full_mid_call_leaves_a_salvageable_recording(
    store: KeyStore, keys: UnlockedKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from callbox.recordings import stream
    from callbox.recordings.recorder import RecorderFailed

    rec = make(store, tmp_path / "a.cbr", fsync=False)
    for c, b in zip(frames(100, 1), frames(100, 2)):  # two full chunks on disk
        rec.feed(c, b)
    real_write = os.write
    target = rec._writer._fd

    def full_disk(fd: int, data) -> int:
        if fd == target:  # the third chunk gets half written, then the disk is full
            if len(data) > 1000:
                return real_write(fd, bytes(data)[:1000])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(stream.os, "write", full_disk)
    for c, b in zip(frames(60, 3), frames(60, 4)):
        rec.feed(c, b)  # never raises into the media thread
    monkeypatch.setattr(stream.os, "write", real_write)
    assert rec.error is not None and rec.error.errno == errno.ENOSPC
    assert rec.frames_dropped > 0
    with pytest.raises(RecorderFailed, match="free space"):
        rec.stop()
    header = stream.read_header(rec.path)
    assert rec.path.stat().st_size == header.length + 2 * (stream._FRAME.size + 32000 + 16)  # torn frame cut off
    with pytest.raises(RecordingTruncated, match="after chunk 2"):
        decrypt(rec.path, keys)
    salvaged = decrypt(rec.path, keys, salvage=True)
    assert salvaged.audio == b"".join(interleave(c, b) for c, b in zip(frames(100, 1), frames(100, 2)))
