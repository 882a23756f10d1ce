"""Intents: opt-out in many phrasings, never confused with benign replies."""

import pytest

from callbox.dialogs.intents import classify

OPT_OUT = [
    ("不要再打了", "zh"), ("以后别给我打电话了", "zh"), ("别再打过来了", "zh"), ("请把我的号码从名单里删掉", "zh"),
    ("我要退订", "zh"), ("不想再接到你们的电话", "zh"), ("你们别再骚扰我了", "zh"),
    ("Stop calling me.", "en"), ("Please don't call me again", "en"), ("Take me off your list", "en"),
    ("Put me on the do not call list", "en"), ("Never call this number again", "en"), ("Unsubscribe", "en"),
    ("I don't want any more calls", "en"), ("Leave me alone", "en"),
]
BENIGN = [
    ("不要紧，你说吧", "zh"), ("没关系", "zh"), ("好的，我会准时到", "zh"), ("我在开会，晚点再打", "zh"),
    ("不用谢", "zh"), ("No problem.", "en"), ("Stop, let me get a pen.", "en"), ("Call me back later", "en"),
    ("Yes, I will be there", "en"), ("no worries", "en"), ("Sure, no problem", "en"),
]


@pytest.mark.parametrize("text,lang", OPT_OUT)
def test_opt_out_phrasings(text, lang):
    intent = classify(text, lang)
    assert intent.name == "opt_out" and intent.confidence >= 0.8, intent


@pytest.mark.parametrize("text,lang", BENIGN)
def test_benign_replies_are_not_opt_outs(text, lang):
    assert classify(text, lang).name != "opt_out"


@pytest.mark.parametrize(
    "text,lang,expected",
    [
        ("同意", "zh", "consent_yes"), ("不同意", "zh", "consent_no"), ("别录音", "zh", "stop_recording"),
        ("转人工", "zh", "handoff"), ("现在不方便，改天再说", "zh", "call_later"), ("你说什么？再说一遍", "zh", "repeat"),
        ("yes", "en", "consent_yes"), ("no", "en", "consent_no"), ("stop recording", "en", "stop_recording"),
        ("I want to talk to a real person", "en", "handoff"), ("I'm driving right now, call me later", "en", "call_later"),
        ("could you repeat that", "en", "repeat"), ("", "en", "unknown"),
    ],
)
def test_intents(text, lang, expected):
    assert classify(text, lang).name == expected


def test_bare_stop_is_an_unsure_opt_out():
    intent = classify("stop", "en")
    assert intent.name == "opt_out" and intent.confidence < 0.8


NEAR_MISSES = [
    # (text, lang, expected): words that look alarming but are not opt-outs, and vice versa
    ("不要紧的，我记得", "zh", "consent_yes"), ("别打扰医生了，我自己去", "zh", "unknown"), ("不要取消我的预约", "zh", "consent_yes"),
    ("以后不要改时间了", "zh", "consent_yes"), ("不可以", "zh", "consent_no"), ("你是哪里？", "zh", "question"),
    ("别挂，我有个问题", "zh", "question"), ("不用录", "zh", "stop_recording"), ("我想跟工作人员说", "zh", "handoff"),
    ("再打我就投诉了", "zh", "opt_out"), ("停止给我打电话", "zh", "opt_out"), ("把我从名单里去掉", "zh", "opt_out"),
    ("不要再打门", "zh", "opt_out"),  # an ASR near-miss of 不要再打了 still counts
    ("Don't worry, I'll be there.", "en", "consent_yes"), ("Don't hang up, I have a question.", "en", "question"),
    ("Can you call me again tomorrow?", "en", "call_later"), ("Don't stop, go on.", "en", "unknown"),
    ("Stop, that's the wrong day.", "en", "unknown"), ("Please don't cancel my appointment.", "en", "consent_yes"),
    ("Lose my number.", "en", "opt_out"), ("I don't want to be contacted again.", "en", "opt_out"),
    ("Don't ever call here again.", "en", "opt_out"), ("Put me through to reception.", "en", "handoff"),
]


@pytest.mark.parametrize("text,lang,expected", NEAR_MISSES)
def test_near_misses(text, lang, expected):
    assert classify(text, lang).name == expected


@pytest.mark.parametrize("text,lang", [("我不感兴趣", "zh"), ("别烦我", "zh"), ("Don't call me back.", "en"), ("no thanks", "en")])
def test_ambiguous_refusals_are_unsure_opt_outs(text, lang):
    intent = classify(text, lang)
    assert intent.name == "opt_out" and intent.confidence < 0.8


