"""A GSM/LTE voice line on a SIM7600- or EC25-class modem, driven over AT commands (pyserial).

How the pieces fit (one job per module):

* :mod:`callbox.lines.at` parses the modem's bytes and runs one command at a time.
* :mod:`callbox.lines.gsm_profiles`: what differs between modem families (:class:`ModemProfile`).
* :mod:`callbox.lines.gsm_urc` (pure): :func:`interpret_urc` turns URC text into :class:`ModemEvent`
  values for one modem family.
* :mod:`callbox.lines.gsm_setup`: :class:`ModemSetup` brings a modem up (SIM, PIN, SMS mode,
  registration) and reads its radio status; :class:`LineFault` names what a technician must fix.
* :mod:`callbox.lines.gsm_sms` (pure): opt-out texts and reading ``AT+CMGR``/``AT+CMGL`` replies.
* :mod:`callbox.lines.gsm_audio`: :class:`CallAudio` moves call audio; :class:`Sim7600PcmAudio` is the
  SIM7600 way (PCM on a second serial port).
* This module: :class:`GsmLine`, the line's state machine. It owns one worker thread. Everything that
  talks to the modem — URC handling, dialing, hang-up, DTMF, SMS, health checks, fault recovery —
  runs on that thread, in arrival order, so call state needs no locks and every call ends exactly once.

Caller ID is whatever the SIM and network present: the line never sends ``AT+CLIR``, never prefixes
``#31#``/``*31#`` and dials only plain digits, so nothing can alter or hide the calling number.
A call is dialled at most once per permit, only from :meth:`GsmLine._dial` (reached through
``Line.dial`` after the permit is redeemed): ``ATD`` is never retried.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol

import serial

from callbox.clock import Clock
from callbox.compliance.permit import PermitAuthority
from callbox.lines.at import AtChannel, AtError, AtTimeout, PortGone, Response, Urc, parse_cclk, ucs2_encode
from callbox.lines.base import CallControl, CallEnd, CallListener, Line, LineState, PlaybackBuffer
from callbox.lines.gsm_audio import CallAudio, Sim7600PcmAudio
from callbox.lines.gsm_profiles import PROFILES, ModemProfile
from callbox.lines.gsm_setup import LineFault, ModemSetup, ModemStatus, registration_stat
from callbox.lines.gsm_sms import OPT_OUT_REPLY, OPT_OUT_SUBSTRINGS, OPT_OUT_WORDS, is_opt_out_text, parse_cmgr
from callbox.lines.gsm_urc import (
    DTMF_KEYS,
    CallAlerting,
    CallConnected,
    CallReleased,
    DtmfKey,
    Ignored,
    IncomingRing,
    ModemEvent,
    Registration,
    SimRemoved,
    SmsArrived,
    interpret_urc,
)

# The GSM line's public names, including those defined in the gsm_* modules: re-exported so that
# ``from callbox.lines.gsm import X`` works for every name this module had before it was split.
__all__ = [
    "DIALABLE", "DTMF_KEYS", "OPT_OUT_REPLY", "OPT_OUT_SUBSTRINGS", "OPT_OUT_WORDS", "PROFILES", "RING_EPISODE_S",
    "CallAlerting", "CallAudio", "CallConnected", "CallReleased", "DtmfKey", "GsmHandler", "GsmLine", "GsmTiming",
    "Ignored", "IncomingRing", "LineFault", "ModemEvent", "ModemProfile", "ModemStatus", "Registration",
    "SimRemoved", "Sim7600PcmAudio", "SmsArrived", "interpret_urc", "is_opt_out_text", "mask_number",
    "registration_stat",
]

log = logging.getLogger(__name__)

#: Plain digits with an optional leading +. Excludes ``*``/``#`` (supplementary services such as
#: ``#31#`` caller-ID suppression), ``I``/``i`` (CLIR dial modifiers), ``>`` (phonebook) and ``;``.
DIALABLE = re.compile(r"\+?[0-9]{3,20}")
#: RING repeats every few seconds; this long without one (and no call) means the caller gave up.
RING_EPISODE_S = 10.0


def mask_number(number: str) -> str:
    """Logs carry only the last four digits: technicians need to tell calls apart, not read contacts."""
    return "*" * max(0, len(number) - 4) + number[-4:]


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
        self._setup = ModemSetup(line_id, self.profile, timing, self._cmd, sim_pin, self._stopping)
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
        stored_sms = self._setup.configure()
        self._setup.wait_registered()
        self._status = self._setup.read_status()
        for index in stored_sms:  # SMS that arrived while we were off or faulted (opt-outs must not be lost)
            self._read_sms(index)

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
            self._status = self._setup.read_status()
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
        sms = parse_cmgr(response.lines)
        if sms is None:
            log.warning("line %s: SMS %s unreadable: %r", self.line_id, index, response.lines)
            return
        number, text = sms
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
