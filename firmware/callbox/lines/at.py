"""AT command protocol: a pure parser (bytes in, events out) and a thin serial channel around it.

Why two layers: modems interleave unsolicited result codes (URCs: ``RING``, ``+CMTI: ...``,
``VOICE CALL: END``) with the replies to our commands, split lines across USB packets, and spit
garbage bytes when they boot or brown out. All of that is decided in :class:`AtParser`, which does
no I/O and keeps no clock, so it can be fuzzed and unit-tested byte by byte. :class:`AtChannel` only
moves bytes between a pyserial port and the parser and adds timeouts.

Classification rules (3GPP TS 27.007 verbose mode, V1):

* ``OK`` / ``ERROR`` / ``+CME ERROR: x`` / ``+CMS ERROR: x`` end the command in flight.
* Call-progress codes (``NO CARRIER``, ``BUSY``, ``NO ANSWER``, ``NO DIALTONE``) are *always* emitted as
  URCs, because voice modems report them after ``ATD...;`` already returned ``OK``; if a dial or answer
  is in flight they also end it. A call-state URC is never swallowed by a command reply.
* A line starting with the command's own prefix (``+CSQ:`` for ``AT+CSQ``) is part of the reply; any
  other known URC is a URC even in the middle of a reply; an unknown line belongs to the reply if a
  command is in flight (``ATI``, IMEI, SMS body) and is reported as an unknown URC otherwise.
* Leading bytes that are not printable text (line noise, NULs, ``0xff`` from a modem booting) are
  stripped from each line before it is classified.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Protocol

log = logging.getLogger(__name__)

# -- event types --------------------------------------------------------------------------------

CALL_PROGRESS_CODES = ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")

#: URCs that change or describe a call. The parser must never lose or reorder these.
CALL_STATE_PREFIXES: tuple[str, ...] = (
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CLCC:",
    "^DSCI:",
    "VOICE CALL:",
    "MISSED_CALL:",
    *CALL_PROGRESS_CODES,
)

#: Other URCs a SIM7600 / EC25 prints on its AT port.
OTHER_URC_PREFIXES: tuple[str, ...] = (
    "+CMTI:",
    "+CMT:",
    "+CPIN:",
    "+SIMCARD:",
    "+QSIMSTAT:",
    "+CREG:",
    "+CEREG:",
    "+CGREG:",
    "+CFUN:",
    "+CTZV:",
    "+CUSD:",
    "+QIND:",
    "+CPCMREG:",
    "+RXDTMF:",
    "+QTONEDET:",
    "+DTMF:",
    "RDY",
    "SMS DONE",
    "PB DONE",
    "POWERED DOWN",
)

MAX_LINE = 4096  # longest line we buffer before deciding it is noise


@dataclass(frozen=True)
class Urc:
    """An unsolicited line from the modem."""

    text: str
    known: bool = True

    @property
    def is_call_state(self) -> bool:
        return is_call_state(self.text)


@dataclass(frozen=True)
class Response:
    """The complete reply to one command."""

    command: str
    ok: bool
    final: str  # "OK", "ERROR", "+CME ERROR: SIM not inserted", "BUSY", ...
    lines: tuple[str, ...] = ()

    @property
    def error(self) -> str:
        return "" if self.ok else self.final

    def first(self, prefix: str) -> str | None:
        """Payload of the first line starting with ``prefix`` (``"+CSQ:"`` → ``"20,99"``)."""
        for line in self.lines:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        return None


@dataclass(frozen=True)
class Prompt:
    """The ``> `` the modem prints when it wants SMS text."""


@dataclass(frozen=True)
class Stray:
    """A line that fits nowhere (a late ``OK`` after a timeout, an overlong garbage line)."""

    text: str


AtEvent = Urc | Response | Prompt | Stray


def is_call_state(text: str) -> bool:
    return any(text.startswith(p) for p in CALL_STATE_PREFIXES)


def response_prefix(command: str) -> str | None:
    """``AT+CSQ`` → ``+CSQ``; ``AT+COPS?`` → ``+COPS``; ``ATD123;`` / ``ATI`` → None."""
    body = command.strip()
    if body[:2].upper() != "AT":
        return None
    body = body[2:]
    if not body or body[0] not in "+^$#%&*":
        return None
    match = re.match(r"[+^$#%&*][A-Za-z0-9_]+", body)
    return match.group(0).upper() if match else None


@dataclass
class _Pending:
    command: str
    prefix: str | None
    expect_prompt: bool
    call_command: bool  # ATD / ATA: call-progress codes also end it
    lines: list[str] = field(default_factory=list)
    body_next: bool = False  # the line after a +CMGR:/+CMGL: header is SMS text, whatever it says


class AtParser:
    """Turns modem bytes into :data:`AtEvent` values, in the order the modem sent them.

    Pure: no threads, no clock, no I/O. The owner tells it which command is in flight with
    :meth:`begin` and feeds every received chunk to :meth:`feed`.
    """

    def __init__(self, extra_urc_prefixes: Iterable[str] = ()) -> None:
        self._buf = bytearray()
        self._pending: _Pending | None = None
        self._urc_prefixes = tuple(CALL_STATE_PREFIXES) + tuple(OTHER_URC_PREFIXES) + tuple(extra_urc_prefixes)

    @property
    def pending(self) -> str | None:
        return self._pending.command if self._pending else None

    def begin(self, command: str, expect_prompt: bool = False) -> None:
        """Declare that ``command`` was (is about to be) written; its reply lines are collected."""
        upper = command.strip().upper()
        self._pending = _Pending(
            command=command.strip(),
            prefix=response_prefix(command),
            expect_prompt=expect_prompt,
            call_command=upper.startswith("ATD") or upper == "ATA",
        )

    def abandon(self) -> None:
        """Forget the command in flight (it timed out); late reply lines become :class:`Stray`."""
        self._pending = None

    def feed(self, data: bytes) -> list[AtEvent]:
        events: list[AtEvent] = []
        self._buf.extend(data)
        while True:
            cut = _first_terminator(self._buf)
            if cut < 0:
                break
            raw = bytes(self._buf[:cut])
            del self._buf[: cut + 1]
            self._line(raw, events)
        if self._pending is not None and self._pending.expect_prompt:
            head = _clean(bytes(self._buf))
            if head.startswith(">"):
                self._buf.clear()
                self._pending.expect_prompt = False
                events.append(Prompt())
        if len(self._buf) > MAX_LINE:
            events.append(Stray(f"dropped {len(self._buf)} bytes without a line end (line noise?)"))
            self._buf.clear()
        return events

    # -- classification ------------------------------------------------------------------------
    def _line(self, raw: bytes, events: list[AtEvent]) -> None:
        text = _clean(raw)
        if not text:
            return
        pending = self._pending
        if pending is not None and _is_echo(text, pending.command):
            return
        if text == "OK" or text == "ERROR" or text.startswith(("+CME ERROR:", "+CMS ERROR:")):
            if pending is None:
                events.append(Stray(text))
            else:
                self._finish(text == "OK", text, events)
            return
        if text in CALL_PROGRESS_CODES:
            events.append(Urc(text))
            if pending is not None and pending.call_command:
                self._finish(False, text, events)
            return
        if pending is not None:
            if pending.body_next:
                pending.body_next = False
                pending.lines.append(text)
                return
            if pending.prefix and text.upper().startswith(pending.prefix + ":"):
                pending.lines.append(text)
                pending.body_next = pending.prefix in ("+CMGR", "+CMGL")  # next line is SMS text
                return
        if text.startswith(self._urc_prefixes):
            events.append(Urc(text))
            return
        if pending is not None:
            pending.lines.append(text)
            return
        events.append(Urc(text, known=False))

    def _finish(self, ok: bool, final: str, events: list[AtEvent]) -> None:
        assert self._pending is not None
        events.append(Response(self._pending.command, ok, final, tuple(self._pending.lines)))
        self._pending = None


def _first_terminator(buf: bytearray) -> int:
    cr = buf.find(b"\r")
    lf = buf.find(b"\n")
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)


def _clean(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    start = 0
    while start < len(text) and (not text[start].isprintable() or text[start] in "\ufffd "):
        start += 1
    return text[start:].rstrip()


def _is_echo(text: str, command: str) -> bool:
    return text.upper().startswith("AT") and text.strip().upper() == command.upper()


# -- 27.007 payload helpers (pure) --------------------------------------------------------------


def split_fields(payload: str) -> list[str]:
    """Split ``1,"CHINA MOBILE",7`` on commas outside quotes, unquoting each field."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in payload:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def csq_to_dbm(rssi: int) -> int | None:
    """``+CSQ`` rssi 0..31 → dBm (−113 + 2·rssi); 99 means not known."""
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    return None


