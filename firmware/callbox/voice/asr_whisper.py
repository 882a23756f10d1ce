"""Whisper base (faster-whisper / CTranslate2, int8) with a short encoder context.

Why not ``WhisperModel.transcribe``: it always pads audio to a 30 s window, and the encoder cost is
proportional to the window — ~1.2 s on two x86 cores for a one-second "yes". Phone replies are short,
so this module encodes only ``max(len(audio), min_context)`` (the *audio_ctx* trick of whisper.cpp).
Measured on the evaluation set (docs/voice.md): a 10 s context (1000 frames) costs ~0.2 s per reply
with nearly the accuracy of 30 s (en WER 5.0 % vs 3.1 %, same opt-out recall); 5 s was faster still
but lost too much (en WER 20.8 %). ``short_context=False`` restores the 30 s window.

The language is always forced, output length is capped (Whisper loops on unclear audio), Chinese is
steered to simplified characters by the initial prompt and a small traditional→simplified table, and
well-known hallucinations on noise ("谢谢观看", "Thank you.") are dropped when Whisper itself thinks
there was no speech.

On short turns that free decoding does not read as an opt-out, a grammar pass (:mod:`phrase_score`)
forces the canonical opt-out phrases that sound like the transcript through the decoder, reusing this
turn's encoder output; the ones the audio supports come back in ``Transcript.spotted`` (evidence for an
unsure opt-out; ``spot_phrases=False`` turns it off).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import deque

import numpy as np

from callbox.voice import audio, models, phrase_score
from callbox.voice.asr import Transcript

_PROMPTS = {"zh": "以下是普通话的电话录音，使用简体中文。", "en": "A phone call."}
# Biased ("hotword") prompts. Measured on the evaluation set and NOT used: in Chinese Whisper base
# answers a long prompt with nothing at all, in English it raises WER without raising recall
# (docs/voice.md). Kept for the next model, where it may pay.
HOTWORD_PROMPTS = {
    "zh": "以下是普通话的电话录音，使用简体中文。好的，同意，确认，是的，不行，不要再打了，别打扰，骚扰，退订，免打扰，转人工。",
    "en": "A phone call. Yes, okay, no problem. Stop calling me. Unsubscribe. Leave me alone. Opt out. Delete my number.",
}

# Traditional → simplified for characters Whisper base tends to emit in phone replies. Intent matching
# works on simplified text; this small table avoids a dependency for a handful of characters.
_T2S = str.maketrans(
    "這們說話時電還別謝請預約確認間錄音沒關係個會來為嗎麼對給號碼聽見題問擾單刪內聯繫轉掉開車樣讓點時應該準"
    # Unprompted decoding (the retry after prompt bleed) writes traditional characters more often.
    "緊兒現變記課筆帶東夠學習雲營啟檔擋膽製麗無蓋緝緒亂議練員義過煩絕線務訂閱撥掛達語機頭鐘幾後錯誤經從難聲當",
    "这们说话时电还别谢请预约确认间录音没关系个会来为吗么对给号码听见题问扰单删内联系转掉开车样让点时应该准"
    "紧儿现变记课笔带东够学习云营启档挡胆制丽无盖缉绪乱议练员义过烦绝线务订阅拨挂达语机头钟几后错误经从难声当",
)

# What Whisper says over silence or noise (subtitle credits in its training data).
_HALLUCINATIONS = ("谢谢观看", "请不吝点赞", "字幕", "订阅我的频道", "thank you for watching", "thanks for watching",
                   "subscribe to")
_SAMPLES_PER_FRAME = 160  # 10 ms of 16 kHz audio per mel frame
_FULL_CONTEXT = 3000

# The second look (issue #5, November 2026): a Chinese turn that Whisper was unsure of (confidence below
# SECOND_LOOK_BELOW) and that was not heard as an opt-out is decoded once more from a copy played
# SECOND_LOOK_TEMPO times faster (tempo and pitch together, as a tape played fast), and that decode's
# hypotheses join the turn's alternatives. Whisper base mishears a voice far from its training data in
# ways that change with tempo and pitch (不要再打扰我了 heard 每个字大状和文, but 不要再打扰我们 from the
# faster copy), so a second, perturbed look is an independent guess. An opt-out found only there is an
# *unsure* opt-out (intents.classify_hypotheses): the box asks once, it never writes one on it.
# Chosen on the tuning halves only (docs/voice.md): the faster copy (x1.15) asked no benign stress reply;
# the slower (x0.87) asked two. Chinese only: English recall needs no help on the set and its stress set
# would pay questions.
SECOND_LOOK_LANGUAGES = ("zh",)
SECOND_LOOK_TEMPO = 1 / 0.87
SECOND_LOOK_BELOW = 0.65
SECOND_LOOK_MAX_SECONDS = 6.0
_HEARD = ("opt_out", "stop_recording", "handoff")  # intents that end or change the call: nothing to add


def tempo_shifted(pcm8k: bytes, factor: float) -> bytes:
    """Line audio played ``factor`` times faster (shorter and higher), still 8 kHz 16-bit."""
    samples = audio.to_float(pcm8k)
    return audio.to_pcm16(audio.resample(samples, audio.LINE_RATE, int(round(audio.LINE_RATE / factor))))


class WhisperRecognizer:
    name = "whisper"

    def __init__(
        self,
        threads: int = 2,
        beam_size: int = 4,
        alternatives: int = 4,
        short_context: bool = True,
        min_context_frames: int = 1000,
        max_tokens: int = 64,
        prompts: dict[str, str] | None = None,
        spot_phrases: bool = True,
        spot_context: bool = False,
        spot_prompt: bool = True,
        retry_unprompted: bool = True,
        spot_tail: bool = True,
        second_look: bool = True,
    ) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self._whisper = WhisperModel(str(models.whisper_base()), device="cpu", compute_type="int8", cpu_threads=threads)
        # One BPE tokenizer for decoding, prompts and phrase scoring: the scoring one (its missing first merge
        # restored) decodes the same ids to the same text and encodes our prompts the same (tests/voice/
        # test_phrase_score.py); faster-whisper's own copy (~8 MB) is let go.
        self._whisper.hf_tokenizer = phrase_score.fixed_tokenizer(models.whisper_base())
        self._tokenizers = {
            lang: Tokenizer(self._whisper.hf_tokenizer, True, task="transcribe", language=lang) for lang in ("zh", "en")
        }
        self._beam = beam_size
        self._short = short_context
        self._min_frames = min_context_frames
        self._max_tokens = max_tokens
        self._prompts = dict(_PROMPTS if prompts is None else prompts)
        self._alternatives = max(1, min(alternatives, beam_size))
        self._lock = threading.Lock()
        self.name = "whisper" if short_context else "whisper-30s"
        # The grammar pass (phrase_score.py): opt-out phrases forced through the decoder on short turns.
        self._spotter = (
            phrase_score.PhraseSpotter(self._whisper.model, models.whisper_base(), context=spot_context,
                                       tokenizer=self._whisper.hf_tokenizer)
            if spot_phrases else None
        )
        self._spot_prompt = spot_prompt  # score phrases after the initial prompt, as free decoding saw them
        self.spot_ms: deque[int] = deque(maxlen=1000)  # time the grammar pass added, per turn it ran
        # The tail pass (phrase_score.PhraseSpotter.score_tail): a phrase said after other words.
        self.spot_tail = spot_tail
        self.tail_ms: deque[int] = deque(maxlen=1000)  # time the tail pass added, per turn it ran
        self.retry_unprompted = retry_unprompted  # decode again without the prompt when it bled into the text
        self.retries = 0  # turns decoded a second time that way
        self.second_look_on = second_look  # an unsure Chinese turn decoded again from a faster copy
        self.look_ms: deque[int] = deque(maxlen=1000)  # time the second look added, per turn it ran

    def _tokenizer(self, language: str):
        if language not in self._tokenizers:
            from faster_whisper.tokenizer import Tokenizer

            self._tokenizers[language] = Tokenizer(self._whisper.hf_tokenizer, True, task="transcribe", language=language)
        return self._tokenizers[language]

    def _prompt(self, language: str, prompted: bool = True) -> list[int]:
        tok = self._tokenizer(language)
        prompt = []
        if prompted and self._prompts.get(language):
            prompt = [tok.sot_prev] + tok.encode(" " + self._prompts[language])
        return prompt + list(tok.sot_sequence) + [tok.no_timestamps]

    def _features(self, samples: np.ndarray) -> np.ndarray:
        frames = (samples.size + _SAMPLES_PER_FRAME - 1) // _SAMPLES_PER_FRAME
        if self._short:
            context = min(_FULL_CONTEXT, max(self._min_frames, (frames + 99) // 100 * 100 + 100))
        else:
            context = _FULL_CONTEXT
        padded = np.zeros(context * _SAMPLES_PER_FRAME, dtype=np.float32)
        n = min(samples.size, padded.size)
        padded[:n] = samples[:n]
        features = self._whisper.feature_extractor(padded)
        return np.ascontiguousarray(features[:, :context][None], dtype=np.float32)

    def detect_language(self, pcm8k: bytes, candidates: tuple[str, ...] = ("zh", "en")) -> str:
        """The likeliest of ``candidates`` by Whisper's language head (short context, one encoder pass)."""
        import ctranslate2

        samples = audio.resample(audio.to_float(pcm8k), audio.LINE_RATE, 16000)
        with self._lock:
            features = ctranslate2.StorageView.from_array(self._features(samples))
            encoded = self._whisper.model.encode(features, to_cpu=False)
            scores = dict(self._whisper.model.detect_language(encoded)[0])
        return max(candidates, key=lambda lang: scores.get(f"<|{lang}|>", 0.0))

    def _decode(self, pcm8k: bytes, language: str, prompted: bool = True):
        """Encode and beam-decode one utterance: (encoder output, generation result, texts, frames).

        ``prompted=False`` decodes without the initial prompt (the retry after prompt bleed)."""
        import ctranslate2
        from faster_whisper.transcribe import get_suppressed_tokens

        samples = audio.resample(audio.to_float(pcm8k), audio.LINE_RATE, 16000)
        if samples.size < 1600:  # under 0.1 s: nothing to hear
            return None
        # Whisper drops very short words at the edges of a clip ("同意。"); a little silence helps.
        pad = np.zeros(4800, dtype=np.float32)
        samples = np.concatenate([pad, samples, pad])
        tok = self._tokenizer(language)
        features = ctranslate2.StorageView.from_array(self._features(samples))
        encoded = self._whisper.model.encode(features, to_cpu=False)
        result = self._whisper.model.generate(
            encoded,
            [self._prompt(language, prompted)],
            beam_size=self._beam,
            max_length=self._max_tokens,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tok, [-1]),
            return_scores=True,
            return_no_speech_prob=True,
            num_hypotheses=self._alternatives,
        )[0]
        texts = []
        for sequence in result.sequences_ids:
            text = tok.decode([t for t in sequence if t < tok.eot]).strip()
            texts.append(dedupe(text.translate(_T2S) if language == "zh" else text))
        frames = (samples.size + _SAMPLES_PER_FRAME - 1) // _SAMPLES_PER_FRAME
        return encoded, result, texts, frames

    def transcribe(self, pcm8k: bytes, language: str) -> Transcript:
        return self.transcribe_scored(pcm8k, language)[0]

    def transcribe_scored(self, pcm8k: bytes, language: str) -> tuple[Transcript, list[phrase_score.PhraseScore]]:
        """:meth:`transcribe`, plus every phrase score of the grammar pass (for tuning and tests)."""
        started = time.monotonic()
        transcript, scores = self._listen(pcm8k, language, spot=True)
        transcript = self.second_look(pcm8k, language, transcript) or transcript
        return dataclasses.replace(transcript, elapsed_ms=int((time.monotonic() - started) * 1000)), scores

    def first_look(self, pcm8k: bytes, language: str) -> Transcript:
        """The turn as heard at once: :meth:`transcribe` without the second look.

        A live call (dialogs/session.py) answers this reading without waiting and runs
        :meth:`second_look` after it, so the second look costs the callee no time."""
        return self._listen(pcm8k, language, spot=True)[0]

    def second_look(self, pcm8k: bytes, language: str, first: Transcript) -> Transcript | None:
        """``first`` with the hypotheses of a decode of a faster copy added, or None if this turn needs no
        second look (see SECOND_LOOK_BELOW). The best text stays ``first``'s: the second look only adds
        evidence, and an opt-out found only there is an unsure one."""
        if not self._wants_second_look(first, language, len(pcm8k) / (2 * audio.LINE_RATE)):
            return None
        started = time.monotonic()
        faster, _ = self._listen(tempo_shifted(pcm8k, SECOND_LOOK_TEMPO), language, spot=False)
        seen = {first.text, *first.alternatives}
        extra = tuple(dict.fromkeys(t for t in (faster.text, *faster.alternatives) if t and t not in seen))
        elapsed = int((time.monotonic() - started) * 1000)
        self.look_ms.append(elapsed)
        return dataclasses.replace(first, alternatives=first.alternatives + extra, elapsed_ms=first.elapsed_ms + elapsed)

    def _wants_second_look(self, transcript: Transcript, language: str, seconds: float) -> bool:
        """An unsure, short Chinese turn in which nothing that ends or changes the call was heard."""
        if not (self.second_look_on and language in SECOND_LOOK_LANGUAGES and transcript.text
                and seconds <= SECOND_LOOK_MAX_SECONDS and transcript.confidence < SECOND_LOOK_BELOW):
            return False
        from callbox.dialogs.intents import classify_hypotheses

        heard = classify_hypotheses(transcript.text, transcript.alternatives, language, transcript.spotted)
        return heard.name not in _HEARD

    def _listen(self, pcm8k: bytes, language: str, spot: bool) -> tuple[Transcript, list[phrase_score.PhraseScore]]:
        """One decode of one turn (again without the prompt if it bled), and the grammar pass if ``spot``."""
        started = time.monotonic()
        with self._lock:
            decoded = self._decode(pcm8k, language)
            if decoded is None:
                return Transcript("", language, 0.0, self.name, 0), []
            encoded, result, texts, frames = decoded
            text = texts[0] if texts else ""
            confidence = float(np.exp(result.scores[0])) if result.scores else 0.0
            prompt = self._prompts.get(language, "")
            why = hallucination(text, result.no_speech_prob, confidence, prompt)
            prompted = True
            if why == "prompt" and prompt and self.retry_unprompted:
                # The prompt came back instead of the callee ("好的普通话。" for 好的，同意): decode this turn
                # again without a prompt, so nothing can bleed, and read that decode like any other.
                encoded, result, texts, frames = self._decode(pcm8k, language, prompted=False)
                text = texts[0] if texts else ""
                confidence = float(np.exp(result.scores[0])) if result.scores else 0.0
                prompted = False
                why = hallucination(text, result.no_speech_prob, confidence, prompt, prompted)
                self.retries += 1
            if why:
                return Transcript("", language, 0.0, self.name, int((time.monotonic() - started) * 1000)), []
            scores = (self._spot(encoded, result, texts, frames, language, len(pcm8k) / (2 * audio.LINE_RATE), prompted)
                      if spot else [])
        alternatives = tuple(dict.fromkeys(t for t in texts[1:] if t and t != text))
        spotted = tuple(s.phrase for s in scores if s.spotted)
        return Transcript(text, language, confidence, self.name, int((time.monotonic() - started) * 1000), alternatives,
                          spotted), scores

    def _spot(self, encoded, result, texts: list[str], frames: int, language: str,
              seconds: float, prompted: bool = True) -> list[phrase_score.PhraseScore]:
        """The grammar pass (phrase_score.py): opt-out phrases scored against this audio, if worth it.

        First the whole turn (short turns); then, only if that found nothing, the tail pass for a phrase
        said after other words. Both reuse this turn's encoder output."""
        if self._spotter is None or seconds > max(phrase_score.MAX_SECONDS, phrase_score.TAIL_MAX_SECONDS) \
                or not any(texts):
            return []
        from callbox.dialogs.intents import classify_hypotheses

        if classify_hypotheses(texts[0], texts[1:], language).name in _HEARD:
            return []  # already heard: nothing to add
        tok = self._tokenizer(language)
        best = [t for t in result.sequences_ids[0] if t < tok.eot] if result.sequences_ids else []
        start = self._prompt(language, prompted and self._spot_prompt)
        scores: list[phrase_score.PhraseScore] = []
        if seconds <= phrase_score.MAX_SECONDS:
            started = time.monotonic()
            scores = self._spotter.score(encoded, start, best, texts, frames, language)
            if scores:
                self.spot_ms.append(int((time.monotonic() - started) * 1000))
        if (self.spot_tail and language in phrase_score.TAIL_LANGUAGES and seconds <= phrase_score.TAIL_MAX_SECONDS
                and not any(s.spotted for s in scores)):
            started = time.monotonic()
            tail = self._spotter.score_tail(encoded, start, best, texts[0], frames, language)
            if tail:
                self.tail_ms.append(int((time.monotonic() - started) * 1000))
            scores += tail
        return scores


