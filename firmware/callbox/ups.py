"""Clean shutdown when a UPS HAT says mains power is gone.

Why: SQLite with WAL + ``synchronous=FULL`` survives a hard power cut, but an SD card that loses power
in the middle of an erase block can still corrupt *other* files, and a recording in progress loses its
last chunk. A UPS HAT keeps the Pi alive for a minute or two and raises a GPIO line when the mains
fails; we then shut down cleanly (``systemctl poweroff`` stops ``callbox.service`` with SIGTERM first).

Brief mains dips are common in clinics (a compressor starting): only a power loss that lasts
``grace_s`` triggers the shutdown, and power coming back within the grace period cancels it.
The pin, its polarity, the grace period and the command are configurable (``[ups]`` in callbox.toml);
tests drive the pin through gpiozero's ``MockFactory``.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

DEFAULT_COMMAND = "systemctl poweroff"


@dataclass(frozen=True)
class UpsConfig:
    gpio: int = 26  # BCM; free in hardware/pinmap.md. Geekworm X728 uses 6, check your HAT's manual
    active_high: bool = True  # True: the pin goes high when mains power is lost
    grace_s: float = 10.0
    command: str = DEFAULT_COMMAND


class UpsMonitor:
    """Watches the power-loss pin; runs ``command`` once if power stays lost for ``grace_s``."""

    def __init__(
        self,
        config: UpsConfig,
        pin_factory: object | None = None,
        run: Callable[[list[str]], int] | None = None,
    ) -> None:
        from gpiozero import DigitalInputDevice

        self.config = config
        self._run = run or (lambda argv: subprocess.run(argv, check=False).returncode)
        self._device = DigitalInputDevice(
            config.gpio, pull_up=None, active_state=config.active_high, pin_factory=pin_factory
        )
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.shutdown_started = threading.Event()
        self.shutdown_finished = threading.Event()  # the command returned (tests wait on this)
        self._device.when_activated = self._power_lost
        self._device.when_deactivated = self._power_back
        if self._device.is_active:
            self._power_lost()

    def _power_lost(self) -> None:
        with self._lock:
            if self._timer is None and not self.shutdown_started.is_set():
                log.warning("mains power lost; shutting down in %.0f s unless it comes back", self.config.grace_s)
                self._timer = threading.Timer(self.config.grace_s, self._shutdown)
                self._timer.daemon = True
                self._timer.start()

    def _power_back(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                log.warning("mains power is back; shutdown cancelled")

    def _shutdown(self) -> None:
        with self._lock:
            self._timer = None
            if not self._device.is_active or self.shutdown_started.is_set():
                return
            self.shutdown_started.set()
        log.warning("mains power still lost after %.0f s: running %s", self.config.grace_s, self.config.command)
        try:
            code = self._run(shlex.split(self.config.command))
            if code != 0:
                log.error("shutdown command %r failed with exit status %s", self.config.command, code)
        finally:
            self.shutdown_finished.set()

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._device.close()
