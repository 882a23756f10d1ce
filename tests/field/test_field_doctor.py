"""callbox doctor: every problem on one line with its fix; --json for the panel; exit 1 when anything is wrong."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from callbox import doctor
from callbox.cli import main
from callbox.doctor import DoctorInputs, run_doctor
from callbox.timesync import ClockStatus
from field_support import populated_box

TRUSTED = ClockStatus(True, "ntp", "synchronised by NTP")
UNTRUSTED = ClockStatus(False, "none", "clock not confirmed: there is no hardware RTC. Connect the box to a network")
LINES = '[[lines]]\nid = "sip1"\nkind = "sip"\nuser = "1001"\ndomain = "pbx.lan"\n\n' \
        '[[lines]]\nid = "gsm1"\nkind = "gsm"\nat_port = "/dev/callbox-modem-at"\n'


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    data = tmp_path / "box"
    populated_box(data, contacts=2, calls=1)
    (data / "lines.toml").write_text(LINES)
    return data


def inputs(**kw) -> DoctorInputs:
    base = dict(clock=lambda: TRUSTED, path_exists=lambda p: True, disk_usage=lambda p: (64 << 30, 10 << 30, 54 << 30),
                boot_file=None)
    base.update(kw)
    return DoctorInputs(**base)


def test_healthy_box_passes(healthy):
    report = run_doctor(healthy, inputs())
    assert report.ok, [f.line() for f in report.problems]
    checks = {f.check for f in report.findings}
    assert {"database", "organisation", "sip:sip1", "modem:gsm1", "clock", "disk", "recording_keys", "audit"} <= checks


def test_each_problem_names_its_fix(healthy, tmp_path):
    boot = tmp_path / "callbox.toml"
    boot.write_text('[wifi]\nssid = "x"\npsk = "plain text password"\n')
    report = run_doctor(healthy, inputs(clock=lambda: UNTRUSTED, path_exists=lambda p: False,
                                        disk_usage=lambda p: (64 << 30, 63 << 30, 200 << 20), boot_file=boot))
    problems = {f.check: f for f in report.problems}
    assert set(problems) == {"modem:gsm1", "clock", "disk", "boot_secrets"}
    for finding in problems.values():
        assert finding.fix and finding.line().startswith("FIX") and "->" in finding.line()
    assert "USB" in problems["modem:gsm1"].fix
    assert "network" in problems["clock"].fix


def test_tampered_audit_and_missing_keys(healthy):
    con = sqlite3.connect(healthy / "callbox.sqlite3")
    con.execute("UPDATE auditentry SET subject = 'someone else' WHERE seq = 2")
    con.commit()
    con.close()
    for name in ("box.pub", "box.key.enc"):
        (healthy / "keys" / name).unlink()
    problems = {f.check: f for f in run_doctor(healthy, inputs()).problems}
    assert "audit" in problems and "entry 2" in problems["audit"].summary
    assert "recording_keys" in problems and "keys init" in problems["recording_keys"].fix


def test_line_fault_reported_by_the_daemon(healthy):
    from callbox.store.db import open_store
    from callbox.store.models_panel import LineStatus
    from field_support import T0

    store = open_store(healthy)
    LineStatus.create(line_id="gsm1", state="fault", detail="SIM not usable (+CPIN: SIM PUK); try the SIM in a phone",
                      updated_at=T0)
    store.close()
    problems = {f.check: f for f in run_doctor(healthy, inputs()).problems}
    assert "SIM" in problems["state:gsm1"].summary


def test_unset_box_says_how_to_set_it_up(tmp_path):
    report = run_doctor(tmp_path / "nothing", inputs())
    first = report.problems[0]
    assert first.check == "database" and "callbox.toml" in first.fix


def test_cli_json_and_exit_codes(healthy, monkeypatch, capsys):
    monkeypatch.setattr(doctor, "DoctorInputs", lambda boot_file=None: inputs())
    assert main(["doctor", "--data", str(healthy), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["problems"] == 0 and out["findings"]
    monkeypatch.setattr(doctor, "DoctorInputs", lambda boot_file=None: inputs(clock=lambda: UNTRUSTED))
    assert main(["doctor", "--data", str(healthy)]) == 1
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("FIX   clock:") and "1 problem(s)" in text
