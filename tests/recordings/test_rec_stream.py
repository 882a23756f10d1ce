"""The .cbr format: round trips, and every kind of damage raising its own error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callbox.recordings import stream
from callbox.recordings.keystore import KeyStore, UnlockedKeys
from callbox.recordings.stream import (
    ChunkFromOtherRecording,
    ChunkMissing,
    ChunkReordered,
    ChunkTampered,
    HeaderTampered,
    KeyNotAvailable,
    NotARecording,
    RecordingError,
    RecordingTruncated,
    TrailingData,
    UnsupportedVersion,
    decrypt,
)
from rec_helpers import audio_pattern, flip, join, split, write_recording

AUDIO = audio_pattern(64 * 4 + 10)  # four full chunks and a short final one


@pytest.fixture
def rec(store: KeyStore, tmp_path: Path) -> Path:
    return write_recording(store, tmp_path / "a.cbr", AUDIO)


def test_round_trip(rec: Path, keys: UnlockedKeys) -> None:
    result = decrypt(rec, keys)
    assert result.audio == AUDIO
    assert result.complete and result.chunks == 5 and result.problem is None
    assert result.header.metadata["call_id"] == "c1"
    assert result.header.metadata["sample_rate"] == 8000 and result.header.metadata["channels"] == 2


def test_file_contains_no_plaintext_and_is_private(rec: Path) -> None:
    data = rec.read_bytes()
    assert AUDIO[:32] not in data and AUDIO[100:132] not in data
    assert rec.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 1000])
def test_round_trip_sizes(store: KeyStore, keys: UnlockedKeys, tmp_path: Path, size: int) -> None:
    audio = audio_pattern(size)
    path = write_recording(store, tmp_path / "s.cbr", audio)
    result = decrypt(path, keys)
    assert result.audio == audio
    assert result.chunks == size // 64 + 1  # always ends with a final (possibly empty) chunk


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=3000),
    chunk_size=st.integers(min_value=1, max_value=700),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=6),
)
def test_round_trip_any_split(tmp_path_factory, data: bytes, chunk_size: int, cuts: list[int]) -> None:
    from rec_support import PASSPHRASE

    base = tmp_path_factory.mktemp("h")
    store = KeyStore(base / "keys")
    store.init(PASSPHRASE)
    pub = store.public_key()
    w = stream.RecordingWriter(base / "x.cbr", pub.key, pub.key_id, {"call_id": "h"}, chunk_size=chunk_size)
    last = 0
    for cut in sorted(c for c in cuts if c <= len(data)) + [len(data)]:
        w.write(data[last:cut])
        last = cut
    w.finish()
    assert decrypt(base / "x.cbr", store.unlock(PASSPHRASE)).audio == data


def test_every_single_byte_flip_is_detected(rec: Path, keys: UnlockedKeys) -> None:
    original = rec.read_bytes()
    for offset in range(len(original)):
        damaged = bytearray(original)
        damaged[offset] ^= 0x40
        rec.write_bytes(bytes(damaged))
        with pytest.raises(RecordingError):
            decrypt(rec, keys)
        salvaged = None
        try:
            salvaged = decrypt(rec, keys, salvage=True)
        except RecordingError:
            pass  # header damage: nothing verifiable
        if salvaged is not None:
            assert AUDIO.startswith(salvaged.audio) and not salvaged.complete


@pytest.mark.parametrize(
    ("where", "error"),
    [
        (0, NotARecording),  # magic
        (9, UnsupportedVersion),  # version
        (13, KeyNotAvailable),  # key id
        (22, HeaderTampered),  # file tag (bound into the key wrap)
        (30, HeaderTampered),  # nonce prefix
        (35, HeaderTampered),  # chunk size
        (40, HeaderTampered),  # ephemeral public key
        (100, HeaderTampered),  # wrapped data key
        (135, HeaderTampered),  # metadata JSON
        (-1, HeaderTampered),  # header MAC (last header byte)
    ],
)
def test_header_flip(rec: Path, keys: UnlockedKeys, where: int, error: type[RecordingError]) -> None:
    header, _ = split(rec)
    flip(rec, where if where >= 0 else len(header) + where)
    with pytest.raises(error):
        decrypt(rec, keys)


def test_metadata_edit_that_keeps_json_valid_is_detected(rec: Path, keys: UnlockedKeys) -> None:
    data = rec.read_bytes()
    assert b'"call_id":"c1"' in data
    rec.write_bytes(data.replace(b'"call_id":"c1"', b'"call_id":"c9"'))
    with pytest.raises(HeaderTampered, match="metadata was altered"):
        decrypt(rec, keys)


def test_flip_in_chunk(rec: Path, keys: UnlockedKeys) -> None:
    header, frames = split(rec)
    flip(rec, len(header) + len(frames[0]) + 40)  # inside chunk 1's ciphertext
    with pytest.raises(ChunkTampered) as info:
        decrypt(rec, keys)
    assert info.value.index == 1
    salvaged = decrypt(rec, keys, salvage=True)
    assert salvaged.audio == AUDIO[:64] and isinstance(salvaged.problem, ChunkTampered)


def test_flip_final_flag(rec: Path, keys: UnlockedKeys) -> None:
    header, frames = split(rec)
    flags_at = len(header) + sum(map(len, frames[:-1])) + 2 + 8 + 8
    flip(rec, flags_at)  # final chunk now claims not to be final
    with pytest.raises(RecordingError):
        decrypt(rec, keys)


def test_dropped_chunk(rec: Path, keys: UnlockedKeys) -> None:
    header, frames = split(rec)
    join(rec, header, frames[:2] + frames[3:])
    with pytest.raises(ChunkMissing) as info:
        decrypt(rec, keys)
    assert info.value.index == 2


def test_reordered_chunks(rec: Path, keys: UnlockedKeys) -> None:
    header, frames = split(rec)
    join(rec, header, [frames[0], frames[2], frames[1], *frames[3:]])
    with pytest.raises(ChunkReordered) as info:
        decrypt(rec, keys)
    assert info.value.index == 1


def test_repeated_chunk(rec: Path, keys: UnlockedKeys) -> None:
    header, frames = split(rec)
    join(rec, header, [frames[0], frames[1], frames[1], *frames[2:]])
    with pytest.raises(ChunkReordered):
        decrypt(rec, keys)


def test_chunk_swapped_from_other_recording(rec: Path, store: KeyStore, keys: UnlockedKeys, tmp_path: Path) -> None:
    other = write_recording(store, tmp_path / "b.cbr", audio_pattern(len(AUDIO), seed=3), call_id="c2")
    header, frames = split(rec)
    _, other_frames = split(other)
    join(rec, header, [frames[0], other_frames[1], *frames[2:]])
    with pytest.raises(ChunkFromOtherRecording) as info:
        decrypt(rec, keys)
    assert info.value.index == 1


def test_foreign_chunk_with_forged_tag_still_fails(rec: Path, store: KeyStore, keys: UnlockedKeys, tmp_path: Path) -> None:
    other = write_recording(store, tmp_path / "b.cbr", audio_pattern(len(AUDIO), seed=3), call_id="c2")
    header, frames = split(rec)
    _, other_frames = split(other)
    forged = frames[1][:2] + frames[1][2:10] + other_frames[1][10:]  # our file tag, their ciphertext
    join(rec, header, [frames[0], forged, *frames[2:]])
    with pytest.raises(ChunkTampered):
        decrypt(rec, keys)


def test_truncated_whole_chunks(rec: Path, keys: UnlockedKeys) -> None:
    header, frames = split(rec)
    join(rec, header, frames[:3])
    with pytest.raises(RecordingTruncated, match=r"truncated after chunk 3: the call did not finish") as info:
        decrypt(rec, keys)
    assert info.value.chunks_ok == 3
    salvaged = decrypt(rec, keys, salvage=True)
    assert salvaged.audio == AUDIO[: 3 * 64] and salvaged.chunks == 3 and not salvaged.complete


@pytest.mark.parametrize("cut", [1, 5, 22, 23, 50])
def test_truncated_mid_frame(rec: Path, keys: UnlockedKeys, cut: int) -> None:
    header, frames = split(rec)
    rec.write_bytes(header + frames[0] + frames[1] + frames[2][:cut])
    with pytest.raises(RecordingTruncated) as info:
        decrypt(rec, keys)
    assert info.value.chunks_ok == 2
    assert decrypt(rec, keys, salvage=True).audio == AUDIO[:128]


def test_abandoned_writer_is_truncated(store: KeyStore, keys: UnlockedKeys, tmp_path: Path) -> None:
    path = write_recording(store, tmp_path / "c.cbr", AUDIO, finish=False)
    with pytest.raises(RecordingTruncated):
        decrypt(path, keys)
    assert decrypt(path, keys, salvage=True).audio == AUDIO[:256]


def test_appended_data(rec: Path, keys: UnlockedKeys) -> None:
    header, frames = split(rec)
    join(rec, header, frames + [frames[1]])
    with pytest.raises(TrailingData):
        decrypt(rec, keys)


def test_key_not_available(rec: Path) -> None:
    with pytest.raises(KeyNotAvailable, match="restore keys/"):
        decrypt(rec, {})


def test_writer_rejects_mismatched_key_id(store: KeyStore, tmp_path: Path) -> None:
    pub = store.public_key()
    with pytest.raises(ValueError, match="does not belong"):
        stream.RecordingWriter(tmp_path / "x.cbr", pub.key, "00" * 8, {})
    assert not (tmp_path / "x.cbr").exists()


def test_writer_refuses_to_overwrite(rec: Path, store: KeyStore) -> None:
    pub = store.public_key()
    with pytest.raises(FileExistsError):
        stream.RecordingWriter(rec, pub.key, pub.key_id, {})


def test_shred_overwrites_key_block_in_place(rec: Path, keys: UnlockedKeys, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    os.link(rec, twin)  # a second name for the same inode lets us look after unlink
    before = twin.read_bytes()
    stream.shred(rec)
    assert not rec.exists()
    after = twin.read_bytes()
    block = slice(stream.KEY_BLOCK_OFFSET, stream.KEY_BLOCK_OFFSET + stream.KEY_BLOCK_LEN)
    assert after[block] != before[block]
    assert after[: block.start] == before[: block.start] and after[block.stop :] == before[block.stop :]
    with pytest.raises(HeaderTampered):
        decrypt(twin, keys)


def test_shred_refuses_non_recordings(tmp_path: Path) -> None:
    other = tmp_path / "notes.cbr"
    other.write_bytes(b"not a recording at all, keep me")
    with pytest.raises(NotARecording):
        stream.shred(other)
    assert other.exists()
