"""The tail pass of the Whisper grammar pass (voice/phrase_score.py: score_tail): an opt-out phrase said
after other words ("麻烦帮我设置" + 免打扰) is scored on the audio from where the matched words start.

Pure checks of which phrases qualify and of the rule (with the decoder replaced by fixed numbers), then
real telephone-band audio from the tuning half of the labelled set (evalset.render, cached).
"""

from pathlib import Path

import numpy as np
import pytest

from callbox.dialogs.intents import CONFIRM_BELOW, classify, classify_hypotheses
from callbox.voice import evalset, models, phrase_score

STRESS = Path(__file__).parents[1] / "data" / "voice_stress.csv"


def test_tail_candidates_are_phrases_ending_the_turn_after_other_words():
    found = phrase_score.tail_candidates("麻烦帮我设计面大阳。", ("免打扰", "别打了"), "zh")
    assert [(c.phrase, c.prefix) for c in found] == [("免打扰", "麻烦帮我设计")]
    assert [c.prefix for c in phrase_score.tail_candidates("以后都别赶了。", ("别打了",), "zh")] == ["以后都"]
    # the whole turn is the whole-turn pass's job; a phrase in the middle is not a tail; nothing alike
    assert phrase_score.tail_candidates("别赶了。", ("别打了",), "zh") == []
    assert phrase_score.tail_candidates("免打扰一下我问个问题", ("免打扰",), "zh") == []
    assert phrase_score.tail_candidates("好的，谢谢。", ("别打了", "免打扰"), "zh") == []
    en = phrase_score.tail_candidates("Okay, so we're calling me.", ("Quit calling me.", "Leave me alone."), "en")
    assert [(c.phrase, c.prefix) for c in en] == [("Quit calling me.", "okay so")]
    assert phrase_score.tail_candidates("We're calling me.", ("Quit calling me.",), "en") == []


class _Decoder:
    """Stands in for the decoder: fixed alignment and log-probabilities; records what it was given."""

    def __init__(self, starts, phrase_lp, tail_lp, hyp_lp):
        self.starts, self.phrase_lp, self.tail_lp, self.hyp_lp = starts, phrase_lp, tail_lp, hyp_lp
        self.frames_seen = []

    def locate(self, encoded, start, tokens, frames):
        return self.starts, self.hyp_lp

    def align(self, encoded, start, sequences, frames):
        self.frames_seen.append(encoded.shape[1])
        return [self.phrase_lp] * (len(sequences) - 1) + [self.tail_lp]


@pytest.mark.parametrize("phrase_lp,tail_lp,hyp_lp,spotted", [
    ([-4.0, -0.3, -0.2, -0.1], [-0.3, -0.2, -0.4], [-0.1, -0.2, -2.3, -0.4], True),  # one misheard token forgiven
    ([-4.0, -2.9, -2.5, -3.0], [-0.3, -0.2, -0.4], [-0.1, -0.2, -2.3, -0.4], False),  # the phrase is not in the audio
    ([-4.0, -0.3, -0.2, -0.1], [-0.01, -0.02, -0.01], [-0.01, -0.02, -0.05, -0.01], False),  # Whisper was sure
])
def test_tail_rule(phrase_lp, tail_lp, hyp_lp, spotted):
    """The phrase is scored only on the encoder frames from the aligned start of the matched words on, against
    the hypothesis' own tail on the same frames; a spotted tail is the prefix + the phrase, for the rules."""
    spotter = phrase_score.PhraseSpotter(None, models.whisper_base())
    tokens = spotter._tokenizer.encode("麻烦帮我设计面大阳。", add_special_tokens=False).ids
    k = spotter.token_at(tokens, 6, "zh")  # the token holding 面
    starts = [10 * i for i in range(len(tokens))]
    decoder = _Decoder(starts, phrase_lp, tail_lp, hyp_lp)
    spotter.locate, spotter.align = decoder.locate, decoder.align
    scores = spotter.score_tail(np.zeros((1, 500, 8), dtype=np.float32), [1], tokens, "麻烦帮我设计面大阳。", 300, "zh",
                                candidates=phrase_score.tail_candidates("麻烦帮我设计面大阳。", ("免打扰",), "zh"))
    assert [s.spotted for s in scores] == [spotted], scores
    assert scores[0].tail and scores[0].phrase == "麻烦帮我设计免打扰"
    keep = min(500, (300 + 1) // 2 + 50)
    assert decoder.frames_seen == [keep - (starts[k] - phrase_score.TAIL_BACK_FRAMES)]


def test_token_at_maps_characters_to_tokens():
    spotter = phrase_score.PhraseSpotter(None, models.whisper_base())
    tokens = spotter._tokenizer.encode("以后都别赶了", add_special_tokens=False).ids
    k = spotter.token_at(tokens, 3, "zh")
    assert "别" in spotter._tokenizer.decode(tokens[: k + 1]) and "别" not in spotter._tokenizer.decode(tokens[:k])


@pytest.fixture(scope="module")
def labelled():
    items = {item.id: item for item in evalset.load() + evalset.load(STRESS)}
    voices = evalset.Voices()
    return lambda item_id: (items[item_id], evalset.render(items[item_id], voices))


def test_opt_out_after_other_words_is_found_by_the_tail_pass(whisper, labelled):
    """zh-245 (tuning half): 麻烦帮我设置免打扰 heard 麻烦帮我设计面大阳; forced from the start of the turn
    免打扰 scores badly, scored from where 面大阳 starts it holds up: an unsure opt-out (asked once)."""
    item, pcm = labelled("zh-245")
    transcript, scores = whisper.transcribe_scored(pcm, item.lang)
    assert classify_hypotheses(transcript.text, transcript.alternatives, item.lang).name != "opt_out", transcript
    assert any(s.tail and s.spotted for s in scores), scores
    intent = classify_hypotheses(transcript.text, transcript.alternatives, item.lang, transcript.spotted)
    assert intent.name == "opt_out" and intent.confidence < CONFIRM_BELOW


@pytest.mark.parametrize("item_id", ["zh-s14", "zh-268", "zh-275"])
def test_benign_tails_are_not_spotted(whisper, labelled, item_id):
    """不要忘了给我打电话 (ends like 别给我打电话), 医生说我不用再打针了, 你们的电话我接到了: tail candidates,
    not opt-outs."""
    item, pcm = labelled(item_id)
    transcript, scores = whisper.transcribe_scored(pcm, item.lang)
    assert not any(s.tail and s.spotted for s in scores), scores
    assert classify(transcript.text, item.lang).name != "opt_out"


def test_no_tail_pass_in_english(whisper, labelled):
    """en-s28 "Don't ever stop calling me." (stress set): heard right, a tail "…quit calling me." would read as an
    opt-out and cost a question; English has no opt-out the tail pass is needed for (phrase_score.TAIL_LANGUAGES)."""
    item, pcm = labelled("en-s28")
    transcript, scores = whisper.transcribe_scored(pcm, item.lang)
    assert not any(s.tail for s in scores), scores
    assert classify_hypotheses(transcript.text, transcript.alternatives, item.lang, transcript.spotted).name != "opt_out"
