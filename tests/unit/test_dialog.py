"""The dialog state machine: prologue first and complete, recording only after yes, opt-out anywhere."""

import pytest

from callbox.compliance.rulepack import load_pack
from callbox.dialogs import dialog as d
from callbox.dialogs.intents import Intent, classify
from callbox.dialogs.script import load_script


def make(language="en", records=True):
    return d.OutboundDialog(
        load_pack("cn"), load_script("appointment_reminder"), language, "Sunshine Dental", "0 2 1",
        records=records, variables={"name": "Emily", "appointment": "tomorrow at 3 p.m."},
    )


def keys(actions):
    return [a.key for a in actions if isinstance(a, d.Say)]


def finish(dialog, actions):
    """Pretend every queued prompt played to the end; return the actions that followed."""
    out = []
    for key in keys(actions):
        out += dialog.said(key)
    return out


def test_prologue_identity_then_ai_disclosure_then_opt_out_hint_then_recording_question():
    dialog = make()
    actions = dialog.start()
    assert keys(actions) == ["identity", "ai_disclosure", "opt_out_hint", "recording_question"]
    assert "Sunshine Dental" in actions[0].text and "0 2 1" in actions[0].text
    assert "automated AI voice" in actions[1].text


def test_chinese_callee_hears_chinese_disclosure():
    actions = make("zh").start()
    assert "人工智能" in actions[1].text


def test_without_recording_no_question_and_script_starts():
    dialog = make(records=False)
    after = finish(dialog, dialog.start())
    assert "recording_question" not in keys(dialog.start())
    assert keys(after) == ["step"]
    assert dialog.facts.recording == "none"


def test_recording_starts_only_after_yes():
    dialog = make()
    finish(dialog, dialog.start())
    actions = dialog.dtmf("1")
    assert isinstance(actions[0], d.StartRecording)
    assert dialog.facts.recording == "on"


@pytest.mark.parametrize("answer", ["2", "speech-no", "silence", "speech-other"])
def test_anything_but_yes_leaves_recording_off(answer):
    dialog = make()
    finish(dialog, dialog.start())
    if answer == "2":
        actions = dialog.dtmf("2")
    elif answer == "silence":
        actions = dialog.silence()
    elif answer == "speech-no":
        actions = dialog.heard("No, I don't agree", classify("No, I don't agree", "en"))
    else:
        actions = dialog.heard("what is this about?", classify("what is this about?", "en"))
    assert not any(isinstance(a, d.StartRecording) for a in actions)
    assert dialog.facts.recording == "off"


@pytest.mark.parametrize("moment", ["prologue", "recording_question", "script", "goodbye"])
def test_opt_out_at_any_moment_writes_dnc_before_confirming(moment):
    dialog = make()
    actions = dialog.start()
    if moment != "prologue":
        finish(dialog, actions)
    if moment in ("script", "goodbye"):
        dialog.dtmf("2")
    if moment == "goodbye":
        dialog.heard("yes", classify("yes", "en"))
    actions = dialog.heard("stop calling me", classify("stop calling me", "en"))
    kinds = [type(a) for a in actions]
    assert kinds[:2] == [d.StopSpeaking, d.RecordOptOut]
    assert keys(actions) == ["opt_out_confirm"]
    assert dialog.facts.opt_out
    assert dialog.said("opt_out_confirm") == [d.Hangup()]


def test_dtmf_9_is_an_opt_out():
    dialog = make()
    dialog.start()
    actions = dialog.dtmf("9")
    assert any(isinstance(a, d.RecordOptOut) and a.source == "dtmf" for a in actions)


def test_unclear_opt_out_is_confirmed_once():
    dialog = make()
    finish(dialog, dialog.start())
    dialog.dtmf("2")
    actions = dialog.heard("stop", classify("stop", "en"))
    assert keys(actions) == ["opt_out_ask"] and not dialog.facts.opt_out
    actions = dialog.heard("yes", classify("yes", "en"))
    assert any(isinstance(a, d.RecordOptOut) for a in actions)


def test_unclear_opt_out_answered_no_resumes_the_question():
    dialog = make()
    finish(dialog, dialog.start())
    dialog.dtmf("2")
    dialog.heard("stop", classify("stop", "en"))
    actions = dialog.heard("no", classify("no", "en"))
    assert keys(actions) == ["step"] and not dialog.facts.opt_out


def test_interrupted_prologue_is_said_again_after_a_benign_interruption():
    dialog = make()
    actions = dialog.start()
    dialog.said("identity")
    dialog.interrupted("ai_disclosure")
    actions = dialog.heard("hello?", Intent("question", 0.7))
    assert keys(actions)[0] == "ai_disclosure"


def test_confirmed_appointment_ends_politely():
    dialog = make()
    finish(dialog, dialog.start())
    finish(dialog, dialog.dtmf("1"))
    actions = dialog.heard("Yes, I will be there.", classify("Yes, I will be there.", "en"))
    assert dialog.facts.outcome == "confirmed"
    assert keys(actions) == ["branch", "goodbye"]
    assert d.Hangup() in finish(dialog, actions)


def test_silence_reprompts_once_then_says_goodbye():
    dialog = make(records=False)
    finish(dialog, dialog.start())
    assert keys(dialog.silence()) == ["reprompt", "step"]
    assert keys(dialog.silence()) == ["goodbye"]
    assert dialog.facts.outcome == "no_response"


def test_transcript_marks_interrupted_and_drops_unplayed_prompts():
    dialog = make()
    actions = dialog.start()
    dialog.said("identity")
    dialog.dropped([a.turn for a in actions[1:]])
    texts = [t["text"] for t in dialog.transcript()]
    assert texts[1].endswith("[interrupted]") and len(texts) == 2
