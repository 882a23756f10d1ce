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
