#!/usr/bin/env python3
"""Bench the GSM line on the pty modem emulator.

Prints:
* AT command round-trip time (p50/p95) through the real AtChannel over a pty;
* time from unplug to the line reporting FAULT, and from replug to READY;
* a fault loop: calls interrupted by unplug / hang / SIM removal, counted as "rescheduled" when the line
  reported exactly one on_ended(FAILED) (what the daemon needs to reschedule) and "lost" otherwise.

Usage: .venv/bin/python scripts/bench_gsm.py [--calls 30] [--round-trips 500]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "firmware"))

import serial  # noqa: E402

from callbox.clock import SystemClock  # noqa: E402
from callbox.compliance.permit import PermitAuthority  # noqa: E402
from callbox.lines.at import AtChannel  # noqa: E402
from callbox.lines.base import CallEnd, LineState  # noqa: E402
from callbox.lines.gsm import GsmLine, GsmTiming  # noqa: E402
from callbox.lines.modem_emulator import Callee, ModemEmulator  # noqa: E402

TIMING = GsmTiming(
    command_timeout_s=1.0, dial_timeout_s=10.0, health_interval_s=0.5, status_interval_s=5.0,
    retry_interval_s=0.25, reset_settle_s=0.25, register_timeout_s=3.0, sms_timeout_s=3.0,
)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def spread(values: list[float], digits: int = 0) -> str:
    """``p50 … ms  p95 … ms`` of millisecond values."""
    return f"p50 {pct(values, 50):.{digits}f} ms  p95 {pct(values, 95):.{digits}f} ms"


@contextmanager
def ready_line(default_callee: Callee | None = None):
    """(line, emulator, authority): a GSM line on a fresh emulator, READY; both are stopped afterwards."""
    authority = PermitAuthority(SystemClock())
    with ModemEmulator(boot_s=0.2) as emu:
        if default_callee is not None:
            emu.default_callee = default_callee
        line = GsmLine("gsm1", authority, emu.at_port, audio_port=emu.audio_port, timing=TIMING)
        line.start()
        try:
            assert line.wait_for_state(LineState.READY, 5), line.fault_detail
            yield line, emu, authority
        finally:
            line.stop()


def bench_round_trip(n: int) -> None:
    with ModemEmulator() as emu:
        port = serial.serial_for_url(emu.at_port, timeout=0.1)
        chan = AtChannel(port, on_urc=lambda u: None, on_gone=lambda r: None)
        chan.command("ATE0")
        for command in ("AT", "AT+CSQ"):
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                chan.command(command)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"round trip {command:7s} n={n}: {spread(times, 2)}")
        chan.close()


class Listener:
    def __init__(self) -> None:
        self.answered = threading.Event()
        self.ended = threading.Event()
        self.ends: list[CallEnd] = []

    def on_answered(self) -> None:
        self.answered.set()

    def on_audio(self, frame: bytes) -> None:
        pass

    def on_dtmf(self, digit: str) -> None:
        pass

    def on_ended(self, reason: CallEnd, detail: str) -> None:
        self.ends.append(reason)
        self.ended.set()


def state_waiter(line: GsmLine):
    """Returns wait(state, timeout) -> seconds until the next event with that state (None on timeout)."""
    events: list[tuple[float, LineState]] = []
    cond = threading.Condition()

    def on_event(event) -> None:
        with cond:
            events.append((time.perf_counter(), event.state))
            cond.notify_all()

    line.add_state_listener(on_event)

    def wait(state: LineState, since: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with cond:
            while True:
                for t, s in events:
                    if s == state and t >= since:
                        return t - since
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                cond.wait(left)

    return wait


def bench_unplug(rounds: int) -> None:
    detect, recover = [], []
    with ready_line() as (line, emu, _):
        wait = state_waiter(line)
        for _ in range(rounds):
            t0 = time.perf_counter()
            emu.unplug()
            d = wait(LineState.FAULT, t0, 5)
            time.sleep(0.3)
            t1 = time.perf_counter()
            emu.replug()
            r = wait(LineState.READY, t1, 10)
            if d is not None:
                detect.append(d * 1000)
            if r is not None:
                recover.append(r * 1000)
    print(f"unplug → FAULT  n={len(detect)}/{rounds}: {spread(detect, 1)}")
    print(f"replug → READY  n={len(recover)}/{rounds}: {spread(recover)}"
          f"  (retry interval {TIMING.retry_interval_s} s + re-init)")


def bench_hang(rounds: int) -> None:
    detect, recover = [], []
    with ready_line() as (line, emu, _):
        wait = state_waiter(line)
        for _ in range(rounds):
            t0 = time.perf_counter()
            emu.hang()
            d = wait(LineState.FAULT, t0, 5)
            r = wait(LineState.READY, t0, 10)
            if d is not None and r is not None:
                detect.append(d * 1000)
                recover.append(r * 1000)
    print(f"hang → FAULT+reset n={len(detect)}/{rounds}: {spread(detect)}"
          f"  (health ping every {TIMING.health_interval_s} s, timeout {TIMING.command_timeout_s} s)")
    print(f"hang → READY       n={len(recover)}/{rounds}: {spread(recover)}")


def bench_fault_loop(calls: int, seed: int) -> None:
    rng = random.Random(seed)
    outcome = {"completed": 0, "rescheduled": 0, "lost": 0, "double_reported": 0, "other": 0}
    faults = {"none": 0, "unplug": 0, "hang": 0, "sim": 0}
    with ready_line(Callee(answer_after=0.1, hangup_after=0.6)) as (line, emu, authority):
        for attempt in range(calls):
            if not line.wait_for_state(LineState.READY, 10):
                print("line did not recover:", line.fault_detail)
                break
            fault = rng.choice(["none", "unplug", "hang", "sim"])
            faults[fault] += 1
            listener = Listener()
            atd_before = emu.count("ATD")
            line.dial(authority.issue("13800138000", attempt, "gsm"), listener)
            listener.answered.wait(3)
            time.sleep(rng.uniform(0.05, 0.3))
            if fault == "unplug":
                emu.unplug()
                time.sleep(0.3)
                emu.replug()
            elif fault == "hang":
                emu.hang()
            elif fault == "sim":
                emu.remove_sim()
                time.sleep(0.3)
                emu.insert_sim()
            listener.ended.wait(5)
            time.sleep(0.2)  # let a duplicate report show itself
            assert emu.count("ATD") - atd_before <= 1, "dialled twice for one permit"
            if len(listener.ends) == 0:
                outcome["lost"] += 1
            elif len(listener.ends) > 1:
                outcome["double_reported"] += 1
            elif listener.ends[0] == CallEnd.FAILED:
                outcome["rescheduled"] += 1
            elif listener.ends[0] == CallEnd.COMPLETED:
                outcome["completed"] += 1
            else:
                outcome["other"] += 1
        line.wait_for_state(LineState.READY, 10)
        stats = dict(line.stats)
    print(f"fault loop: {calls} calls, faults injected {faults}")
    print(f"  completed {outcome['completed']}, interrupted and reported FAILED once (daemon reschedules) "
          f"{outcome['rescheduled']}, lost {outcome['lost']}, reported twice {outcome['double_reported']}, "
          f"other {outcome['other']}")
    print(f"  line stats: {stats}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=500)
    parser.add_argument("--unplugs", type=int, default=10)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    bench_round_trip(args.round_trips)
    bench_unplug(args.unplugs)
    bench_hang(3)
    bench_fault_loop(args.calls, args.seed)


if __name__ == "__main__":
    main()
