"""Audio utilities: conversions between float arrays, 16-bit PCM bytes and the 8 kHz line rate.

Resampling is done by ``soxr`` (high quality, fast, maintained) — never by hand.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import soxr

LINE_RATE = 8000


def to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def to_pcm16(samples: np.ndarray) -> bytes:
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), from_rate, to_rate, quality="HQ")


def to_line(samples: np.ndarray, rate: int) -> bytes:
    """Float mono audio at any rate → 8 kHz 16-bit PCM bytes for the line."""
    return to_pcm16(resample(samples, rate, LINE_RATE))


def read_wav(path: Path | str | io.BytesIO) -> tuple[np.ndarray, int]:
    """Any 8/16/32-bit PCM WAV (a path or a file object), mono or stereo → float mono samples and rate."""
    with wave.open(path if hasattr(path, "read") else str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        raw = wav.readframes(wav.getnframes())
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported; convert to 16-bit PCM")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate


def wav_bytes(pcm: bytes, rate: int = LINE_RATE, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buf.getvalue()


def write_wav(path: Path | str, pcm: bytes, rate: int = LINE_RATE, channels: int = 1) -> None:
    Path(path).write_bytes(wav_bytes(pcm, rate, channels))


def silence(ms: int) -> bytes:
    return bytes(LINE_RATE * 2 * ms // 1000)


def duration_ms(pcm: bytes) -> int:
    return len(pcm) * 1000 // (LINE_RATE * 2)


def frames(pcm: bytes, frame_bytes: int = 320) -> list[bytes]:
    """Line PCM as 20 ms frames (the last one padded with silence), as a line delivers it."""
    out = [pcm[i : i + frame_bytes] for i in range(0, len(pcm), frame_bytes)]
    if out and len(out[-1]) < frame_bytes:
        out[-1] = out[-1] + bytes(frame_bytes - len(out[-1]))
    return out
