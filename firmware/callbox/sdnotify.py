"""Telling systemd how the daemon is doing (``sd_notify``), without a dependency.

Why: ``callbox.service`` is ``Type=notify`` with ``WatchdogSec=``. systemd only marks the box
"started" when the daemon says ``READY=1`` (lines up, voice loaded), and restarts it when the
``WATCHDOG=1`` pings stop — a hung daemon on a box nobody looks at for months must not stay hung.
The protocol is one datagram of ``KEY=VALUE`` lines to the unix socket named in ``$NOTIFY_SOCKET``
(``@`` means the abstract namespace). Outside systemd the variable is unset and every call is a no-op.

A watchdog ping must prove the *main loop* is alive, not merely that some thread is. A phone call
can hold the campaign loop for minutes, so :class:`Watchdog` pings from a small thread only while
the loop (or call progress events) keep calling :meth:`Watchdog.beat` within ``stall_s``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Mapping


def notify(*states: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``states`` (e.g. ``"READY=1"``) to systemd. Returns False when not under systemd."""
    address = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address or not states:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
        return True
    except OSError:
        return False  # systemd went away (shutdown): nothing useful to do about it


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def stopping(status: str = "") -> bool:
    return notify("STOPPING=1", *([f"STATUS={status}"] if status else []))


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between required pings (``$WATCHDOG_USEC``), or None when systemd set no watchdog."""
    env = env if env is not None else os.environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Pings ``WATCHDOG=1`` every half interval while :meth:`beat` was called within ``stall_s``."""

    def __init__(self, interval_s: float | None, stall_s: float, env: Mapping[str, str] | None = None) -> None:
        self.interval_s = interval_s
        self.stall_s = stall_s
        self._env = env
        self._last_beat = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings = 0

    @classmethod
    def from_env(cls, stall_s: float = 900.0) -> Watchdog:
        return cls(watchdog_interval(), stall_s)

    def beat(self, *_: object) -> None:
        """Called by the main loop (and call-progress listeners): "I am still making progress"."""
        self._last_beat = time.monotonic()

    def start(self) -> None:
        if self.interval_s is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        assert self.interval_s is not None
        while not self._stop.wait(self.interval_s / 2):
            if time.monotonic() - self._last_beat <= self.stall_s:
                notify("WATCHDOG=1", env=self._env)
                self.pings += 1
            # else: stay silent on purpose, so systemd kills and restarts the stuck daemon
