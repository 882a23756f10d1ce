"""TLS transport and SRTP: the box calls a second pjsua2 process (tests/sip/tls_peer.py) over TLS on
127.0.0.1 with a self-signed certificate made by openssl; the peer insists on SRTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sip_support import CallRecorder, permit

from callbox.lines.base import CallEnd, LineState

pytestmark = [pytest.mark.sip]

PEER = Path(__file__).resolve().parent / "tls_peer.py"


def self_signed(tmp_path: Path, name: str = "pbx") -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_pbx(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    cert, key = self_signed(tmp_path)
    proc = subprocess.Popen([sys.executable, str(PEER), "--cert", str(cert), "--key", str(key), "--hold", "1.0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(proc.stdout.readline())
    assert ready["event"] == "ready"
    yield {"port": ready["port"], "cert": cert, "proc": proc}
    proc.stdin.close()
    proc.wait(15)


def test_call_over_tls_with_srtp(make_line, authority, tls_pbx):
    line = make_line(user="clinic", peer=f"127.0.0.1:{tls_pbx['port']}", transport="tls", srtp="mandatory",
                     tls_ca_file=str(tls_pbx["cert"]), tls_verify_server=True)
    assert line.state == LineState.READY
    call = CallRecorder()
    line.dial(permit(authority, "+8613900000555"), call)
    assert call.answered.wait(10), call.detail
    incoming = json.loads(tls_pbx["proc"].stdout.readline())
    assert incoming["event"] == "incoming" and incoming["srtp"] is True and incoming["transport"] == "tls"
    assert call.ended.wait(5) and call.reason == CallEnd.COMPLETED


def test_tls_refuses_a_pbx_whose_certificate_does_not_verify(make_line, authority, tls_pbx, tmp_path):
    other_ca, _ = self_signed(tmp_path, "someone-else")
    line = make_line(user="clinic", peer=f"127.0.0.1:{tls_pbx['port']}", transport="tls", srtp="mandatory",
                     tls_ca_file=str(other_ca), tls_verify_server=True)
    call = CallRecorder()
    line.dial(permit(authority, "+8613900000555"), call)
    assert call.ended.wait(10)
    assert call.reason == CallEnd.FAILED and not call.answered.is_set()
    assert line.wait_for_state(LineState.READY, 2)
