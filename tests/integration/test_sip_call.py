"""Real SIP calls on 127.0.0.1 between the box (pjsua2 in this process) and the phone bank (pjsua2 in
a child process), with real TTS on both sides, real RFC 2833 DTMF, real ASR, and a real SQLite store.

What the callee *heard* is checked by running ASR over the audio the phone bank received.
"""

import re
import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callbox.clock import OffsetClock
from callbox.daemon import CallBox
from callbox.demo import PhoneBankProcess
from callbox.dialogs.script import load_script
from callbox.lines.sip import SipAccountConfig, SipLine
from callbox.phonebank.callees import Act, Callee
from callbox.provision import init_box
from callbox.store import models as m
from callbox.store import queries
from callbox.voice.audio import read_wav, to_line

pytestmark = [pytest.mark.sip, pytest.mark.slow]

START = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ALICE, BOB, CAROL = "+8613900000101", "+8613900000102", "+8613900000103"
CALLEES = [
    Callee(ALICE, "en", "Alice", acts=(Act(box_pause_ms=900, dtmf="2"), Act(box_pause_ms=900, say="Yes, I will be there."))),
    Callee(BOB, "en", "Bob", acts=(Act(box_spoke_ms=3000, say="Stop calling me, please."),)),
    Callee(CAROL, "en", "Carol", acts=(Act(box_spoke_ms=1500, dtmf="9"),)),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("box")
    data = root / "data"
    clock = OffsetClock(START)
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical", "Sunshine Dental")
    for callee in CALLEES:
        contact = queries.add_contact(store, callee.number, callee.label, "en")
        queries.add_consent(store, contact, "reminder", clock.now() - timedelta(days=3), "paper_form", "form-1")
    bank = PhoneBankProcess(CALLEES, root / "bank", root / "cache")
    box = CallBox(data, clock, store)
    try:
        box.load_voice(("en",))
        port = bank.wait_ready()
        line = SipLine("sip1", box.authority, SipAccountConfig(user="clinic", peer=f"127.0.0.1:{port}"), log_level=0)
        box.add_line(line)
        line.start()
        campaign = box.create_campaign(
            "it", "reminder", "appointment_reminder", records=True,
            members=[{"phone": c.number, "variables": {"appointment": "tomorrow at 3 p.m."}} for c in CALLEES],
        )
        script = load_script("appointment_reminder")
        results = {}
        for member in list(campaign.members):
            results[member.phone] = box.process_member(campaign, member, script)
        yield {"box": box, "bank": bank, "results": results, "data": data, "campaign": campaign}
    finally:
        box.close()
        bank.stop()


def heard_text(env, number, seconds=None):
    report = env["bank"].wait_report(number)
    assert report is not None, "the phone bank did not report the call"
    samples, rate = read_wav(report["heard_wav"])
    if seconds:
        samples = samples[: int(seconds * rate)]
    pcm = to_line(samples, rate)
    text = ""
    # Whisper works on windows of up to 30 s; transcribe in 20 s pieces.
    step = 20 * 8000 * 2
    for offset in range(0, len(pcm), step):
        text += " " + env["box"].voice.recognizer.transcribe(pcm[offset : offset + step], "en").text
    return text.lower()


def test_consented_callee_hears_identity_and_ai_disclosure(env):
    text = heard_text(env, ALICE, seconds=20)
    assert "sunshine" in text  # Whisper base hears "Sunshine Dendle": the name, close enough
    assert "02161234567" in re.sub(r"\D", "", text)  # the callback number, digit by digit
    assert "automated ai voice" in text


def test_consented_call_record(env):
    result = env["results"][ALICE]
    assert result.dialed and result.decision == "allowed"
    call = m.Call.get(m.Call.attempt == m.Attempt.get(m.Attempt.phone == ALICE))
    assert call.ai_disclosed
    assert call.recording == "off"  # the callee pressed 2 at the recording question
    assert call.outcome == "confirmed"
    assert any(t["who"] == "callee" and "there" in t["text"].lower() for t in call.transcript)
    assert not (env["data"] / "recordings" / f"call-{call.id:06d}.cbr").exists()


def test_spoken_opt_out_is_durable_in_sqlite_and_confirmed_aloud(env):
    result = env["results"][BOB]
    assert result.opt_out and result.outcome == "opt_out", result.transcript
    # A separate connection, as after a restart: the row is on disk.
    con = sqlite3.connect(env["data"] / "callbox.sqlite3")
    rows = con.execute("select phone, source from donotcall where phone = ?", (BOB,)).fetchall()
    con.close()
    assert rows == [(BOB, "spoken_opt_out")]
    dnc = m.DoNotCall.get(m.DoNotCall.phone == BOB)
    call = m.Call.get(m.Call.attempt == m.Attempt.get(m.Attempt.phone == BOB))
    assert dnc.added_at < call.ended_at
    assert "do not call" in heard_text(env, BOB)


def test_interrupted_prompt_stopped(env):
    call = m.Call.get(m.Call.attempt == m.Attempt.get(m.Attempt.phone == BOB))
    assert any(t["who"] == "box" and t["text"].endswith("[interrupted]") for t in call.transcript)


def test_dtmf_9_opt_out(env):
    assert env["results"][CAROL].opt_out
    assert m.DoNotCall.get(m.DoNotCall.phone == CAROL).source == "dtmf"


def test_opted_out_numbers_are_never_dialed_again(env):
    box = env["box"]
    for number in (BOB, CAROL):
        result = box.gate.request(number, "reminder", "sip", env["campaign"])
        assert result.permit is None
        assert result.verdict.decision == "denied" and "dnc" in result.verdict.reasons
