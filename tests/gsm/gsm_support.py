"""Helpers shared by the GSM tests (a module with a unique name: several test folders have a conftest)."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
if str(FIRMWARE) not in sys.path:  # the package may not be pip-installed in a fresh checkout
    sys.path.insert(0, str(FIRMWARE))

from callbox.lines.base import CallEnd, LineState  # noqa: E402
from callbox.lines.gsm import GsmTiming  # noqa: E402

FAST = GsmTiming(
    command_timeout_s=1.0,
    dial_timeout_s=5.0,
    health_interval_s=0.3,
    status_interval_s=2.0,
    retry_interval_s=0.2,
    reset_settle_s=0.2,
    register_timeout_s=2.0,
    sms_timeout_s=2.0,
)


class RecordingListener:
    """A CallListener that records everything and lets tests wait for events."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.ended = threading.Event()
        self.ends: list[tuple[CallEnd, str]] = []
        self.frames: list[bytes] = []
        self.dtmf: list[str] = []
        self._lock = threading.Lock()

    def on_answered(self) -> None:
        self.answered.set()

    def on_audio(self, frame: bytes) -> None:
        with self._lock:
            self.frames.append(frame)

    def on_dtmf(self, digit: str) -> None:
        self.dtmf.append(digit)

    def on_ended(self, reason: CallEnd, detail: str) -> None:
        self.ends.append((reason, detail))
        self.ended.set()


class RecordingHandler:
    """A GsmHandler that accepts inbound calls with a RecordingListener and records opt-outs."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.incoming: list[str] = []
        self.listener = RecordingListener()
        self.control = None
        self.opt_outs: list[str] = []
        self.opted_out = threading.Event()
        self.sms: list[tuple[str, str]] = []

    def on_incoming_call(self, number, control):
        self.incoming.append(number)
        self.control = control
        return self.listener if self.accept else None

    def on_sms_opt_out(self, number: str) -> None:
        self.opt_outs.append(number)
        self.opted_out.set()

    def on_sms(self, number: str, text: str) -> None:
        self.sms.append((number, text))


def wait_until(predicate, timeout: float = 3.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextmanager
def running(gsm, state: LineState | None = LineState.READY, timeout: float = 5.0):
    """Start ``gsm``, wait until it is in ``state`` (None: do not wait), and stop it on the way out."""
    gsm.start()
    try:
        if state is not None:
            assert gsm.wait_for_state(state, timeout), f"line is not {state.value}: {gsm.fault_detail}"
        yield gsm
    finally:
        gsm.stop()
