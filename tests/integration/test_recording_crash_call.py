"""kill -9 the daemon while it records a real loopback SIP call, several times.

Afterwards: no plaintext audio anywhere in the data directory or the temp directory (no WAV header,
and none of the callee's received audio frames, found by searching every file for frames taken from
the decrypted recording), every recording decrypts (salvage mode) up to its last complete chunk, and
the store passes its integrity check.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from callbox.clock import FixedClock
from callbox.daemon import CallBox
from callbox.demo import PhoneBankProcess
from callbox.phonebank.callees import Act, Callee
from callbox.provision import init_box
from callbox.recordings.keystore import KeyStore
from callbox.recordings.stream import decrypt
from callbox.store import queries

pytestmark = [pytest.mark.sip, pytest.mark.slow]

RUNS = int(os.environ.get("CALLBOX_CRASH_CALL_RUNS", "3"))  # more for a soak before a release
PASS = "crash test recording passphrase"
NUMBERS = [f"+86139000003{i:02d}" for i in range(RUNS)]


def callee(number: str) -> Callee:
    # Allows recording, then keeps the box talking: asks it to repeat, then confirms.
    return Callee(number, "en", "Eve", give_up_after_s=30, acts=(
        Act(box_pause_ms=800, dtmf="1"),
        Act(box_pause_ms=800, say="Sorry, could you repeat that?"),
        Act(box_pause_ms=800, say="Yes, I will be there."),
    ))


def files_under(*roots: Path):
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                yield path


def callee_frames(audio: bytes, count: int = 6) -> list[bytes]:
    """Loud 20 ms frames of the callee channel (left) of a decrypted stereo recording."""
    stereo = np.frombuffer(audio, "<i2").reshape(-1, 2)
    left = stereo[:, 0]
    frames = [left[i : i + 160] for i in range(0, len(left) - 160, 160)]
    loud = [f for f in frames if np.abs(f.astype(np.int32)).mean() > 300]
    return [f.astype("<i2").tobytes() for f in loud[:: max(1, len(loud) // count)][:count]]


def test_kill_dash_nine_during_recorded_calls(tmp_path):
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    callee_frames_checked = 0
    data = tmp_path / "data"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    clock = FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc))
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical", "Sunshine Dental")
    KeyStore.for_data_dir(data).init(PASS)
    for number in NUMBERS:
        contact = queries.add_contact(store, number, "Eve", "en")
        queries.add_consent(store, contact, "reminder", clock.now() - timedelta(days=1), "paper_form", "f")
    box = CallBox(data, clock, store)
    for i, number in enumerate(NUMBERS):
        box.create_campaign(f"crash-{i}", "reminder", "appointment_reminder", records=True,
                            members=[{"phone": number, "variables": {"appointment": "tomorrow"}}])
        # one campaign per run: pause all but the first; each run resumes the next
    store.db.execute_sql("update campaign set status = 'paused' where name != 'crash-0'")
    store.close()
    bank = PhoneBankProcess([callee(n) for n in NUMBERS], tmp_path / "bank", tmp_path / "cache")
    try:
        port = bank.wait_ready()
        (data / "lines.toml").write_text(
            f'[[lines]]\nid = "sip1"\nkind = "sip"\nuser = "clinic"\npeer = "127.0.0.1:{port}"\n', encoding="utf-8")
        for run in range(RUNS):
            con = sqlite3.connect(data / "callbox.sqlite3")
            con.execute("update campaign set status = case when name = ? then 'running' else 'paused' end",
                        (f"crash-{run}",))
            con.commit()
            con.close()
            before = set((data / "recordings").glob("*.cbr")) if (data / "recordings").exists() else set()
            env = {**os.environ, "TMPDIR": str(tmpdir)}
            daemon = subprocess.Popen(
                [str(Path(sys.executable).parent / "callbox"), "--data", str(data), "run", "--once",
                 "--poll", "0", "--at", "2026-03-02T10:05:00+08:00"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            deadline = time.monotonic() + 120
            new = set()
            while time.monotonic() < deadline and not new and daemon.poll() is None:
                time.sleep(0.05)
                new = set((data / "recordings").glob("*.cbr")) - before if (data / "recordings").exists() else set()
            assert new, f"seed={seed} run={run}: the call never started recording"
            # One late kill (after the callee spoke), one early, one in between; exact moments random.
            time.sleep(rng.uniform(*[(10.0, 14.0), (0.3, 5.0), (5.0, 10.0)][run % 3]))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(10)

            keys = KeyStore.for_data_dir(data).unlock(PASS)
            for cbr in new:
                result = decrypt(cbr, keys, salvage=True)  # raises if anything but truncation is wrong
                frames = callee_frames(result.audio)
                callee_frames_checked += len(frames)
                needles = [b"RIFF"] + frames
                for path in files_under(data, tmpdir):
                    if path in new:
                        continue
                    blob = path.read_bytes()
                    for needle in needles:
                        assert needle not in blob, f"seed={seed} run={run}: plaintext audio in {path}"
        assert callee_frames_checked > 0, f"seed={seed}: no run recorded the callee speaking; the scan proved nothing"
        con = sqlite3.connect(data / "callbox.sqlite3")
        assert con.execute("pragma integrity_check").fetchone() == ("ok",)
        con.close()
    finally:
        bank.stop()
