"""Pure scoring for the voice evaluation: error rates and the opt-out/consent figures we promise.

Definitions (docs/voice.md):
- opt-out recall: opt-out utterances whose intent is opt_out (at any confidence: an unsure one is
  confirmed once by the dialog, and that confirmation is itself an opt-out);
- strict recall: the same at confidence ≥ CONFIRM_BELOW (DNC written without asking);
- false opt-out rate: benign utterances written to DNC without asking (opt_out ≥ CONFIRM_BELOW);
  ``asked`` counts benign utterances that only triggered the one confirmation question;
- consent accuracy: consent answers whose intent equals the label;
- CER for Chinese (characters, punctuation and spaces removed), WER for English (lower case words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from callbox.dialogs.intents import CONFIRM_BELOW

_PUNCT = re.compile(r"[^\w\s']|_", re.UNICODE)


def edit_distance(a: list[str], b: list[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def tokens(text: str, language: str) -> list[str]:
    clean = _PUNCT.sub(" ", text.lower())
    if language == "zh":
        return [ch for ch in clean if not ch.isspace()]
    return clean.split()


def error_rate(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(edits, reference length): CER units for zh, words for en."""
    ref, hyp = tokens(reference, language), tokens(hypothesis, language)
    return edit_distance(ref, hyp), len(ref)


@dataclass
class Scores:
    language: str
    n: int = 0
    opt_out_total: int = 0
    opt_out_hit: int = 0
    opt_out_strict: int = 0
    benign_total: int = 0
    benign_false_opt_out: int = 0
    benign_asked: int = 0
    consent_total: int = 0
    consent_ok: int = 0
    handoff_total: int = 0
    handoff_ok: int = 0
    intent_ok: int = 0
    edits: int = 0
    ref_len: int = 0
    asr_ms: list[int] = field(default_factory=list)
    audio_ms: list[int] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def add(self, group: str, expected: str, text_ref: str, text_hyp: str, intent: str, confidence: float,
            asr_ms: int = 0, audio_ms: int = 0, item_id: str = "") -> None:
        self.n += 1
        edits, length = error_rate(text_ref, text_hyp, self.language)
        self.edits += edits
        self.ref_len += length
        self.asr_ms.append(asr_ms)
        self.audio_ms.append(audio_ms)
        self.intent_ok += intent == expected
        strict_opt_out = intent == "opt_out" and confidence >= CONFIRM_BELOW
        if group == "opt_out":
            self.opt_out_total += 1
            self.opt_out_hit += intent == "opt_out"
            self.opt_out_strict += strict_opt_out
            if intent != "opt_out":
                self.misses.append(f"{item_id} missed opt-out: {text_ref!r} heard {text_hyp!r} → {intent}")
        else:
            if group == "benign":
                self.benign_total += 1
            self.benign_false_opt_out += strict_opt_out and group == "benign"
            self.benign_asked += intent == "opt_out" and not strict_opt_out and group == "benign"
            if intent == "opt_out":
                self.misses.append(f"{item_id} false opt-out: {text_ref!r} heard {text_hyp!r} ({confidence:.1f})")
        if group == "consent":
            self.consent_total += 1
            self.consent_ok += intent == expected
            if intent != expected:
                self.misses.append(f"{item_id} consent: {text_ref!r} heard {text_hyp!r} → {intent}")
        if group == "handoff":
            self.handoff_total += 1
            self.handoff_ok += intent == "handoff"

    @staticmethod
    def _rate(a: int, b: int) -> float:
        return a / b if b else 0.0

    def summary(self) -> dict:
        asr = sorted(self.asr_ms)
        return {
            "language": self.language,
            "n": self.n,
            "opt_out_recall": self._rate(self.opt_out_hit, self.opt_out_total),
            "opt_out_recall_strict": self._rate(self.opt_out_strict, self.opt_out_total),
            "false_opt_out_rate": self._rate(self.benign_false_opt_out, self.benign_total),
            "benign_asked_rate": self._rate(self.benign_asked, self.benign_total),
            "consent_accuracy": self._rate(self.consent_ok, self.consent_total),
            "handoff_accuracy": self._rate(self.handoff_ok, self.handoff_total),
            "intent_accuracy": self._rate(self.intent_ok, self.n),
            "error_rate": self._rate(self.edits, self.ref_len),
            "error_unit": "CER" if self.language == "zh" else "WER",
            "asr_ms_p50": asr[len(asr) // 2] if asr else 0,
            "asr_ms_p95": asr[min(len(asr) - 1, int(len(asr) * 0.95))] if asr else 0,
            "rtf": self._rate(sum(self.asr_ms), sum(self.audio_ms)),
        }
