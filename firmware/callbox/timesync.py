"""Can the box trust its clock? Quiet hours and frequency caps are only as good as the time.

Why: a Raspberry Pi has no battery-backed clock. After a power cut without network it boots at the
time ``fake-hwclock`` saved at the last shutdown (hours or weeks ago), and would happily call at
03:00 thinking it is 10:00. So the box dials only when one of these vouches for the clock:

* ``ntp``   — systemd-timesyncd reports ``NTPSynchronized=yes`` (``timedatectl show``);
* ``modem`` — the GSM network's time (NITZ, ``AT+CCLK?``) agrees with the system clock;
* ``rtc``   — a hardware RTC (``/sys/class/rtc/rtc0``, e.g. on a UPS HAT or the Pi 5 with a battery)
  holds a plausible time that agrees with the system clock.

A source that *disagrees* with the system clock by more than ``tolerance`` makes the clock untrusted
even if another source vouches for it: two witnesses that contradict each other mean one is wrong.
:func:`judge` is pure; :func:`clock_status` gathers the inputs (all injectable for tests).
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

NetworkTimeSource = Callable[[], "datetime | None"]

#: Nothing this firmware runs was built before this instant: an earlier clock is certainly wrong.
TIME_FLOOR = datetime(2026, 1, 1, tzinfo=timezone.utc)
DEFAULT_TOLERANCE = timedelta(minutes=2)
RTC_DIR = Path("/sys/class/rtc/rtc0")

_sources: dict[str, NetworkTimeSource] = {}
_sources_lock = threading.Lock()


@dataclass(frozen=True)
class ClockStatus:
    """``trusted`` decides whether the box may dial; ``detail`` tells a technician what to do if not."""

    trusted: bool
    source: str  # ntp | modem | rtc | none | conflict
    detail: str

    def as_json(self) -> dict:
        return {"trusted": self.trusted, "source": self.source, "detail": self.detail}


# -- the modem hook --------------------------------------------------------------------------------
def register_network_time_source(name: str, source: NetworkTimeSource) -> None:
    """A GSM line registers ``line.network_time`` here when it starts (and unregisters on stop)."""
    with _sources_lock:
        _sources[name] = source


def unregister_network_time_source(name: str) -> None:
    with _sources_lock:
        _sources.pop(name, None)


def registered_sources() -> dict[str, NetworkTimeSource]:
    with _sources_lock:
        return dict(_sources)


# -- pure decision -------------------------------------------------------------------------------
def judge(
    now: datetime,
    ntp_synced: bool | None,
    network_times: dict[str, datetime | None],
    rtc_time: datetime | None,
    rtc_present: bool,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    floor: datetime = TIME_FLOOR,
) -> ClockStatus:
    """Decide from plain values. ``None`` means "this source has nothing to say"."""
    if now < floor:
        return ClockStatus(False, "none", f"system clock says {now:%Y-%m-%d %H:%M} UTC, before this firmware "
                           "existed; connect the box to the network (NTP) or insert a SIM so it can learn the time")
    for name, at in sorted(network_times.items()):
        if at is not None and abs(at - now) > tolerance:
            return ClockStatus(False, "conflict", f"system clock differs from {name} network time by "
                               f"{_span(at - now)}; check that NTP and the modem agree (restart the box)")
    if rtc_time is not None and rtc_time >= floor and abs(rtc_time - now) > tolerance:
        return ClockStatus(False, "conflict", f"system clock differs from the hardware RTC by {_span(rtc_time - now)}; "
                           "replace the RTC battery or let NTP correct it (`sudo hwclock --systohc` after sync)")
    if ntp_synced:
        return ClockStatus(True, "ntp", "synchronised by NTP")
    agreeing = [name for name, at in sorted(network_times.items()) if at is not None]
    if agreeing:
        return ClockStatus(True, "modem", f"agrees with the mobile network's time ({agreeing[0]})")
    if rtc_present and rtc_time is not None and rtc_time >= floor:
        return ClockStatus(True, "rtc", "set from the battery-backed hardware clock")
    hints = []
    if ntp_synced is False:
        hints.append("NTP has not synchronised (check the network and that UDP port 123 is allowed out)")
    if rtc_present and (rtc_time is None or rtc_time < floor):
        hints.append("the hardware RTC holds no valid time (battery flat?)")
    if not rtc_present:
        hints.append("there is no hardware RTC")
    return ClockStatus(False, "none", "clock not confirmed: " + "; ".join(hints or ["no time source"])
                       + ". Connect the box to a network with internet access, or insert a SIM for network time")


def _span(delta: timedelta) -> str:
    seconds = abs(int(delta.total_seconds()))
    sign = "+" if delta.total_seconds() >= 0 else "-"
    if seconds < 120:
        return f"{sign}{seconds} s"
    if seconds < 7200:
        return f"{sign}{seconds // 60} min"
    return f"{sign}{seconds / 3600:.1f} h"


# -- inputs (I/O) --------------------------------------------------------------------------------
def read_timedatectl() -> str | None:
    """Output of ``timedatectl show`` or None when there is no timedated (containers, tests)."""
    try:
        done = subprocess.run(["timedatectl", "show"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def parse_ntp_synced(text: str | None) -> bool | None:
    if text is None:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "NTPSynchronized":
            return value.strip() == "yes"
    return None


def read_rtc(rtc_dir: Path = RTC_DIR) -> tuple[bool, datetime | None]:
    """(present, time) of the hardware RTC; ``since_epoch`` is the RTC's own idea of now."""
    if not rtc_dir.exists():
        return False, None
    try:
        seconds = int((rtc_dir / "since_epoch").read_text().strip())
    except (OSError, ValueError):
        return True, None
    return True, datetime.fromtimestamp(seconds, timezone.utc)


def clock_status(
    now_provider: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    timedatectl: Callable[[], str | None] = read_timedatectl,
    rtc_dir: Path = RTC_DIR,
    network_sources: dict[str, NetworkTimeSource] | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    floor: datetime = TIME_FLOOR,
) -> ClockStatus:
    """Gather every input and :func:`judge`. A failing source counts as "nothing to say"."""
    sources = registered_sources() if network_sources is None else network_sources
    network: dict[str, datetime | None] = {}
    for name, source in sources.items():
        try:
            network[name] = source()
        except Exception:  # noqa: BLE001 - a broken modem must not break the clock check
            network[name] = None
    present, rtc_time = read_rtc(rtc_dir)
    return judge(now_provider(), parse_ntp_synced(timedatectl()), network, rtc_time, present, tolerance, floor)


class CachedClockCheck:
    """``clock_status`` for the gate, asked before every dial: a trusted answer is reused for ``ttl_s``
    (``timedatectl`` is a subprocess), an untrusted one is asked again next time so dialing resumes as
    soon as NTP or the modem confirms the time."""

    def __init__(self, check: Callable[[], ClockStatus] = clock_status, ttl_s: float = 60.0,
                 monotonic: Callable[[], float] | None = None) -> None:
        import time

        self._check = check
        self._ttl = ttl_s
        self._monotonic = monotonic or time.monotonic
        self._last: tuple[float, ClockStatus] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> ClockStatus:
        with self._lock:
            now = self._monotonic()
            if self._last is not None and self._last[1].trusted and now - self._last[0] < self._ttl:
                return self._last[1]
            status = self._check()
            self._last = (now, status)
            return status
