"""Call audio of a GSM line: moving 20 ms PCM frames between the modem and the dialog.

:class:`CallAudio` is the interface :class:`callbox.lines.gsm.GsmLine` drives once a call connects.
:class:`Sim7600PcmAudio` is the SIM7600 way (raw 8 kHz PCM on a second USB serial port after
``AT+CPCMREG=1``). A Quectel EC25 exposes call audio as a USB Audio Class (UAC) sound card after
``AT+QPCMV=1,2`` instead; supporting it means one more ``CallAudio`` subclass that reads/writes that
ALSA device — nothing else changes.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Callable

import serial

from callbox.lines.at import PortGone
from callbox.lines.base import FRAME_BYTES, FRAME_MS, PlaybackBuffer

log = logging.getLogger(__name__)


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