def parse_cclk(payload: str) -> datetime:
    """``"26/03/02,10:00:00+32"`` (local time, zone in quarter hours) → aware UTC datetime."""
    value = payload.strip().strip('"')
    match = re.fullmatch(r"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d+)?", value)
    if not match:
        raise ValueError(f"not a +CCLK time: {payload!r}")
    yy, mo, dd, hh, mi, ss = (int(g) for g in match.groups()[:6])
    quarters = int(match.group(7) or 0)
    zone = timezone(timedelta(minutes=15 * quarters))
    return datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=zone).astimezone(timezone.utc)


def format_cclk(at: datetime, quarters: int) -> str:
    """Inverse of :func:`parse_cclk` (used by the emulator)."""
    local = at.astimezone(timezone(timedelta(minutes=15 * quarters)))
    sign = "+" if quarters >= 0 else "-"
    return f'"{local:%y/%m/%d,%H:%M:%S}{sign}{abs(quarters):02d}"'


def ucs2_encode(text: str) -> str:
    """Text → the hex UTF-16BE form modems use after ``AT+CSCS="UCS2"``."""
    return text.encode("utf-16-be").hex().upper()


def ucs2_decode(value: str) -> str:
    """Hex UTF-16BE → text; returns ``value`` unchanged if it is not UCS2 hex."""
    if len(value) % 4 or not re.fullmatch(r"[0-9A-Fa-f]*", value):
        return value
    try:
        return bytes.fromhex(value).decode("utf-16-be")
    except ValueError:
        return value