_PUNCT = re.compile(r"[\s,.!?;:，。！？；：、]+")


def hallucination(text: str, no_speech_prob: float, confidence: float, prompt: str = "", prompted: bool = True) -> str:
    """Why ``text`` is not something the callee said, or "" if it may be.

    "credits": subtitle credits Whisper says over noise; "prompt": the initial prompt came back, at low
    confidence (a piece of it, text made mostly of its character pairs, or a Chinese text holding three
    of its characters in a row: "好的普通话。" for 好的，同意); "no_speech". ``prompted=False``: the text
    was decoded without a prompt, so none can have come back.
    """
    low = text.lower()
    if any(h in low for h in _HALLUCINATIONS):
        return "credits"
    bare = _PUNCT.sub("", low)
    if prompted and bare and confidence < 0.5 and any(
        bare in _PUNCT.sub("", p.lower()) or _overlap(bare, p) or _prompt_run(bare, p) for p in _PROMPTS.values()
    ):
        return "prompt"
    # A long stretch of the hotword prompt is the prompt coming back, not the callee.
    if prompted and prompt and len(bare) >= 8 and bare in _PUNCT.sub("", prompt.lower()):
        return "prompt"
    return "no_speech" if no_speech_prob > 0.8 and confidence < 0.3 else ""


