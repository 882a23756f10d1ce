"""The evaluation subset (rows with subset=1 in tests/data/voice_eval.csv), end to end: generated
telephone-band audio → Whisper → intent rules, as in a call.

Asserted: no benign reply is written to the DNC list without asking (the goal is ≤ 1 %), and opt-out
recall stays at or above a floor under what Whisper base measured on the subset (the goal is 98 %; the
full set is at zh 98.1 % / en 100 % since the second look — docs/voice.md, "The goals, honestly", says how
narrowly and why). scripts/eval_voice.py runs the full set.
"""

import pytest

from callbox.dialogs.intents import classify_hypotheses
from callbox.voice import audio, evalset
from callbox.voice.metrics import Scores

RECALL_FLOOR = {"zh": 0.75, "en": 0.75}  # measured 1.0 / 1.0 on this subset (8 opt-outs each); full set 0.98 / 1.0


@pytest.fixture(scope="module")
def scores(whisper):
    items = evalset.load(subset=True)
    voices = evalset.Voices()
    by_language = {"zh": Scores("zh"), "en": Scores("en")}
    for item in items:
        pcm = evalset.render(item, voices)
        transcript = whisper.transcribe(pcm, item.lang)
        intent = classify_hypotheses(transcript.text, transcript.alternatives, item.lang, transcript.spotted)
        by_language[item.lang].add(item.group, item.intent, item.text, transcript.text, intent.name, intent.confidence,
                                   transcript.elapsed_ms, audio.duration_ms(pcm), item.id)
    for s in by_language.values():
        print(s.summary(), *s.misses, sep="\n  ")
    return by_language


@pytest.mark.parametrize("language", ["zh", "en"])
def test_no_false_opt_out_on_benign_speech(scores, language):
    summary = scores[language].summary()
    assert summary["false_opt_out_rate"] <= 0.01, scores[language].misses


@pytest.mark.parametrize("language", ["zh", "en"])
def test_opt_out_recall_floor(scores, language):
    summary = scores[language].summary()
    assert summary["opt_out_recall"] >= RECALL_FLOOR[language], scores[language].misses
