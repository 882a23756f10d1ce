"""Phone numbers, done by ``phonenumbers`` (never by hand): parse, validate, E.164, callee time zones."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as pn_timezone


class InvalidNumber(ValueError):
    """The text is not a valid phone number for the given region."""


def normalise(text: str, region: str = "CN") -> str:
    """Return ``text`` as E.164 (``+8613800138000``) or raise :class:`InvalidNumber` saying why."""
    raw = (text or "").strip()
    if not raw:
        raise InvalidNumber("phone number is empty")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{raw!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"{raw!r} is not a valid number for region {region}; write it as +<country><number>")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_valid(text: str, region: str = "CN") -> bool:
    try:
        normalise(text, region)
    except InvalidNumber:
        return False
    return True


def callee_zones(e164: str, fallback: str) -> tuple[str, ...]:
    """IANA zones the number may ring in. Several for e.g. some US area codes; all must be respected."""
    parsed = phonenumbers.parse(e164, None)
    zones = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
    return zones or (fallback,)


def region_of(e164: str) -> str:
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)) or ""


def display(e164: str) -> str:
    """Human formatting for screens and speech (international format)."""
    return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


_ZH_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")


def spoken(e164: str, language: str) -> str:
    """A number as a callee should hear it: national format, digit by digit, grouped.

    Chinese TTS would read "6123" as a quantity (六千一百二十三), so digits become characters;
    English gets single digits separated by spaces, groups by commas.
    """
    national = phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.NATIONAL)
    groups = [g for g in "".join(ch if ch.isdigit() else " " for ch in national).split() if g]
    if language == "zh":
        return "，".join(g.translate(_ZH_DIGITS) for g in groups)
    return ", ".join(" ".join(g) for g in groups)