# -- serial channel (I/O) -----------------------------------------------------------------------


class AtError(Exception):
    """The modem answered ERROR / +CME ERROR / +CMS ERROR (or a call-progress code) to a command."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"{response.command} → {response.final}")
        self.response = response


class AtTimeout(Exception):
    """No final result within the timeout: the modem is busy, hung, or the port is wedged."""


class PortGone(Exception):
    """The serial port vanished (USB unplugged, modem rebooting) or could not be opened."""


class SerialPort(Protocol):
    """The slice of ``serial.Serial`` the channel uses (pyserial or a test double)."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...

    @property
    def in_waiting(self) -> int: ...


class AtChannel:
    """Sends one command at a time over a serial port and routes URCs to ``on_urc``.

    A reader thread owns the port's read side. ``on_urc`` and ``on_gone`` are called on that thread
    and must only queue work: a URC handler that sends a command from inside the callback would
    wait for a reply that only this thread can read.
    """

    def __init__(
        self,
        port: SerialPort,
        on_urc: Callable[[Urc], None],
        on_gone: Callable[[str], None],
        extra_urc_prefixes: Iterable[str] = (),
        name: str = "modem",
    ) -> None:
        self._port = port
        self._on_urc = on_urc
        self._on_gone = on_gone
        self._parser = AtParser(extra_urc_prefixes)
        self._parser_lock = threading.Lock()
        self._command_lock = threading.Lock()
        self._reply: list[AtEvent] = []
        self._reply_ready = threading.Condition(self._parser_lock)
        self._closed = threading.Event()
        self._gone_lock = threading.Lock()
        self.gone_reason = ""
        self._reader = threading.Thread(target=self._read_loop, name=f"{name}-at-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self._closed.is_set()

    def command(self, command: str, timeout: float = 5.0, payload: str | bytes | None = None) -> Response:
        """Send ``command`` and wait for its final result.

        ``payload`` is for ``AT+CMGS``: sent after the ``>`` prompt and terminated with Ctrl-Z.
        Raises :class:`AtError` on an error result, :class:`AtTimeout`, or :class:`PortGone`.
        """
        with self._command_lock:
            deadline = time.monotonic() + timeout
            with self._parser_lock:
                if self._closed.is_set():
                    raise PortGone(self.gone_reason or "port closed")
                self._reply.clear()
                self._parser.begin(command, expect_prompt=payload is not None)
            self._write((command + "\r").encode())
            if payload is not None:
                self._wait(lambda e: isinstance(e, Prompt), deadline, command)
                data = payload.encode() if isinstance(payload, str) else payload
                self._write(data + b"\x1a")
            final = self._wait(lambda e: isinstance(e, Response), deadline, command)
            assert isinstance(final, Response)
            if not final.ok:
                raise AtError(final)
            return final

    def close(self) -> None:
        self._closed.set()
        with self._parser_lock:
            self._reply_ready.notify_all()
        try:
            self._port.close()
        except Exception:  # closing a vanished port may raise; it is gone either way
            pass

    # -- internals ---------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except Exception as exc:
            self._gone(f"write failed: {exc}")
            raise PortGone(self.gone_reason) from exc

    def _wait(self, match: Callable[[AtEvent], bool], deadline: float, command: str) -> AtEvent:
        with self._parser_lock:
            while True:
                for i, event in enumerate(self._reply):
                    if match(event):
                        del self._reply[: i + 1]
                        return event
                if self._closed.is_set():
                    self._parser.abandon()
                    raise PortGone(self.gone_reason or "port closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    self._parser.abandon()
                    raise AtTimeout(f"no reply to {command} within the timeout")
                self._reply_ready.wait(left)

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._port.read(max(1, self._port.in_waiting))
            except Exception as exc:  # pyserial raises SerialException / OSError(EIO) on unplug
                if not self._closed.is_set():
                    self._gone(f"read failed: {exc}")
                return
            if not data:
                continue
            with self._parser_lock:
                events = self._parser.feed(data)
                for event in events:
                    if isinstance(event, (Response, Prompt)):
                        self._reply.append(event)
                if any(isinstance(e, (Response, Prompt)) for e in events):
                    self._reply_ready.notify_all()
            for event in events:
                if isinstance(event, Urc):
                    self._on_urc(event)
                elif isinstance(event, Stray):
                    log.debug("stray modem line: %r", event.text)

    def _gone(self, reason: str) -> None:
        with self._gone_lock:  # reader and writer may both notice; report once
            first = not self._closed.is_set()
            self.gone_reason = self.gone_reason or reason
            self.close()
        if first:
            self._on_gone(reason)
