"""The store survives being killed at any moment: every write reported committed is there, and intact.

A child writes consents and DNC entries in a loop and prints each one after its commit returned; the
test kills it with SIGKILL at random points, 30 times, then checks ``PRAGMA integrity_check``, the audit
chain, and that no reported write is missing.

What this proves and what it does not: SIGKILL kills the process between any two instructions, so it
tests SQLite's journalling and our transaction boundaries. The page cache survives a SIGKILL, so it does
not prove the SD card honours fsync; ``synchronous=FULL`` + WAL is what makes a real power cut safe on
media that do (see docs/field.md for the bench test with a relay on a real box).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from callbox.clock import FixedClock
from callbox.provision import init_box
from field_support import T0

CHILD = Path(__file__).with_name("powerloss_child.py")


def kill_loop(data: Path, runs: int, budget_s: float, seed: int = 7) -> tuple[int, list[tuple[str, str]]]:
    rng = random.Random(seed)
    reported: list[tuple[str, str]] = []
    deadline = time.monotonic() + budget_s
    done = 0
    for run in range(runs):
        if time.monotonic() > deadline:
            break
        child = subprocess.Popen([sys.executable, str(CHILD), str(data), str(run)], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        for line in out.splitlines():
            kind, _, phone = line.partition(" ")
            if phone:
                reported.append((kind, phone))
        done += 1
    return done, reported


def test_kill_minus_nine_loses_no_committed_write(tmp_path):
    data = tmp_path / "box"
    init_box(data, FixedClock(T0), "cn", "诊所", "+86 10 8888 6666").close()
    runs, reported = kill_loop(data, runs=30, budget_s=30)
    assert runs >= 20 and len(reported) > 50

    con = sqlite3.connect(data / "callbox.sqlite3")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        consents = {r[0] for r in con.execute("SELECT c.phone FROM consent JOIN contact c ON c.id = consent.contact_id")}
        dnc = {r[0] for r in con.execute("SELECT phone FROM donotcall")}
    finally:
        con.close()
    lost = [(k, p) for k, p in reported if p not in (consents if k == "consent" else dnc)]
    assert lost == [], f"{len(lost)} committed writes lost, e.g. {lost[:3]}"

    from callbox.store import audit
    from callbox.store.db import open_store

    store = open_store(data)
    report = audit.verify(store)
    store.close()
    assert report.ok, report.problem
