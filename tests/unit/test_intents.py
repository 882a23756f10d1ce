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
