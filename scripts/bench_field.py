#!/usr/bin/env python3
"""Field benchmarks: backup/restore of a big store, daemon boot-to-ready, and the kill -9 loop.

    .venv/bin/python scripts/bench_field.py [--contacts 100000] [--calls 10000] [--runs 30] [--skip-boot]

* backup/restore: a store with N contacts (each with a consent) and M calls, 20 encrypted recordings of
  1 MB, production argon2id cost; times ``create_backup`` and ``restore_backup`` and checks the counts.
* boot-to-ready: starts the real ``callbox run --once`` with one loopback SIP line and ``NOTIFY_SOCKET``
  pointing at a socket of ours; the time to the ``READY=1`` datagram (or, until ``cmd_run`` sends it, to
  the "callbox running" line it prints at the same moment). This includes loading the speech models.
* kill -9: the power-cut loop of tests/field/test_field_powerloss.py, reporting runs and writes lost.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def build_store(data: Path, contacts: int, calls: int, recordings: int) -> None:
    from callbox.clock import FixedClock
    from callbox.provision import init_box
    from callbox.recordings import stream
    from callbox.recordings.keystore import KeyStore
    from callbox.store import models as m

    store = init_box(data, FixedClock(T0), "cn", "阳光口腔诊所", "+86 10 8888 6666", industry="medical")
    now = T0
    with store.atomic():
        for start in range(0, contacts, 5000):
            rows = [{"phone": f"+86138{i:08d}", "name": f"病人{i}", "language": "zh", "created_at": now}
                    for i in range(start, min(contacts, start + 5000))]
            m.Contact.insert_many(rows).execute()
        ids = [c for (c,) in m.Contact.select(m.Contact.id).tuples()]
        for start in range(0, len(ids), 5000):
            m.Consent.insert_many([{"contact": cid, "purpose": "appointment_reminder", "given_at": now - timedelta(days=3),
                                    "method": "paper_form", "evidence": f"form-{cid}"} for cid in ids[start:start + 5000]]
                                  ).execute()
        for start in range(0, calls, 2000):
            batch = range(start, min(calls, start + 2000))
            first = m.Attempt.insert_many([{"phone": f"+86138{i:08d}", "purpose": "appointment_reminder", "at": now,
                                            "outcome": "confirmed"} for i in batch]).execute()
            m.Call.insert_many([{"attempt": first - len(batch) + 1 + k, "line_id": "sip1", "started_at": now,
                                 "ended_at": now + timedelta(seconds=45), "outcome": "confirmed"}
                                for k, _ in enumerate(batch)]
                               ).execute()
    store.close()
    keys = KeyStore.for_data_dir(data)
    keys.init("bench recording passphrase")
    pub = keys.public_key()
    (data / "recordings").mkdir(exist_ok=True)
    audio = os.urandom(1 << 20)
    for i in range(recordings):
        w = stream.RecordingWriter(data / "recordings" / f"call-{i + 1:06d}.cbr", pub.key, pub.key_id,
                                   {"call_id": i + 1, "created_at": T0.isoformat()})
        w.write(audio)
        w.finish()


def bench_backup(contacts: int, calls: int) -> None:
    from callbox import backup

    with tempfile.TemporaryDirectory(prefix="bench-field-") as tmp:
        data, out, target = Path(tmp) / "box", Path(tmp) / "box.cbbackup", Path(tmp) / "restored"
        t = time.monotonic()
        build_store(data, contacts, calls, recordings=20)
        db_mb = (data / "callbox.sqlite3").stat().st_size / 1e6
        print(f"store: {contacts} contacts + consents, {calls} calls, 20 x 1 MB recordings "
              f"(db {db_mb:.0f} MB; built in {time.monotonic() - t:.1f} s)")
        made = backup.create_backup(data, out, "bench backup passphrase")
        print(f"backup create : {made.seconds:6.2f} s  ({made.bytes / 1e6:.0f} MB plain -> {out.stat().st_size / 1e6:.0f} MB file, "
              f"argon2id {backup.DEFAULT_KDF.memory_cost_kib // 1024} MiB t={backup.DEFAULT_KDF.time_cost})")
        restored = backup.restore_backup(out, target, "bench backup passphrase")
        ok = restored.counts.get("contact") == contacts and restored.counts.get("call") == calls
        print(f"backup restore: {restored.seconds:6.2f} s  ({restored.files} files; counts {'match' if ok else 'DIFFER'})")


def bench_boot() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-boot-") as tmp:
        data = Path(tmp) / "box"
        callbox = str(Path(sys.executable).parent / "callbox")
        subprocess.run([callbox, "--data", str(data), "init", "--org-name", "诊所", "--callback-number", "+86 10 8888 6666"],
                       check=True, capture_output=True)
        (data / "lines.toml").write_text('[[lines]]\nid = "sip1"\nkind = "sip"\nuser = "callbox"\n'
                                         'domain = "127.0.0.1"\nbind = "127.0.0.1"\nport = 0\n')
        sock_path = Path(tmp) / "notify"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
        t0 = time.monotonic()
        child = subprocess.Popen([callbox, "--data", str(data), "run", "--once"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert child.stdout is not None
        ready_at = printed_at = None
        while child.poll() is None and time.monotonic() - t0 < 300:
            readable, _, _ = select.select([sock, child.stdout], [], [], 1.0)
            if sock in readable and b"READY=1" in sock.recv(4096):
                ready_at = time.monotonic() - t0
                break
            if child.stdout in readable:
                line = child.stdout.readline()
                if "callbox running" in line and printed_at is None:
                    printed_at = time.monotonic() - t0
                    # give a wired cmd_run a moment to send READY right after (it sends it first)
                    if select.select([sock], [], [], 0.5)[0] and b"READY=1" in sock.recv(4096):
                        ready_at = time.monotonic() - t0
                    break
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
        sock.close()
        if ready_at is not None:
            print(f"boot-to-ready : {ready_at:6.2f} s  (callbox run -> READY=1 on NOTIFY_SOCKET; models loaded)")
        elif printed_at is not None:
            print(f"boot-to-ready : {printed_at:6.2f} s  (to the 'callbox running' line; cmd_run does not send READY=1 yet)")
        else:
            print("boot-to-ready : daemon did not become ready within 300 s")


def bench_kill(runs: int) -> None:
    from callbox.clock import FixedClock
    from callbox.provision import init_box

    child_py = REPO / "tests" / "field" / "powerloss_child.py"
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp:
        data = Path(tmp) / "box"
        init_box(data, FixedClock(T0), "cn", "诊所", "+86 10 8888 6666").close()
        reported = []
        t0 = time.monotonic()
        for run in range(runs):
            child = subprocess.Popen([sys.executable, str(child_py), str(data), str(run)], stdout=subprocess.PIPE, text=True)
            assert child.stdout is not None
            child.stdout.readline()
            time.sleep(rng.uniform(0.01, 0.25))
            os.kill(child.pid, signal.SIGKILL)
            out, _ = child.communicate()
            reported += [line.split(" ", 1) for line in out.splitlines() if " " in line]
        con = sqlite3.connect(data / "callbox.sqlite3")
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        consents = {r[0] for r in con.execute("SELECT c.phone FROM consent JOIN contact c ON c.id = consent.contact_id")}
        dnc = {r[0] for r in con.execute("SELECT phone FROM donotcall")}
        con.close()
        lost = sum(1 for kind, phone in reported if phone not in (consents if kind == "consent" else dnc))
        print(f"kill -9 loop  : {runs} runs in {time.monotonic() - t0:.1f} s, {len(reported)} committed writes reported, "
              f"{lost} lost, integrity_check {integrity}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--skip-boot", action="store_true", help="skip boot-to-ready (it loads the speech models)")
    args = parser.parse_args()
    print(f"callbox field bench on {os.uname().machine}, {os.cpu_count()} CPUs")
    bench_backup(args.contacts, args.calls)
    if not args.skip_boot:
        bench_boot()
    bench_kill(args.runs)


if __name__ == "__main__":
    main()
