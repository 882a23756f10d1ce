"""Plain words for the codes the firmware stores: gate reasons, outcomes, states, roles, purposes.

Why one table: staff must read "this person asked never to be called again", not ``dnc``. Every code
the gate (``callbox.compliance.rules``) and the call session can produce has a sentence here, in
English as the message id and in Chinese through the translation catalogue. Unknown codes are shown
as they are, so a new code is visible rather than hidden.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

REASONS = {
    "invalid_number": _l("The phone number is not valid."),
    "not_in_contacts": _l("The number is not in the contact list, so there is no consent to call it."),
    "dnc": _l("The person is on the do-not-call list and must never be called."),
    "no_consent": _l("There is no consent on record for this person."),
    "purpose_not_consented": _l("The person's consent does not cover the purpose of this call."),
    "consent_withdrawn": _l("The person withdrew their consent."),
    "consent_expired": _l("The person's consent has expired."),
    "minor_without_guardian": _l("The person may be a minor and there is no guardian consent."),
    "line_not_permitted": _l("This kind of call is not allowed on this phone line."),
    "campaign_paused": _l("The campaign is paused."),
    "quiet_hours": _l("It is outside the allowed calling hours for this person; the box will try later."),
    "frequency_cap": _l("The person was already called as often as the rules allow; the box will try later."),
    "script_not_approved": _l("The script was changed after it was approved; it must be approved again."),
    "script_lint": _l("The script says something the rules do not allow."),
    "blind_dialing": _l("The list contains runs of consecutive numbers, which looks like dialing number ranges."),
}

OUTCOMES = {
    "confirmed": _l("Confirmed"),
    "reschedule_requested": _l("Asked to reschedule"),
    "call_later": _l("Asked to be called later"),
    "handoff": _l("Asked for a staff member"),
    "opt_out": _l("Asked not to be called again"),
    "declined": _l("Declined"),
    "no_answer": _l("No answer"),
    "busy": _l("Busy"),
    "failed": _l("Call failed"),
    "completed": _l("Completed"),
    "rejected": _l("Rejected by the network"),
    "pending": _l("Not finished"),
    "": _l("Unknown"),
}

DECISIONS = {
    "allowed": _l("Allowed"),
    "denied": _l("Refused"),
    "deferred": _l("Postponed"),
}

MEMBER_STATUS = {
    "pending": _l("Waiting"),
    "deferred": _l("Postponed"),
    "denied": _l("Refused"),
    "called": _l("Called"),
    "failed": _l("Failed"),
}

CAMPAIGN_STATUS = {
    "draft": _l("Draft"),
    "running": _l("Running"),
    "paused": _l("Paused"),
    "done": _l("Finished"),
}

SCRIPT_STATUS = {
    "draft": _l("Draft"),
    "submitted": _l("Waiting for review"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "shipped": _l("Ships with the box"),
}

LINE_STATES = {
    "disabled": _l("Off"),
    "ready": _l("Ready"),
    "dialing": _l("Dialing"),
    "ringing": _l("Ringing"),
    "in_call": _l("In a call"),
    "fault": _l("Fault"),
    "paused": _l("Paused"),
    "unknown": _l("No report yet"),
}

ROLES = {
    "admin": _l("Administrator"),
    "reviewer": _l("Reviewer"),
    "staff": _l("Staff"),
    "auditor": _l("Auditor"),
}

ROLE_HELP = {
    "admin": _l("Settings, users, phone lines, recording keys."),
    "reviewer": _l("Approves call scripts, reviews complaints, may listen to recordings."),
    "staff": _l("Contacts, campaigns and calls."),
    "auditor": _l("Reads everything, changes nothing; reads the audit log."),
}

PURPOSES = {
    "reminder": _l("Appointment reminder"),
    "follow_up": _l("Follow-up after a visit"),
    "service": _l("After-sales service"),
    "marketing": _l("Promotion (only to people who opted in)"),
}

CONSENT_METHODS = {
    "paper_form": _l("Paper form"),
    "web_form": _l("Web form"),
    "verbal_recorded": _l("Spoken, recorded"),
    "in_person": _l("In person"),
}

DNC_SOURCES = {
    "spoken_opt_out": _l("Said so during a call"),
    "dtmf": _l("Pressed 9 during a call"),
    "staff": _l("Entered by staff"),
    "import": _l("Imported"),
    "sms": _l("By text message"),
}

COMPLAINT_CHANNELS = {
    "phone": _l("By phone"),
    "in_person": _l("In person"),
    "regulator": _l("Through a regulator"),
    "other": _l("Other"),
}

CALLBACK_STATUS = {
    "open": _l("Waiting for a call back"),
    "done": _l("Called back"),
    "cancelled": _l("Cancelled"),
}

# The firmware stores a callback task's reason as English text; the ones it writes today are put in
# plain words here. Any other text is shown as it is.
CALLBACK_REASONS = {
    "pressed 0 on an inbound call": _l("Called the box and pressed 0 to speak to a person."),
    "callee asked for a person": _l("Asked during a call to speak to a person."),
}
# Reasons with a variable part, as the daemon writes them for outbound calls.
_CALL_REASON = re.compile(r"asked for a person during call (?P<call>\d+) \(campaign (?P<campaign>.*)\)")


def word(table: dict, code: str | None) -> str:
    """The plain words for ``code`` in ``table``; the code itself when the table does not know it."""
    code = code or ""
    return str(table[code]) if code in table else code


def callback_reason(text: str | None) -> str:
    """A callback task's reason in plain words (the text as stored when it is not one the table knows)."""
    text = (text or "").strip()
    if text in CALLBACK_REASONS:
        return str(CALLBACK_REASONS[text])
    found = _CALL_REASON.fullmatch(text)
    if found:
        return str(_l("Asked for a person during a call of the campaign %(campaign)s (call %(call)s).",
                      campaign=found["campaign"], call=found["call"]))
    return text


def reasons(codes: list[str] | tuple[str, ...] | None) -> list[str]:
    return [word(REASONS, c) for c in (codes or [])]
