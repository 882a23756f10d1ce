"""Registration policy (pure), account settings, and the NAT keepalive on the wire."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sip_support import FAST

from callbox.lines.base import CallEnd, LineState
from callbox.lines.sip import (
    SipAccountConfig,
    SipTiming,
    caller_number,
    end_reason,
    registration_outcome,
    retry_after_s,
)

CFG = SipAccountConfig(user="1001", domain="pbx.lan", registrar="pbx.lan", password="x")
SLOW = SipTiming(jitter=0.0)


def outcome(code, failures=1, retry_after=None, reason="Reason"):
    return registration_outcome(code, reason, failures, CFG, SLOW, retry_after, rand=lambda: 0.0)


def test_backoff_doubles_from_5_s_and_caps_at_5_minutes():
    delays = [outcome(500, n).retry_in_s for n in range(1, 10)]
    assert delays[:4] == [5, 10, 20, 40] and delays[-1] == 300


def test_wrong_password_and_forbidden_retry_slowly_and_name_the_fix():
    wrong = outcome(401)
    assert not wrong.ok and wrong.retry_in_s == 60 and "password" in wrong.detail and "lines.toml" in wrong.detail
    assert outcome(401, 3).retry_in_s == 240
    forbidden = outcome(403)
    assert forbidden.retry_in_s == 60 and "PBX administrator" in forbidden.detail


def test_retry_after_is_honoured_and_capped():
    assert outcome(503, retry_after=30).retry_in_s == 30
    assert outcome(503, retry_after=86400).retry_in_s == 3600
    assert retry_after_s("SIP/2.0 503 x\r\nretry-after: 17 (maintenance)\r\n") == 17
    assert retry_after_s("SIP/2.0 503 x\r\n\r\n") is None


def test_timeouts_name_the_network():
    assert "network cable" in outcome(408).detail
    assert outcome(200).ok


def test_end_reasons():
    assert end_reason(486, False, False) == CallEnd.BUSY
    assert end_reason(487, False, True) == CallEnd.NO_ANSWER
    assert end_reason(603, False, False) == CallEnd.REJECTED
    assert end_reason(404, False, False) == CallEnd.FAILED
    assert end_reason(200, True, False) == CallEnd.COMPLETED


def test_caller_number_from_uris():
    assert caller_number('"Ann" <sip:%2B8613900000888@pbx;user=phone>') == "+8613900000888"
    assert caller_number("<sip:anonymous@anonymous.invalid>") == ""
    assert caller_number("garbage") == ""


def test_account_problems_name_the_fix():
    assert SipAccountConfig().problems() == []
    problems = SipAccountConfig(registrar="pbx", transport="sctp", srtp="yes").problems()
    assert any("transport" in p for p in problems) and any("srtp" in p for p in problems)
    assert any("password" in p for p in problems)
    with pytest.raises(ValueError, match="lines.toml"):
        from callbox.clock import SystemClock
        from callbox.compliance.permit import PermitAuthority
        from callbox.lines.sip import SipLine

        SipLine("bad", PermitAuthority(SystemClock()), SipAccountConfig(transport="sctp"))


def test_caller_id_is_the_configured_identity_for_every_uri():
    cfg = SipAccountConfig(user="+862161234567", domain="trunk.example", transport="tls", outbound_proxy="edge:5061")
    assert cfg.id_uri() == "sip:+862161234567@trunk.example"
    assert cfg.target_uri("+8613900000001") == "sip:+8613900000001@trunk.example;transport=tls"
    assert cfg.proxy_uri() == "sip:edge:5061;lr;transport=tls"


class MiniRegistrar:
    """Answers REGISTER with 200 and counts the CRLF keepalives that follow (a NAT router's view)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.keepalives: list[float] = []
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            if data.strip() == b"":
                self.keepalives.append(time.monotonic())
            elif data.startswith(b"REGISTER"):
                self.sock.sendto(self._ok(data.decode()), peer)

    @staticmethod
    def _ok(request: str) -> bytes:
        keep = [line for line in request.split("\r\n") if line.split(":", 1)[0].lower() in
                ("via", "from", "to", "call-id", "cseq", "contact")]
        return ("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n").encode()


def test_nat_keepalive_reaches_the_registrar(make_line):
    pbx = MiniRegistrar()
    try:
        line = make_line(user="1001", domain="127.0.0.1", registrar=f"127.0.0.1:{pbx.port}", password="x",
                         keepalive_s=1, timing=FAST)
        assert line.wait_for_state(LineState.READY, 3), line.registration.detail
        time.sleep(2.6)
        assert len(pbx.keepalives) >= 2
    finally:
        pbx.stop.set()
