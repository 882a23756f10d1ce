"""Outbound calls from the box's SipLine to SIPp callees on 127.0.0.1: busy, no answer, 408, early media,
BYE from the far end mid-prompt, blind transfer (REFER), and malformed traffic the line must survive."""

from __future__ import annotations

import socket
import time

import pytest
from sip_support import CallRecorder, Sipp, permit, tone

from callbox.lines.base import CallEnd, LineState

pytestmark = [pytest.mark.sip]

NUMBER = "+8613900000555"


def dial(line, authority, recorder: CallRecorder):
    control = line.dial(permit(authority, NUMBER), recorder)
    recorder.control = control
    return control


def direct_line(make_line, far: Sipp, **extra):
    """A line without a registrar: calls go straight to the SIPp callee."""
    line = make_line(user="clinic", peer=far.address, **extra)
    assert line.state == LineState.READY
    return line


def states(line) -> list[LineState]:
    seen: list[LineState] = []
    line.add_state_listener(lambda event: seen.append(event.state))
    return seen


def test_busy(make_line, authority, tmp_path):
    far = Sipp("uas_busy", tmp_path)
    line = direct_line(make_line, far)
    call = CallRecorder()
    dial(line, authority, call)
    assert call.ended.wait(5)
    assert call.reason == CallEnd.BUSY and call.detail.startswith("486")
    assert not call.answered.is_set()
    assert far.wait(10) == 0, far.errors()
    assert line.wait_for_state(LineState.READY, 2)


def test_far_end_408_is_no_answer(make_line, authority, tmp_path):
    far = Sipp("uas_408", tmp_path)
    line = direct_line(make_line, far)
    seen = states(line)
    call = CallRecorder()
    dial(line, authority, call)
    assert call.ended.wait(5)
    assert call.reason == CallEnd.NO_ANSWER and call.detail.startswith("408")
    assert LineState.RINGING in seen
    assert far.wait(10) == 0, far.errors()


def test_ring_timeout_cancels_as_no_answer(make_line, authority, tmp_path):
    far = Sipp("uas_no_answer", tmp_path)
    line = direct_line(make_line, far, ring_timeout_s=1.5)
    call = CallRecorder()
    dial(line, authority, call)
    assert call.ended.wait(6)
    assert call.reason == CallEnd.NO_ANSWER and "no answer within 2 s" in call.detail
    assert 1.4 <= call.ended_at <= 3.0
    assert far.wait(10) == 0, far.errors()  # SIPp saw the CANCEL and got its ACK
    assert line.wait_for_state(LineState.READY, 2)


def test_early_media_is_not_an_answer(make_line, authority, tmp_path):
    far = Sipp("uas_early_media", tmp_path)
    line = direct_line(make_line, far)
    seen = states(line)
    call = CallRecorder()
    dial(line, authority, call)
    assert call.answered.wait(6)
    # 183 + 1.5 s of announcement first: the dialog must not start talking to a recording.
    assert call.answered_at >= 1.4
    assert call.frames_before_answer == 0
    assert seen[:3] == [LineState.DIALING, LineState.RINGING, LineState.IN_CALL]
    assert call.ended.wait(5)
    assert call.reason == CallEnd.COMPLETED
    assert far.wait(10) == 0, far.errors()


def test_bye_from_far_end_mid_prompt(make_line, authority, tmp_path):
    far = Sipp("uas_bye_mid_prompt", tmp_path)
    line = direct_line(make_line, far)
    call = CallRecorder(on_answer_pcm=tone(6.0))
    control = dial(line, authority, call)
    assert call.answered.wait(5)
    assert call.ended.wait(5)
    assert call.reason == CallEnd.COMPLETED
    spoke_s = call.ended_at - call.answered_at
    assert 0.8 <= spoke_s <= 2.0  # cut off after ~1 s of a 6 s prompt
    assert control.playback_pending_ms() == 0  # the rest of the prompt was dropped
    assert line.wait_for_state(LineState.READY, 2)
    assert far.wait(10) == 0, far.errors()
    time.sleep(0.2)
    assert not line._active and not line.engine.keep  # the Call object is released
    # ... and destroyed now, on the engine thread: not when its 60 s ring timer fires, when pj::Call's
    # destructor would clear and hang up whichever later call has reused its pjsua call id.
    import gc

    from callbox.lines.sip import _SipCall

    del control
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, _SipCall)]
    # Its media port is unbound at once (late media callbacks deliver nothing) and back in the engine's
    # pool for the next call, not destroyed under the media clock (pjsua2 2.15: PjEngine.release_port).
    assert line.engine.port_count == 1 and line.engine.ports_in_use == 0


def test_blind_transfer_sends_refer_and_hangs_up_our_leg(make_line, authority, tmp_path):
    far = Sipp("uas_transfer", tmp_path)
    line = direct_line(make_line, far)
    call = CallRecorder()
    control = dial(line, authority, call)
    assert call.answered.wait(5)
    assert control.transfer("8001") is True
    assert call.ended.wait(5), "the box did not hang up after the PBX reported the transfer done"
    assert far.wait(10) == 0, far.errors()
    assert f"sip:8001@{far.address}" in far.logs().split("REFER-TO", 1)[-1]
    assert line.wait_for_state(LineState.READY, 2)


def test_transfer_is_refused_before_answer_and_on_gsm_style_controls(make_line, authority, tmp_path):
    from callbox.lines.base import CallControl

    class Plain(CallControl):
        def play(self, pcm): ...
        def stop_playback(self): return 0
        def playback_pending_ms(self): return 0
        def send_dtmf(self, digits): ...
        def hangup(self): ...

    assert Plain().transfer("8001") is False
    far = Sipp("uas_no_answer", tmp_path)
    line = direct_line(make_line, far, ring_timeout_s=1.0)
    call = CallRecorder()
    control = dial(line, authority, call)
    assert control.transfer("8001") is False  # nothing to transfer yet
    assert call.ended.wait(5)


def test_malformed_traffic_does_not_crash_the_line(make_line, authority, tmp_path):
    busy = Sipp("uas_busy", tmp_path)
    line = direct_line(make_line, busy)
    port = line.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        for junk in (b"\x00\xff" * 40, b"INVITE\r\n\r\n", b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n",
                     "INVITE sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\n软件".encode()):
            raw.sendto(junk, ("127.0.0.1", port))
    far = Sipp("uac_malformed", tmp_path, target=f"127.0.0.1:{port}")
    assert far.wait(15) == 0, far.errors()  # the box refused the bad INVITE and answered the OPTIONS after it
    assert line.state == LineState.READY
    call = CallRecorder()  # ...and still places calls
    dial(line, authority, call)
    assert call.ended.wait(5) and call.reason == CallEnd.BUSY
    assert busy.wait(10) == 0, busy.errors()


def test_redirect_to_another_number_is_not_followed(make_line, authority, tmp_path):
    far = Sipp("uas_redirect", tmp_path, calls=None)
    try:
        line = direct_line(make_line, far)
        call = CallRecorder()
        dial(line, authority, call)
        assert call.ended.wait(5)
        assert call.reason == CallEnd.FAILED and call.detail.startswith("302")
        time.sleep(1.0)
        assert far.received("INVITE") == 1, "the box dialled the redirect target"
    finally:
        far.stop()
