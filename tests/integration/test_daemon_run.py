"""`callbox run`: the daemon reads lines.toml from the data directory, starts the SIP line, and works
through running campaigns — here against the phone bank, in a process of its own."""

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from callbox.clock import FixedClock
from callbox.daemon import CallBox
from callbox.demo import PhoneBankProcess
from callbox.phonebank.callees import Act, Callee
from callbox.provision import init_box
from callbox.store import queries

pytestmark = [pytest.mark.sip, pytest.mark.slow]

NUMBER = "+8613900000201"


def test_run_once_places_due_calls_from_lines_toml(tmp_path):
    data = tmp_path / "data"
    now = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
    clock = FixedClock(now)
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical", "Sunshine Dental")
    contact = queries.add_contact(store, NUMBER, "Dana", "en")
    queries.add_consent(store, contact, "reminder", now - timedelta(days=1), "paper_form", "form-7")
    box = CallBox(data, clock, store)
    box.create_campaign("run-test", "reminder", "appointment_reminder", records=False,
                        members=[{"phone": NUMBER, "variables": {"appointment": "tomorrow"}}])
    store.close()
    bank = PhoneBankProcess([Callee(NUMBER, "en", "Dana", acts=(Act(box_spoke_ms=1500, dtmf="9"),))],
                            tmp_path / "bank", tmp_path / "cache")
    try:
        port = bank.wait_ready()
        (data / "lines.toml").write_text(
            f'[[lines]]\nid = "sip1"\nkind = "sip"\nuser = "clinic"\npeer = "127.0.0.1:{port}"\n', encoding="utf-8"
        )
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "callbox"), "--data", str(data), "run", "--once", "--poll", "0",
             "--at", "2026-03-02T10:05:00+08:00"],
            capture_output=True, text=True, timeout=240, env={**os.environ},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "running with 1 line" in proc.stdout
        con = sqlite3.connect(data / "callbox.sqlite3")
        decisions = con.execute("select decision, reasons from decision where phone = ?", (NUMBER,)).fetchall()
        dnc = con.execute("select source from donotcall where phone = ?", (NUMBER,)).fetchall()
        con.close()
        assert decisions == [("allowed", "[]")]
        assert dnc == [("dtmf",)]
    finally:
        bank.stop()
