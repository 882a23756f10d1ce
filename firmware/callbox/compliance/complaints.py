"""Spoken complaints, for risk control.

The rule packs pause a campaign when too many answered calls end in an opt-out *or a complaint*.
A complaint is the callee saying the call is harassment, or that they will report it — whether or not
they also opted out. Pure text rules (zh/en), applied to what the callee said during the call.
"""

from __future__ import annotations

import re

_ZH = re.compile(r"(投诉|举报|骚扰电话|骚扰我|12321|12315|工信部|报警|烦死了|太烦了|别骚扰)")
_EN = re.compile(
    r"\b(complain|complaint|report (you|this|your company)|harass(ing|ment)?|this is a scam|"
    r"sue you|lawyer|ftc|do not call registry)\b",
    re.IGNORECASE,
)


def is_complaint(text: str) -> bool:
    """True if one callee utterance complains about the call (either language)."""
    return bool(text) and bool(_ZH.search(text) or _EN.search(text))


def call_had_complaint(transcript: list[dict]) -> bool:
    """Any callee turn in a call transcript ({who, text}) that complains."""
    return any(turn.get("who") == "callee" and is_complaint(turn.get("text", "")) for turn in transcript)