def _is_hallucination(text: str, no_speech_prob: float, confidence: float, prompt: str = "") -> bool:
    return bool(hallucination(text, no_speech_prob, confidence, prompt))


def _prompt_run(text: str, prompt: str) -> bool:
    """A Chinese text holding three characters of the prompt in a row (普通话, 电话录, 简体中)."""
    bare = _PUNCT.sub("", prompt.lower())
    return not text.isascii() and any(text[i : i + 3] in bare for i in range(len(text) - 2))


def _overlap(text: str, prompt: str) -> bool:
    """Most of a short text is runs of the prompt ("这次的电话录音", "普通话的"), not single shared characters.

    Counted on character pairs: 可以录音 shares 录音 with "…电话录音…" but is an answer to the recording
    question (one pair of three), while 这次的电话录音 is four pairs of six. Single characters are too
    common to count (以, 是, 的, 文 are in the prompt).
    """
    bare = _PUNCT.sub("", prompt.lower())
    pairs = [text[i : i + 2] for i in range(len(text) - 1)]
    return len(text) >= 2 and sum(pair in bare for pair in pairs) / len(pairs) >= 0.6


def dedupe(text: str) -> str:
    """'Yes. Yes.' → 'Yes.': Whisper base repeats very short replies."""
    parts = [p for p in re.split(r"(?<=[.!?。！？])\s*", text) if p]
    out: list[str] = []
    for part in parts:
        if not out or _PUNCT.sub("", part.lower()) != _PUNCT.sub("", out[-1].lower()):
            out.append(part)
    return " ".join(out) if text.isascii() else "".join(out)
