"""The CLI contract: exit codes (0 ok/allowed, 3 denied/deferred/refused, 2 bad input) and exact JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from compliance_support import parse_json

AT = "2026-03-02T10:00:00+08:00"
CONTACTS = """phone,name,purposes,consent_at,consent_method,consent_evidence,guardian_consent,birth_year,language
13800138001,王芳,reminder;marketing,2026-01-05T10:00:00+08:00,paper_form,form-1,,1980,zh
13800138002,Li Lei,reminder,2026-01-05T10:00:00+08:00,web_form,form-2,no,2016,en
+8613900139003,赵敏,reminder,2026-01-05T10:00:00+08:00,in_person,form-3,yes,2016,
"""


@pytest.fixture
def data(tmp_path: Path, cli) -> Path:
    d = tmp_path / "box"
    code, out, err = cli(d, "init", "--org-name", "阳光诊所", "--callback-number", "+862161234567")
    assert code == 0, err
    f = tmp_path / "contacts.csv"
    f.write_text(CONTACTS, encoding="utf-8")
    assert cli(d, "contacts", "import", str(f))[0] == 0
    return d


def check(cli, data, number, *extra):
    code, out, err = cli(data, "check-call", number, "--json", *extra)
    return code, json.loads(out)


def test_check_call_json_contract(cli, data):
    code, body = check(cli, data, "13800138001", "--purpose", "reminder", "--at", AT)
    assert code == 0
    assert body == {"allowed": True, "decision": "allowed", "reasons": [], "next_allowed_at": None}
    assert list(body) == ["allowed", "decision", "reasons", "next_allowed_at"]


@pytest.mark.parametrize("number,args,decision,reasons", [
    ("13800138001", ["--purpose", "reminder", "--at", "2026-03-02T12:30:00+08:00"], "deferred", ["quiet_hours"]),
    ("13800138001", ["--purpose", "service", "--at", AT], "denied", ["purpose_not_consented"]),
    ("13800138001", ["--purpose", "marketing", "--at", AT, "--line", "gsm"], "denied", ["line_not_permitted"]),
    ("13800138002", ["--purpose", "reminder", "--at", AT], "denied", ["minor_without_guardian"]),
    ("13900139003", ["--purpose", "reminder", "--at", AT], "allowed", []),
    ("13700137000", ["--purpose", "reminder", "--at", AT], "denied", ["not_in_contacts"]),
    ("12345", ["--purpose", "reminder", "--at", AT], "denied", ["invalid_number"]),
])
def test_check_call_reasons(cli, data, number, args, decision, reasons):
    code, body = check(cli, data, number, *args)
    assert (body["decision"], body["reasons"]) == (decision, reasons)
    assert body["allowed"] is (decision == "allowed")
    assert code == (0 if decision == "allowed" else 3)
    assert (body["next_allowed_at"] is not None) == (decision == "deferred")


def test_deferred_gives_next_window(cli, data):
    code, body = check(cli, data, "13800138001", "--purpose", "reminder", "--at", "2026-03-02T20:30:00+08:00")
    assert code == 3 and body["next_allowed_at"] == "2026-03-03T09:00:00+08:00"


def test_check_call_changes_nothing(cli, data):
    before = cli(data, "audit", "export")[1]
    for _ in range(3):
        check(cli, data, "13800138001", "--purpose", "reminder", "--at", AT)
    assert cli(data, "audit", "export")[1] == before


def test_bad_input_exit_2(cli, data):
    code, out, err = cli(data, "check-call", "13800138001", "--purpose", "spam", "--json")
    assert code == 2 and "--purpose" in err and "reminder" in err
    code, out, err = cli(data, "check-call", "13800138001", "--purpose", "reminder", "--at", "tomorrow")
    assert code == 2 and "--at" in err and "ISO 8601" in err


def test_dnc_and_withdraw(cli, data):
    assert cli(data, "dnc", "add", "13800138001", "--reason", "asked at the desk")[0] == 0
    code, out, _ = cli(data, "dnc", "list", "--json")
    rows = json.loads(out)
    assert rows[0]["phone"] == "+8613800138001" and rows[0]["source"] == "staff" and rows[0]["reason"] == "asked at the desk"
    assert check(cli, data, "13800138001", "--purpose", "reminder", "--at", AT) == (3, {
        "allowed": False, "decision": "denied", "reasons": ["dnc"], "next_allowed_at": None})
    assert cli(data, "consent", "withdraw", "13900139003")[0] == 0
    assert check(cli, data, "13900139003", "--purpose", "reminder", "--at", "2026-12-01T10:00:00+08:00")[1]["reasons"] == ["consent_withdrawn"]
    code, _, err = cli(data, "consent", "withdraw", "13900139003")
    assert code == 2 and "no active" in err


def test_import_rejects_whole_file_with_every_bad_line(cli, data, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "phone,name,purposes,consent_at,consent_method,consent_evidence\n"
        "13800138011,A,reminder,2026-01-05T10:00:00+08:00,paper_form,f\n"
        "12345,B,reminder,2026-01-05T10:00:00+08:00,paper_form,f\n"
        "13800138013,C,spam,2026-01-05T10:00:00+08:00,paper_form,f\n"
        "13800138014,D,reminder,2026-01-05,fax,\n", encoding="utf-8")
    code, out, err = cli(data, "contacts", "import", str(bad))
    assert code == 2
    assert "line 3" in err and "line 4" in err and "line 5" in err and "line 2" not in err
    assert "unknown purpose spam" in err and "consent_method 'fax'" in err
    assert check(cli, data, "13800138011", "--purpose", "reminder", "--at", AT)[1]["reasons"] == ["not_in_contacts"]


def test_history_import_makes_caps_hold(cli, data, tmp_path):
    hist = tmp_path / "history.csv"
    hist.write_text("phone,at,outcome\n13800138001,2026-03-02T09:05:00+08:00,answered\n"
                    "13800138001,2026-03-02T09:30:00+08:00,no_answer\n"
                    "13900139003,2026-02-20T09:30:00+08:00,opt_out\n", encoding="utf-8")
    code, out, err = cli(data, "history", "import", str(hist))
    assert code == 0, err
    code, body = check(cli, data, "13800138001", "--purpose", "reminder", "--at", AT)
    assert code == 3 and body["reasons"] == ["frequency_cap"] and body["next_allowed_at"] == "2026-03-03T09:00:00+08:00"
    assert check(cli, data, "13900139003", "--purpose", "reminder", "--at", AT)[1]["reasons"] == ["dnc"]
    bad = tmp_path / "bad_history.csv"
    bad.write_text("phone,at,outcome\n13800138002,2026-03-01T09:00:00+08:00,answered\n13800138002,yesterday,maybe\n")
    code, _, err = cli(data, "history", "import", str(bad))
    assert code == 2 and "line 3" in err and "outcome 'maybe'" in err
    assert check(cli, data, "13800138002", "--purpose", "reminder", "--at", AT, "--line", "sip")[1]["reasons"] == [
        "minor_without_guardian"]  # line 2 was not imported: no cap reason


def _script(tmp_path: Path, extra: str = "") -> Path:
    from callbox.compliance.scripts import shipped_text

    path = tmp_path / "reminder.toml"
    path.write_text(shipped_text("appointment_reminder").replace("期待您的到来。", "期待您的到来。" + extra), encoding="utf-8")
    return path


def _members(tmp_path: Path, phones: list[str]) -> Path:
    path = tmp_path / "members.csv"
    path.write_text("phone,appointment\n" + "".join(f"{p},明天上午十点\n" for p in phones), encoding="utf-8")
    return path


def test_campaign_needs_an_approved_script_and_edits_void_it(cli, data, tmp_path):
    script = _script(tmp_path)
    members = _members(tmp_path, ["13800138001", "13900139003"])
    create = ["campaign", "create", "c1", "--purpose", "reminder", "--script", str(script), "--contacts", str(members)]
    code, _, err = cli(data, *create)
    assert code == 3 and "script_not_approved" in err
    code, out, _ = cli(data, "script", "submit", str(script), "--by", "alice")
    assert code == 0
    record = out.split(" as ")[1].split()[0]
    code, _, err = cli(data, "script", "approve", record, "--by", "Alice")
    assert code == 2 and "different person" in err
    assert cli(data, "script", "approve", record, "--by", "bob")[0] == 0
    code, out, err = cli(data, *create)
    assert code == 0, err
    # The campaign carries the CSV's extra columns as script variables.
    from callbox.store import models as m

    assert m.CampaignMember.get(m.CampaignMember.phone == "+8613800138001").variables == {"appointment": "明天上午十点"}
    # Edit the file: the approval no longer applies, at creation and at the gate.
    script.write_text(script.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    code, _, err = cli(data, *create[:2], "c2", *create[3:])
    assert code == 3 and "script_not_approved" in err
    code, body = check(cli, data, "13900139003", "--purpose", "reminder", "--at", AT, "--campaign", "c1")
    assert code == 3 and body["reasons"] == ["script_not_approved"]


def test_campaign_refuses_blind_dialing_and_unknown_numbers(cli, data, tmp_path):
    run = [f"1380013{n:04d}" for n in range(100, 105)]  # five consecutive numbers
    code, _, err = cli(data, "campaign", "create", "blind", "--purpose", "reminder", "--script", "appointment_reminder",
                       "--contacts", str(_members(tmp_path, run)))
    assert code == 3 and "blind_dialing" in err and "+8613800130100 .. +8613800130104" in err
    assert "not_in_contacts" in err
    assert json.loads(cli(data, "campaign", "list", "--json")[1]) == []


def test_campaign_pause_resume_and_purge(cli, data, tmp_path):
    members = _members(tmp_path, ["13800138001", "13900139003"])
    assert cli(data, "campaign", "create", "c1", "--purpose", "reminder", "--script", "appointment_reminder",
               "--contacts", str(members))[0] == 0
    assert cli(data, "campaign", "pause", "c1")[0] == 0
    code, body = check(cli, data, "13900139003", "--purpose", "reminder", "--at", AT, "--campaign", "c1")
    assert code == 3 and body["reasons"] == ["campaign_paused"]
    assert cli(data, "campaign", "resume", "c1")[0] == 0
    assert check(cli, data, "13900139003", "--purpose", "reminder", "--at", AT, "--campaign", "c1")[0] == 0
    code, _, err = cli(data, "contacts", "purge", "--campaign", "c1")
    assert code == 2 and "pause it first" in err
    cli(data, "dnc", "add", "13900139003")
    cli(data, "campaign", "pause", "c1")
    code, out, err = cli(data, "contacts", "purge", "--campaign", "c1")
    assert code == 0, err
    rows = json.loads(cli(data, "dnc", "list", "--json")[1])
    assert rows[0]["phone"] is None and len(rows[0]["phone_hash"]) == 64
    assert check(cli, data, "13800138001", "--purpose", "reminder", "--at", AT)[1]["reasons"] == ["not_in_contacts"]
    assert check(cli, data, "13900139003", "--purpose", "reminder", "--at", AT)[1]["reasons"] == ["not_in_contacts", "dnc"]
    assert cli(data, "audit", "verify")[0] == 0


def test_erase_keeps_only_a_hash(cli, data):
    assert cli(data, "contacts", "erase", "13800138001")[0] == 0
    body = check(cli, data, "13800138001", "--purpose", "reminder", "--at", AT)[1]
    assert body["reasons"] == ["not_in_contacts", "dnc"]
    assert json.loads(cli(data, "dnc", "list", "--json")[1])[0]["phone"] is None


def test_script_lint_names_step_language_phrase(cli, data, tmp_path):
    bad = _script(tmp_path, "我们是最好的诊所，请保持通话。")
    code, out, _ = cli(data, "script", "lint", str(bad), "--json")
    assert code == 3
    found = {(f["step"], f["language"], f["phrase"], f["rule"]) for f in json.loads(out)["findings"]}
    assert ("remind.on.consent_yes", "zh", "最好", "prohibited") in found
    assert ("remind.on.consent_yes", "zh", "请保持通话", "opt_out_denial") in found
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    assert cli(data, "script", "lint", str(_script(clean_dir)))[0] == 0
    broken = tmp_path / "broken.toml"
    broken.write_text("id = [", encoding="utf-8")
    code, _, err = cli(data, "script", "lint", str(broken))
    assert code == 2 and "not valid TOML" in err
    code, _, err = cli(data, "script", "submit", str(bad), "--by", "alice")
    assert code == 3 and "最好" in err


def test_audit_export_since(cli, data):
    code, out, _ = cli(data, "audit", "export", "--since", "2026-03-02T00:00:00+00:00")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and lines and {"seq", "at", "actor", "action", "hash", "prev_hash"} <= set(lines[0])
    assert cli(data, "audit", "export", "--since", "soon")[0] == 2


def test_subprocess_contract(tmp_path):
    """The installed entry point, as staff run it: --data via $CALLBOX_DATA, exact JSON on stdout."""
    env_data = tmp_path / "box"
    exe = [str(Path(sys.executable).parent / "callbox")]
    env = {"CALLBOX_DATA": str(env_data), "PATH": "/usr/bin:/bin"}
    subprocess.run([*exe, "init", "--org-name", "诊所", "--callback-number", "+862161234567"], env=env, check=True,
                   capture_output=True)
    proc = subprocess.run([*exe, "check-call", "+8613800138001", "--purpose", "reminder", "--at", AT, "--json"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 3
    assert json.loads(proc.stdout) == {"allowed": False, "decision": "denied", "reasons": ["not_in_contacts"],
                                       "next_allowed_at": None}
    assert parse_json(proc.stdout)["decision"] == "denied"
