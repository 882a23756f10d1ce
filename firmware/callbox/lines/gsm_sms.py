"""SMS on a GSM line, the pure part: what an opt-out looks like, and reading ``AT+CMGR`` / ``AT+CMGL``.

The modem runs in text mode with the UCS2 character set (``AT+CMGF=1``, ``AT+CSCS="UCS2"``), so
numbers and bodies arrive hex-encoded; these helpers decode them. :class:`callbox.lines.gsm.GsmLine`
sends the commands, records opt-outs through its handler and replies with :data:`OPT_OUT_REPLY`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from callbox.lines.at import split_fields, ucs2_decode

#: Texts that opt the sender out, matched after Unicode NFKC folding (full-width ＴＤ counts).
OPT_OUT_WORDS = ("TD", "STOP")
OPT_OUT_SUBSTRINGS = ("退订",)
#: The confirmation sent to a sender whose opt-out was recorded.
OPT_OUT_REPLY = "已退订，不会再联系您。Unsubscribed: we will not contact you again."


def is_opt_out_text(text: str) -> bool:
    """True if an SMS asks us to stop: contains 退订, or the word TD or STOP (any case, any width).

    Latin keywords must stand alone ("STOP", "stop calling", "TD") so that "Ltd" or "stopwatch" do not
    opt someone out by accident; a false positive would still only stop calls, never start them.
    """
    folded = unicodedata.normalize("NFKC", text)
    if any(s in folded for s in OPT_OUT_SUBSTRINGS):
        return True
    upper = folded.upper()
    return any(re.search(rf"(?<![A-Z]){w}(?![A-Z])", upper) for w in OPT_OUT_WORDS)


def parse_cmgr(lines: Sequence[str]) -> tuple[str, str] | None:
    """The reply lines of ``AT+CMGR=i`` → (sender number, text); None if there is no ``+CMGR:`` header."""
    header_at = next((i for i, line in enumerate(lines) if line.startswith("+CMGR:")), None)
    if header_at is None:
        return None
    fields = split_fields(lines[header_at][6:])
    number = ucs2_decode(fields[1]) if len(fields) > 1 else ""
    text = "\n".join(ucs2_decode(line) for line in lines[header_at + 1 :])
    return number, text


def cmgl_indexes(lines: Sequence[str]) -> list[int]:
    """The storage indexes in the reply lines of ``AT+CMGL="ALL"`` (body lines and bad headers skipped)."""
    indexes = []
    for line in lines:
        if line.startswith("+CMGL:"):
            try:
                indexes.append(int(split_fields(line[6:])[0]))
            except ValueError:
                pass
    return indexes
