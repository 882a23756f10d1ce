"""Decrypted copies leaving the box: WAV audio, transcript JSON and a manifest with every file's sha256.

Why this shape: export is the one place plaintext is meant to exist, so it is written with the same
care as the ciphertext. Audio is streamed chunk by chunk from :func:`~callbox.recordings.stream.
open_decrypt` straight into a new file (``O_EXCL``, mode 0600): an hour-long recording never sits in
memory. The access is audited after the header has authenticated and *before* the first plaintext
byte is written. A file whose verification fails half-way is removed, so a tampered recording never
leaves a plausible-looking partial copy; ``salvage`` keeps what verified (the WAV header is patched to
the real length). Hashes are taken from the files as written, so the manifest checks what is on the
stick, not what we meant to write.

One call = one unit: ``call-000012.wav`` (if it was recorded) + ``call-000012.transcript.json`` (if a
transcript was kept) and one audit entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from callbox.recordings import transcript
from callbox.recordings.stream import DecryptStream, RecordingError, open_decrypt

AuditFn = Callable[[str, str, dict], None]
WAV_HEADER_BYTES = 44


@dataclass(frozen=True)
class FileInfo:
    """One exported file, as written."""

    name: str
    sha256: str
    bytes: int

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "bytes": self.bytes}


def wav_header(data_bytes: int, sample_rate: int, channels: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV holding ``data_bytes`` of samples."""
    block = channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, channels, sample_rate,
        sample_rate * block, block, 16, b"data", data_bytes,
    )  # fmt: skip


def _wav_format(stream: DecryptStream) -> tuple[int, int]:
    meta = stream.header.metadata
    return int(meta.get("sample_rate", 8000)), int(meta.get("channels", 2))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _new_file(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists: choose another --out or remove it first") from None


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def stream_wav(stream: DecryptStream, write: Callable[[bytes], Any]) -> None:
    """Write a WAV to a pipe (stdout, aplay): header from the frame layout, then verified chunks.

    A pipe cannot be patched afterwards, so a salvaged (shorter) recording leaves the header's length
    too long; players stop at the end of the data.
    """
    rate, channels = _wav_format(stream)
    write(wav_header(stream.expected_bytes, rate, channels))
    for chunk in stream:
        write(chunk)


def _write_new(out: Path, fill: Callable[[int], None]) -> FileInfo:
    """Create ``out`` (never overwriting), let ``fill(fd)`` write it, fsync; on any error remove it."""
    fd = _new_file(out)
    try:
        fill(fd)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        out.unlink(missing_ok=True)
        raise
    os.close(fd)
    return FileInfo(out.name, sha256_file(out), out.stat().st_size)


def write_wav(stream: DecryptStream, out: Path) -> FileInfo:
    """Stream a WAV into a new file; on a verification error remove the file and re-raise."""
    rate, channels = _wav_format(stream)

    def fill(fd: int) -> None:
        _write_all(fd, wav_header(stream.expected_bytes, rate, channels))
        for chunk in stream:
            _write_all(fd, chunk)
        if stream.plain_bytes != stream.expected_bytes:  # salvage stopped early: fix the lengths
            os.pwrite(fd, wav_header(stream.plain_bytes, rate, channels), 0)

    return _write_new(out, fill)


def write_json(out: Path, obj: Any) -> FileInfo:
    data = (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return _write_new(out, lambda fd: _write_all(fd, data))


def call_files(folder: Path, stem: str) -> tuple[Path | None, Path | None]:
    """The recording and transcript of one call (either may be missing)."""
    audio, text = folder / f"{stem}.cbr", folder / f"{stem}{transcript.SUFFIX}"
    return (audio if audio.is_file() else None), (text if text.is_file() else None)


def export_call(
    folder: Path,
    stem: str,
    keys: Mapping[str, X25519PrivateKey],
    wav_out: Path,
    text_out: Path,
    audit: AuditFn,
    details: Mapping[str, Any],
    *,
    salvage: bool = False,
) -> dict[str, Any]:
    """Export one call (recording to ``wav_out``, transcript to ``text_out``); one audit entry first.

    Returns the manifest item. Raises :class:`RecordingError` (files of this call removed) when a file
    fails verification; the audit entry stays, followed by ``recording.export_failed``.
    """
    audio, text = call_files(folder, stem)
    if audio is None and text is None:
        raise RecordingError(f"{stem}: no recording or transcript in {folder}")
    item: dict[str, Any] = {"call": stem, "files": []}
    written: list[Path] = []
    try:
        sealed = transcript.read(text, keys, salvage=salvage) if text is not None else None
        if audio is not None:
            with open_decrypt(audio, keys, salvage=salvage) as stream:
                meta = stream.header.metadata
                item.update(recording=audio.name, metadata=meta, key_id=stream.header.key_id)
                _audit_export(audit, stem, audio, text, meta.get("call_id"), details)
                written.append(wav_out)
                info = write_wav(stream, wav_out)
                item.update(seconds=round(stream.seconds, 2), complete=stream.complete, chunks=stream.chunks,
                            problem=None if stream.problem is None else str(stream.problem))
                item["files"].append(info.as_json())
        else:
            assert sealed is not None
            _audit_export(audit, stem, None, text, sealed.call_id, details)
            item.update(metadata=sealed.header.metadata)
        if sealed is not None:
            assert text is not None
            written.append(text_out)
            body = {"call_id": sealed.call_id, "source": text.name, "complete": sealed.complete, "turns": sealed.turns}
            item.update(transcript=text.name)
            item["files"].append(write_json(text_out, body).as_json())
    except RecordingError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        audit("recording.export_failed", stem, {**details, "error": str(exc)})
        raise
    return item


def _audit_export(audit: AuditFn, stem: str, audio: Path | None, text: Path | None, call_id: Any,
                  details: Mapping[str, Any]) -> None:
    audit("recording.exported", audio.name if audio is not None else (text.name if text else stem), {
        **details,
        "call_id": call_id,
        "recording": audio.name if audio is not None else None,
        "transcript": text.name if text is not None else None,
    })


def manifest_files(items: list[dict[str, Any]]) -> dict[str, str]:
    """``{file name: sha256}`` over every exported file (the manifest's checklist)."""
    return {f["name"]: f["sha256"] for item in items for f in item.get("files", [])}
