"""Spoken complaints feed risk control; ordinary replies and plain opt-outs are not complaints."""

import pytest

from callbox.compliance.complaints import call_had_complaint, is_complaint


@pytest.mark.parametrize("text", ["你们这是骚扰电话，我要投诉", "再打我就举报到12321", "This is harassment.",
                                  "I'm going to report you", "I will file a complaint"])
def test_complaints(text):
    assert is_complaint(text)


@pytest.mark.parametrize("text", ["不要再打了", "好的，我会准时到", "Stop calling me.", "Yes, I will be there", ""])
def test_not_complaints(text):
    assert not is_complaint(text)


def test_only_the_callee_complains():
    transcript = [{"who": "box", "text": "如需投诉请拨打…"}, {"who": "callee", "text": "好的"}]
    assert not call_had_complaint(transcript)
    transcript.append({"who": "callee", "text": "你们天天打，这是骚扰电话"})
    assert call_had_complaint(transcript)
