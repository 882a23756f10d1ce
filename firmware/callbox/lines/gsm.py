"""A GSM/LTE voice line on a SIM7600- or EC25-class modem, driven over AT commands (pyserial).

How the pieces fit:

* :mod:`callbox.lines.at` parses the modem's bytes and runs one command at a time.
* :func:`interpret_urc` (pure) turns URC text into :class:`ModemEvent` values for one modem model
  (:class:`ModemProfile`: the DTMF URC name and the SIM-removal URCs differ between families).
* :class:`GsmLine` owns one worker thread. Everything that talks to the modem — URC handling, dialing,
  hang-up, DTMF, SMS, health checks, fault recovery — runs on that thread, in arrival order, so call
  state needs no locks and every call ends exactly once.
* :class:`CallAudio` moves call audio. :class:`Sim7600PcmAudio` is the SIM7600 way (raw 8 kHz PCM on a
  second USB serial port after ``AT+CPCMREG=1``). A Quectel EC25 exposes call audio as a USB Audio
  Class (UAC) sound card after ``AT+QPCMV=1,2`` instead; supporting it means one more ``CallAudio``
  subclass that reads/writes that ALSA device — nothing else in this module changes.

Caller ID is whatever the SIM and network present: the line never sends ``AT+CLIR``, never prefixes
``#31#``/``*31#`` and dials only plain digits, so nothing can alter or hide the calling number.
A call is dialled at most once per permit: ``ATD`` is never retried.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol

import serial

from callbox.clock import Clock
from callbox.compliance.permit import PermitAuthority
from callbox.lines.at import (
    AtChannel,
    AtError,
    AtTimeout,
    PortGone,
    Response,
    Urc,
    csq_to_dbm,
    parse_cclk,
    split_fields,
    ucs2_decode,
    ucs2_encode,
)
from callbox.lines.base import FRAME_BYTES, FRAME_MS, CallControl, CallEnd, CallListener, Line, LineState, PlaybackBuffer

log = logging.getLogger(__name__)

#: Plain digits with an optional leading +. Excludes ``*``/``#`` (supplementary services such as
#: ``#31#`` caller-ID suppression), ``I``/``i`` (CLIR dial modifiers), ``>`` (phonebook) and ``;``.
DIALABLE = re.compile(r"\+?[0-9]{3,20}")
DTMF_KEYS = set("0123456789*#ABCD")

#: Texts that opt the sender out, matched after Unicode NFKC folding (full-width ＴＤ counts).
OPT_OUT_WORDS = ("TD", "STOP")
OPT_OUT_SUBSTRINGS = ("退订",)
#: RING repeats every few seconds; this long without one (and no call) means the caller gave up.
RING_EPISODE_S = 10.0
OPT_OUT_REPLY = "已退订，不会再联系您。Unsubscribed: we will not contact you again."


# -- model profiles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModemProfile:
    """What differs between supported modem families (see hardware/modems.md)."""

    name: str
    dtmf_urc: str  # URC prefix for a key the far end pressed
    dtmf_ascii_code: bool  # EC25 reports the key's ASCII code ("+QTONEDET: 49" = "1")
    setup_commands: tuple[str, ...]  # best effort after the common init; ERROR is logged, not fatal
    sim_removal_urcs: tuple[str, ...]
    has_pcm_port: bool


PROFILES: dict[str, ModemProfile] = {
    "sim7600": ModemProfile(
        name="sim7600",
        dtmf_urc="+RXDTMF:",
        dtmf_ascii_code=False,
        # call-status URCs; DTMF detection on; PCM at 8 kHz
        setup_commands=("AT+CLCC=1", "AT+DDET=1", "AT+CPCMFRM=0"),
        sim_removal_urcs=("+SIMCARD: REMOVAL", "+CPIN: NOT INSERTED"),
        has_pcm_port=True,
    ),
    "ec25": ModemProfile(
        name="ec25",
        dtmf_urc="+QTONEDET:",
        dtmf_ascii_code=True,
        setup_commands=("AT^DSCI=1", "AT+QTONEDET=1"),  # call status URCs; DTMF detection
        sim_removal_urcs=("+CPIN: NOT INSERTED", "+QSIMSTAT: 1,0"),
        has_pcm_port=False,
    ),
}


# -- URC interpretation (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class CallConnected:
    pass


@dataclass(frozen=True)
class CallAlerting:
    pass


@dataclass(frozen=True)
class CallReleased:
    code: str  # "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "VOICE CALL: END", "released"


@dataclass(frozen=True)
class IncomingRing:
    number: str | None = None  # None: a bare RING; "" : number withheld


@dataclass(frozen=True)
class DtmfKey:
    key: str


@dataclass(frozen=True)
class SmsArrived:
    index: int


@dataclass(frozen=True)
class SimRemoved:
    text: str


@dataclass(frozen=True)
class Registration:
    stat: int


@dataclass(frozen=True)
class Ignored:
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


def registration_stat(response: Response, prefix: str) -> int:
    """``+CREG: 0,1`` (query form n,stat) → 1; 0 if the modem printed nothing useful."""
    payload = response.first(prefix)
    if payload is None:
        return 0
    fields = split_fields(payload)
    try:
        return int(fields[1] if len(fields) >= 2 else fields[0])
    except ValueError:
        return 0


def mask_number(number: str) -> str:
    """Logs carry only the last four digits: technicians need to tell calls apart, not read contacts."""
    return "*" * max(0, len(number) - 4) + number[-4:]


# -- audio --------------------------------------------------------------------------------------


class CallAudio(ABC):
    """Moves one call's audio between the modem and the dialog, as 320-byte 8 kHz frames.

    ``enable_commands`` are sent on the AT port once the call is connected, right after :meth:`open`;
    ``disable_commands`` after :meth:`close`. Implementations: :class:`Sim7600PcmAudio`. An EC25 class
    would send ``AT+QPCMV=1,2`` and read/write the modem's UAC ALSA card in :meth:`open`.
    """

    enable_commands: tuple[str, ...] = ()
    disable_commands: tuple[str, ...] = ()

    @abstractmethod
    def open(self, on_frame: Callable[[bytes], None], playback: PlaybackBuffer) -> None:
        """Start feeding received frames to ``on_frame`` and sending ``playback`` every 20 ms."""

    @abstractmethod
    def close(self) -> None:
        """Stop both directions; safe to call twice or after the port vanished."""


class Sim7600PcmAudio(CallAudio):
    """SIM7600 call audio: raw 16-bit 8 kHz mono PCM on the modem's audio serial port.

    The modem streams 320-byte frames every 20 ms after ``AT+CPCMREG=1`` (``AT+CPCMFRM=0`` selects
    8 kHz). We send one frame every 20 ms by our own monotonic clock, silence when the dialog has
    nothing queued, so the far end never hears a stall.
    """

    enable_commands = ("AT+CPCMREG=1",)
    disable_commands = ("AT+CPCMREG=0",)

    def __init__(self, port: str, baudrate: int = 921600) -> None:
        self.port = port
        self.baudrate = baudrate
        self._serial: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def open(self, on_frame: Callable[[bytes], None], playback: PlaybackBuffer) -> None:
        self.close()
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05)
            self._serial.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise PortGone(
                f"SIM7600 audio port {self.port} cannot be opened ({exc}); check /dev/callbox-modem-audio "
                "exists (udev rule, USB interface 4) and that the modem is in USB mode 9001"
            ) from exc
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._rx, args=(on_frame,), name="sim7600-pcm-rx", daemon=True),
            threading.Thread(target=self._tx, args=(playback,), name="sim7600-pcm-tx", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=1)
        self._threads = []
        if self._serial is not None:
            try:
                self._serial.close()
            except Exception:
                pass
            self._serial = None

    def _rx(self, on_frame: Callable[[bytes], None]) -> None:
        pending = bytearray()
        port = self._serial
        while not self._stop.is_set():
            try:
                data = port.read(FRAME_BYTES)
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("SIM7600 audio port read failed (%s); call audio stopped", exc)
                return
            pending.extend(data)
            while len(pending) >= FRAME_BYTES:
                frame = bytes(pending[:FRAME_BYTES])
                del pending[:FRAME_BYTES]
                try:
                    on_frame(frame)
                except Exception:
                    log.exception("call listener failed on an audio frame")

    def _tx(self, playback: PlaybackBuffer) -> None:
        port = self._serial
        period = FRAME_MS / 1000
        next_at = time.monotonic()
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            try:
                port.write(playback.pop_frame())
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("SIM7600 audio port write failed (%s); call audio stopped", exc)
                return
            next_at += period
            if time.monotonic() - next_at > 5 * period:  # we were starved of CPU: resync, don't burst
                next_at = time.monotonic()


# -- the line -----------------------------------------------------------------------------------


class GsmHandler(Protocol):
    """What the daemon provides to hear about inbound traffic (all methods optional)."""

    def on_incoming_call(self, number: str, control: CallControl) -> CallListener | None:
        """Return a listener to answer (the line sends ATA), or None to reject."""

    def on_sms_opt_out(self, number: str) -> None:
        """Write ``number`` to the do-not-call list durably before returning."""

    def on_sms(self, number: str, text: str) -> None:
        """Any other inbound SMS (optional)."""


@dataclass(frozen=True)
class GsmTiming:
    """Timeouts and intervals (seconds). Defaults suit real modems; tests shrink them."""

    command_timeout_s: float = 5.0
    dial_timeout_s: float = 60.0  # ringing with no answer → hang up, NO_ANSWER
    health_interval_s: float = 10.0  # idle "AT" ping to catch a hung modem
    status_interval_s: float = 60.0  # refresh CSQ / COPS / registration
    retry_interval_s: float = 5.0  # between recovery attempts while in FAULT
    reset_settle_s: float = 8.0  # after AT+CFUN=1,1 before reopening the port
    register_timeout_s: float = 90.0
    sms_timeout_s: float = 30.0


@dataclass(frozen=True)
class ModemStatus:
    """Last known radio state, for the panel and the logs."""

    registered: bool = False
    reg_stat: int = 0
    csq: int = 99
    rssi_dbm: int | None = None
    operator: str = ""
    model: str = ""


class LineFault(Exception):
    """A condition a technician must fix; the message says how."""


class _GsmCall(CallControl):
    """One call on a GSM line; the dialog's handle. Requests are queued to the line's worker."""

    def __init__(self, line: "GsmLine", number: str, listener: CallListener | None, direction: str) -> None:
        self._line = line
        self.number = number
        self.listener = listener
        self.direction = direction  # "out" | "in"
        self.playback = PlaybackBuffer()
        self.answered = False
        self.alerting = False
        self.ended = False
        self.deadline = 0.0
        self.released = False  # a status URC said "released"; the BUSY/NO ANSWER code should follow

    def play(self, pcm: bytes) -> None:
        self.playback.push(pcm)

    def stop_playback(self) -> int:
        return self.playback.clear()

    def playback_pending_ms(self) -> int:
        return self.playback.pending_ms()

    def send_dtmf(self, digits: str) -> None:
        bad = set(digits) - DTMF_KEYS
        if bad:
            raise ValueError(f"DTMF can only carry 0-9 * # A-D, not {''.join(sorted(bad))!r}")
        self._line._queue.put(("dtmf", self, digits))

    def hangup(self) -> None:
        self._line._queue.put(("hangup", self))


class GsmLine(Line):
    """A voice line on one modem. See the module docstring for the threading model.

    ``_place_call`` never blocks and never raises for line problems: the outcome always arrives as
    exactly one ``listener.on_ended`` (FAILED with a reason if the line was not ready), so the daemon
    can reschedule every attempt the same way.
    """

    kind = "gsm"

    def __init__(
        self,
        line_id: str,
        authority: PermitAuthority,
        at_port: str,
        *,
        model: str = "sim7600",
        audio_port: str | None = None,
        audio: CallAudio | None = None,
        handler: GsmHandler | None = None,
        sim_pin: str | None = None,
        timing: GsmTiming = GsmTiming(),
        baudrate: int = 115200,
    ) -> None:
        super().__init__(line_id, authority)
        if model not in PROFILES:
            raise ValueError(f"unknown modem model {model!r}; supported: {', '.join(sorted(PROFILES))}")
        self.profile = PROFILES[model]
        self.at_port = at_port
        self.baudrate = baudrate
        self.handler = handler
        self.timing = timing
        self._sim_pin = sim_pin
        self._pin_rejected = False
        if audio is None and self.profile.has_pcm_port and audio_port:
            audio = Sim7600PcmAudio(audio_port)
        self._audio = audio
        self._audio_open = False
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._chan: AtChannel | None = None
        self._healthy = False
        self._call: _GsmCall | None = None
        self._ring_handled = False
        self._rings = 0
        self._last_ring = 0.0
        self._status = ModemStatus()
        self._fault_detail = ""
        self._last_fault = ""
        self._next_health = 0.0
        self._next_status = 0.0
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._state_changed = threading.Condition()
        self.stats = {"resets": 0, "port_lost": 0, "recoveries": 0, "calls_failed_by_fault": 0}
        self.add_state_listener(self._notify_waiters)

    @classmethod
    def from_config(
        cls,
        cfg: Mapping[str, Any],
        authority: PermitAuthority,
        clock: Clock | None = None,
        handler: GsmHandler | None = None,
    ) -> "GsmLine":
        """Build a line from one ``[[lines]]`` table of lines.toml (kind = "gsm").

        Keys: ``id``, ``at_port`` (default /dev/callbox-modem-at), ``audio_port`` (default
        /dev/callbox-modem-audio for a SIM7600), ``model`` ("sim7600" | "ec25"), optional ``sim_pin``.
        ``clock`` is accepted for symmetry with other lines; the GSM line keeps time with monotonic
        timers and exposes network time via :meth:`network_time`.
        """
        model = str(cfg.get("model", "sim7600"))
        default_audio = "/dev/callbox-modem-audio" if PROFILES.get(model, PROFILES["sim7600"]).has_pcm_port else None
        unknown = set(cfg) - {"id", "kind", "at_port", "audio_port", "model", "sim_pin", "baudrate"}
        if unknown:
            raise ValueError(f"gsm line {cfg.get('id')!r}: unknown setting(s) {', '.join(sorted(unknown))} in lines.toml")
        return cls(
            str(cfg["id"]),
            authority,
            str(cfg.get("at_port", "/dev/callbox-modem-at")),
            model=model,
            audio_port=cfg.get("audio_port", default_audio),
            handler=handler,
            sim_pin=(str(cfg["sim_pin"]) if cfg.get("sim_pin") else None),
            baudrate=int(cfg.get("baudrate", 115200)),
        )

    # -- public ----------------------------------------------------------------------------------
    @property
    def status(self) -> ModemStatus:
        return self._status

    @property
    def fault_detail(self) -> str:
        return self._fault_detail

    def start(self) -> None:
        if self._worker and self._worker.is_alive():
            return
        self._stopping.clear()
        self._worker = threading.Thread(target=self._run, name=f"gsm-{self.line_id}", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(("stop",))
        if self._worker:
            self._worker.join(timeout=self.timing.command_timeout_s + 5)

    def wait_for_state(self, state: LineState, timeout: float) -> bool:
        """Block until the line is in ``state`` (for tests, the bench and the boot sequence)."""
        deadline = time.monotonic() + timeout
        with self._state_changed:
            while self.state != state:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._state_changed.wait(left)
            return True

    def network_time(self) -> datetime | None:
        """Network time from ``AT+CCLK?`` as aware UTC, or None if unknown.

        Only meaningful once the network sent NITZ (the modem's clock otherwise starts at 1980/2000);
        a year before 2020 is treated as "not set". Safe to call from any thread.
        """
        chan = self._chan
        if chan is None or not self._healthy:
            return None
        try:
            payload = chan.command("AT+CCLK?", timeout=self.timing.command_timeout_s).first("+CCLK:")
            value = parse_cclk(payload or "")
        except (AtError, AtTimeout, PortGone, ValueError) as exc:
            log.info("line %s: no network time (%s)", self.line_id, exc)
            return None
        return value if value.year >= 2020 else None

    def _place_call(self, number: str, listener: CallListener) -> CallControl:
        if not (self._worker and self._worker.is_alive()):
            raise RuntimeError(f"line {self.line_id} is not started; call start() before dialing")
        call = _GsmCall(self, number, listener, "out")
        self._queue.put(("dial", call))
        return call

    # -- worker ------------------------------------------------------------------------------------
    def _run(self) -> None:
        log.info("line %s: starting on %s (%s)", self.line_id, self.at_port, self.profile.name)
        while not self._stopping.is_set():
            if not self._healthy:
                if not self._connect():
                    self._idle(self.timing.retry_interval_s)
                    continue
            try:
                item = self._queue.get(timeout=self._poll_delay())
            except queue.Empty:
                item = None
            try:
                if item is None:
                    self._periodic()
                else:
                    self._handle(item)
            except PortGone as exc:
                self._port_lost(str(exc))
            except AtTimeout as exc:
                self._modem_hung(str(exc))
            except LineFault as exc:
                self._fault(str(exc))
            except Exception as exc:  # a bug must not kill the line: log, fault, recover
                log.exception("line %s: unexpected error", self.line_id)
                self._fault(f"internal error ({exc}); the line re-initialises itself")
        if self._call is not None and self._healthy:
            self._try_cmd("AT+CHUP")  # do not leave the far end on an open call
        self._end_call(CallEnd.FAILED, "line stopped")
        self._close_port()
        self._set_state(LineState.DISABLED, "stopped")

    def _poll_delay(self) -> float:
        now = time.monotonic()
        due = min(self._next_health, self._next_status)
        if self._call is not None and not self._call.answered:
            due = min(due, self._call.deadline)
        return max(0.01, min(due - now, 1.0))

    def _idle(self, seconds: float) -> None:
        """Wait while faulted; refuse dial requests at once instead of leaving them hanging."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                return
            if item[0] == "dial":
                self._refuse(item[1], f"line is in fault: {self._fault_detail}")
            elif item[0] == "stop":
                return

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "urc":
            if item[1] is self._chan:
                self._on_urc(item[2])
        elif kind == "gone":
            if item[1] is self._chan:
                raise PortGone(item[2])
        elif kind == "dial":
            self._dial(item[1])
        elif kind == "hangup":
            self._hangup(item[1])
        elif kind == "dtmf":
            self._send_dtmf(item[1], item[2])

    # -- connection & init -----------------------------------------------------------------------
    def _connect(self) -> bool:
        try:
            if self._chan is None or not self._chan.alive:
                self._open_port()
            self._init_modem()
        except PortGone as exc:
            self._close_port()
            self._fault(str(exc))
            return False
        except AtTimeout as exc:
            self._close_port()
            self._fault(
                f"modem on {self.at_port} does not answer AT commands ({exc}); check it is powered "
                "(SIM7600 HAT: press PWRKEY or hold it 1 s), and that this is the AT port (USB interface 2)"
            )
            return False
        except LineFault as exc:
            self._fault(str(exc))
            return False
        except AtError as exc:
            self._fault(f"modem refused {exc.response.command} ({exc.response.final}) during init")
            return False
        was_fault = self.state == LineState.FAULT
        self._healthy = True
        self._fault_detail = ""
        now = time.monotonic()
        self._next_health = now + self.timing.health_interval_s
        self._next_status = now + self.timing.status_interval_s
        if was_fault:
            self.stats["recoveries"] += 1
        s = self._status
        dbm = f"{s.rssi_dbm} dBm" if s.rssi_dbm is not None else "unknown signal"
        log.info("line %s: ready on %s, %s (CSQ %s)%s", self.line_id, s.operator or "?", dbm, s.csq,
                 " after recovering from a fault" if was_fault else "")
        self._set_state(LineState.READY, f"{s.operator or 'network'}, {dbm}")
        return True

    def _open_port(self) -> None:
        try:
            port = serial.serial_for_url(self.at_port, baudrate=self.baudrate, timeout=0.1)
            port.reset_input_buffer()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortGone(
                f"modem AT port {self.at_port} is not there ({exc}); check the USB cable and power, and "
                "`ls -l /dev/callbox-modem-*` (udev rule hardware/99-callbox-modem.rules)"
            ) from exc
        chan_ref: list[AtChannel] = []
        chan = AtChannel(
            port,
            on_urc=lambda urc: self._queue.put(("urc", chan_ref[0], urc)),
            on_gone=lambda reason: self._queue.put(("gone", chan_ref[0], reason)),
            extra_urc_prefixes=(self.profile.dtmf_urc,),
            name=self.line_id,
        )
        chan_ref.append(chan)
        self._chan = chan

    def _close_port(self) -> None:
        self._stop_audio(send_commands=False)
        if self._chan is not None:
            self._chan.close()
            self._chan = None
        self._healthy = False

    def _cmd(self, command: str, timeout: float | None = None, payload: str | None = None) -> Response:
        chan = self._chan
        if chan is None:
            raise PortGone("modem port is closed")
        return chan.command(command, timeout or self.timing.command_timeout_s, payload)

    def _init_modem(self) -> None:
        self._sync()
        self._cmd("ATE0")
        self._cmd("AT+CMEE=2")
        self._check_sim()
        for command in ("AT+CLIP=1", "AT+CMGF=1", 'AT+CSCS="IRA"'):
            self._cmd(command)
        stored_sms = self._stored_sms_indexes()
        for command in ('AT+CSCS="UCS2"', "AT+CNMI=2,1,0,0,0"):
            self._cmd(command)
        for command in self.profile.setup_commands:
            try:
                self._cmd(command)
            except AtError as exc:
                log.warning("line %s: %s refused (%s); firmware may be older than expected",
                            self.line_id, command, exc.response.final)
        self._wait_registered()
        self._refresh_status()
        for index in stored_sms:  # SMS that arrived while we were off or faulted (opt-outs must not be lost)
            self._read_sms(index)

    def _stored_sms_indexes(self) -> list[int]:
        try:
            response = self._cmd('AT+CMGL="ALL"', timeout=self.timing.sms_timeout_s)
        except AtError as exc:
            log.warning("line %s: could not list stored SMS (%s)", self.line_id, exc.response.final)
            return []
        indexes = []
        for line in response.lines:
            if line.startswith("+CMGL:"):
                try:
                    indexes.append(int(split_fields(line[6:])[0]))
                except ValueError:
                    pass
        return indexes

    def _sync(self) -> None:
        """Send AT until the modem answers (it may still be printing boot noise)."""
        deadline = time.monotonic() + max(3.0, self.timing.command_timeout_s)
        while True:
            try:
                self._cmd("AT", timeout=1.0)
                return
            except AtError:
                pass  # "ERROR" to a bare AT: half a command was in its buffer; try again
            except AtTimeout:
                if time.monotonic() >= deadline:
                    raise

    def _check_sim(self) -> None:
        for _ in range(10):
            try:
                state = self._cmd("AT+CPIN?").first("+CPIN:") or ""
            except AtError as exc:
                final = exc.response.final
                if "not inserted" in final.lower() or final.endswith(": 10"):
                    raise LineFault(
                        "no SIM card detected: power the box off, insert the SIM (contacts down, notch as "
                        "printed on the modem board) and power on"
                    ) from exc
                if "busy" in final.lower() or "not ready" in final.lower():
                    time.sleep(0.5)
                    continue
                raise LineFault(f"SIM check failed ({final}): reseat the SIM card") from exc
            if state == "READY":
                return
            if state == "SIM PIN":
                self._enter_pin()
                continue
            if state == "SIM PUK":
                raise LineFault(
                    "SIM is PUK-locked after wrong PIN attempts: unlock it in a phone with the PUK from "
                    "the carrier, then set its PIN in the line config"
                )
            raise LineFault(f"SIM not usable (+CPIN: {state}); try the SIM in a phone")
        raise LineFault("SIM stayed busy for 5 s after power-up; reseat the SIM card")

    def _enter_pin(self) -> None:
        if not self._sim_pin:
            raise LineFault("SIM asks for a PIN: set sim_pin for this line, or remove the PIN lock in a phone")
        if self._pin_rejected:
            raise LineFault("SIM rejected the configured PIN earlier; fix sim_pin (not retried, to avoid PUK lock)")
        try:
            self._cmd(f'AT+CPIN="{self._sim_pin}"')
        except AtError as exc:
            self._pin_rejected = True
            raise LineFault(
                "SIM rejected the configured PIN; fix sim_pin and restart. Not retried: three wrong PINs "
                "lock the SIM (PUK)"
            ) from exc
        time.sleep(0.2)

    def _wait_registered(self) -> None:
        deadline = time.monotonic() + self.timing.register_timeout_s
        while True:
            creg = registration_stat(self._cmd("AT+CREG?"), "+CREG:")
            try:
                cereg = registration_stat(self._cmd("AT+CEREG?"), "+CEREG:")
            except AtError:
                cereg = 0  # 2G/3G-only firmware
            stats = {creg, cereg}
            if stats & {1, 5}:
                return
            if 3 in stats:
                raise LineFault("the network denied registration: the SIM may be inactive, out of credit or barred; "
                                "call the carrier")
            if time.monotonic() >= deadline or self._stopping.is_set():
                raise LineFault(
                    f"not registered on a network after {self.timing.register_timeout_s:.0f} s (CREG {creg}, "
                    f"CEREG {cereg}): check the antenna is on the MAIN connector and the SIM works in a phone"
                )
            time.sleep(min(1.0, max(0.05, self.timing.retry_interval_s / 4)))

    def _refresh_status(self) -> None:
        csq_payload = self._cmd("AT+CSQ").first("+CSQ:") or "99,99"
        try:
            csq = int(split_fields(csq_payload)[0])
        except ValueError:
            csq = 99
        cops = split_fields(self._cmd("AT+COPS?").first("+COPS:") or "")
        operator = ucs2_decode(cops[2]) if len(cops) > 2 else ""
        creg = registration_stat(self._cmd("AT+CREG?"), "+CREG:")
        try:
            cereg = registration_stat(self._cmd("AT+CEREG?"), "+CEREG:")
        except AtError:
            cereg = 0
        stat = creg if creg in (1, 5) else cereg
        self._status = ModemStatus(
            registered=stat in (1, 5), reg_stat=stat, csq=csq, rssi_dbm=csq_to_dbm(csq),
            operator=operator, model=self.profile.name,
        )
        if csq == 99 or csq < 5:
            log.warning("line %s: weak or no signal (CSQ %s); move the antenna or the box", self.line_id, csq)

    def _periodic(self) -> None:
        now = time.monotonic()
        call = self._call
        if call is not None and not call.answered and now >= call.deadline and call.released:
            self._end_call(*self._unanswered_end(call, "released"))
        elif call is not None and not call.answered and now >= call.deadline:
            log.info("line %s: no answer from %s in %.0f s, hanging up", self.line_id,
                     mask_number(call.number), self.timing.dial_timeout_s)
            self._try_cmd("AT+CHUP")
            self._end_call(CallEnd.NO_ANSWER, f"no answer within {self.timing.dial_timeout_s:.0f} s")
        if call is None and self.state == LineState.RINGING and now - self._last_ring > RING_EPISODE_S:
            self._ring_handled = False  # the caller gave up without a release code reaching us
            self._rings = 0
            self._set_state(LineState.READY)
        if now >= self._next_health:
            self._next_health = now + self.timing.health_interval_s
            self._cmd("AT")  # AtTimeout here means the modem hung → reset
        if now >= self._next_status and self._call is None:
            self._next_status = now + self.timing.status_interval_s
            self._refresh_status()
            if not self._status.registered:
                raise LineFault("lost network registration: check the antenna and the carrier's coverage")

    # -- faults -----------------------------------------------------------------------------------
    def _fault(self, detail: str) -> None:
        """Enter FAULT: end any call FAILED (once), tell the LEDs/panel, let the loop recover."""
        self._healthy = False
        self._fault_detail = detail
        if self._call is not None:
            self.stats["calls_failed_by_fault"] += 1
        self._end_call(CallEnd.FAILED, detail)
        if self.state != LineState.FAULT or detail != self._last_fault:
            log.error("line %s FAULT: %s", self.line_id, detail)
            self._last_fault = detail
            self._set_state(LineState.FAULT, detail)

    def _port_lost(self, reason: str) -> None:
        if self._chan is None:
            return
        self.stats["port_lost"] += 1
        self._close_port()
        self._fault(
            f"modem disappeared from {self.at_port} ({reason}): check the USB cable and the modem's power; "
            f"retrying every {self.timing.retry_interval_s:g} s"
        )

    def _modem_hung(self, reason: str) -> None:
        """No final result in time: restart the modem with AT+CFUN=1,1 and re-init from scratch."""
        log.warning("line %s: modem stopped answering (%s); resetting with AT+CFUN=1,1", self.line_id, reason)
        self.stats["resets"] += 1
        self._stop_audio(send_commands=False)
        chan = self._chan
        self._healthy = False
        self._fault(  # first: the call in progress ends FAILED now, not after the reset attempt
            f"modem stopped answering AT commands ({reason}); restarting it with AT+CFUN=1,1. If this repeats, "
            "power-cycle the modem and check its supply (SIM7600 needs 2 A peaks)"
        )
        if chan is not None:
            try:
                chan.command("AT+CFUN=1,1", timeout=1.0)
            except (AtError, AtTimeout, PortGone):
                pass  # a hung modem often does not confirm; the reboot shows up as re-enumeration
        self._close_port()
        self._idle(self.timing.reset_settle_s)

    # -- calls --------------------------------------------------------------------------------------
    def _refuse(self, call: _GsmCall, detail: str) -> None:
        log.warning("line %s: call to %s not placed: %s", self.line_id, mask_number(call.number), detail)
        call.ended = True
        self._safe(call.listener, "on_ended", CallEnd.FAILED, detail)

    def _dial(self, call: _GsmCall) -> None:
        if not self._healthy or self.state != LineState.READY:
            self._refuse(call, f"line is {self.state.value}: {self._fault_detail or 'not ready'}")
            return
        if self._call is not None:
            self._refuse(call, "line is busy with another call")
            return
        if not DIALABLE.fullmatch(call.number):
            self._refuse(call, "number is not plain digits (optional leading +); refusing to send it to the modem")
            return
        if self._audio is None:
            self._refuse(call, f"no call audio path for {self.profile.name}: only SIM7600 PCM audio is "
                               "implemented; give the line an audio_port")
            return
        self._call = call
        call.deadline = time.monotonic() + self.timing.dial_timeout_s
        self._set_state(LineState.DIALING, mask_number(call.number))
        log.info("line %s: dialing %s", self.line_id, mask_number(call.number))
        try:
            self._cmd(f"ATD{call.number};")  # sent exactly once; never retried
        except AtError as exc:
            final = exc.response.final
            reason = {"BUSY": CallEnd.BUSY, "NO ANSWER": CallEnd.NO_ANSWER}.get(final, CallEnd.FAILED)
            self._end_call(reason, f"modem answered ATD with {final}")

    def _connected(self, call: _GsmCall) -> None:
        if call.answered or call.ended:
            return
        call.answered = True
        self._set_state(LineState.IN_CALL, mask_number(call.number))
        if self._audio is not None:
            try:  # open first, then route audio to it, so the first frames are not lost
                self._audio.open(call.listener.on_audio if call.listener else (lambda f: None), call.playback)
                self._audio_open = True
            except PortGone as exc:
                self._cmd("AT+CHUP")
                self._end_call(CallEnd.FAILED, str(exc))
                return
            for command in self._audio.enable_commands:
                self._cmd(command)
        self._safe(call.listener, "on_answered")

    def _stop_audio(self, send_commands: bool = True) -> None:
        if self._audio is None or not self._audio_open:
            return
        self._audio_open = False
        self._audio.close()
        if send_commands:
            for command in self._audio.disable_commands:
                self._try_cmd(command)

    def _end_call(self, reason: CallEnd, detail: str) -> None:
        """The only place a call ends; guarded so each call reports exactly one on_ended."""
        call = self._call
        if call is None or call.ended:
            return
        call.ended = True
        self._call = None
        self._stop_audio(send_commands=self._healthy)
        if self._healthy:
            self._try_cmd("AT")  # flush trailing URCs of this call (NO CARRIER after END) into the queue
        log.info("line %s: call %s %s ended: %s (%s)", self.line_id, call.direction,
                 mask_number(call.number), reason.value, detail)
        self._ring_handled = False
        self._rings = 0
        self._safe(call.listener, "on_ended", reason, detail)
        if self._healthy:
            self._set_state(LineState.READY)

    def _hangup(self, call: _GsmCall) -> None:
        if call is not self._call or call.ended:
            return
        self._try_cmd("AT+CHUP")
        if call.answered:
            self._end_call(CallEnd.COMPLETED, "hung up by callbox")
        else:
            self._end_call(CallEnd.NO_ANSWER, "cancelled by callbox before answer")

    def _send_dtmf(self, call: _GsmCall, digits: str) -> None:
        if call is not self._call or not call.answered:
            log.info("line %s: DTMF dropped, call not connected", self.line_id)
            return
        for key in digits:
            try:
                self._cmd(f"AT+VTS={key}")
            except AtError as exc:
                log.warning("line %s: AT+VTS=%s refused (%s)", self.line_id, key, exc.response.final)
                return

    def _try_cmd(self, command: str) -> Response | None:
        """Best effort: used while tidying up, where a failure must not start another fault cascade."""
        try:
            return self._cmd(command)
        except (AtError, AtTimeout, PortGone) as exc:
            log.debug("line %s: %s failed while tidying up: %s", self.line_id, command, exc)
            return None

    # -- URCs -------------------------------------------------------------------------------------
    def _on_urc(self, urc: Urc) -> None:
        event = interpret_urc(urc.text, self.profile)
        call = self._call
        if isinstance(event, SimRemoved):
            raise LineFault(
                f"SIM card removed or lost contact ({event.text}): power off, reseat the SIM, power on"
            )
        if isinstance(event, CallConnected):
            if call is not None:
                self._connected(call)
        elif isinstance(event, CallAlerting):
            if call is not None and call.direction == "out" and not call.answered:
                call.alerting = True
                self._set_state(LineState.RINGING, mask_number(call.number))
        elif isinstance(event, CallReleased):
            self._released(event.code)
        elif isinstance(event, IncomingRing):
            self._ring(event.number)
        elif isinstance(event, DtmfKey):
            if call is not None and call.answered:
                self._safe(call.listener, "on_dtmf", event.key)
        elif isinstance(event, SmsArrived):
            self._read_sms(event.index)
        elif isinstance(event, Ignored) and not urc.known:
            log.debug("line %s: unrecognised modem line %r", self.line_id, urc.text)

    def _released(self, code: str) -> None:
        call = self._call
        if call is None:
            if self.state == LineState.RINGING:  # the caller gave up before we answered
                self._ring_handled = False
                self._rings = 0
                self._set_state(LineState.READY)
            return
        if call.answered:
            self._end_call(CallEnd.COMPLETED, f"far end hung up ({code})")
        elif code == "released":
            # +CLCC/^DSCI "released" precedes the code that says why (BUSY, NO ANSWER): wait briefly for it
            call.released = True
            call.deadline = min(call.deadline, time.monotonic() + 1.5)
        else:
            self._end_call(*self._unanswered_end(call, code))

    @staticmethod
    def _unanswered_end(call: _GsmCall, code: str) -> tuple[CallEnd, str]:
        if code == "BUSY":
            return CallEnd.BUSY, "callee busy"
        if code == "NO ANSWER" or call.alerting:
            return CallEnd.NO_ANSWER, f"not answered ({code})"
        return CallEnd.FAILED, (f"network released the call before it rang ({code}): number unreachable, "
                                "or no credit on the SIM")

    def _ring(self, number: str | None) -> None:
        if self._call is not None:
            return  # call waiting is not supported: the modem keeps ringing it until the caller gives up
        if self.state not in (LineState.READY, LineState.RINGING) or self._ring_handled:
            return
        self._last_ring = time.monotonic()
        self._set_state(LineState.RINGING, "incoming call")
        if number is None:
            self._rings += 1
            if self._rings < 2:
                return  # wait for +CLIP with the number
            number = ""
        self._ring_handled = True
        self._incoming(number)

    def _incoming(self, number: str) -> None:
        call = _GsmCall(self, number, None, "in")
        listener = None
        accept = getattr(self.handler, "on_incoming_call", None)
        if accept is not None:
            try:
                listener = accept(number, call)
            except Exception:
                log.exception("line %s: incoming-call handler failed; rejecting the call", self.line_id)
        if listener is None:
            log.info("line %s: rejecting inbound call from %s (no handler accepted it)",
                     self.line_id, mask_number(number) or "withheld number")
            self._try_cmd("AT+CHUP")
            self._ring_handled = False
            self._rings = 0
            self._set_state(LineState.READY)
            return
        call.listener = listener
        call.deadline = time.monotonic() + self.timing.dial_timeout_s
        self._call = call
        log.info("line %s: answering call from %s", self.line_id, mask_number(number) or "withheld number")
        try:
            self._cmd("ATA")
        except AtError as exc:
            self._end_call(CallEnd.FAILED, f"could not answer ({exc.response.final}): the caller hung up first?")
            return
        self._connected(call)

    # -- SMS ----------------------------------------------------------------------------------------
    def _read_sms(self, index: int) -> None:
        response = self._cmd(f"AT+CMGR={index}", timeout=self.timing.sms_timeout_s)
        header_at = next((i for i, line in enumerate(response.lines) if line.startswith("+CMGR:")), None)
        if header_at is None:
            log.warning("line %s: SMS %s unreadable: %r", self.line_id, index, response.lines)
            return
        fields = split_fields(response.lines[header_at][6:])
        number = ucs2_decode(fields[1]) if len(fields) > 1 else ""
        text = "\n".join(ucs2_decode(line) for line in response.lines[header_at + 1 :])
        if is_opt_out_text(text):
            log.info("line %s: opt-out SMS from %s", self.line_id, mask_number(number))
            opt_out = getattr(self.handler, "on_sms_opt_out", None)
            if opt_out is None:
                log.error("line %s: opt-out SMS from %s but no handler is wired; SMS %s kept on the SIM",
                          self.line_id, mask_number(number), index)
                return
            try:
                opt_out(number)
            except Exception:
                log.exception("line %s: recording the opt-out failed; SMS %s kept on the SIM", self.line_id, index)
                return
            self._send_sms(number, OPT_OUT_REPLY)
        else:
            other = getattr(self.handler, "on_sms", None)
            if other is not None:
                self._safe_call(other, number, text)
        self._try_cmd(f"AT+CMGD={index}")  # keep SIM storage from filling up

    def _send_sms(self, number: str, text: str) -> None:
        if not DIALABLE.fullmatch(number):
            log.info("line %s: not replying to sender %r (not a phone number)", self.line_id, number)
            return
        try:
            self._cmd(f'AT+CMGS="{ucs2_encode(number)}"', timeout=self.timing.sms_timeout_s,
                      payload=ucs2_encode(text))
        except AtError as exc:
            log.warning("line %s: confirmation SMS to %s failed (%s)", self.line_id, mask_number(number),
                        exc.response.final)

    # -- helpers ------------------------------------------------------------------------------------
    def _safe(self, listener: Any, method: str, *args: Any) -> None:
        if listener is None:
            return
        self._safe_call(getattr(listener, method), *args)

    def _safe_call(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("line %s: listener %s raised", self.line_id, getattr(fn, "__name__", fn))

    def _notify_waiters(self, _event: Any) -> None:
        with self._state_changed:
            self._state_changed.notify_all()
