"""The list commands print one JSON array with --json, else one line per row (byte for byte)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def data(tmp_path: Path, cli) -> Path:
    d = tmp_path / "box"
    assert cli(d, "init", "--org-name", "Clinic", "--callback-number", "+862161234567")[0] == 0
    return d


def test_script_list(cli, data, tmp_path):
    from callbox.compliance.scripts import shipped_text

    assert cli(data, "script", "list") == (0, "", "")
    assert cli(data, "script", "list", "--json") == (0, "[]\n", "")
    script = tmp_path / "reminder.toml"
    script.write_text(shipped_text("appointment_reminder"), encoding="utf-8")
    assert cli(data, "script", "submit", str(script), "--by", "alice")[0] == 0
    code, out, _ = cli(data, "script", "list")
    assert code == 0 and out == f"   1 appointment_reminder     submitted  by alice  {script}\n"
    assert cli(data, "script", "approve", "1", "--by", "bob")[0] == 0
    code, out, _ = cli(data, "script", "list")
    assert out == f"   1 appointment_reminder     approved   by alice / bob  {script}\n"
    code, out, _ = cli(data, "script", "list", "--json")
    [row] = json.loads(out)
    assert code == 0 and (row["id"], row["submitted_by"], row["approved_by"], row["status"]) == (1, "alice", "bob", "approved")


def test_rules_show(cli, data):
    code, out, _ = cli(data, "rules", "show")
    lines = out.splitlines()
    assert code == 0 and [line[:5] for line in lines] == ["cn   ", "eu   ", "us   "]
    assert all(line[18:28] == "shipped   " for line in lines)
    code, out, _ = cli(data, "rules", "show", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == ["cn", "eu", "us"] and {r["source"] for r in rows} == {"shipped"}
    assert [f"{r['id']:4} {r['version']:12} {r['source']:9} {r['name']}" for r in rows] == lines


def test_dnc_and_campaign_list_as_text(cli, data):
    code, out, _ = cli(data, "dnc", "list")
    assert (code, out) == (0, "0 number(s) on the do-not-call list\n")
    assert cli(data, "dnc", "add", "13800138001", "--reason", "asked")[0] == 0
    code, out, _ = cli(data, "dnc", "list")
    assert out == ("+8613800138001       staff           2026-03-02T02:00:00+00:00  asked\n"
                   "1 number(s) on the do-not-call list\n")
    assert cli(data, "campaign", "list") == (0, "", "")


@pytest.mark.parametrize("command", [["run", "--once"], ["demo"]])
@pytest.mark.parametrize("value, why", [("garbage", "Invalid isoformat"), ("2026-03-02T10:00", "no time zone")])
def test_a_bad_at_is_a_usage_error_not_a_traceback(cli, data, command, value, why):
    code, out, err = cli(data, *command, "--at", value)
    assert code == 2 and out == ""
    assert f"--at {value!r}" in err and why in err and "2026-03-02T10:00:00+08:00" in err
    assert "Traceback" not in err
