"""Audio file → what the callee meant, exactly as live audio is processed.

A file at any rate, mono or stereo, is first brought to the line format (8 kHz 16-bit mono, soxr),
then goes through the same recognizer and intent rules as a live call. Used by
``callbox voice understand`` and scripts/eval_voice.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from callbox.dialogs.intents import classify
from callbox.voice import audio
from callbox.voice.asr import Recognizer


@dataclass(frozen=True)
class Understanding:
    file: str
    lang: str
    text: str
    intent: str
    confidence: float

    def as_json(self) -> dict:
        return asdict(self)


def line_pcm(path: Path | str) -> bytes:
    samples, rate = audio.read_wav(path)
    return audio.to_line(samples, rate)


def pick_language(recognizer: Recognizer, pcm8k: bytes, candidates: tuple[str, ...] = ("zh", "en")) -> str:
    """The likelier of the candidate languages (Whisper's language head; else the surer transcript)."""
    detect = getattr(recognizer, "detect_language", None)
    if detect is not None:
        return detect(pcm8k, candidates)
    best = max(candidates, key=lambda lang: recognizer.transcribe(pcm8k, lang).confidence)
    return best


def understand_pcm(recognizer: Recognizer, pcm8k: bytes, language: str, name: str = "") -> Understanding:
    if language == "auto":
        language = pick_language(recognizer, pcm8k)
    transcript = recognizer.transcribe(pcm8k, language)
    intent = classify(transcript.text, language)
    # Confidence of the whole reading: the rule's certainty, discounted by the engine's own doubt.
    confidence = round(intent.confidence * (0.5 + 0.5 * transcript.confidence), 3) if transcript.text else 0.0
    return Understanding(name, language, transcript.text, intent.name, confidence)


def understand_file(recognizer: Recognizer, path: Path | str, language: str = "auto") -> Understanding:
    return understand_pcm(recognizer, line_pcm(path), language, str(path))
