"""`callbox demo` end to end, as a newcomer runs it: a separate process, real SIP, real voices.

Checks the five behaviours the demo exists to show, from its --summary-json.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sip, pytest.mark.slow]

CALLBOX = Path(sys.executable).parent / "callbox"


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    out = tmp / "summary.json"
    env = {**os.environ, "COLUMNS": "120", "PYTHONFAULTHANDLER": "1"}
    env.pop("CALLBOX_DATA", None)
    proc = subprocess.run(
        [str(CALLBOX), "--data", str(tmp / "data"), "demo", "--summary-json", str(out), "--at", "2026-03-02T10:00:00+08:00"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {r["phone"]: r for r in json.loads(out.read_text(encoding="utf-8"))}
    return {"rows": rows, "stdout": proc.stdout, "data": tmp / "data"}


def test_summary_has_the_contract_fields(summary):
    for row in summary["rows"].values():
        assert {"phone", "dialed", "decision", "reasons", "ai_disclosed", "recording", "opt_out", "transcript"} <= set(row)
        assert row["decision"] in ("allowed", "denied", "deferred")
        assert row["recording"] in ("on", "off", "none")


def test_consented_callee_allows_recording_and_confirms(summary):
    row = summary["rows"]["+8613800138001"]
    assert row["dialed"] and row["ai_disclosed"] and row["recording"] == "on"
    assert row["outcome"] == "confirmed"
    assert row["transcript"][0]["who"] == "box" and "阳光口腔诊所" in row["transcript"][0]["text"]
    assert any("人工智能" in t["text"] for t in row["transcript"] if t["who"] == "box")
    recordings = list((summary["data"] / "recordings").glob("*.cbr"))
    assert recordings and all(not r.read_bytes().startswith(b"RIFF") for r in recordings)
    import sqlite3

    con = sqlite3.connect(summary["data"] / "callbox.sqlite3")
    (evidence,) = con.execute("select recording_consent from call where recording = 'on'").fetchone()
    con.close()
    assert '"how": "dtmf"' in evidence and '"answer": "1"' in evidence  # the consent answer, kept as evidence


@pytest.mark.parametrize("phone", ["+8613900138002", "+8613500138005"])
def test_opt_out_callers_end_on_the_dnc_list(summary, phone):
    row = summary["rows"][phone]
    assert row["dialed"] and row["opt_out"] and row["recording"] == "off"
    assert row["transcript"][-1]["who"] == "box"  # the confirmation was spoken last


def test_no_consent_is_never_dialed(summary):
    row = summary["rows"]["+8613700138003"]
    assert not row["dialed"] and row["decision"] == "denied" and "no_consent" in row["reasons"]


def test_dnc_is_never_dialed(summary):
    row = summary["rows"]["+8613600138004"]
    assert not row["dialed"] and row["decision"] == "denied" and row["reasons"] == ["dnc"]


def test_quiet_hours_defer(summary):
    row = summary["rows"]["+12127365000"]
    assert not row["dialed"] and row["decision"] == "deferred" and row["reasons"] == ["quiet_hours"]
    assert row["next_allowed_at"]


def test_demo_shows_the_recheck_of_opted_out_numbers(summary):
    assert "denied (dnc)" in summary["stdout"]


def test_transcripts_are_sealed_and_consent_decides_the_words(summary):
    """The consented call keeps the callee's words after DTMF 1; the opt-out calls keep labels only;
    the store holds file names, never text."""
    import sqlite3

    from callbox.demo import DEMO_PASSPHRASE
    from callbox.recordings import transcript
    from callbox.recordings.keystore import KeyStore

    data = summary["data"]
    con = sqlite3.connect(data / "callbox.sqlite3")
    rows = dict(con.execute("select a.phone, c.transcript_file from call c join attempt a on a.id = c.attempt_id"))
    con.close()
    with KeyStore.for_data_dir(data).unlock(DEMO_PASSPHRASE) as keys:
        sealed = {phone: transcript.read(data / "recordings" / name, keys).turns for phone, name in rows.items()}
    consented = sealed["+8613800138001"]
    assert consented == summary["rows"]["+8613800138001"]["transcript"]
    callee = [t for t in consented if t["who"] == "callee"]
    assert callee[0]["text"] == "[consent_yes]" and any(t["words"] for t in callee[1:])
    for phone in ("+8613900138002", "+8613500138005"):
        assert all(not t["words"] for t in sealed[phone] if t["who"] == "callee")
        assert any(t["text"] == "[opt_out]" for t in sealed[phone])
    db = (data / "callbox.sqlite3").read_bytes()
    for turn in consented:
        if len(turn["text"]) >= 6 and not turn["text"].startswith("["):
            assert turn["text"].encode() not in db, turn
