"""Media ports of the pjsua2 engine: pooled, reused, never destroyed while the library runs.

pjsua2 2.15's conference bridge removes a port asynchronously on its media clock, while
``~AudioMediaPort`` frees the port right after asking: the clock then read freed memory (the rare
``callbox demo`` SIGSEGV) and, with no clock between calls, the bridge's 254 slots ran out after ~250
calls. These tests fail on the old "one new port per call, destroyed after it" code.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from callbox.lines.base import PlaybackBuffer

pjsua2 = pytest.importorskip("pjsua2")

from callbox.lines.pjsip import PjEngine  # noqa: E402

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


@pytest.fixture
def engine():
    eng = PjEngine("127.0.0.1", 0, log_level=0, name="ports")
    eng.start()
    yield eng
    eng.stop()


def test_more_calls_than_the_bridge_has_slots_reuse_the_same_ports(engine):
    """300 call lifetimes with two calls at once: two ports in all, the bridge never fills up."""
    heard: list[bytes] = []
    for _ in range(300):
        first = engine.call(lambda: engine.media_port(heard.append, PlaybackBuffer()))
        second = engine.call(lambda: engine.media_port(heard.append, PlaybackBuffer()))
        assert first is not second
        engine.call(lambda: engine.release_port(first))
        engine.call(lambda: engine.release_port(second))
    assert engine.port_count == 2


def test_a_released_port_is_unbound_until_the_next_call_binds_it(engine):
    old_playback = PlaybackBuffer()
    port = engine.call(lambda: engine.media_port(lambda frame: None, old_playback))
    assert not port.closed and port.playback is old_playback
    engine.call(lambda: engine.release_port(port))
    assert port.closed and port.playback is None  # late media callbacks of the old call deliver nothing
    new_playback = PlaybackBuffer()
    again = engine.call(lambda: engine.media_port(lambda frame: None, new_playback))
    assert again is port and again.playback is new_playback
    engine.call(lambda: engine.release_port(again))
    engine.call(lambda: engine.release_port(again))  # twice is harmless: still one free port
    one, two = engine.call(lambda: (engine.media_port(lambda f: None, PlaybackBuffer()),
                                    engine.media_port(lambda f: None, PlaybackBuffer())))
    assert one is port and two is not port
    assert engine.port_count == 2


def test_ports_are_only_handed_out_on_the_pjsua_thread(engine):
    with pytest.raises(RuntimeError, match="pjsua thread"):
        engine.media_port(lambda frame: None, PlaybackBuffer())


def test_a_process_that_stops_its_engine_with_ports_in_use_exits_cleanly(tmp_path):
    """Shutdown abandons the ports instead of destroying them on a bridge being torn down; freed
    memory is poisoned (MALLOC_PERTURB_) so a use after free would show."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(FIRMWARE)!r})
        from callbox.lines.base import PlaybackBuffer
        from callbox.lines.pjsip import PjEngine
        for round in range(3):  # start and stop like the test suite and `callbox demo` do
            eng = PjEngine("127.0.0.1", 0, log_level=0, name=f"exit{{round}}")
            eng.start()
            ports = [eng.call(lambda: eng.media_port(lambda f: None, PlaybackBuffer())) for _ in range(3)]
            eng.call(lambda: eng.release_port(ports[0]))
            eng.stop()
        print("clean")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        env={"MALLOC_PERTURB_": "165", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "clean" in proc.stdout.splitlines()  # (pjlib may log to stdout too)
    assert "Assertion" not in proc.stderr
