"""Registration against SIPp registrars on 127.0.0.1: digest challenge, refresh, wrong password, 403,
408 and 503 with Retry-After. The line is READY only while registered and recovers by itself."""

from __future__ import annotations

import time

import pytest
from sip_support import Sipp

from callbox.lines.base import LineState

pytestmark = [pytest.mark.sip]

ACCOUNT = {"user": "1001", "domain": "127.0.0.1", "password": "s3cret"}


def registrar(scenario: str, tmp_path) -> Sipp:
    return Sipp(scenario, tmp_path, calls=None)


def test_digest_challenge_then_registered_and_refreshed_before_expiry(make_line, tmp_path):
    pbx = registrar("reg_challenge", tmp_path)
    try:
        line = make_line(registrar=pbx.address, **ACCOUNT)
        assert line.wait_for_state(LineState.READY, 5), line.registration.detail
        status = line.registration
        assert status.registered and status.code == 200
        assert status.first_registered_s is not None and status.first_registered_s < 1.0
        assert "registered with" in line._shown_detail
        # The registrar grants 10 s; pjsip must refresh at least 5 s before expiry (so after ~5 s).
        deadline = time.monotonic() + 8
        while line.registration.successes < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert line.registration.successes >= 2, "no re-registration before expiry"
        (t1, _), (t2, _) = line.registration.history[:2]
        assert 4.0 <= t2 - t1 <= 6.5
        assert line.state == LineState.READY  # a refresh does not blink the LED
        messages = pbx.messages()
        assert "Authorization: Digest" in messages and 'username="1001"' in messages
    finally:
        pbx.stop()


def test_wrong_password_is_a_fault_that_names_the_fix_and_backs_off(make_line, tmp_path):
    pbx = registrar("reg_challenge", tmp_path)
    try:
        line = make_line(registrar=pbx.address, **{**ACCOUNT, "password": "wrong"})
        assert line.wait_for_state(LineState.FAULT, 5)
        detail = line.registration.detail
        assert "401" in detail and "password" in detail and "lines.toml" in detail
        time.sleep(3.2)
        codes = [code for _, code in line.registration.history]
        assert codes[:3] == [401, 401, 401]
        times = [t for t, _ in line.registration.history]
        gaps = [b - a for a, b in zip(times, times[1:])]
        # auth failures back off from auth_retry_min_s (1 s here): 1 s, then 2 s
        assert gaps[0] >= 0.95 and gaps[1] >= 1.9
        assert line.state == LineState.FAULT
    finally:
        pbx.stop()


def test_forbidden_is_a_fault_naming_the_pbx_admin(make_line, tmp_path):
    pbx = registrar("reg_403", tmp_path)
    try:
        line = make_line(registrar=pbx.address, **ACCOUNT)
        assert line.wait_for_state(LineState.FAULT, 5)
        assert "403" in line.registration.detail and "PBX administrator" in line.registration.detail
        assert line.registration.next_retry_s >= 1.0
    finally:
        pbx.stop()


def test_503_retry_after_is_honoured_then_the_line_recovers(make_line, tmp_path):
    pbx = registrar("reg_503_retry_after", tmp_path)
    try:
        line = make_line(registrar=pbx.address, **ACCOUNT)
        assert line.wait_for_state(LineState.FAULT, 5)
        assert "503" in line.registration.detail and "retry after 2 s" in line.registration.detail
        fault_at = time.monotonic()
        assert line.wait_for_state(LineState.READY, 5), line.registration.detail
        recovered_s = time.monotonic() - fault_at
        (t_fail, code_fail), (t_ok, code_ok) = line.registration.history[:2]
        assert (code_fail, code_ok) == (503, 200)
        assert 1.95 <= t_ok - t_fail <= 2.6  # Retry-After: 2, not the 0.5 s backoff
        assert recovered_s < 2.6
    finally:
        pbx.stop()


def test_408_is_retried_with_backoff_and_recovers(make_line, tmp_path):
    pbx = registrar("reg_408_then_ok", tmp_path)
    try:
        line = make_line(registrar=pbx.address, **ACCOUNT)
        assert line.wait_for_state(LineState.FAULT, 5)
        assert "no reply from registrar" in line.registration.detail
        assert line.wait_for_state(LineState.READY, 3), line.registration.detail
        (t_fail, _), (t_ok, _) = line.registration.history[:2]
        assert 0.45 <= t_ok - t_fail <= 1.2
    finally:
        pbx.stop()


def test_dial_is_refused_while_not_registered(make_line, authority, tmp_path):
    from sip_support import CallRecorder, permit

    pbx = registrar("reg_403", tmp_path)
    try:
        line = make_line(registrar=pbx.address, **ACCOUNT)
        assert line.wait_for_state(LineState.FAULT, 5)
        with pytest.raises(RuntimeError, match="not ready"):
            line.dial(permit(authority, "+8613900000001"), CallRecorder())
    finally:
        pbx.stop()
