"""pocketsphinx with its bundled US English model: tiny and fast, English only.

Two modes:
- open vocabulary (the bundled trigram LM): poor on telephone audio (measured in docs/voice.md);
- grammar: a JSGF of the expected phrases inside a loop of common filler words, so that words outside
  the phrases are absorbed instead of being forced into "yes" or "stop calling me".

The bundled model is 16 kHz; line audio is upsampled (soxr), so the band above 4 kHz is empty — part
of why accuracy on the phone is lower than on the desk.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

from callbox.voice import audio, models
from callbox.voice.asr import Transcript

FILLERS = (
    "a an the i i'm you it is are was be to of and or but so um uh oh well please just now that this "
    "what okay ok hello hi sorry can could would will me my we our your thanks thank again right here there "
    "get let wait hold on pen minute second"
).split()


def _jsgf(phrases: Sequence[str], vocabulary: set[str]) -> str:
    clean = []
    for phrase in phrases:
        words = [w for w in re.sub(r"[^a-z' ]", " ", phrase.lower()).split() if w in vocabulary]
        if words:
            clean.append(" ".join(words))
    fillers = [w for w in FILLERS if w in vocabulary]
    alternatives = " | ".join(dict.fromkeys(clean)) or "<filler>"
    return (
        "#JSGF V1.0;\ngrammar callbox;\n"
        f"<filler> = {' | '.join(fillers)};\n"
        f"public <utt> = <filler>* [{alternatives}] <filler>*;\n"
    )


class SphinxStream:
    def __init__(self, owner: "SphinxRecognizer", language: str, grammar: Sequence[str] | None) -> None:
        self._owner = owner
        self._language = language
        self._grammar = grammar
        self._pcm = bytearray()

    def accept(self, pcm8k: bytes) -> str:
        self._pcm.extend(pcm8k)
        return ""

    def finish(self) -> Transcript:
        return self._owner.transcribe(bytes(self._pcm), self._language, self._grammar)


class SphinxRecognizer:
    name = "sphinx"

    def __init__(self, grammar: Sequence[str] | None = None) -> None:
        from pocketsphinx import Config, Decoder

        root = models.sphinx_model_en()
        self._dict = root / "cmudict-en-us.dict"
        self._vocabulary = {line.split(" ", 1)[0] for line in self._dict.read_text(encoding="utf-8").splitlines()}
        base = dict(hmm=str(root / "en-us"), dict=str(self._dict), samprate=16000, loglevel="FATAL")
        self._lm = Decoder(Config(**base, lm=str(root / "en-us.lm.bin")))
        self._base = base
        self._grammars: dict[tuple[str, ...], object] = {}
        self._default_grammar = tuple(grammar) if grammar else None
        self._lock = threading.Lock()
        if grammar:
            self.name = "sphinx-grammar"

    def _decoder(self, grammar: Sequence[str] | None):
        from pocketsphinx import Config, Decoder

        if not grammar:
            return self._lm
        key = tuple(grammar)
        if key not in self._grammars:
            path = Path(tempfile.mkstemp(suffix=".jsgf")[1])
            path.write_text(_jsgf(grammar, self._vocabulary), encoding="utf-8")
            self._grammars[key] = Decoder(Config(**self._base, jsgf=str(path)))
            path.unlink()
        return self._grammars[key]

    def stream(self, language: str, grammar: Sequence[str] | None = None) -> SphinxStream:
        return SphinxStream(self, language, grammar or self._default_grammar)

    def transcribe(self, pcm8k: bytes, language: str, grammar: Sequence[str] | None = None) -> Transcript:
        started = time.monotonic()
        samples = audio.resample(audio.to_float(pcm8k), audio.LINE_RATE, 16000)
        with self._lock:
            decoder = self._decoder(grammar or self._default_grammar)
            decoder.start_utt()
            decoder.process_raw(audio.to_pcm16(samples), full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        text = hyp.hypstr if hyp else ""
        confidence = 0.0
        if hyp:
            confidence = float(min(1.0, max(0.0, decoder.get_logmath().exp(hyp.prob)))) if hyp.prob else 0.5
        return Transcript(text, "en", confidence, self.name, int((time.monotonic() - started) * 1000))
