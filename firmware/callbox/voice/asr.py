"""Speech to text behind one :class:`Recognizer` interface.

Default engine here is faster-whisper with the multilingual Whisper *base* model (CTranslate2, int8),
fed whole VAD segments at the line rate (upsampled to 16 kHz as Whisper expects). The language is
always forced (auto-detection confuses unclear Mandarin) and the output length is capped, because
Whisper can loop on unclear audio. Chinese is steered to simplified characters with a simplified
initial prompt.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from callbox.voice import audio, models

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    confidence: float  # 0..1, the engine's own estimate


class Recognizer(Protocol):
    def transcribe(self, pcm8k: bytes, language: str) -> Transcript: ...


_PROMPTS = {"zh": "以下是普通话的电话录音，使用简体中文。", "en": "A phone call."}

# Traditional → simplified for characters Whisper base tends to emit in phone replies. Intent matching
# works on simplified text; this small table avoids a dependency for a handful of characters.
_T2S = str.maketrans("這們說話時電還別謝請預約確認時間錄音沒關係個會來為您嗎麼對給號碼聽見話題問題",
                     "这们说话时电还别谢请预约确认时间录音没关系个会来为您吗么对给号码听见话题问题")


class WhisperRecognizer:
    def __init__(self, threads: int = 2, beam_size: int = 5) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(str(models.whisper_base()), device="cpu", compute_type="int8", cpu_threads=threads)
        self._beam = beam_size
        self._lock = threading.Lock()

    def transcribe(self, pcm8k: bytes, language: str) -> Transcript:
        samples = audio.resample(audio.to_float(pcm8k), audio.LINE_RATE, 16000)
        if samples.size < 1600:  # under 0.1 s: nothing to hear
            return Transcript("", language, 0.0)
        # Whisper drops very short words at the edges of a clip ("同意。"); a little silence helps.
        pad = np.zeros(4800, dtype=np.float32)
        samples = np.concatenate([pad, samples, pad])
        with self._lock:
            segments, _info = self._model.transcribe(
                samples,
                language=language,
                beam_size=self._beam,
                initial_prompt=_PROMPTS.get(language),
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
                max_new_tokens=64,
                temperature=0.0,
            )
            segments = list(segments)
        text = "".join(s.text for s in segments).strip()
        if language == "zh":
            text = text.translate(_T2S)
        confidence = float(np.exp(np.mean([s.avg_logprob for s in segments]))) if segments else 0.0
        return Transcript(text, language, confidence)
