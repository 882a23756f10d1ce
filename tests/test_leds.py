"""LedBoard: each line state and system state drives the right GPIO levels (gpiozero mock pins)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
if str(FIRMWARE) not in sys.path:
    sys.path.insert(0, str(FIRMWARE))

from gpiozero import Device  # noqa: E402
from gpiozero.pins.mock import MockFactory, MockPWMPin  # noqa: E402

from callbox.clock import SystemClock  # noqa: E402
from callbox.compliance.permit import PermitAuthority  # noqa: E402
from callbox.leds import DEFAULT_PIN_MAP, LedBoard, PinMap, RgbPins, SystemState  # noqa: E402
from callbox.lines.base import Line, LineEvent, LineState  # noqa: E402

BLINK = 0.02


@pytest.fixture
def factory():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


@pytest.fixture
def board(factory):
    b = LedBoard(["gsm1", "sip1"], blink_on_s=BLINK, blink_off_s=BLINK)
    yield b
    b.close()


def levels(factory, pins: RgbPins) -> tuple[float, float, float]:
    return tuple(factory.pin(n).state for n in (pins.red, pins.green, pins.blue))


def blinks(factory, pins: RgbPins, channel: str) -> bool:
    """True if ``channel`` toggles between on and off while the other two stay dark."""
    pin = factory.pin(getattr(pins, channel))
    pin.clear_states()
    time.sleep(BLINK * 8)
    seen = {bool(s.state) for s in pin.states}
    others = [c for c in ("red", "green", "blue") if c != channel]
    return seen == {True, False} and all(factory.pin(getattr(pins, c)).state == 0 for c in others)


LINE1 = DEFAULT_PIN_MAP.lines[0]
SYSTEM = DEFAULT_PIN_MAP.system


def test_pin_map_avoids_uart_and_has_no_clashes():
    pins = [p for rgb in (DEFAULT_PIN_MAP.system, *DEFAULT_PIN_MAP.lines) for p in (rgb.red, rgb.green, rgb.blue)]
    assert len(pins) == len(set(pins))
    assert not {14, 15, 2, 3} & set(pins)


@pytest.mark.parametrize(
    "state, expected",
    [
        (LineState.DISABLED, (0, 0, 0)),
        (LineState.READY, (0, 1, 0)),
        (LineState.IN_CALL, (0, 0, 1)),
        (LineState.PAUSED, (1, 0, 0)),
    ],
)
def test_solid_line_states(board, factory, state, expected):
    board.on_line_event(LineEvent("gsm1", state))
    assert levels(factory, LINE1) == expected


@pytest.mark.parametrize(
    "state, channel",
    [(LineState.DIALING, "green"), (LineState.RINGING, "green"), (LineState.FAULT, "red")],
)
def test_blinking_line_states(board, factory, state, channel):
    board.on_line_event(LineEvent("gsm1", state))
    assert blinks(factory, LINE1, channel)
    board.on_line_event(LineEvent("gsm1", LineState.READY))  # a solid state stops the blink
    time.sleep(BLINK * 3)
    assert levels(factory, LINE1) == (0, 1, 0)


def test_second_line_has_its_own_led(board, factory):
    board.on_line_event(LineEvent("sip1", LineState.IN_CALL))
    assert levels(factory, DEFAULT_PIN_MAP.lines[1]) == (0, 0, 1)
    assert levels(factory, LINE1) == (0, 0, 0)


def test_system_states(board, factory):
    assert blinks(factory, SYSTEM, "blue")  # booting
    board.set_system(SystemState.READY)
    assert levels(factory, SYSTEM) == (0, 1, 0)
    board.set_system(SystemState.KEYS_LOCKED)
    red, green, blue = levels(factory, SYSTEM)
    assert red == 1 and 0 < green < 1 and blue == 0  # amber
    board.set_system(SystemState.NEEDS_ATTENTION)
    assert blinks(factory, SYSTEM, "red")


def test_a_faulted_line_makes_the_system_led_ask_for_attention(board, factory):
    board.set_system(SystemState.READY)
    board.on_line_event(LineEvent("gsm1", LineState.FAULT))
    assert blinks(factory, SYSTEM, "red")
    board.on_line_event(LineEvent("gsm1", LineState.READY))
    time.sleep(BLINK * 3)
    assert levels(factory, SYSTEM) == (0, 1, 0)


class FakeLine(Line):
    kind = "fake"

    def _place_call(self, number, listener):
        raise NotImplementedError

    def start(self) -> None:
        self._set_state(LineState.READY)

    def stop(self) -> None:
        self._set_state(LineState.DISABLED)


def test_attach_follows_line_state_events(board, factory):
    line = FakeLine("gsm1", PermitAuthority(SystemClock()))
    board.attach(line)
    line.start()
    assert levels(factory, LINE1) == (0, 1, 0)
    line.stop()
    assert levels(factory, LINE1) == (0, 0, 0)


def test_led_failure_never_reaches_the_line(factory, caplog):
    board = LedBoard(["gsm1"], blink_on_s=BLINK, blink_off_s=BLINK)

    class Broken:
        def blink(self, **kw):
            raise RuntimeError("GPIO busy")

        @property
        def color(self):
            return (0, 0, 0)

        @color.setter
        def color(self, value):
            raise RuntimeError("GPIO busy")

        def close(self):
            raise RuntimeError("GPIO busy")

    board._line_leds["gsm1"] = Broken()
    line = FakeLine("gsm1", PermitAuthority(SystemClock()))
    board.attach(line)
    line.start()  # would raise into the line if LedBoard let it through
    line._set_state(LineState.FAULT, "test")
    assert line.state == LineState.FAULT
    assert "LED failed" in caplog.text
    board.close()


def test_pins_already_in_use_degrade_to_no_led(factory, caplog):
    first = LedBoard(["gsm1"])
    second = LedBoard(["gsm1"])  # same pins: gpiozero refuses; the board must still work
    second.show_line("gsm1", LineState.READY)
    assert second.pattern("gsm1") is not None
    assert "unavailable" in caplog.text
    first.close()
    second.close()


def test_common_anode_inverts_levels(factory):
    board = LedBoard(["gsm1"], PinMap(common_anode=True))
    board.show_line("gsm1", LineState.READY)
    assert levels(factory, LINE1) == (1, 0, 1)  # green leg pulled low, the others high (off)
    board.close()
