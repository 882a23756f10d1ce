"""Fault handling: hung modem, unplug/replug, SIM removal, garbage, slow replies."""

from __future__ import annotations

import time

from callbox.lines.base import CallEnd, LineState
from callbox.lines.gsm import GsmLine
from callbox.lines.modem_emulator import Callee

from gsm_support import FAST, RecordingListener, running, wait_until

NUMBER = "13800138000"


def test_hung_modem_is_reset_and_recovers(line, emulator):
    faults = []
    line.add_state_listener(lambda e: faults.append(e.detail) if e.state == LineState.FAULT else None)
    emulator.hang()
    assert line.wait_for_state(LineState.FAULT, 5)
    assert wait_until(lambda: emulator.count("AT+CFUN=1,1") == 1)
    assert "AT+CFUN=1,1" in faults[0] and "stopped answering" in faults[0] and "power-cycle" in faults[0]
    assert line.wait_for_state(LineState.READY, 5), line.fault_detail
    assert emulator.resets == 1 and line.stats["resets"] == 1


def test_unplug_faults_and_replug_recovers(line, emulator):
    faults = []
    line.add_state_listener(lambda e: faults.append(e.detail) if e.state == LineState.FAULT else None)
    emulator.unplug()
    assert line.wait_for_state(LineState.FAULT, 3)
    assert "disappeared" in faults[0] and "USB cable" in faults[0]
    time.sleep(0.5)  # the line keeps retrying while the modem is away
    assert line.state == LineState.FAULT
    emulator.replug()
    assert line.wait_for_state(LineState.READY, 5), line.fault_detail
    assert line.stats["recoveries"] >= 1


def test_dial_while_faulted_fails_at_once_without_atd(line, emulator, authority):
    emulator.unplug()
    assert line.wait_for_state(LineState.FAULT, 3)
    listener = RecordingListener()
    line.dial(authority.issue(NUMBER, 1, "gsm"), listener)
    assert listener.ended.wait(2)
    assert listener.ends[0][0] == CallEnd.FAILED and "fault" in listener.ends[0][1]
    assert emulator.count("ATD") == 0


def test_call_in_progress_at_unplug_ends_failed_exactly_once(line, emulator, authority):
    emulator.add_callee(NUMBER, Callee(answer_after=0.1))
    listener = RecordingListener()
    line.dial(authority.issue(NUMBER, 1, "gsm"), listener)
    assert listener.answered.wait(3)
    time.sleep(0.1)
    emulator.unplug()
    assert listener.ended.wait(3)
    emulator.replug()
    assert line.wait_for_state(LineState.READY, 5)
    time.sleep(0.3)  # give any duplicate report time to show up
    assert [e[0] for e in listener.ends] == [CallEnd.FAILED]
    assert "disappeared" in listener.ends[0][1]
    assert emulator.count("ATD") == 1, "an interrupted call is never redialled by the line"


def test_sim_removal_faults_ends_call_and_recovers_when_reinserted(line, emulator, authority):
    emulator.add_callee(NUMBER, Callee(answer_after=0.1))
    listener = RecordingListener()
    line.dial(authority.issue(NUMBER, 1, "gsm"), listener)
    assert listener.answered.wait(3)
    emulator.remove_sim()
    assert line.wait_for_state(LineState.FAULT, 3)
    assert "SIM" in line.fault_detail
    assert listener.ended.wait(2)
    assert [e[0] for e in listener.ends] == [CallEnd.FAILED]
    time.sleep(0.5)
    assert line.state == LineState.FAULT and "SIM" in line.fault_detail
    emulator.insert_sim()
    assert line.wait_for_state(LineState.READY, 5), line.fault_detail
    assert [e[0] for e in listener.ends] == [CallEnd.FAILED]


def test_no_sim_at_boot_names_the_fix(emulator, authority):
    emulator.remove_sim()
    gsm = GsmLine("gsm1", authority, emulator.at_port, audio_port=emulator.audio_port, timing=FAST)
    with running(gsm, LineState.FAULT):
        assert "insert the SIM" in gsm.fault_detail


def test_missing_port_at_boot_names_the_fix(authority, tmp_path):
    gsm = GsmLine("gsm1", authority, str(tmp_path / "nope"), timing=FAST)
    with running(gsm, LineState.FAULT, 3):
        assert "not there" in gsm.fault_detail and "udev" in gsm.fault_detail
    assert gsm.state == LineState.DISABLED


def test_garbage_and_slow_replies_and_dropped_urc_do_not_break_calls(line, emulator, authority):
    emulator.garble(64)
    emulator.slow_ok(0.3)  # well inside the 1 s command timeout
    emulator.add_callee(NUMBER, Callee(answer_after=0.1, hangup_after=0.5))
    emulator.drop_urcs(1)  # lose the "dialing" status URC
    listener = RecordingListener()
    line.dial(authority.issue(NUMBER, 1, "gsm"), listener)
    assert listener.answered.wait(3)
    emulator.garble(16)
    assert listener.ended.wait(4)
    assert [e[0] for e in listener.ends] == [CallEnd.COMPLETED]
    emulator.slow_ok(0)
    assert line.wait_for_state(LineState.READY, 3)
    assert line.stats["resets"] == 0
