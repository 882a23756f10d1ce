"""Speech to text behind one :class:`Recognizer` interface, several engines.

Engines (each in a module of its own, loaded only when used):
- ``whisper`` (:mod:`callbox.voice.asr_whisper`): faster-whisper, multilingual Whisper *base*, int8.
  The default for zh and en: the only installed model that understands both (docs/voice.md has the
  measurements). Run with a *short encoder context* so a 1 s reply costs ~0.25 s, not ~1.2 s.
- ``vosk`` (:mod:`callbox.voice.asr_vosk`): Kaldi, truly streaming, with a grammar mode (phrase list +
  ``[unk]``) for keyword spotting. Production images carry vosk-model-small-cn/en; here only a Korean
  model is installed, which proves the integration, not the accuracy.
- ``sphinx`` (:mod:`callbox.voice.asr_sphinx`): pocketsphinx with its bundled US English model and a
  small grammar; fast and tiny, inaccurate on 8 kHz audio (measured).

Every engine takes line audio (8 kHz, 16-bit mono PCM) exactly as the line delivers it, and says
which language it was asked for; none detects languages (auto-detection confuses unclear Mandarin).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

ENGINES = ("whisper", "vosk", "sphinx")
# Picked by measurement on the evaluation set (scripts/eval_voice.py, docs/voice.md).
DEFAULT_ENGINE = {"zh": "whisper", "en": "whisper"}


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    confidence: float  # 0..1, the engine's own estimate
    engine: str = ""
    elapsed_ms: int = 0  # wall time the engine spent on this result
    alternatives: tuple[str, ...] = ()  # the engine's other hypotheses, best first (n-best), if any
    # Opt-out phrases a grammar pass found the audio supports although the transcript says something
    # else (Whisper: voice/phrase_score.py). Evidence for an *unsure* opt-out only; never written alone.
    spotted: tuple[str, ...] = ()


class Recognizer(Protocol):
    """Whole-utterance recognition: one VAD segment in, one transcript out. Thread-safe."""

    name: str

    def transcribe(self, pcm8k: bytes, language: str) -> Transcript: ...


class TwoLookRecognizer(Recognizer, Protocol):
    """A recogniser that can read a turn twice: at once, then (only for some turns) again, for evidence.

    ``transcribe`` is both looks in one call (evaluation, ``callbox voice understand``). A live call
    answers ``first_look`` at once and calls ``second_look`` afterwards; None means no second look was
    needed. Whisper's is in voice/asr_whisper.py (an unsure Chinese turn, decoded again from a faster copy).
    """

    def first_look(self, pcm8k: bytes, language: str) -> Transcript: ...

    def second_look(self, pcm8k: bytes, language: str, first: Transcript) -> Transcript | None: ...


@runtime_checkable
class RecognizerStream(Protocol):
    """One utterance fed frame by frame while the callee is still speaking."""

    def accept(self, pcm8k: bytes) -> str:
        """Feed audio; returns the partial text so far (may be empty)."""

    def finish(self) -> Transcript: ...


@runtime_checkable
class StreamingRecognizer(Protocol):
    name: str

    def transcribe(self, pcm8k: bytes, language: str) -> Transcript: ...

    def stream(self, language: str, grammar: Sequence[str] | None = None) -> RecognizerStream: ...


class BufferedStream:
    """The streaming interface over a whole-utterance engine: collect, then recognise at finish."""

    def __init__(self, recognizer: Recognizer, language: str) -> None:
        self._recognizer = recognizer
        self._language = language
        self._pcm = bytearray()

    def accept(self, pcm8k: bytes) -> str:
        self._pcm.extend(pcm8k)
        return ""

    def finish(self) -> Transcript:
        return self._recognizer.transcribe(bytes(self._pcm), self._language)


def open_stream(recognizer: Recognizer, language: str, grammar: Sequence[str] | None = None) -> RecognizerStream:
    """A stream from any recognizer: native when it streams, buffered otherwise."""
    if isinstance(recognizer, StreamingRecognizer):
        return recognizer.stream(language, grammar)
    return BufferedStream(recognizer, language)


class LanguageRouter:
    """One recognizer per language behind the single interface (e.g. Vosk for en, Whisper for zh)."""

    name = "router"

    def __init__(self, engines: dict[str, Recognizer], fallback: Recognizer | None = None) -> None:
        self.engines = engines
        self.fallback = fallback or next(iter(engines.values()))

    def for_language(self, language: str) -> Recognizer:
        return self.engines.get(language, self.fallback)

    def transcribe(self, pcm8k: bytes, language: str) -> Transcript:
        return self.for_language(language).transcribe(pcm8k, language)

    def first_look(self, pcm8k: bytes, language: str) -> Transcript:
        engine = self.for_language(language)
        return getattr(engine, "first_look", engine.transcribe)(pcm8k, language)

    def second_look(self, pcm8k: bytes, language: str, first: Transcript) -> Transcript | None:
        look = getattr(self.for_language(language), "second_look", None)
        return look(pcm8k, language, first) if look is not None else None


def load_recognizer(engine: str = "whisper", language: str = "en", **options: Any) -> Recognizer:
    """Load one engine. ``language`` matters for single-language models (vosk, sphinx)."""
    if engine == "whisper":
        from callbox.voice.asr_whisper import WhisperRecognizer

        return WhisperRecognizer(**options)
    if engine == "vosk":
        from callbox.voice.asr_vosk import VoskRecognizer

        return VoskRecognizer(language=language, **options)
    if engine == "sphinx":
        from callbox.voice.asr_sphinx import SphinxRecognizer

        return SphinxRecognizer(**options)
    raise ValueError(f"unknown ASR engine {engine!r}; one of {', '.join(ENGINES)}")


def load_default(languages: Sequence[str] = ("zh", "en")) -> Recognizer:
    """The measured default per language, sharing one model where engines coincide."""
    loaded: dict[str, Recognizer] = {}
    per_language: dict[str, Recognizer] = {}
    for language in languages:
        engine = DEFAULT_ENGINE.get(language, "whisper")
        key = engine if engine == "whisper" else f"{engine}:{language}"
        if key not in loaded:
            loaded[key] = load_recognizer(engine, language)
        per_language[language] = loaded[key]
    if len(loaded) == 1:
        return next(iter(loaded.values()))
    return LanguageRouter(per_language)


def timed(engine: str, language: str, started: float, text: str, confidence: float) -> Transcript:
    return Transcript(text, language, confidence, engine, int((time.monotonic() - started) * 1000))


def __getattr__(name: str) -> Any:  # keeps ``from callbox.voice.asr import WhisperRecognizer`` working
    if name == "WhisperRecognizer":
        from callbox.voice.asr_whisper import WhisperRecognizer

        return WhisperRecognizer
    raise AttributeError(name)
