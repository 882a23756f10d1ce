"""GsmLine against the pty modem emulator: the real driver code, byte for byte over a pty."""

from __future__ import annotations

import struct
from datetime import datetime, timezone

import pytest

from callbox.clock import FixedClock, SystemClock
from callbox.compliance.permit import PermitAuthority, PermitError
from callbox.lines.base import FRAME_BYTES, CallEnd, LineState
from callbox.lines.gsm import OPT_OUT_REPLY, GsmLine
from callbox.lines.modem_emulator import Callee, ModemEmulator

from gsm_support import FAST, RecordingHandler, RecordingListener, running, wait_until

NUMBER = "13800138000"


def permit(authority: PermitAuthority, number: str = NUMBER, attempt: int = 1):
    return authority.issue(number, attempt, "gsm")


def test_registration_and_signal_are_read(line, emulator):
    status = line.status
    assert status.registered and status.reg_stat == 1
    assert status.csq == 20 and status.rssi_dbm == -73
    assert status.operator == "CHINA MOBILE"
    log = emulator.command_log()
    for command in ("ATE0", "AT+CMEE=2", "AT+CPIN?", "AT+CREG?", "AT+CEREG?", "AT+CSQ", "AT+COPS?"):
        assert command in log
    assert not any("CLIR" in c.upper() or "#31#" in c for c in log), "caller ID must never be altered"


def test_network_time_from_cclk(authority):
    clock = FixedClock(datetime(2026, 3, 2, 2, 0, 0, tzinfo=timezone.utc))
    with ModemEmulator(clock=clock, tz_quarters=32) as emu:
        gsm = GsmLine("gsm1", authority, emu.at_port, audio_port=emu.audio_port, timing=FAST)
        with running(gsm):
            assert gsm.network_time() == datetime(2026, 3, 2, 2, 0, 0, tzinfo=timezone.utc)
            clock.set(datetime(2000, 1, 1, tzinfo=timezone.utc))  # modem clock never set by NITZ
            assert gsm.network_time() is None


def test_dial_with_permit_reaches_modem_and_reports_answer_and_end(line, emulator, authority):
    emulator.add_callee(NUMBER, Callee(answer_after=0.2, hangup_after=0.4))
    listener = RecordingListener()
    states: list[LineState] = []
    line.add_state_listener(lambda event: states.append(event.state))
    line.dial(permit(authority), listener)
    assert listener.answered.wait(3)
    assert listener.ended.wait(3)
    assert listener.ends == [(CallEnd.COMPLETED, "far end hung up (VOICE CALL: END)")]
    assert emulator.count("ATD") == 1 and f"ATD{NUMBER};" in emulator.command_log()
    assert wait_until(lambda: line.state == LineState.READY)
    assert states[:3] == [LineState.DIALING, LineState.RINGING, LineState.IN_CALL]


def test_dial_without_valid_permit_never_sends_atd(line, emulator, authority):
    listener = RecordingListener()
    other = PermitAuthority(SystemClock())  # a different gate: its signature does not verify here
    with pytest.raises(PermitError):
        line.dial(other.issue(NUMBER, 1, "gsm"), listener)
    with pytest.raises(PermitError):
        line.dial(authority.issue(NUMBER, 2, "sip"), listener)  # permit for another line kind
    used = permit(authority, attempt=3)
    emulator.add_callee(NUMBER, Callee(busy=True))
    line.dial(used, listener)
    assert listener.ended.wait(3)
    with pytest.raises(PermitError):
        line.dial(used, RecordingListener())  # never dials twice for one permit
    assert wait_until(lambda: line.state == LineState.READY)
    assert emulator.count("ATD") == 1


def test_number_with_dial_modifiers_is_refused(line, emulator, authority):
    listener = RecordingListener()
    line.dial(authority.issue("#31#13800138000", 1, "gsm"), listener)
    assert listener.ended.wait(2)
    assert listener.ends[0][0] == CallEnd.FAILED
    assert emulator.count("ATD") == 0


