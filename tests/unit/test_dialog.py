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


def test_speech_not_understood_in_the_prologue_is_answered_once_then_the_prologue_goes_on():
    dialog = make()
    dialog.start()
    dialog.said("identity")
    actions = dialog.not_understood()
    assert isinstance(actions[0], d.StopSpeaking)
    assert keys(actions) == ["reprompt", "ai_disclosure", "opt_out_hint", "recording_question"]
    assert dialog.not_understood() == []  # once per call: then the prompt just goes on
    assert {"who": "callee", "text": "[not understood]"} in dialog.transcript()
    assert not dialog.facts.opt_out


def test_speech_not_understood_after_a_question_is_an_unclear_answer():
    dialog = make(records=False)
    finish(dialog, dialog.start())
    assert keys(dialog.not_understood()) == ["reprompt", "step"]
    assert keys(dialog.not_understood()) == ["goodbye"]
    assert dialog.facts.outcome == "not_understood"


def test_a_person_asked_for_during_the_prologue_comes_right_after_the_disclosure():
    dialog = make(records=True)
    dialog.start()
    dialog.said("identity")
    actions = dialog.heard("Can I talk to a real person?", Intent("handoff", 1.0))
    assert keys(actions) == ["ai_disclosure", "opt_out_hint"]  # no recording question: nothing to record
    after = finish(dialog, actions)
    assert keys(after) == ["handoff_transfer"] and dialog.facts.outcome == "handoff"
    assert d.Transfer(dialog.transfer_to) in finish(dialog, after)
    assert dialog.facts.recording == "off"


def test_a_person_asked_for_at_the_recording_question_is_handed_off_unrecorded():
    dialog = make(records=True)
    finish(dialog, dialog.start())
    assert dialog.state == "await_recording"
    actions = dialog.dtmf("0")
    assert keys(actions) == ["handoff_transfer"] and dialog.facts.recording == "off"
    assert not any(isinstance(a, d.StartRecording) for a in actions)


@pytest.mark.parametrize("handoff, outcome, owes", [
    ("", "handoff", True),  # a script branch that promises a call back
    ("callback", "handoff", True),  # no transfer on this line
    ("transferred", "handoff", False),
    ("", "confirmed", False),
])
def test_who_is_owed_a_callback(handoff, outcome, owes):
    assert d.CallFacts(handoff=handoff, outcome=outcome).owes_callback is owes


@pytest.mark.parametrize("answer, written", [
    ("Yes.", True), ("Yes, stop calling me.", True), ("No problem.", False), ("Don't worry about it.", False),
    ("No.", False),
])
def test_the_opt_out_question_is_answered_by_a_clear_yes_only(answer, written):
    dialog = make(records=False)
    finish(dialog, dialog.start())
    actions = dialog.heard("Stop.", Intent("opt_out", 0.6))
    assert keys(actions) == ["opt_out_ask"]
    actions = dialog.heard(answer, classify(answer, "en"))
    assert dialog.facts.opt_out is written
    assert any(isinstance(a, d.RecordOptOut) for a in actions) is written


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


# -- script runner: collect, transfer, hang up; DTMF 0 = a person everywhere ----------------------
from callbox.dialogs.script import parse_script  # noqa: E402

RUNNER = """
id = "runner"
purpose = "service"
languages = ["en"]
transfer_to = "201"

[[steps]]
id = "menu"
say.en = "Press a number from 1 to 8 for the department."
collect = { digits = 1, var = "dept" }
next = "confirm"

[[steps]]
id = "confirm"
say.en = "You chose {dept}. Is that right?"
[steps.on.consent_yes]
say.en = "Thank you."
outcome = "chosen"
next = "bye"
[steps.on.consent_no]
outcome = "person"
transfer = true

[[steps]]
id = "bye"
say.en = "We will be in touch. Goodbye."
hangup = true
"""


def runner(can_transfer=True):
    dialog = d.OutboundDialog(load_pack("cn"), parse_script(RUNNER), "en", "Clinic", "0 2 1", records=False,
                              variables={"name": "Emily"})
    dialog.can_transfer = can_transfer
    finish(dialog, dialog.start())
    return dialog


def test_collect_digits_then_branch_then_hangup_step():
    dialog = runner()
    assert dialog.state == "collect"
    actions = dialog.dtmf("3")
    assert keys(actions) == ["step"] and "You chose 3" in actions[-1].text
    assert dialog.facts.collected == {"dept": "3"}
    actions = dialog.heard("yes", classify("yes", "en"))
    assert keys(actions) == ["branch", "step_end"] and dialog.facts.outcome == "chosen"
    assert dialog.said("step_end") == [d.Hangup()]


