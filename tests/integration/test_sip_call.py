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
from callbox.recordings import transcript
from callbox.recordings.keystore import KdfParams, KeyStore, WrongPassphrase
from callbox.recordings.stream import ChunkTampered
from callbox.store import models as m
from callbox.store import queries
from callbox.voice.audio import read_wav, to_line

pytestmark = [pytest.mark.sip, pytest.mark.slow]

PASSPHRASE = "recording passphrase of the test box"
FAST_KDF = KdfParams(time_cost=1, memory_cost_kib=8 * 1024, parallelism=1)

START = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ALICE, BOB, CAROL, DAVE, ERIN = (
    "+8613900000101", "+8613900000102", "+8613900000103", "+8613900000104", "+8613900000105")
CALLEES = [
    Callee(ALICE, "en", "Alice", acts=(Act(box_pause_ms=900, dtmf="2"), Act(box_pause_ms=900, say="Yes, I will be there."))),
    # Bob talks over the prologue. If the box was unsure what it heard it asks once ("Do you want us to
    # stop calling you?") and Bob answers, as a person would; if it was sure, it has hung up by then.
    Callee(BOB, "en", "Bob", acts=(Act(box_spoke_ms=3000, say="Stop calling me, please."),
                                   Act(box_pause_ms=900, say="Yes, stop calling me."))),
    Callee(CAROL, "en", "Carol", acts=(Act(box_spoke_ms=1500, dtmf="9"),)),
    # Dave declines recording, then presses 0 at the reminder: the script promises a call back.
    Callee(DAVE, "en", "Dave", acts=(Act(box_pause_ms=900, dtmf="2"), Act(box_pause_ms=900, dtmf="0"))),
    # Erin's phone renegotiates the media 2 s into the prologue (a re-INVITE with new RTP ports, as PBXs
    # and phones changing networks do). She speaks only after hearing 5 s more of the box, and asks to
    # stop: both directions must survive the new streams.
    Callee(ERIN, "en", "Erin", acts=(Act(box_spoke_ms=2000, reinvite=True),
                                     Act(box_spoke_ms=7000, say="Stop calling me, please."),
                                     Act(box_pause_ms=900, say="Yes, stop calling me."))),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("box")
    data = root / "data"
    clock = OffsetClock(START)
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical", "Sunshine Dental")
    KeyStore.for_data_dir(data, FAST_KDF).init(PASSPHRASE)  # transcripts (and recordings) are sealed to it
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


def heard_text(env, number, seconds=None, last_seconds=None):
    report = env["bank"].wait_report(number)
    assert report is not None, "the phone bank did not report the call"
    samples, rate = read_wav(report["heard_wav"])
    if seconds:
        samples = samples[: int(seconds * rate)]
    if last_seconds:  # the end of the call, whatever came before (an unsure box asks first)
        samples = samples[-int(last_seconds * rate):]
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


def call_of(number) -> m.Call:
    return m.Call.get(m.Call.attempt == m.Attempt.get(m.Attempt.phone == number))


def turns_of(env, number) -> list[dict]:
    """The call's transcript, read the only way there is: unlock the keys and decrypt the .cbt."""
    call = call_of(number)
    assert call.transcript_file == f"call-{call.id:06d}.cbt"
    with KeyStore.for_data_dir(env["data"]).unlock(PASSPHRASE) as keys:
        return transcript.read(env["data"] / "recordings" / call.transcript_file, keys).turns


def test_consented_call_record(env):
    result = env["results"][ALICE]
    assert result.dialed and result.decision == "allowed"
    call = m.Call.get(m.Call.attempt == m.Attempt.get(m.Attempt.phone == ALICE))
    assert call.ai_disclosed
    assert call.recording == "off"  # the callee pressed 2 at the recording question
    assert call.outcome == "confirmed"
    # No recording consent (DTMF 2): the sealed transcript keeps the callee's intents, never their words.
    callee = [t for t in turns_of(env, ALICE) if t["who"] == "callee"]
    assert callee[0]["text"] == "[consent_no]"
    assert len(callee) >= 2 and all(not t["words"] and t["text"] == f"[{t['intent']}]" for t in callee)
    assert not any("there" in t["text"].lower() for t in callee)
    assert result.transcript == turns_of(env, ALICE)  # the summary row holds only what is stored
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
    assert "do not call" in heard_text(env, BOB, last_seconds=12)  # the confirmation ends the call


def test_interrupted_prompt_stopped(env):
    turns = turns_of(env, BOB)
    assert any(t["who"] == "box" and t["text"].endswith("[interrupted]") for t in turns)
    assert {"who": "callee", "text": "[opt_out]", "intent": "opt_out", "words": False} in turns


def test_dtmf_9_opt_out(env):
    assert env["results"][CAROL].opt_out
    assert m.DoNotCall.get(m.DoNotCall.phone == CAROL).source == "dtmf"


def test_a_promised_call_back_is_a_task_for_staff(env):
    from callbox.store.models_lines import CallbackTask

    result = env["results"][DAVE]
    assert result.outcome == "handoff", result.transcript
    call = call_of(DAVE)
    tasks = list(CallbackTask.select().where(CallbackTask.phone == DAVE))
    assert len(tasks) == 1 and tasks[0].status == "open" and f"call {call.id}" in tasks[0].reason
    entries = [e for e in m.AuditEntry.select() if e.action == "callback.request" and e.subject == DAVE]
    assert len(entries) == 1
    assert not CallbackTask.select().where(CallbackTask.phone != DAVE).exists()  # nobody else asked


def test_audio_flows_both_ways_after_the_callee_renegotiates_the_media(env):
    report = env["bank"].wait_report(ERIN)
    events = [e["event"] for e in report["events"]]
    assert "reinvite" in events and events.index("reinvite") < events.index("say"), events  # Erin heard the box
    result = env["results"][ERIN]
    assert result.opt_out and result.outcome == "opt_out", result.transcript  # and the box heard Erin


def test_opted_out_numbers_are_never_dialed_again(env):
    box = env["box"]
    for number in (BOB, CAROL, ERIN):
        result = box.gate.request(number, "reminder", "sip", env["campaign"])
        assert result.permit is None
        assert result.verdict.decision == "denied" and "dnc" in result.verdict.reasons


def test_no_transcript_words_in_plaintext_anywhere_on_disk(env):
    """Callee words and the box's spoken sentences exist only inside sealed .cbt files."""
    first_box = turns_of(env, ALICE)[0]["text"]
    assert "Sunshine Dental" in first_box  # what the box said, clinic name included
    needles = [b"stop calling me", b"i will be there", first_box[:40].lower().encode(), b"[opt_out]", b"[consent_no]"]
    seen = 0
    for path in env["data"].rglob("*"):
        if not path.is_file() or path.parent.name == "prompts":
            continue  # the prompt cache holds rendered audio under hashed names
        raw = path.read_bytes().lower()
        seen += 1
        for needle in needles:
            assert needle not in raw, f"{needle!r} in plaintext in {path.relative_to(env['data'])}"
    assert seen >= 4  # the store (and its WAL) and the sealed transcripts were scanned
    assert sorted(p.name for p in (env["data"] / "recordings").glob("*.cbt")) == [
        call_of(n).transcript_file for n in (ALICE, BOB, CAROL, DAVE, ERIN)]
    assert "transcript" not in {c.name for c in m.Call._meta.sorted_fields}


def test_sealed_transcript_wrong_passphrase_and_tampering(env, tmp_path):
    with pytest.raises(WrongPassphrase, match="passphrase is wrong"):
        KeyStore.for_data_dir(env["data"]).unlock("not the passphrase")
    copy = tmp_path / call_of(CAROL).transcript_file
    raw = bytearray((env["data"] / "recordings" / copy.name).read_bytes())
    raw[-2] ^= 0x10
    copy.write_bytes(bytes(raw))
    with KeyStore.for_data_dir(env["data"]).unlock(PASSPHRASE) as keys, pytest.raises(ChunkTampered):
        transcript.read(copy, keys)


def test_sweep_removes_transcripts_when_retention_ends(env, tmp_path):
    import shutil

    from callbox.recordings.retention import RetentionRule, sweep

    folder = tmp_path / "recordings"
    shutil.copytree(env["data"] / "recordings", folder)
    now = START + timedelta(days=200)  # the medical pack period (6 months) is over
    report = sweep(folder, now, False, lambda *entry: None, rules={"general": RetentionRule(6)})
    assert sorted(report.shredded) == sorted(call_of(n).transcript_file for n in (ALICE, BOB, CAROL, DAVE, ERIN))
    assert not list(folder.glob("*.cbt"))


def test_erasure_shreds_the_transcript(env):
    box = env["box"]
    name = call_of(CAROL).transcript_file
    counts = queries.erase_numbers(box.store, [CAROL], "test", "asked to be forgotten")
    assert counts["transcripts_shredded"] == 1
    assert not (env["data"] / "recordings" / name).exists()
    assert m.AuditEntry.get((m.AuditEntry.action == "recording.shredded") & (m.AuditEntry.subject == name))