def test_audio_flows_both_ways(line, emulator, authority):
    tone = b"".join(struct.pack("<h", (i * 97) % 3000 - 1500) for i in range(160))
    assert len(tone) == FRAME_BYTES
    scripted = [bytes([i]) * FRAME_BYTES for i in range(1, 11)]
    emulator.add_callee(NUMBER, Callee(answer_after=0.1, audio=scripted))
    listener = RecordingListener()
    control = line.dial(permit(authority), listener)
    assert listener.answered.wait(3)
    control.play(tone * 10)
    assert wait_until(lambda: tone * 10 in bytes(emulator.received_audio), timeout=3)
    assert wait_until(lambda: len(listener.frames) >= 10, timeout=3)
    assert all(len(f) == FRAME_BYTES for f in listener.frames)
    assert listener.frames[:10] == scripted
    assert control.playback_pending_ms() == 0
    control.play(tone * 50)
    assert control.stop_playback() > 0
    control.hangup()
    assert listener.ended.wait(3)
    assert listener.ends == [(CallEnd.COMPLETED, "hung up by callbox")]
    assert "AT+CPCMREG=1" in emulator.command_log() and "AT+CPCMREG=0" in emulator.command_log()


def test_dtmf_both_ways(line, emulator, authority):
    emulator.add_callee(NUMBER, Callee(answer_after=0.1, dtmf=[(0.2, "19#")]))
    listener = RecordingListener()
    control = line.dial(permit(authority), listener)
    assert listener.answered.wait(3)
    control.send_dtmf("42*")
    assert wait_until(lambda: listener.dtmf == ["1", "9", "#"])
    assert wait_until(lambda: emulator.dtmf_received == ["4", "2", "*"])
    with pytest.raises(ValueError):
        control.send_dtmf("1;ATD")
    control.hangup()
    assert listener.ended.wait(3)


@pytest.mark.parametrize(
    "callee, expected",
    [(Callee(busy=True), CallEnd.BUSY), (Callee(answer_after=None, no_answer_after=0.4), CallEnd.NO_ANSWER)],
    ids=["busy", "no-answer"],
)
def test_busy_and_no_answer(line, emulator, authority, callee, expected):
    emulator.add_callee(NUMBER, callee)
    listener = RecordingListener()
    line.dial(permit(authority), listener)
    assert listener.ended.wait(3)
    assert [e[0] for e in listener.ends] == [expected]
    assert not listener.answered.is_set()
    assert wait_until(lambda: line.state == LineState.READY)


def test_ring_timeout_hangs_up_with_no_answer(emulator, authority):
    emulator.add_callee(NUMBER, Callee(answer_after=None, no_answer_after=30))
    timing = FAST.__class__(**{**FAST.__dict__, "dial_timeout_s": 0.5})
    gsm = GsmLine("gsm1", authority, emulator.at_port, audio_port=emulator.audio_port, timing=timing)
    with running(gsm):
        listener = RecordingListener()
        gsm.dial(permit(authority), listener)
        assert listener.ended.wait(3)
        assert listener.ends[0][0] == CallEnd.NO_ANSWER
        assert "AT+CHUP" in emulator.command_log()


def test_inbound_call_is_answered_with_caller_number(line, emulator, handler):
    emulator.ring("13912345678", Callee(hangup_after=0.4, dtmf=[(0.1, "9")]))
    assert wait_until(lambda: handler.incoming == ["13912345678"])
    assert handler.listener.answered.wait(3)
    assert "ATA" in emulator.command_log()
    assert wait_until(lambda: handler.listener.dtmf == ["9"])
    assert handler.listener.ended.wait(3)
    assert [e[0] for e in handler.listener.ends] == [CallEnd.COMPLETED]
    assert wait_until(lambda: line.state == LineState.READY)


def test_inbound_call_rejected_when_handler_declines(line, emulator, handler):
    handler.accept = False
    emulator.ring("13912345678")
    assert wait_until(lambda: "AT+CHUP" in emulator.command_log())
    assert "ATA" not in emulator.command_log()
    assert wait_until(lambda: line.state == LineState.READY)