def test_nine_and_zero_keep_their_meaning_inside_a_collect_step():
    dialog = runner()
    assert any(isinstance(a, d.RecordOptOut) for a in dialog.dtmf("9"))
    dialog = runner()
    actions = dialog.dtmf("0")
    assert keys(actions) == ["handoff_transfer"]
    assert dialog.said("handoff_transfer") == [d.Transfer("201")]


def test_branch_transfer_on_sip_and_callback_task_on_gsm():
    dialog = runner()
    dialog.dtmf("4")
    actions = dialog.heard("no", classify("no", "en"))
    assert keys(actions) == ["handoff_transfer"] and dialog.facts.handoff == "transferred"
    dialog = runner(can_transfer=False)
    dialog.dtmf("4")
    actions = dialog.heard("no", classify("no", "en"))
    assert keys(actions) == ["handoff_callback"] and dialog.facts.handoff == "callback"
    assert dialog.said("handoff_callback") == [d.Hangup()]


def test_spoken_request_for_a_person_anywhere_is_a_handoff():
    dialog = make()
    dialog.start()
    actions = dialog.heard("I want to talk to a real person", classify("I want to talk to a real person", "en"))
    # during the prologue the disclosure is said (again) first: nothing skips it
    assert keys(actions)[0] == "identity" and not any(isinstance(a, d.Transfer) for a in actions)
    dialog = make(records=False)
    finish(dialog, dialog.start())
    actions = dialog.dtmf("0")  # the reminder script has its own handoff branch: a staff callback
    assert dialog.facts.outcome == "handoff"


def test_collect_silence_reprompts_once_then_goodbye():
    dialog = runner()
    assert keys(dialog.silence()) == ["reprompt", "step"]
    assert keys(dialog.silence()) == ["goodbye"]


def test_script_texts_are_known_ahead_and_short_answers_are_flagged():
    dialog = make(records=True)
    texts = dialog.upcoming_texts()
    assert any("Emily" in t for t in texts) and any("confirmed" in t for t in texts)
    finish(dialog, dialog.start())
    assert dialog.expects_short_answer  # the recording question


# -- a second reading of a turn already answered (dialog.heard_late; session: TwoLookRecognizer) -------
LATE_OPT_OUT = Intent("opt_out", 0.6, "stop calling")


def test_a_late_reading_that_may_be_an_opt_out_is_asked_about_once_and_never_written():
    dialog = make()
    finish(dialog, dialog.start())
    dialog.heard("Yes.", classify("Yes.", "en"))  # the first reading: recording on
    actions = dialog.heard_late("Yes.", LATE_OPT_OUT)
    assert isinstance(actions[0], d.StopSpeaking) and keys(actions) == ["opt_out_ask"]
    assert not dialog.facts.opt_out and any("[heard again" in t["text"] for t in dialog.facts.transcript)
    assert dialog.heard_late("Yes.", LATE_OPT_OUT) == []  # once per call
    actions = dialog.heard("Yes.", classify("Yes.", "en"))
    assert any(isinstance(a, d.RecordOptOut) for a in actions) and dialog.facts.opt_out


def test_a_late_reading_over_the_goodbye_asks_then_says_goodbye_again():
    dialog = make()
    finish(dialog, dialog.start())
    finish(dialog, dialog.dtmf("1"))
    dialog.heard("Yes, I will be there.", classify("Yes, I will be there.", "en"))  # branch + goodbye playing
    assert keys(dialog.heard_late("Yes, I will be there.", LATE_OPT_OUT)) == ["opt_out_ask"]
    actions = dialog.heard("No.", classify("No.", "en"))
    assert keys(actions) == ["goodbye"] and not dialog.facts.opt_out
    assert d.Hangup() in finish(dialog, actions)


@pytest.mark.parametrize("intent", [Intent("consent_yes", 0.9, "yes"), Intent("unknown", 0.3)])
def test_a_late_reading_that_is_no_opt_out_changes_nothing(intent):
    dialog = make()
    finish(dialog, dialog.start())
    assert dialog.heard_late("Hello?", intent) == [] and dialog.state == "await_recording"


def test_no_late_question_after_an_opt_out_or_a_handoff():
    dialog = make()
    finish(dialog, dialog.start())
    dialog.dtmf("9")
    assert dialog.heard_late("Yes.", LATE_OPT_OUT) == []
    dialog = make()
    finish(dialog, dialog.start())
    dialog.dtmf("0")
    assert dialog.heard_late("Yes.", LATE_OPT_OUT) == []
