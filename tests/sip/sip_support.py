"""Helpers for SIP line tests against SIPp on 127.0.0.1 (uniquely named so folders don't shadow each other)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from callbox.compliance.permit import Permit, PermitAuthority
from callbox.lines.base import CallEnd
from callbox.lines.sip import SipTiming

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = shutil.which("sipp")
PCAP_DIR = Path("/usr/share/sip-tester")
LOOPBACK = "127.0.0.1"

#: Registration retries fast enough for tests; same rules as production (backoff, auth minimum).
FAST = SipTiming(retry_base_s=0.5, retry_max_s=4.0, auth_retry_min_s=1.0, jitter=0.0)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def permit(authority: PermitAuthority, number: str, attempt: int = 1) -> Permit:
    """Tests stand in for the gate (the only issuer in the firmware)."""
    return authority.issue(number, attempt, "sip")


class Sipp:
    """One SIPp process on 127.0.0.1 running a scenario from tests/sip/scenarios."""

    def __init__(self, scenario: str, workdir: Path, target: str | None = None, calls: int | None = 1,
                 port: int | None = None, extra: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.media_port = free_port()
        self.workdir = workdir
        self.messages_file = workdir / f"{scenario}.{self.port}.msg"
        self.errors_file = workdir / f"{scenario}.{self.port}.err"
        self.log_file = workdir / f"{scenario}.{self.port}.log"
        cmd = [SIPP]
        if target:
            cmd.append(target)
        cmd += ["-sf", str(SCENARIOS / f"{scenario}.xml"), "-i", LOOPBACK, "-p", str(self.port),
                "-mi", LOOPBACK, "-mp", str(self.media_port), "-nostdin", "-timeout", "60",
                "-trace_msg", "-message_file", str(self.messages_file),
                "-trace_err", "-error_file", str(self.errors_file),
                "-trace_logs", "-log_file", str(self.log_file), *extra]
        if calls:
            cmd += ["-m", str(calls)]
        self.proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if target is None:  # a callee: must be listening before the box sends anything
            time.sleep(0.3)
            assert self.proc.poll() is None, f"sipp exited at once: {self.errors()}"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def wait(self, timeout: float = 30.0) -> int:
        """SIPp's exit code: 0 = every call of the scenario succeeded."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"sipp did not finish within {timeout} s: {self.errors()}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _read(self, path: Path) -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    def messages(self) -> str:
        return self._read(self.messages_file)

    def errors(self) -> str:
        return self._read(self.errors_file)[-2000:]

    def logs(self) -> str:
        return self._read(self.log_file)

    def received(self, method: str) -> int:
        """How many ``method`` requests SIPp received (from its message trace)."""
        blocks = self.messages().split("message received [")[1:]
        return sum(1 for block in blocks if block.split(":", 1)[-1].lstrip().startswith(f"{method} "))


@dataclass
class CallRecorder:
    """A CallListener that writes down what the line told it, with times (monotonic)."""

    t0: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str, object]] = field(default_factory=list)
    answered: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    frames_before_answer: int = 0
    frames: int = 0
    digits: list[str] = field(default_factory=list)
    reason: CallEnd | None = None
    detail: str = ""
    answered_at: float | None = None
    ended_at: float | None = None
    on_answer_pcm: bytes = b""
    control: object = None

    def _note(self, what: str, data: object = None) -> None:
        self.events.append((time.monotonic() - self.t0, what, data))

    def on_answered(self) -> None:
        self.answered_at = time.monotonic() - self.t0
        self._note("answered")
        if self.on_answer_pcm and self.control is not None:
            self.control.play(self.on_answer_pcm)
        self.answered.set()

    def on_audio(self, frame: bytes) -> None:
        self.frames += 1
        if not self.answered.is_set():
            self.frames_before_answer += 1

    def on_dtmf(self, digit: str) -> None:
        self.digits.append(digit)
        self._note("dtmf", digit)

    def on_ended(self, reason: CallEnd, detail: str) -> None:
        self.reason, self.detail = reason, detail
        self.ended_at = time.monotonic() - self.t0
        self._note("ended", (reason, detail))
        self.ended.set()


def tone(seconds: float, hz: float = 440.0) -> bytes:
    """8 kHz 16-bit mono sine: something for the box to say."""
    import numpy as np

    t = np.arange(int(seconds * 8000)) / 8000
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()
