"""A pty-based GSM/LTE modem emulator that speaks real AT syntax (SIM7600 and EC25 flavours).

Why: the GSM line must be tested with its real serial code, byte for byte, without a SIM card or a
network. The emulator opens pseudo-terminals (``os.openpty``) and publishes them under stable symlink
paths (``.at_port``, ``.audio_port``), the way udev publishes ``/dev/callbox-modem-at``; unplugging
removes the ptys (the driver's reads fail with EIO, like a USB modem disappearing) and replugging
makes new ones under the same paths.

It scripts the far end of calls (:class:`Callee`, keyed by number), inbound calls and SMS, and injects
faults: garbled bytes, dropped URCs, slow OKs, a hang, unplug, SIM removal. Everything the driver sent
is logged (:attr:`ModemEmulator.commands`, :attr:`sent_sms`, :attr:`dtmf_received`, audio) so tests can
assert on what reached the "modem".

Run ``python -m callbox.lines.modem_emulator`` to poke it by hand with ``picocom``/``minicom``.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import os
import random
import select
import shutil
import tempfile
import threading
import time
import tty
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from callbox.clock import Clock, SystemClock
from callbox.lines.at import format_cclk, split_fields, ucs2_decode, ucs2_encode
from callbox.lines.base import FRAME_BYTES, FRAME_MS

log = logging.getLogger(__name__)

FRAME_S = FRAME_MS / 1000


@dataclass(frozen=True)
class Variant:
    """What differs between modem families, as far as the AT port shows it."""

    name: str
    model: str
    manufacturer: str
    pcm_port: bool  # SIM7600: call audio as raw PCM on a second serial port after AT+CPCMREG=1
    voice_call_urcs: bool  # SIM7600 prints VOICE CALL: BEGIN / END
    dsci_urcs: bool  # EC25 prints ^DSCI: call status after AT^DSCI=1
    dtmf_format: str  # how a received key is reported
    sim_removal_urc: str
    reenumerate_on_reset: bool  # a USB modem vanishes from the bus while it reboots


VARIANTS: dict[str, Variant] = {
    "sim7600": Variant(
        name="sim7600",
        model="SIMCOM_SIM7600G-H",
        manufacturer="SIMCOM INCORPORATED",
        pcm_port=True,
        voice_call_urcs=True,
        dsci_urcs=False,
        dtmf_format="+RXDTMF: {d}",
        sim_removal_urc="+SIMCARD: REMOVAL",
        reenumerate_on_reset=True,
    ),
    "ec25": Variant(
        name="ec25",
        model="EC25",
        manufacturer="Quectel",
        pcm_port=False,
        voice_call_urcs=False,
        dsci_urcs=True,
        dtmf_format="+QTONEDET: {o}",
        sim_removal_urc="+CPIN: NOT INSERTED",
        reenumerate_on_reset=True,
    ),
}


@dataclass
class Callee:
    """How the far end behaves when the box dials (or, for inbound calls, after the box answers).

    Times are seconds of real time. ``answer_after=None`` never answers (the network then reports
    NO ANSWER after ``no_answer_after``). ``dtmf`` lists (seconds after answer, keys).
    ``audio`` frames are played after answer instead of echoing what the box sends.
    """

    answer_after: float | None = 0.2
    busy: bool = False
    no_answer_after: float = 3.0
    hangup_after: float | None = None
    dtmf: list[tuple[float, str]] = field(default_factory=list)
    audio: list[bytes] | None = None


@dataclass
class _Call:
    number: str
    direction: int  # 0 = outgoing (mobile originated), 1 = incoming
    callee: Callee
    state: str = "dialing"  # dialing | alerting | incoming | active
    started: float = 0.0
    answered_at: float = 0.0
    audio_index: int = 0


@dataclass
class _Sms:
    number: str
    text: str
    status: str = "REC UNREAD"


class ModemEmulator:
    """A fake modem on a pty. Use as a context manager; all public methods are thread-safe."""

    def __init__(
        self,
        variant: str = "sim7600",
        clock: Clock | None = None,
        tz_quarters: int = 32,
        operator: str = "CHINA MOBILE",
        csq: int = 20,
        sim_pin: str | None = None,
        boot_s: float = 0.3,
        ring_interval_s: float = 1.0,
        default_callee: Callee | None = None,
        seed: int = 0,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown modem variant {variant!r}; choose one of {sorted(VARIANTS)}")
        self.variant = VARIANTS[variant]
        self.clock = clock or SystemClock()
        self.tz_quarters = tz_quarters
        self.operator = operator
        self.csq = csq
        self.sim_pin = sim_pin
        self.boot_s = boot_s
        self.ring_interval_s = ring_interval_s
        self.default_callee = default_callee or Callee()
        self.callees: dict[str, Callee] = {}
        self.reg_stat = 1
        self.reset_clears_hang = True

        # logs for tests
        self.commands: list[str] = []
        self.sent_sms: list[tuple[str, str]] = []
        self.dtmf_received: list[str] = []
        self.received_audio = bytearray()
        self.sent_audio_frames = 0
        self.resets = 0

        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._dir = tempfile.mkdtemp(prefix="callbox-modem-")
        self.at_port = os.path.join(self._dir, "at")
        self.audio_port = os.path.join(self._dir, "audio") if self.variant.pcm_port else None
        self._fds: dict[str, tuple[int, int]] = {}  # name -> (master, slave)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._wake_r, self._wake_w = os.pipe()
        self._running = False
        self._thread: threading.Thread | None = None
        self._rx = bytearray()
        self._audio_echo = bytearray()
        self._next_audio_tick = 0.0
        self._sms_store: dict[int, _Sms] = {}
        self._next_sms_index = 1
        self._sms_target: str | None = None
        self._sms_text = bytearray()
        self._call: _Call | None = None
        self._hung = False
        self._slow_ok_s = 0.0
        self._drop_urcs = 0
        self._sim_present = True
        self._reset_modem_settings()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "ModemEmulator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        with self._lock:
            self._running = True
            self._plug()
        self._thread = threading.Thread(target=self._loop, name="modem-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._running = False
            self._unplug()
        self._wake()
        if self._thread:
            self._thread.join(timeout=2)
        os.close(self._wake_r)
        os.close(self._wake_w)
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- scripting ---------------------------------------------------------------------------
    def add_callee(self, number: str, callee: Callee) -> None:
        with self._lock:
            self.callees[number] = callee

    def ring(self, number: str, callee: Callee | None = None, max_rings: int = 5) -> None:
        """An inbound call from ``number``: RING + CLIP every ring interval until ATA or give-up."""
        with self._lock:
            if self._call is not None:
                raise RuntimeError("the emulator has a call already; end it first")
            call = _Call(number, 1, callee or Callee(answer_after=None), state="incoming", started=time.monotonic())
            self._call = call
            self._ring_once(call, max_rings)

    def receive_sms(self, number: str, text: str) -> int:
        """Store an SMS and announce it with +CMTI, as a modem does with AT+CNMI=2,1."""
        with self._lock:
            index = self._next_sms_index
            self._next_sms_index += 1
            self._sms_store[index] = _Sms(number, text)
            self._urc(f'+CMTI: "SM",{index}')
            return index

    def far_end_hangup(self) -> None:
        with self._lock:
            if self._call is not None:
                self._remote_release(self._call)

    def set_registration(self, stat: int) -> None:
        """0 not registered, 1 home, 2 searching, 3 denied, 5 roaming."""
        with self._lock:
            self.reg_stat = stat
            if self._creg_n:
                self._urc(f"+CREG: {stat}")

    # -- faults ------------------------------------------------------------------------------
    def garble(self, n: int = 32) -> None:
        """Write ``n`` random bytes on the AT port (line noise, a brown-out)."""
        with self._lock:
            self._write("at", bytes(self._rng.randrange(256) for _ in range(n)))

    def drop_urcs(self, n: int) -> None:
        """Silently drop the next ``n`` URCs (a modem that loses indications under load)."""
        with self._lock:
            self._drop_urcs = n

    def slow_ok(self, seconds: float) -> None:
        """Delay every reply by ``seconds`` (0 to restore)."""
        with self._lock:
            self._slow_ok_s = seconds

    def hang(self, reset_clears: bool = True) -> None:
        """Stop answering. ``AT+CFUN=1,1`` still reboots it when ``reset_clears`` (firmware watchdog)."""
        with self._lock:
            self._hung = True
            self.reset_clears_hang = reset_clears

    def unhang(self) -> None:
        with self._lock:
            self._hung = False

    def unplug(self) -> None:
        """Pull the USB cable: the ptys close, any call is gone."""
        with self._lock:
            self._unplug()
            self._call = None

    def replug(self) -> None:
        """Plug it back: fresh ptys under the same paths, fresh boot."""
        with self._lock:
            self._reset_modem_settings()
            self._plug()
            self._boot_urcs()

    @property
    def plugged(self) -> bool:
        with self._lock:
            return bool(self._fds)

    def remove_sim(self) -> None:
        with self._lock:
            self._sim_present = False
            self._urc(self.variant.sim_removal_urc)
            if self._call is not None:
                self._remote_release(self._call)

    def insert_sim(self) -> None:
        with self._lock:
            self._sim_present = True
            self._urc("+CPIN: READY")

    # -- log helpers ---------------------------------------------------------------------------
    def command_log(self) -> list[str]:
        with self._lock:
            return list(self.commands)

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for c in self.commands if c.upper().startswith(prefix.upper()))

    def in_call(self) -> bool:
        with self._lock:
            return self._call is not None and self._call.state == "active"

    # -- pty plumbing ------------------------------------------------------------------------
    def _plug(self) -> None:
        if self._fds:
            return
        names = ["at"] + (["audio"] if self.variant.pcm_port else [])
        for name in names:
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass untouched
            os.set_blocking(master, False)
            self._fds[name] = (master, slave)
            link = os.path.join(self._dir, name)
            tmp = link + ".new"
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, link)
        self._rx.clear()
        self._wake()

    def _unplug(self) -> None:
        for name, (master, slave) in self._fds.items():
            try:
                os.unlink(os.path.join(self._dir, name))
            except FileNotFoundError:
                pass
            for fd in (master, slave):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fds.clear()
        self._pcm_on = False
        self._wake()

    def _write(self, name: str, data: bytes) -> None:
        fds = self._fds.get(name)
        if not fds:
            return
        try:
            os.write(fds[0], data)
        except (BlockingIOError, OSError):
            pass  # a full buffer drops bytes, as a UART overrun would

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _after(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn))
        self._wake()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._running:
                    return
                now = time.monotonic()
                timeout = 0.5
                if self._timers:
                    timeout = min(timeout, max(0.0, self._timers[0][0] - now))
                if self._audio_streaming():
                    timeout = min(timeout, max(0.0, self._next_audio_tick - now))
                watch = {fds[0]: name for name, fds in self._fds.items()}
            try:
                readable, _, _ = select.select([self._wake_r, *watch], [], [], timeout)
            except (OSError, ValueError):
                continue  # a pty was unplugged (closed) since `watch` was taken: look again
            with self._lock:
                if not self._running:
                    return
                for fd in readable:
                    if fd == self._wake_r:
                        os.read(self._wake_r, 4096)
                        continue
                    name = watch[fd]
                    if self._fds.get(name, (None,))[0] != fd:
                        continue  # unplugged meanwhile
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        continue
                    if name == "at":
                        self._on_at_bytes(data)
                    else:
                        self._on_audio_bytes(data)
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, _, fn = heapq.heappop(self._timers)
                    try:
                        fn()
                    except Exception:
                        log.exception("emulator timer failed")
                if self._audio_streaming() and now >= self._next_audio_tick:
                    self._audio_tick()
                    self._next_audio_tick = max(self._next_audio_tick + FRAME_S, now - FRAME_S)

    # -- AT side -------------------------------------------------------------------------------
    def _reset_modem_settings(self) -> None:
        self._echo = True
        self._cmee = 0
        self._cscs = "IRA"
        self._clip = False
        self._creg_n = 0
        self._dsci = False
        self._clcc_urc = False
        self._pcm_on = False
        self._pin_ok = self.sim_pin is None
        self._sms_target = None
        self._rx = bytearray()

    def _boot_urcs(self) -> None:
        self._urc("RDY")
        self._urc("+CPIN: READY" if self._sim_present else "+CPIN: NOT INSERTED")
        self._urc("SMS DONE")
        self._urc("PB DONE")

    def _on_at_bytes(self, data: bytes) -> None:
        self._rx.extend(data)
        if self._sms_target is not None:
            self._collect_sms_text()
            return
        while True:
            cut = self._rx.find(b"\r")
            if cut < 0:
                if len(self._rx) > 2048:
                    self._rx.clear()
                return
            raw = bytes(self._rx[:cut])
            del self._rx[: cut + 1]
            line = raw.decode("utf-8", errors="replace").strip("\n ").strip()
            if not line:
                continue
            self.commands.append(line)
            if self._hung:
                if self.reset_clears_hang and line.upper().replace(" ", "") == "AT+CFUN=1,1":
                    self._reset()
                continue
            if self._echo:
                self._write("at", raw + b"\r")
            self._command(line)
            if self._sms_target is not None:
                self._collect_sms_text()
                return

    def _send(self, text: str) -> None:
        payload = text.encode()
        if self._slow_ok_s > 0:
            self._after(self._slow_ok_s, lambda: self._write("at", payload))
        else:
            self._write("at", payload)

    def _reply(self, *lines: str, final: str = "OK") -> None:
        self._send("".join(f"\r\n{line}\r\n" for line in lines) + f"\r\n{final}\r\n")

    def _cme(self, code: int, text: str) -> None:
        if self._cmee == 2:
            self._reply(final=f"+CME ERROR: {text}")
        elif self._cmee == 1:
            self._reply(final=f"+CME ERROR: {code}")
        else:
            self._reply(final="ERROR")

    def _urc(self, text: str) -> None:
        if self._drop_urcs > 0:
            self._drop_urcs -= 1
            return
        self._write("at", f"\r\n{text}\r\n".encode())

    def _enc(self, text: str) -> str:
        return ucs2_encode(text) if self._cscs == "UCS2" else text

    def _dec(self, text: str) -> str:
        return ucs2_decode(text) if self._cscs == "UCS2" else text

    def _command(self, line: str) -> None:  # noqa: C901 - a flat dispatch table reads best
        cmd = line.strip()
        up = cmd.upper()
        if not up.startswith("AT"):
            self._reply(final="ERROR")
            return
        body = up[2:]
        raw_body = cmd[2:]
        if body in ("", "Z", "&F", "V1", "E1V1"):
            self._reply()
        elif body in ("E0", "E1"):
            self._echo = body == "E1"
            self._reply()
        elif body.startswith("+CMEE="):
            self._cmee = int(body[6:] or 0)
            self._reply()
        elif body == "I":
            self._reply(f"Manufacturer: {self.variant.manufacturer}", f"Model: {self.variant.model}", "Revision: EMU")
        elif body == "+CGMM":
            self._reply(self.variant.model)
        elif body == "+CGSN":
            self._reply("861234567890123")
        elif body == "+CPIN?":
            if not self._sim_present:
                self._cme(10, "SIM not inserted")
            else:
                self._reply("+CPIN: READY" if self._pin_ok else "+CPIN: SIM PIN")
        elif body.startswith("+CPIN="):
            pin = raw_body[6:].strip().strip('"')
            if not self._sim_present:
                self._cme(10, "SIM not inserted")
            elif pin == self.sim_pin:
                self._pin_ok = True
                self._reply()
                self._after(0.05, lambda: self._urc("+CPIN: READY"))
            else:
                self._cme(16, "incorrect password")
        elif body in ("+CREG?", "+CEREG?", "+CGREG?"):
            name = body[:-1]
            stat = self.reg_stat if (self._sim_present and self._pin_ok) else 0
            self._reply(f"{name}: {self._creg_n},{stat}")
        elif body.startswith(("+CREG=", "+CEREG=", "+CGREG=")):
            if body.startswith("+CREG="):
                self._creg_n = int(body[6:] or 0)
            self._reply()
        elif body == "+CSQ":
            self._reply(f"+CSQ: {self.csq if self._sim_present else 99},99")
        elif body == "+COPS?":
            if self._sim_present and self.reg_stat in (1, 5):
                self._reply(f'+COPS: 0,0,"{self.operator}",7')
            else:
                self._reply("+COPS: 0")
        elif body == "+CCLK?":
            self._reply(f"+CCLK: {format_cclk(self.clock.now(), self.tz_quarters)}")
        elif body == "+CFUN?":
            self._reply("+CFUN: 1")
        elif body.replace(" ", "") == "+CFUN=1,1":
            self._reply()
            self._reset()
        elif body.startswith("+CFUN="):
            self._reply()
        elif body.startswith("+CLIP="):
            self._clip = body.endswith("1")
            self._reply()
        elif body.startswith("^DSCI="):
            if self.variant.dsci_urcs:
                self._dsci = body.endswith("1")
                self._reply()
            else:
                self._reply(final="ERROR")
        elif body.startswith("+CLCC="):
            self._clcc_urc = body.endswith("1")
            self._reply()
        elif body.startswith(("+CMGF=", "+CNMI=", "+CSMP=", "+CPMS", "+DDET=", "+CPCMFRM=", "+CRC=")):
            self._reply()
        elif body.startswith("+QTONEDET=") or body.startswith("+QPCMV="):
            self._reply() if self.variant.name == "ec25" else self._reply(final="ERROR")
        elif body.startswith("+CSCS="):
            self._cscs = raw_body[6:].strip().strip('"').upper()
            self._reply()
        elif body == "+CLCC":
            lines = []
            if self._call is not None:
                stat = {"dialing": 2, "alerting": 3, "active": 0, "incoming": 4}[self._call.state]
                lines.append(f'+CLCC: 1,{self._call.direction},{stat},0,0,"{self._call.number}",129')
            self._reply(*lines)
        elif body.startswith("D"):
            self._dial(raw_body[1:])
        elif body == "A":
            self._answer()
        elif body in ("+CHUP", "H", "H0"):
            self._local_hangup()
        elif body.startswith("+VTS="):
            keys = raw_body[5:].strip().strip('"').replace(",", "")
            if self._call is None or self._call.state != "active":
                self._cme(3, "operation not allowed")
            else:
                self.dtmf_received.extend(keys)
                self._reply()
        elif body.startswith("+CPCMREG="):
            if not self.variant.pcm_port:
                self._reply(final="ERROR")
            else:
                self._pcm_on = body.endswith("1")
                self._next_audio_tick = time.monotonic()
                self._reply()
        elif body.startswith("+CMGR="):
            self._read_sms(int(body[6:]))
        elif body.startswith("+CMGL"):
            lines = []
            for index, sms in sorted(self._sms_store.items()):
                lines.append(f'+CMGL: {index},"{sms.status}","{self._enc(sms.number)}","",')
                lines.append(self._enc(sms.text))
            self._reply(*lines)
        elif body.startswith("+CMGD="):
            self._sms_store.pop(int(split_fields(body[6:])[0]), None)
            self._reply()
        elif body.startswith("+CMGS="):
            self._sms_target = self._dec(split_fields(raw_body[6:])[0])
            self._sms_text = bytearray()
            self._write("at", b"\r\n> ")
        else:
            self._reply(final="ERROR")

    def _reset(self) -> None:
        """AT+CFUN=1,1: reboot. A USB modem drops off the bus meanwhile."""
        self.resets += 1
        self._hung = False
        self._call = None
        self._reset_modem_settings()
        if self.variant.reenumerate_on_reset:
            self._after(0.05, self._unplug)  # let the OK drain first

            def back() -> None:
                if self._running:
                    self._plug()
                    self._boot_urcs()

            self._after(0.05 + self.boot_s, back)
        else:
            self._after(self.boot_s, self._boot_urcs)

    # -- calls ---------------------------------------------------------------------------------
    def _status(self, call: _Call, stat: int) -> None:
        if self._clcc_urc:
            self._urc(f'+CLCC: 1,{call.direction},{stat},0,0,"{self._enc(call.number)}",129')
        if self._dsci:
            self._urc(f"^DSCI: 1,{call.direction},{stat},0,{call.number},129")

    def _dial(self, rest: str) -> None:
        number = rest.strip()
        if not number.endswith(";"):
            self._reply(final="NO CARRIER")  # a data call: not supported
            return
        number = number[:-1]
        if not self._sim_present:
            self._cme(10, "SIM not inserted")
            return
        if self._call is not None:
            self._cme(3, "operation not allowed")
            return
        if self.reg_stat not in (1, 5):
            self._reply()
            self._after(0.05, lambda: self._urc("NO CARRIER"))
            return
        callee = self.callees.get(number, self.default_callee)
        call = _Call(number, 0, callee, started=time.monotonic())
        self._call = call
        self._reply()
        self._status(call, 2)

        def alerting() -> None:
            if self._call is call and call.state == "dialing":
                if callee.busy:
                    self._call = None
                    self._status(call, 6)
                    self._urc("BUSY")
                    return
                call.state = "alerting"
                self._status(call, 3)

        self._after(0.05, alerting)
        if callee.busy:
            return
        if callee.answer_after is not None and callee.answer_after < callee.no_answer_after:
            self._after(max(0.06, callee.answer_after), lambda: self._connect(call))
        else:

            def no_answer() -> None:
                if self._call is call and call.state != "active":
                    self._call = None
                    self._status(call, 6)
                    self._urc("NO ANSWER")

            self._after(callee.no_answer_after, no_answer)

    def _connect(self, call: _Call) -> None:
        if self._call is not call:
            return
        call.state = "active"
        call.answered_at = time.monotonic()
        if self.variant.voice_call_urcs:
            self._urc("VOICE CALL: BEGIN")
        self._status(call, 0)
        for at, keys in call.callee.dtmf:
            self._after(at, lambda keys=keys: self._far_keys(call, keys))
        if call.callee.hangup_after is not None:
            self._after(call.callee.hangup_after, lambda: self._remote_release(call))

    def _far_keys(self, call: _Call, keys: str) -> None:
        if self._call is not call:
            return
        for key in keys:
            self._urc(self.variant.dtmf_format.format(d=key, o=ord(key)))

    def _duration(self, call: _Call) -> str:
        secs = int(time.monotonic() - call.answered_at) if call.answered_at else 0
        return f"{secs // 3600:02d}{secs // 60 % 60:02d}{secs % 60:02d}"

    def _remote_release(self, call: _Call) -> None:
        if self._call is not call:
            return
        self._call = None
        self._pcm_on = False
        if self.variant.voice_call_urcs and call.state == "active":
            self._urc(f"VOICE CALL: END: {self._duration(call)}")
        self._status(call, 6)
        self._urc("NO CARRIER")

    def _local_hangup(self) -> None:
        call = self._call
        self._call = None
        if call is not None and self.variant.voice_call_urcs and call.state == "active":
            self._urc(f"VOICE CALL: END: {self._duration(call)}")
        if call is not None:
            self._status(call, 6)
        self._reply()

    def _ring_once(self, call: _Call, rings_left: int) -> None:
        if self._call is not call or call.state != "incoming":
            return
        if rings_left <= 0:
            self._call = None
            if self.variant.voice_call_urcs:
                self._urc(f"MISSED_CALL: {datetime.now(timezone.utc):%I:%M%p} {call.number}")
            self._urc("NO CARRIER")
            return
        self._urc("RING")
        if self._clip:
            self._urc(f'+CLIP: "{call.number}",129,"",0,"",0')
        self._status(call, 4)
        self._after(self.ring_interval_s, lambda: self._ring_once(call, rings_left - 1))

    def _answer(self) -> None:
        call = self._call
        if call is None or call.state != "incoming":
            self._reply(final="NO CARRIER")
            return
        self._reply()
        self._connect(call)

    # -- audio (SIM7600 PCM port) --------------------------------------------------------------
    def _audio_streaming(self) -> bool:
        return self._pcm_on and "audio" in self._fds and self._call is not None and self._call.state == "active"

    def _audio_tick(self) -> None:
        call = self._call
        assert call is not None
        frames = call.callee.audio
        if frames is not None:
            if call.audio_index < len(frames):
                frame = frames[call.audio_index]
                call.audio_index += 1
            else:
                frame = bytes(FRAME_BYTES)
        elif len(self._audio_echo) >= FRAME_BYTES:
            frame = bytes(self._audio_echo[:FRAME_BYTES])
            del self._audio_echo[:FRAME_BYTES]
        else:
            frame = bytes(FRAME_BYTES)
        self._write("audio", frame)
        self.sent_audio_frames += 1

    def _on_audio_bytes(self, data: bytes) -> None:
        if self._audio_streaming():
            self.received_audio.extend(data)
            self._audio_echo.extend(data)
            if len(self._audio_echo) > FRAME_BYTES * 50:
                del self._audio_echo[: -FRAME_BYTES * 50]

    # -- SMS -----------------------------------------------------------------------------------
    def _read_sms(self, index: int) -> None:
        sms = self._sms_store.get(index)
        if sms is None:
            self._reply(final="+CMS ERROR: 321" if self._cmee else "ERROR")
            return
        stamp = format_cclk(self.clock.now(), self.tz_quarters)
        header = f'+CMGR: "{sms.status}","{self._enc(sms.number)}","",{stamp}'
        sms.status = "REC READ"
        self._reply(header, self._enc(sms.text))

    def _collect_sms_text(self) -> None:
        for end, send in ((b"\x1a", True), (b"\x1b", False)):
            cut = self._rx.find(end)
            if cut >= 0:
                text = bytes(self._rx[:cut]).decode("utf-8", errors="replace")
                del self._rx[: cut + 1]
                target, self._sms_target = self._sms_target, None
                if send and target is not None:
                    self.sent_sms.append((target, self._dec(text)))
                    self._reply(f"+CMGS: {len(self.sent_sms)}")
                else:
                    self._reply()
                if self._rx:
                    self._on_at_bytes(b"")
                return


def main(argv: list[str] | None = None) -> None:
    """Interactive emulator: prints its ports, then reads commands from stdin."""
    parser = argparse.ArgumentParser(description="callbox modem emulator (pty)")
    parser.add_argument("--variant", default="sim7600", choices=sorted(VARIANTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    help_text = (
        "commands: ring <number> | sms <number> <text> | hangup | unplug | replug | hang | unhang |\n"
        "          sim out | sim in | garble | slow <seconds> | reg <stat> | log | quit"
    )
    with ModemEmulator(variant=args.variant) as emu:
        print(f"AT port:    {emu.at_port}")
        print(f"audio port: {emu.audio_port or '(none: this variant has no PCM serial port)'}")
        print(help_text)
        while True:
            try:
                line = input("emu> ").strip()
            except (EOFError, KeyboardInterrupt):
                break
            word, _, rest = line.partition(" ")
            try:
                if word == "ring":
                    emu.ring(rest.strip())
                elif word == "sms":
                    number, _, text = rest.partition(" ")
                    emu.receive_sms(number, text)
                elif word == "hangup":
                    emu.far_end_hangup()
                elif word in ("unplug", "replug", "hang", "unhang", "garble"):
                    getattr(emu, word)()
                elif word == "sim":
                    emu.remove_sim() if rest.strip() == "out" else emu.insert_sim()
                elif word == "slow":
                    emu.slow_ok(float(rest))
                elif word == "reg":
                    emu.set_registration(int(rest))
                elif word == "log":
                    print("\n".join(emu.command_log()[-30:]))
                    print("sent sms:", emu.sent_sms, "dtmf:", "".join(emu.dtmf_received))
                elif word in ("quit", "exit"):
                    break
                elif word:
                    print(help_text)
            except Exception as exc:  # a typo must not kill the session
                print(f"error: {exc}")


if __name__ == "__main__":
    main()