@pytest.mark.parametrize("text", ["退订", "td", "STOP please"])
def test_sms_opt_out_calls_handler_and_confirms(line, emulator, handler, text):
    emulator.receive_sms("+8613912345678", text)
    assert handler.opted_out.wait(3)
    assert handler.opt_outs == ["+8613912345678"]
    assert wait_until(lambda: emulator.sent_sms == [("+8613912345678", OPT_OUT_REPLY)])
    assert wait_until(lambda: any(c.startswith("AT+CMGD=") for c in emulator.command_log()))


def test_ordinary_sms_is_not_an_opt_out(line, emulator, handler):
    emulator.receive_sms("+8613912345678", "明天见 see you at Acme Ltd")
    assert wait_until(lambda: handler.sms == [("+8613912345678", "明天见 see you at Acme Ltd")])
    assert handler.opt_outs == [] and emulator.sent_sms == []


def test_sms_stored_while_box_was_off_is_processed_at_init(emulator, authority):
    emulator.receive_sms("+8613700000000", "退订")
    handler = RecordingHandler()
    gsm = GsmLine("gsm1", authority, emulator.at_port, audio_port=emulator.audio_port, handler=handler, timing=FAST)
    with running(gsm, None):
        assert handler.opted_out.wait(5)
        assert handler.opt_outs == ["+8613700000000"]


def test_sim_pin_is_entered_once(authority):
    with ModemEmulator(sim_pin="1234") as emu:
        gsm = GsmLine("gsm1", authority, emu.at_port, audio_port=emu.audio_port, sim_pin="1234", timing=FAST)
        with running(gsm):
            assert emu.count('AT+CPIN="1234"') == 1
    with ModemEmulator(sim_pin="1234") as emu:
        gsm = GsmLine("gsm1", authority, emu.at_port, audio_port=emu.audio_port, sim_pin="9999", timing=FAST)
        with running(gsm, LineState.FAULT):
            assert "PIN" in gsm.fault_detail
            wait_until(lambda: emu.count("AT+CPIN?") >= 3, timeout=2)
            assert emu.count("AT+CPIN=") == 1, "a wrong PIN must not be retried (PUK lock)"


def test_ec25_registers_and_detects_dtmf_in_ascii_code_form(authority):
    from callbox.lines.gsm import CallAudio

    class NullAudio(CallAudio):
        def open(self, on_frame, playback) -> None:
            pass

        def close(self) -> None:
            pass

    with ModemEmulator(variant="ec25") as emu:
        emu.add_callee(NUMBER, Callee(answer_after=0.1, dtmf=[(0.1, "5#")], hangup_after=0.4))
        gsm = GsmLine("gsm1", authority, emu.at_port, model="ec25", audio=NullAudio(), timing=FAST)
        with running(gsm):
            assert "AT^DSCI=1" in emu.command_log() and "AT+QTONEDET=1" in emu.command_log()
            listener = RecordingListener()
            gsm.dial(permit(authority), listener)
            assert listener.answered.wait(3)
            assert wait_until(lambda: listener.dtmf == ["5", "#"])
            assert listener.ended.wait(3)
            assert [e[0] for e in listener.ends] == [CallEnd.COMPLETED]


def test_ec25_without_audio_class_refuses_to_dial(authority):
    with ModemEmulator(variant="ec25") as emu:
        gsm = GsmLine("gsm1", authority, emu.at_port, model="ec25", timing=FAST)
        with running(gsm):
            listener = RecordingListener()
            gsm.dial(permit(authority), listener)
            assert listener.ended.wait(3)
            assert listener.ends[0][0] == CallEnd.FAILED and "audio" in listener.ends[0][1]
            assert emu.count("ATD") == 0


def test_from_config_reads_a_lines_toml_table(emulator, authority, handler):
    cfg = {"id": "gsm1", "kind": "gsm", "at_port": emulator.at_port, "audio_port": emulator.audio_port,
           "model": "sim7600"}
    gsm = GsmLine.from_config(cfg, authority, SystemClock(), handler=handler)
    assert gsm.line_id == "gsm1" and gsm.kind == "gsm" and gsm.profile.name == "sim7600"
    with pytest.raises(ValueError, match="unknown setting"):
        GsmLine.from_config({**cfg, "caller_id": "10086"}, authority)
