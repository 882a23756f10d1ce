"""SIP line tests: the box's SipLine (pjsua2, this process) against SIPp scenarios on 127.0.0.1."""

from __future__ import annotations

import pytest
from sip_support import FAST, SIPP

from callbox.clock import SystemClock
from callbox.compliance.permit import PermitAuthority
from callbox.lines.sip import SipAccountConfig, SipLine

if SIPP is None:  # setup.sh installs it; without it these tests cannot say anything
    pytest.skip("sipp is not installed: `apt-get install -y sip-tester` (setup.sh does this)", allow_module_level=True)

try:
    import pjsua2  # noqa: F401
except ImportError:
    pytest.skip("pjsua2 is not installed (./setup.sh)", allow_module_level=True)


@pytest.fixture
def authority() -> PermitAuthority:
    return PermitAuthority(SystemClock())


@pytest.fixture
def make_line(authority):
    """Start SipLines (one at a time: one pjsua2 Endpoint per process) and stop them afterwards."""
    started: list[SipLine] = []

    def make(handler=None, timing=FAST, **config) -> SipLine:
        config.setdefault("keepalive_s", 0)
        line = SipLine("sip1", authority, SipAccountConfig(**config), log_level=0, handler=handler, timing=timing)
        started.append(line)
        line.start()
        return line

    yield make
    for line in started:
        line.stop()
