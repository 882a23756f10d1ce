"""Two SIP lines in one process (pjsua2 allows one Endpoint per process: the lines share it).

Before, each SipLine owned an endpoint and a second one aborted the daemon at start
(``terminate called after throwing pj::Error``), so lines.toml refused a second SIP line.
"""

from __future__ import annotations

import pytest
from sip_support import FAST, CallRecorder, Sipp, free_port, permit

from callbox.lines.base import CallEnd, LineState
from callbox.lines.pjsip import SharedEngine
from callbox.lines.sip import SipAccountConfig, SipLine

pytestmark = [pytest.mark.sip]


class Inbound:
    """An inbound-call handler that writes down which line was rung, then declines (603)."""

    def __init__(self) -> None:
        self.numbers: list[str] = []

    def on_incoming_call(self, number, control):
        self.numbers.append(number)
        return None


@pytest.fixture
def lines(authority):
    """Start lines on a private SharedEngine (as the daemon does on the process's one); stop all after."""
    engines = SharedEngine()
    started: list[SipLine] = []

    def make(line_id: str, handler=None, **config) -> SipLine:
        config.setdefault("keepalive_s", 0)
        line = SipLine(line_id, authority, SipAccountConfig(**config), log_level=0, handler=handler,
                       timing=FAST, engines=engines)
        line.start()
        started.append(line)
        return line

    make.engines = engines
    yield make
    for line in started:
        line.stop()
    assert engines._engine is None  # the last line to stop destroyed the endpoint


def call(line: SipLine, authority, number: str) -> CallRecorder:
    recorder = CallRecorder()
    recorder.control = line.dial(permit(authority, number), recorder)
    return recorder


def test_two_lines_call_at_the_same_time_and_one_goes_on_after_the_other_stops(lines, authority, tmp_path):
    far_a, far_b = Sipp("uas_bye_mid_prompt", tmp_path), Sipp("uas_bye_mid_prompt", tmp_path)
    front = lines("front", user="front", peer=far_a.address)
    back = lines("back", user="back", peer=far_b.address)
    assert front.engine is back.engine and front.port != back.port  # one endpoint, a transport each
    assert front.state == back.state == LineState.READY

    first, second = call(front, authority, "+8613900000201"), call(back, authority, "+8613900000202")
    for recorder in (first, second):
        assert recorder.answered.wait(5) and recorder.ended.wait(10)
        assert recorder.reason == CallEnd.COMPLETED and recorder.frames > 0  # audio flowed on both
    assert far_a.wait(10) == 0, far_a.errors()
    assert far_b.wait(10) == 0, far_b.errors()

    front.stop()
    assert front.state == LineState.DISABLED
    assert back.engine is lines.engines._engine  # still running for the other line
    far_c = Sipp("uas_bye_mid_prompt", tmp_path)
    back.config = SipAccountConfig(user="back", peer=far_c.address, keepalive_s=0)
    third = call(back, authority, "+8613900000203")
    assert third.answered.wait(5) and third.ended.wait(10) and third.reason == CallEnd.COMPLETED
    assert far_c.wait(10) == 0, far_c.errors()


def test_lines_on_one_port_each_get_their_own_inbound_calls(lines, tmp_path):
    port = free_port()
    to_front, to_back = Inbound(), Inbound()
    front = lines("front", handler=to_front, user="front", peer="127.0.0.1:9", port=port)
    back = lines("back", handler=to_back, user="back", peer="127.0.0.1:9", port=port)
    assert front.port == back.port == port  # one shared transport: the account tells the calls apart

    for user, number in (("back", "+8613900000301"), ("front", "+8613900000302")):
        inject = tmp_path / f"{user}.csv"
        inject.write_text(f"SEQUENTIAL\n{number};\n")
        far = Sipp("uac_inbound_declined", tmp_path, target=f"127.0.0.1:{port}",
                   extra=("-inf", str(inject), "-s", user))
        assert far.wait(15) == 0, far.errors()
    assert to_back.numbers == ["+8613900000301"]
    assert to_front.numbers == ["+8613900000302"]


def test_a_port_taken_by_another_program_is_named_and_the_engine_not_kept(lines, authority):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        taken = squatter.getsockname()[1]
        with pytest.raises(Exception, match=f"could not start on udp 127.0.0.1:{taken}"):
            lines("front", user="front", peer="127.0.0.1:9", port=taken)
    assert lines.engines._engine is None  # the failed line gave its share back
