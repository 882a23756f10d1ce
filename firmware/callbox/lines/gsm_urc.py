"""What the modem's text means for a GSM line (pure: no I/O, no state).

:func:`interpret_urc` turns one unsolicited result line (``RING``, ``+CLIP``, ``+CLCC``/``^DSCI``
call status, ``VOICE CALL: BEGIN``, ``+CMTI``, ``+CREG``, the family's DTMF and SIM-removal URCs)
into one :class:`ModemEvent` value; :class:`callbox.lines.gsm.GsmLine` acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from callbox.lines.at import split_fields, ucs2_decode
from callbox.lines.gsm_profiles import ModemProfile

DTMF_KEYS = set("0123456789*#ABCD")


@dataclass(frozen=True)
class CallConnected:
    """The call is up (answered by the far end, or by us)."""


@dataclass(frozen=True)
class CallAlerting:
    """Our outgoing call rings at the far end."""


@dataclass(frozen=True)
class CallReleased:
    """The call ended or failed; ``code`` says how."""

    code: str  # "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "VOICE CALL: END", "released"


@dataclass(frozen=True)
class IncomingRing:
    """Someone calls us."""

    number: str | None = None  # None: a bare RING; "" : number withheld


@dataclass(frozen=True)
class DtmfKey:
    """The far end pressed a key (one of DTMF_KEYS)."""

    key: str


@dataclass(frozen=True)
class SmsArrived:
    """A new SMS is stored at ``index`` (read it with AT+CMGR)."""

    index: int


@dataclass(frozen=True)
class SimRemoved:
    """The SIM card was pulled or lost contact."""

    text: str


@dataclass(frozen=True)
class Registration:
    """Network registration changed (0 none, 1 home, 2 searching, 3 denied, 5 roaming)."""

    stat: int


@dataclass(frozen=True)
class Ignored:
    """Nothing the line acts on (logged if the AT parser did not know the line either)."""

    text: str


ModemEvent = (
    CallConnected | CallAlerting | CallReleased | IncomingRing | DtmfKey | SmsArrived | SimRemoved | Registration | Ignored
)


def interpret_urc(text: str, profile: ModemProfile) -> ModemEvent:
    """Map one URC line to what it means for the line, for the given modem model."""
    if text.startswith(profile.dtmf_urc):
        value = text[len(profile.dtmf_urc) :].strip().split(",")[0].strip()
        if profile.dtmf_ascii_code and value.isdigit():
            value = chr(int(value))
        return DtmfKey(value) if len(value) == 1 and value in DTMF_KEYS else Ignored(text)
    if any(text.startswith(p) for p in profile.sim_removal_urcs):
        return SimRemoved(text)
    if text == "VOICE CALL: BEGIN":
        return CallConnected()
    if text.startswith("VOICE CALL: END"):
        return CallReleased("VOICE CALL: END")
    if text in ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"):
        return CallReleased(text)
    if text.startswith("MISSED_CALL:"):
        return CallReleased("MISSED_CALL")
    if text == "RING" or text.startswith("+CRING:"):
        return IncomingRing(None)
    if text.startswith("+CLIP:"):
        fields = split_fields(text[6:])
        return IncomingRing(ucs2_decode(fields[0]) if fields else "")
    if text.startswith(("+CLCC:", "^DSCI:")):
        fields = split_fields(text.split(":", 1)[1])
        try:
            direction, stat = int(fields[1]), int(fields[2])
        except (IndexError, ValueError):
            return Ignored(text)
        if stat == 0:
            return CallConnected()
        if stat == 3 and direction == 0:
            return CallAlerting()
        if stat == 4:
            return IncomingRing(ucs2_decode(fields[4]) if len(fields) > 4 else None)
        if stat == 6:
            return CallReleased("released")
        return Ignored(text)
    if text.startswith("+CMTI:"):
        fields = split_fields(text[6:])
        try:
            return SmsArrived(int(fields[-1]))
        except ValueError:
            return Ignored(text)
    if text.startswith(("+CREG:", "+CEREG:")):
        fields = split_fields(text.split(":", 1)[1])
        try:
            return Registration(int(fields[0]))
        except ValueError:
            return Ignored(text)
    return Ignored(text)