def test_every_labelled_text_in_the_evaluation_set():
    """The text classifier is exact on the labelled set; eval_voice.py measures what ASR adds."""
    import csv
    from pathlib import Path

    path = Path(__file__).parents[1] / "data" / "voice_eval.csv"
    rows = csv.DictReader(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    wrong = [(r["text"], r["intent"], classify(r["text"], r["lang"]).name) for r in rows
             if classify(r["text"], r["lang"]).name != r["intent"]]
    assert wrong == []


def test_every_spot_phrase_is_a_clear_opt_out():
    """The Whisper grammar pass (voice/phrase_score.py) forces these phrases; each must read as opt-out."""
    from callbox.dialogs.intents import SPOT_PHRASES

    for lang, phrases in SPOT_PHRASES.items():
        assert 10 <= len(phrases) <= 30, lang  # a small, general list, not the evaluation set
        for phrase in phrases:
            intent = classify(phrase, lang)
            assert intent.name == "opt_out" and intent.confidence >= 0.8, (lang, phrase, intent)


@pytest.mark.parametrize("text,spotted,lang", [
    ("We meet alone.", ("Leave me alone.",), "en"),
    ("And subscribe.", ("Unsubscribe.",), "en"),
    ("您再赶快来吧", ("别再打过来了",), "zh"),
])
def test_a_spotted_phrase_is_an_unsure_opt_out(text, spotted, lang):
    from callbox.dialogs.intents import CONFIRM_BELOW, classify_hypotheses

    assert classify(text, lang).name != "opt_out"
    intent = classify_hypotheses(text, (), lang, spotted)
    assert intent.name == "opt_out" and intent.confidence < CONFIRM_BELOW  # the dialog asks once


def test_spotted_evidence_never_overrides_a_clear_reading_or_creates_consent():
    from callbox.dialogs.intents import classify_hypotheses

    assert classify_hypotheses("Transfer me to a real person.", (), "en", ("Stop calling me.",)).name == "handoff"
    assert classify_hypotheses("Stop calling me.", (), "en", ()).confidence == 1.0
    # Only opt-out phrases count: a spotted phrase the rules do not read as opt-out changes nothing.
    assert classify_hypotheses("We meet alone.", (), "en", ("Yes.", "No problem.")).name != "opt_out"
    assert classify_hypotheses("嗯", (), "zh", ("好的",)).name != "opt_out"


def test_benign_idiom_survives_sound_alike_repair():
    """别大找医生 is repaired to 别打扰医生 ("don't disturb the doctor"): still benign, not an opt-out."""
    assert classify("别大找医生为。", "zh").name != "opt_out"
    assert classify("别大找我", "zh").name == "opt_out"


@pytest.mark.parametrize("text,expected", [
    ("停止播打这个后码。", "opt_out"),  # 播打 = bo da = 拨打 (same syllables)
    ("停止拨打我的电话", "opt_out"),
    ("博大精深", "unknown"),
    ("别博大了", "unknown"),  # 博大 is a word: not repaired to 拨打
    ("你们打错号码了", "unknown"),  # 别/不要 + 打错 is not "don't call"
    ("别打错了", "unknown"),
    ("不好意思，刚才没接到电话", "unknown"),  # the 好 of 不好意思 is no yes
    ("你们下午再打吧", "call_later"),
    ("我再开车。", "call_later"),  # Whisper's 再 for 在
    ("再忙也要来", "unknown"),
    ("别担心，我记着呢", "consent_yes"),
])
def test_zh_rules_added_with_the_november_rows(text, expected):
    assert classify(text, "zh").name == expected


@pytest.mark.parametrize("text", ["您好，哪位？", "哪位", "把我的预约改到上午", "我不要打针", "别打包", "图钉", "头顶疼",
                                  "别大老远跑过来了", "上次的药吃完了", "问题已经解决了", "明天上午我要做手术"])
def test_real_words_are_not_repaired_into_opt_outs(text):
    """哪位 sounds like 拉黑 and 上午 like 删除, but Whisper wrote a real word: it is what was said."""
    assert classify(text, "zh").name != "opt_out"


@pytest.mark.parametrize("text", ["别再扫扰我了", "我要退电", "别大找我", "不要再连信我"])
def test_misheard_non_words_are_still_repaired(text):
    intent = classify(text, "zh")
    assert intent.name == "opt_out" and intent.confidence == 1.0


def test_yes_words_inside_other_words_are_no_yes():
    for text in ["你好", "还是算了吧", "对不起，我在银行", "我在银行排队", "不好意思，刚才没接到电话"]:
        assert classify(text, "zh").name != "consent_yes", text
    for text in ["好的", "是的", "行", "对，就是这样", "还是可以的"]:
        assert classify(text, "zh").name == "consent_yes", text
    assert classify("算了", "zh").name == "consent_no"
