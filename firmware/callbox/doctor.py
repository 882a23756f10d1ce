"""``callbox doctor``: is this box able to do its job, and if not, what exactly should be fixed?

Why: the person standing in front of a box is a technician with a laptop, not a developer. Every check
returns a :class:`Finding` with a plain-words summary and, when something is wrong, the fix. The panel
shows the same findings (``--json``). Checks never change anything, never open the modem port the
daemon owns (SIM and signal come from the line state the daemon last reported), and one failing check
never stops the others.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from callbox.timesync import ClockStatus, clock_status

MIN_FREE_BYTES = 1 << 30  # a day of recordings on a busy box is ~200 MB; 1 GiB leaves days of margin
MIN_FREE_FRACTION = 0.05


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    summary: str
    fix: str = ""
    skipped: bool = False

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.check}: {self.summary}"
        return f"FIX   {self.check}: {self.summary} -> {self.fix}"


@dataclass
class DoctorInputs:
    """Everything doctor reads from outside the data directory, injectable for tests."""

    clock: Callable[[], ClockStatus] = clock_status
    path_exists: Callable[[str], bool] = os.path.exists
    disk_usage: Callable[[Path], tuple[int, int, int]] = lambda p: tuple(shutil.disk_usage(p))  # type: ignore[assignment]
    boot_file: Path | None = Path("/boot/firmware/callbox.toml")


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def as_json(self) -> dict:
        return {"ok": self.ok, "problems": len(self.problems), "findings": [asdict(f) for f in self.findings]}


def _guard(name: str, fn: Callable[[], list[Finding] | Finding]) -> list[Finding]:
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding
        return [Finding(name, False, f"the check itself failed ({type(exc).__name__}: {exc})",
                        "run `callbox -v doctor` and send the output to support")]
    return result if isinstance(result, list) else [result]


# -- individual checks (each reads only what it names) -----------------------------------------------
def check_store(data_dir: Path) -> list[Finding]:
    db = data_dir / "callbox.sqlite3"
    if not db.exists():
        return [Finding("database", False, f"no store in {data_dir}",
                        "put callbox.toml on the boot partition and reboot (or run `callbox init`)")]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
        has_org = con.execute("SELECT count(*) FROM organisation").fetchone()[0] > 0
    finally:
        con.close()
    out = []
    if rows == ["ok"]:
        out.append(Finding("database", True, "integrity check passed"))
    else:
        out.append(Finding("database", False, f"the store is damaged ({'; '.join(rows[:3])})",
                           "stop callbox (`sudo systemctl stop callbox`) and restore the last backup "
                           "(`callbox backup restore FILE --data DIR --force`)"))
    out.append(Finding("organisation", has_org, "organisation set up" if has_org else "no organisation yet",
                       "" if has_org else "fill in [box] in callbox.toml on the boot partition and reboot"))
    return out


def check_audit(data_dir: Path) -> Finding:
    from callbox.store import audit
    from callbox.store.db import open_store

    with closing(open_store(data_dir)) as store:
        report = audit.verify(store)
    if report.ok:
        return Finding("audit", True, f"audit chain intact ({report.entries} entries)")
    return Finding("audit", False, f"audit chain broken at entry {report.first_bad_seq}: {report.problem}",
                   "someone changed the data on the SD card: keep the card as evidence, tell the data protection "
                   "officer, restore the last good backup onto a new card")


def check_lines(data_dir: Path, inputs: DoctorInputs) -> list[Finding]:
    from callbox.provision import ProvisionError, read_lines

    try:
        lines = read_lines(data_dir)
    except ProvisionError as exc:
        return [Finding("lines", False, f"lines.toml cannot be read: {exc}",
                        "correct [[sip]] / [gsm] in callbox.toml on the boot partition and reboot")]
    if not lines:
        return [Finding("lines", False, "no phone line is configured",
                        "add a [[sip]] account or a [gsm] modem to callbox.toml on the boot partition and reboot")]
    out = []
    sip = [line for line in lines if line["kind"] == "sip"]
    for line in sip:
        missing = [k for k in ("user", "domain") if not line.get(k)]
        if missing:
            out.append(Finding(f"sip:{line['id']}", False, f"SIP line {line['id']} has no {', '.join(missing)}",
                               "fill in user and domain of the [[sip]] account in callbox.toml"))
        elif line.get("registrar") and not line.get("password"):
            out.append(Finding(f"sip:{line['id']}", False, f"SIP line {line['id']} registers without a password",
                               "add the account's password to its [[sip]] table in callbox.toml"))
        else:
            out.append(Finding(f"sip:{line['id']}", True, f"SIP line {line['id']} configured ({line['user']}@{line['domain']})"))
    gsm = [line for line in lines if line["kind"] == "gsm"]
    for line in gsm:
        port = str(line.get("at_port", "/dev/callbox-modem-at"))
        if inputs.path_exists(port):
            out.append(Finding(f"modem:{line['id']}", True, f"modem present at {port}"))
        else:
            out.append(Finding(f"modem:{line['id']}", False, f"no modem at {port}",
                               "check the modem's USB cable and power (SIM7600 HAT: power LED on), then "
                               "`ls -l /dev/callbox-modem-*`; install hardware/99-callbox-modem.rules if missing"))
    if not gsm:
        out.append(Finding("modem", True, "no GSM line configured (SIP only)", skipped=True))
    return out


def check_line_states(data_dir: Path) -> list[Finding]:
    """SIM, signal and registration as the daemon last reported them (the daemon owns the ports)."""
    from callbox.provision import ProvisionError, read_lines

    try:
        ids = [line["id"] for line in read_lines(data_dir)]
    except ProvisionError:
        return []
    con = sqlite3.connect(f"file:{data_dir / 'callbox.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        rows = dict(((r[0], (r[1], r[2])) for r in con.execute("SELECT line_id, state, detail FROM linestatus")))
    except sqlite3.Error:
        rows = {}
    finally:
        con.close()
    out = []
    for line_id in ids:
        if line_id not in rows:
            out.append(Finding(f"state:{line_id}", True, f"line {line_id}: no report from the daemon yet "
                               "(SIM, signal and registration are checked once `callbox.service` runs)", skipped=True))
            continue
        state, detail = rows[line_id]
        if state == "fault":
            out.append(Finding(f"state:{line_id}", False, f"line {line_id} is in fault: {detail or 'no detail'}",
                               detail if "; " in (detail or "") else "see the detail; for GSM check SIM, antenna and "
                               "signal (CSQ >= 10), for SIP the PBX address and password"))
        else:
            out.append(Finding(f"state:{line_id}", True, f"line {line_id} is {state}" + (f" ({detail})" if detail else "")))
    return out


def check_clock(inputs: DoctorInputs) -> Finding:
    status = inputs.clock()
    if status.trusted:
        return Finding("clock", True, f"time is trusted: {status.detail}")
    reason, _, fix = status.detail.partition(". ")
    return Finding("clock", False, f"the clock is not trusted, so the box will not dial ({reason})",
                   fix or "connect the box to a network with internet access (NTP), or insert a SIM for network time")


def check_disk(data_dir: Path, inputs: DoctorInputs) -> Finding:
    total, _used, free = inputs.disk_usage(data_dir)
    free_gib = free / (1 << 30)
    if free < MIN_FREE_BYTES or (total and free / total < MIN_FREE_FRACTION):
        return Finding("disk", False, f"only {free_gib:.1f} GiB free on the data partition",
                       "shorten the recording retention in the panel, run `callbox recordings sweep`, or move "
                       "to a larger SD card (`callbox backup create`, then restore onto the new card)")
    return Finding("disk", True, f"{free_gib:.1f} GiB free")


def check_keys(data_dir: Path) -> Finding:
    from callbox.recordings.keystore import KeyStore, KeyStoreError

    keys = KeyStore.for_data_dir(data_dir)
    if not keys.exists():
        return Finding("recording_keys", False, "no recording key: calls that ask to record cannot be recorded",
                       "an admin runs `callbox keys init` (or sets the recording passphrase in the panel)")
    try:
        pub = keys.public_key()
    except KeyStoreError as exc:
        return Finding("recording_keys", False, f"recording key damaged: {exc}", "restore keys/ from the last backup")
    if not keys.private_path.exists():
        return Finding("recording_keys", False, "the private recording key file is missing; recordings cannot be played",
                       "restore keys/ from the last backup")
    return Finding("recording_keys", True, f"recording key {pub.key_id} present")


def check_boot_secrets(inputs: DoctorInputs) -> list[Finding]:
    from callbox.firstboot import MOVED, _SECRET_LINE, _scalar

    path = inputs.boot_file
    if path is None or not path.exists():
        return []
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        match = _SECRET_LINE.match(line)
        if match and _scalar(match.group("value")) not in ("", MOVED):
            return [Finding("boot_secrets", False, f"{path} still holds a password or PIN in plain text",
                            "reboot so first boot moves it to the data partition (check `journalctl -u callbox-firstboot`)")]
    return [Finding("boot_secrets", True, "no secrets left on the boot partition")]


def run_doctor(data_dir: Path, inputs: DoctorInputs | None = None) -> Report:
    inputs = inputs or DoctorInputs()
    data_dir = Path(data_dir)
    report = Report()
    store_findings = _guard("database", lambda: check_store(data_dir))
    report.findings += store_findings
    store_ok = any(f.check == "database" and f.ok for f in store_findings)
    report.findings += _guard("lines", lambda: check_lines(data_dir, inputs))
    if store_ok:
        report.findings += _guard("line_state", lambda: check_line_states(data_dir))
    report.findings += _guard("clock", lambda: check_clock(inputs))
    report.findings += _guard("disk", lambda: check_disk(data_dir, inputs) if data_dir.exists() else
                              Finding("disk", False, f"{data_dir} does not exist", "check --data"))
    report.findings += _guard("recording_keys", lambda: check_keys(data_dir))
    if store_ok:
        report.findings += _guard("audit", lambda: check_audit(data_dir))
    report.findings += _guard("boot_secrets", lambda: check_boot_secrets(inputs))
    return report
