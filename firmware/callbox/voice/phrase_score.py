"""Closed-vocabulary phrase scoring with the Whisper decoder: a grammar pass for opt-out phrases.

Why: free decoding hears "Leave me alone" as "We meet alone" and 别再打过来了 as 您再赶快来吧. Vosk-style
grammar mode (a closed list of phrases) is the robust answer for opt-out, but no zh/en Vosk model is
installable here. The Whisper equivalent: *force* each canonical opt-out phrase through the decoder
(CTranslate2 ``Whisper.align`` on the encoder output the free decode already computed) and read the
probability the model gives each of its tokens. If the audio supports the phrase about as well as it
supports what free decoding wrote, the phrase is *spotted*; the intent rules then raise an unsure
opt-out (the dialog asks once), never a written one.

Measured on the evaluation set (docs/voice.md): a misheard phrase typically has one very unlikely
token (Whisper is sure of its wrong first word, "We're" for "Quit") and every other token near
certain, while a benign reply forced into an opt-out phrase has several unlikely tokens. So a phrase's
score is the mean log-probability of its tokens *without its single worst one*, compared with the same
score of the free hypothesis.

Cost is bounded three ways: only utterances of at most :data:`MAX_SECONDS`; only phrases that already
*sound like* one of the n-best hypotheses (fuzzy substring match on letters for English, on toneless
pinyin for Chinese) and at most :data:`TOP_K` of them; and the decoder attends to the spoken frames
only. A reply that sounds like no opt-out phrase ("yes", "好的") costs nothing.

A phrase said after other words (麻烦帮我设置 + 免打扰) cannot be found that way: forced from the start of
the turn it must also explain the words before it. The *tail pass* (:meth:`PhraseSpotter.score_tail`,
Chinese only) scores phrases that sound like the end of the transcript on the encoder frames from where
the matched words start, found by Whisper's cross-attention alignment (issue #5, docs/voice.md).

The phrase list (:data:`callbox.dialogs.intents.SPOT_PHRASES`) is a short list of canonical ways to
say "stop calling me", written from how people say it, not taken from the evaluation set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

# Tuned on the tuning half of the evaluation set only (scripts/eval_voice.py --tune prints the sweep).
MAX_SECONDS = 4.0  # longer turns are sentences, not opt-out phrases; and the cost grows with length
TOP_K = 3  # phrases scored per utterance, at most
# A phrase is considered only if it sounds like part of a hypothesis: at most 40 % of its letters (en) or
# pinyin syllables (zh) differ. Set a priori (cost), not tuned.
MAX_DISTANCE = {"en": 0.4, "zh": 0.4}
# Spotted when both hold. One pair for both languages (the same model's token log-probabilities), tuned
# on the pooled tuning half: scripts/eval_voice.py --tune.
MIN_SCORE = -0.85  # the phrase's own score (mean token log-probability without its worst token)
MIN_MARGIN = -0.6  # phrase score minus the same score of the best free hypothesis
# Only second-guess a hypothesis Whisper itself was unsure of: its least likely token must be at most
# this log-probability. A clear "Keep calling me." or "No more questions." is not re-read as "Stop
# calling me." / "No more calls." (one different key word is exactly what the score above forgives).
MAX_DOUBT = -0.2

# The tail pass (:meth:`PhraseSpotter.score_tail`): a phrase said after other words ("麻烦帮我设置" + 免打扰)
# scores badly when forced from the start of the turn. Only for turns the whole-turn pass left unsure.
# Chinese only: in English no opt-out of the tuning half needs it (22 / 22 found without it), and a tail that differs
# from the transcript in one key word only adds questions ("Don't ever stop calling me." → "…quit calling me.").
TAIL_LANGUAGES = ("zh",)
TAIL_MAX_SECONDS = 6.0  # a prefix makes the turn longer than a bare phrase; a priori, not tuned
TAIL_BACK_FRAMES = 5  # encoder frames (20 ms each) kept before the aligned start of the matched words; a priori
# Spotted when the phrase, scored on the encoder frames from where the matched words start, holds up against
# the hypothesis' own tail on the same frames. Tuned on the tuning halves: scripts/eval_voice.py --tune.
TAIL_MIN_SCORE = -2.4
TAIL_MIN_MARGIN = -1.0


@dataclass(frozen=True)
class PhraseScore:
    phrase: str
    distance: float  # text distance to the nearest hypothesis (0 = contained in it)
    score: float  # mean token log-probability without the worst token
    margin: float  # score minus the same score of the best free hypothesis
    spotted: bool
    doubt: float = 0.0  # log-probability of the free hypothesis' least likely token
    tail: bool = False  # scored by the tail pass; ``phrase`` is then the hypothesis' prefix + the phrase


@dataclass(frozen=True)
class TailCandidate:
    """A phrase that sounds like the end of the hypothesis, after other words."""

    distance: float
    phrase: str
    prefix: str  # the hypothesis' words before the match, as written
    unit_start: int  # where the match starts in the hypothesis' units (pinyin syllables / letters)


def fixed_tokenizer(model_dir: Path | str):
    """The model's BPE tokenizer with the merge its tokenizer.json lacks restored.

    The shipped tokenizer.json has 49,999 of GPT-2's 50,000 merges: the first, "Ġ t", is missing, so
    " to" and " the" encode as " " + "to" — token sequences Whisper never produces, which the decoder
    scores as nearly impossible. Decoding is unaffected; encoding text for scoring is not.
    """
    import tokenizers

    text = (Path(model_dir) / "tokenizer.json").read_text(encoding="utf-8")
    # Inserted into the JSON text, not via json.loads/dumps: parsing the 2 MB file into ~150,000 Python
    # objects left +16 MB of heap in the daemon after a trim (the tokenizer itself is ~8 MB). Only the
    # first two merges are parsed, to see whether it is already there.
    match = re.search(r'"merges"\s*:\s*\[\s*', text)
    if match is None:
        raise ValueError(f"{model_dir}/tokenizer.json has no BPE merges")
    decoder = json.JSONDecoder()
    first, end = decoder.raw_decode(text, match.end())
    second, _ = decoder.raw_decode(text, re.compile(r"\s*,\s*").match(text, end).end())
    merge = "Ġ t" if isinstance(first, str) else ["Ġ", "t"]  # merges as "a b" strings or ["a", "b"] pairs
    if merge not in (first, second):
        text = text[:match.end()] + json.dumps(merge, ensure_ascii=False) + ", " + text[match.end():]
    return tokenizers.Tokenizer.from_str(text)


# --- how alike two texts sound -------------------------------------------------------------------

def _units_en(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]+", " ", text.lower()).split())


def _units_zh(text: str) -> tuple[tuple[str, str], ...]:
    from callbox.dialogs.phonetic import _available, _syllables

    han = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
    if not han:
        return ()
    if not _available():
        return tuple((ch, "") for ch in han)
    sounds = _syllables(han)
    return sounds if len(sounds) == len(han) else tuple((ch, "") for ch in han)


def _cost_zh(a: tuple[str, str], b: tuple[str, str]) -> float:
    from callbox.dialogs.phonetic import _similarity

    return 1.0 - _similarity(a, b)


def fuzzy_match(hypothesis: Sequence, phrase: Sequence, cost=None) -> tuple[float, int, int]:
    """Where ``phrase`` best matches a stretch of ``hypothesis``: (distance per phrase unit, start, end).

    0 = the phrase occurs in the hypothesis; 1 = nothing alike. Free start and end in the hypothesis
    (Sellers' algorithm), so "please stop calling me" contains "stop calling me".
    """
    m, n = len(phrase), len(hypothesis)
    if m == 0 or n == 0:
        return 1.0, 0, n
    previous = [0.0] * (n + 1)
    starts = list(range(n + 1))
    for i in range(1, m + 1):
        current = [float(i)] + [0.0] * n
        current_starts = [0] * (n + 1)
        p = phrase[i - 1]
        for j in range(1, n + 1):
            sub = (0.0 if p == hypothesis[j - 1] else 1.0) if cost is None else cost(p, hypothesis[j - 1])
            options = ((previous[j - 1] + sub, starts[j - 1]), (previous[j] + 1.0, starts[j]),
                       (current[j - 1] + 1.0, current_starts[j - 1]))
            current[j], current_starts[j] = min(options)
        previous, starts = current, current_starts
    end = min(range(n + 1), key=lambda j: (previous[j], -j))
    return min(1.0, previous[end] / m), starts[end], end


def fuzzy_distance(hypothesis: Sequence, phrase: Sequence, cost=None) -> float:
    """:func:`fuzzy_match`'s distance only, one numpy row at a time (the gate runs on every turn)."""
    m, n = len(phrase), len(hypothesis)
    if m == 0 or n == 0:
        return 1.0
    if cost is None:
        sub = np.array([[0.0 if p == h else 1.0 for h in hypothesis] for p in phrase])
    else:
        pairs: dict = {}
        sub = np.array([[pairs.setdefault((p, h), cost(p, h)) for h in hypothesis] for p in phrase])
    index = np.arange(n + 1, dtype=float)
    previous = np.zeros(n + 1)
    for i in range(1, m + 1):
        a = np.empty(n + 1)
        a[0] = i
        a[1:] = np.minimum(previous[1:] + 1.0, previous[:-1] + sub[i - 1])
        # insertions: current[j] = min over k <= j of a[k] + (j - k)
        previous = np.minimum.accumulate(a - index) + index
    return float(min(1.0, previous.min() / m))


@lru_cache(maxsize=8192)
def _units(text: str, language: str) -> tuple:
    return _units_zh(text) if language == "zh" else tuple(_units_en(text))


@lru_cache(maxsize=8192)
def _distance_units(hypothesis: tuple, phrase: tuple, language: str) -> float:
    return fuzzy_distance(hypothesis, phrase, _cost_zh if language == "zh" else None)


def distance(hypothesis: str, phrase: str, language: str) -> float:
    """How far ``phrase`` is from sounding like part of ``hypothesis`` (0 = contained, 1 = unlike)."""
    return _distance_units(_units(hypothesis, language), _units(phrase, language), language)


def tail_candidates(hypothesis: str, phrases: Sequence[str], language: str,
                    max_distance: float | None = None, top_k: int = TOP_K) -> list[TailCandidate]:
    """Phrases that sound like the *end* of ``hypothesis`` after at least one other word, nearest first.

    以后都别赶了 ends like 别打了 after 以后都; "I really want to lock down" ends like "Opt out". A phrase
    matching the whole hypothesis is the whole-turn pass's job and is not returned. The match may leave
    one character over at the end (了, 吧), or in English the rest of the last word.
    """
    limit = MAX_DISTANCE.get(language, 0.4) if max_distance is None else max_distance
    if language == "zh":
        units = _units_zh(hypothesis)
        text = "".join(ch for ch in hypothesis if "\u4e00" <= ch <= "\u9fff")
    else:
        units = text = _units_en(hypothesis)
    found = []
    key = _units(hypothesis, language)
    for phrase in phrases:
        if _distance_units(key, _units(phrase, language), language) > limit:
            continue  # the cached whole-turn check (numpy) rules most phrases out before the slower match
        if language == "zh":
            d, start, end = fuzzy_match(units, _units_zh(phrase), _cost_zh)
        else:
            d, start, end = fuzzy_match(text, _units_en(phrase))
            while start > 0 and text[start - 1] != " ":  # whole words only
                start -= 1
        ends = end >= len(units) - 1 if language == "zh" else " " not in text[end:].strip()  # ends in the last word
        if d <= limit and start >= 1 and ends and text[:start].strip():
            found.append(TailCandidate(round(d, 3), phrase, text[:start].strip(), start))
    found.sort(key=lambda c: (c.distance, c.phrase))
    return found[:top_k]


def _joined(candidate: TailCandidate, language: str) -> str:
    """The hypothesis' prefix + the phrase, as the intent rules will read it ("麻烦帮我设计免打扰")."""
    if language == "zh":
        return candidate.prefix + candidate.phrase
    return candidate.prefix + " " + candidate.phrase[0].lower() + candidate.phrase[1:]


def robust_score(logprobs: Sequence[float]) -> float:
    """Mean token log-probability without the single worst token (with 3 or more tokens)."""
    values = sorted(float(v) for v in logprobs)
    if not values:
        return -30.0
    if len(values) >= 3:
        values = values[1:]
    return float(np.mean(values))


class PhraseSpotter:
    """Scores canonical phrases against one utterance's encoder output. Call under the model's lock."""

    def __init__(self, model, model_dir: Path | str, phrases: dict[str, Sequence[str]] | None = None,
                 context: bool = False, tokenizer=None) -> None:
        if phrases is None:
            from callbox.dialogs.intents import SPOT_PHRASES

            phrases = SPOT_PHRASES
        self._model = model  # ctranslate2.models.Whisper
        self._tokenizer = tokenizer or fixed_tokenizer(model_dir)  # the recogniser shares its own
        self.phrases = {lang: tuple(p) for lang, p in phrases.items()}
        self._tokens: dict[tuple[str, str], list[int]] = {}
        # Score each phrase inside the rest of the hypothesis (in_context). Off: measured to forgive an
        # inserted key word ("Can you call me again" → "Can don't call me again"), see docs/voice.md.
        self.context = context

    def tokens(self, phrase: str, language: str) -> list[int]:
        key = (phrase, language)
        if key not in self._tokens:
            text = phrase if language == "zh" else " " + phrase
            self._tokens[key] = self._tokenizer.encode(text, add_special_tokens=False).ids
        return self._tokens[key]

    def candidates(self, hypotheses: Sequence[str], language: str,
                   max_distance: float | None = None, top_k: int = TOP_K) -> list[tuple[float, str]]:
        """The opt-out phrases that sound like part of one of the hypotheses, nearest first."""
        limit = MAX_DISTANCE.get(language, 0.4) if max_distance is None else max_distance
        found = []
        # n-best lists differ mostly in punctuation: one sound-alike check per distinct wording
        distinct = list(dict.fromkeys(_units(h, language) for h in hypotheses if h))
        for phrase in self.phrases.get(language, ()):
            units = _units(phrase, language)
            d = min((_distance_units(h, units, language) for h in distinct), default=1.0)
            if d <= limit:
                found.append((d, phrase))
        found.sort()
        return found[:top_k]

    def in_context(self, phrase: str, hypotheses: Sequence[str], language: str) -> tuple[list[int], int, int]:
        """The phrase put where it matches in the nearest hypothesis: (tokens, first, end phrase token).

        "I want to lock down." with "Opt out." becomes "I want to opt out."; 以后都别赶了 with 别打了
        becomes 以后都别打了. Only the phrase's own tokens are scored; the rest of the hypothesis is the
        context the decoder reads them in. A phrase matching the whole hypothesis is scored alone.
        """
        best = None
        for h in hypotheses:
            if not h:
                continue
            if language == "zh":
                units = _units_zh(h)
                text = "".join(ch for ch in h if "\u4e00" <= ch <= "\u9fff")
                d, start, end = fuzzy_match(units, _units_zh(phrase), _cost_zh)
            else:
                text = _units_en(h)
                d, start, end = fuzzy_match(text, _units_en(phrase))
                while start > 0 and text[start - 1] != " ":
                    start -= 1
                while end < len(text) and text[end] != " ":
                    end += 1
            if best is None or d < best[0]:
                best = (d, text[:start].strip(), text[end:].strip())
        if best is None or not (best[1] or best[2]):
            tokens = self.tokens(phrase, language)
            return tokens, 0, len(tokens)
        _, prefix, suffix = best
        enc = lambda t: self._tokenizer.encode(t, add_special_tokens=False).ids if t else []  # noqa: E731
        if language == "zh":
            pieces = [enc(prefix), self.tokens(phrase, language), enc(suffix)]
        else:
            core = phrase.rstrip(".!?")
            if prefix:
                prefix = prefix[0].upper() + prefix[1:]
                prefix = re.sub(r"\bi\b", "I", prefix)
                core = core[0].lower() + core[1:]
            pieces = [enc(" " + prefix if prefix else ""), enc(" " + core), enc((" " + suffix if suffix else "") + ".")]
        return pieces[0] + pieces[1] + pieces[2], len(pieces[0]), len(pieces[0]) + len(pieces[1])

    def align(self, encoded: np.ndarray, start: list[int], sequences: list[list[int]], num_frames: int) -> list[list[float]]:
        """Per-token log-probabilities of each sequence given the audio (one batched decoder pass)."""
        results = self._align_raw(encoded, start, sequences, num_frames)
        return [[float(np.log(max(p, 1e-12))) for p in r.text_token_probs] for r in results]

    def _align_raw(self, encoded: np.ndarray, start: list[int], sequences: list[list[int]], num_frames: int):
        import ctranslate2

        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(encoded, len(sequences), axis=0)))
        return self._model.align(batch, start, sequences, [num_frames] * len(sequences))

    def locate(self, encoded: np.ndarray, start: list[int], tokens: list[int], num_frames: int) -> tuple[list[int], list[float]]:
        """Where each token of ``tokens`` starts (encoder frame, 20 ms) by Whisper's cross-attention
        alignment (the same DTW faster-whisper uses for word timestamps), and its log-probability."""
        result = self._align_raw(encoded, start, [tokens], num_frames)[0]
        first = [-1] * len(tokens)
        for text_index, time_index in result.alignments:
            if 0 <= text_index < len(tokens) and (first[text_index] < 0 or time_index < first[text_index]):
                first[text_index] = int(time_index)
        for i in range(len(first) - 2, -1, -1):  # a token the path skipped starts where the next one does
            if first[i] < 0:
                first[i] = first[i + 1]
        return first, [float(np.log(max(p, 1e-12))) for p in result.text_token_probs]

    def token_at(self, tokens: list[int], unit_start: int, language: str) -> int:
        """The index of the hypothesis token holding unit ``unit_start`` (a Chinese character / a letter)."""
        for i in range(len(tokens)):
            text = self._tokenizer.decode(tokens[: i + 1])
            count = (sum("\u4e00" <= ch <= "\u9fff" for ch in text) if language == "zh" else len(_units_en(text)))
            if count > unit_start:
                return i
        return max(0, len(tokens) - 1)

    def score(self, encoded, start: list[int], hypothesis_tokens: list[int], hypotheses: Sequence[str],
              num_frames: int, language: str, candidates: list[tuple[float, str]] | None = None,
              min_score: float | None = None, min_margin: float | None = None,
              max_doubt: float | None = None) -> list[PhraseScore]:
        """Score the candidate phrases (default: :meth:`candidates`) against the best free hypothesis.

        ``encoded`` is the encoder output (batch 1, any frames); only the first ``num_frames // 2 + 50``
        encoder frames are attended to (the spoken part and 1 s after it).
        """
        if candidates is None:
            candidates = self.candidates(hypotheses, language)
        if not candidates:
            return []
        array = np.asarray(encoded)
        keep = min(array.shape[1], (num_frames + 1) // 2 + 50)
        array = array[:, :keep]
        placed = [self.in_context(p, hypotheses, language) if self.context else (self.tokens(p, language), 0, None)
                  for _, p in candidates]
        sequences = [tokens for tokens, _, _ in placed]
        if hypothesis_tokens:
            sequences.append(list(hypothesis_tokens))
        logprobs = self.align(array, start, sequences, min(num_frames, 2 * keep))
        reference = robust_score(logprobs[-1]) if hypothesis_tokens else -1.0
        doubt = min(logprobs[-1]) if hypothesis_tokens and logprobs[-1] else -30.0
        unsure = doubt <= (MAX_DOUBT if max_doubt is None else max_doubt)
        out = []
        for (d, phrase), (_, first, end), lp in zip(candidates, placed, logprobs):
            s = robust_score(lp[first:end])
            margin = s - reference
            spotted = (unsure and s >= (MIN_SCORE if min_score is None else min_score)
                       and margin >= (MIN_MARGIN if min_margin is None else min_margin))
            out.append(PhraseScore(phrase, round(d, 3), round(s, 3), round(margin, 3), spotted, round(doubt, 3)))
        out.sort(key=lambda p: (not p.spotted, -p.score))
        return out

    def score_tail(self, encoded, start: list[int], hypothesis_tokens: list[int], hypothesis: str, num_frames: int,
                   language: str, candidates: list[TailCandidate] | None = None, min_score: float | None = None,
                   min_margin: float | None = None, max_doubt: float | None = None) -> list[PhraseScore]:
        """The tail pass: phrases that sound like the end of the turn, scored on the audio from there on.

        Why: forced from the start of the turn, 免打扰 must also explain "麻烦帮我设置" and scores badly.
        Where the matched words start is read from the audio (the cross-attention alignment of the free
        hypothesis), not from its text; the decoder is then given only the encoder frames from there on
        (the cheap equivalent of cropping the audio: no second encoder pass) and scores each phrase
        against the hypothesis' own tail on the same frames. The misheard prefix is never part of the
        scored sequence — a free prefix taken from it forgave benign near-misses (docs/voice.md).

        A spotted tail comes back as the hypothesis' prefix + the phrase ("麻烦帮我设计免打扰"), so the
        intent rules read the whole sentence and a prefix that negates it (我不想 + 退订) is no opt-out.
        """
        if candidates is None:
            candidates = tail_candidates(hypothesis, self.phrases.get(language, ()), language)
        if not candidates or not hypothesis_tokens:
            return []
        array = np.asarray(encoded)
        keep = min(array.shape[1], (num_frames + 1) // 2 + 50)
        array = array[:, :keep]
        frames = min(num_frames, 2 * keep)
        starts, hyp_lp = self.locate(array, start, list(hypothesis_tokens), frames)
        doubt = min(hyp_lp) if hyp_lp else -30.0
        unsure = doubt <= (MAX_DOUBT if max_doubt is None else max_doubt)
        groups: dict[int, list[TailCandidate]] = {}  # by the hypothesis token where the match starts
        for candidate in candidates:
            groups.setdefault(self.token_at(list(hypothesis_tokens), candidate.unit_start, language), []).append(candidate)
        out = []
        for k, group in groups.items():  # one batched decoder pass per cut: the phrases and the tail they replace
            first = max(0, min(starts[k], keep - 1) - TAIL_BACK_FRAMES)
            sequences = [self.tokens(c.phrase, language) for c in group] + [list(hypothesis_tokens[k:])]
            logprobs = self.align(array[:, first:], start, sequences, frames - 2 * first)
            reference = robust_score(logprobs[-1])
            for candidate, phrase_lp in zip(group, logprobs):
                s = robust_score(phrase_lp)
                margin = s - reference
                spotted = (unsure and s >= (TAIL_MIN_SCORE if min_score is None else min_score)
                           and margin >= (TAIL_MIN_MARGIN if min_margin is None else min_margin))
                out.append(PhraseScore(_joined(candidate, language), candidate.distance, round(s, 3), round(margin, 3),
                                       spotted, round(doubt, 3), tail=True))
        out.sort(key=lambda p: (not p.spotted, -p.score))
        return out
