"""Phone numbers, done by ``phonenumbers`` (never by hand): parse, validate, E.164, callee time zones."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone
from phonenumbers.data import _COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.tzdata import TIMEZONE_DATA


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


@lru_cache(maxsize=None)
def _country_meta(country_code: str) -> tuple[str, tuple[str, ...]] | None:
    """(region, zones) shared by *every* number of a country code, or None if numbers differ.

    True when the code belongs to one region and all of phonenumbers' time-zone prefixes under it
    name the same zones (China, Germany, France: yes; +1 and Russia: no). Then the per-number
    lookups are answered without parsing, with exactly the result they would give.
    """
    regions = _COUNTRY_CODE_TO_REGION_CODE.get(int(country_code), ())
    if len(regions) != 1 or country_code not in TIMEZONE_DATA:
        return None
    zones = {TIMEZONE_DATA[k] for k in TIMEZONE_DATA if k.startswith(country_code)}
    if len(zones) != 1:
        return None
    only = tuple(z for z in next(iter(zones)) if z != "Etc/Unknown")
    return (regions[0], only) if only else None


def _country_code(e164: str) -> str | None:
    for length in (1, 2, 3):
        code = e164[1 : 1 + length]
        if code.isdigit() and int(code) in _COUNTRY_CODE_TO_REGION_CODE:
            return code
    return None


@lru_cache(maxsize=4096)
def _prefix_meta(prefix: str) -> tuple[str, tuple[str, ...]] | None:
    """Shared meta for every number starting with ``prefix`` ('+' and three digits), if any.

    Country codes are at most three digits and prefix-free, so these four characters fix the code.
    """
    code = _country_code(prefix)
    return _country_meta(code) if code else None


@lru_cache(maxsize=200_000)
def _full_meta(e164: str, fallback: str) -> tuple[str, tuple[str, ...]]:
    return region_of(e164), callee_zones(e164, fallback)


def meta(e164: str, fallback_zone: str) -> tuple[str, tuple[str, ...]]:
    """(region, callee zones) of a valid E.164 number: same answer as region_of + callee_zones, fast.

    The gate asks this for every number it decides; parsing with phonenumbers costs ~40 µs, which
    would cap the gate near 20,000 decisions/s. Single-zone countries need no parse at all.
    """
    shared = _prefix_meta(e164[:4])
    if shared is not None:
        return shared
    return _full_meta(e164, fallback_zone)


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
