"""Test helpers: write recordings with known audio and cut files into frames for tampering."""

from __future__ import annotations

import os
from pathlib import Path

from callbox.recordings import stream
from callbox.recordings.keystore import KeyStore


def audio_pattern(n: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-per-chunk audio bytes (so reordering changes the content)."""
    return bytes((i * 7 + seed + (i >> 8)) & 0xFF for i in range(n))


def write_recording(
    store: KeyStore, path: Path, audio: bytes, *, chunk_size: int = 64, finish: bool = True, call_id: str = "c1"
) -> Path:
    pub = store.public_key()
    meta = {"call_id": call_id, "created_at": "2026-01-15T10:00:00+00:00"}
    w = stream.RecordingWriter(path, pub.key, pub.key_id, meta, chunk_size=chunk_size)
    w.write(audio)
    if finish:
        w.finish()
    else:
        w.abandon()
    return path


def split(path: Path) -> tuple[bytes, list[bytes]]:
    """(header bytes, [raw frame bytes ...]) of a recording."""
    header, layout = stream.scan(path)
    data = path.read_bytes()
    frames = [data[f.offset - stream._FRAME.size : f.offset + f.ct_len] for f in layout.frames]
    return data[: header.length], frames


def join(path: Path, header: bytes, frames: list[bytes]) -> None:
    path.write_bytes(header + b"".join(frames))


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def walk_files(*roots: Path):
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                yield Path(dirpath) / name
