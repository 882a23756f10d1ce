"""Status LEDs: one RGB LED per phone line plus one system LED, driven by line-state events.

Why LEDs: the box sits in a back office with no screen; a technician must be able to tell at a glance
whether a line is ready, in a call, or needs them. The colour code (also printed in
hardware/pinmap.md):

=================  ========================
line state         LED
=================  ========================
disabled           off
ready              green
dialing / ringing  green, blinking
in call            blue
fault              red, blinking
paused (campaign)  red, solid
=================  ========================

System LED: booting = blue blinking, ready = green, keys locked (recordings/consent keys await the
staff passphrase) = amber, needs attention = red blinking (also shown automatically while any line
is in FAULT).

An LED problem (a GPIO already in use, a missing pin driver on a dev laptop) is logged and otherwise
ignored: it must never reach the line thread that reported the state, let alone a call.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from callbox.lines.base import Line, LineEvent, LineState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RgbPins:
    """BCM GPIO numbers of one RGB LED's three legs (through their resistors)."""

    red: int
    green: int
    blue: int


@dataclass(frozen=True)
class PinMap:
    """THE pin table (hardware/pinmap.md and hardware/wiring.svg must match it).

    Defaults for a Raspberry Pi 4/5 keep clear of GPIO 14/15 (UART to a modem HAT), GPIO 2/3 (I2C,
    used by UPS HATs for the battery gauge), GPIO 4 and 6 (power-key / flight-mode lines on common
    SIM7600 HATs) and GPIO 18-21 (PCM/I2S audio HATs). The third line uses the SPI0 pins 9/10/11, so
    leave SPI disabled (the Raspberry Pi OS default) if you wire it.
    """

    system: RgbPins = RgbPins(red=17, green=27, blue=22)
    lines: tuple[RgbPins, ...] = (
        RgbPins(red=5, green=12, blue=13),
        RgbPins(red=23, green=24, blue=25),
        RgbPins(red=9, green=10, blue=11),
    )
    common_anode: bool = False  # True for common-anode LEDs (pins sink current: active low)


DEFAULT_PIN_MAP = PinMap()

Color = tuple[float, float, float]
OFF: Color = (0.0, 0.0, 0.0)
RED: Color = (1.0, 0.0, 0.0)
GREEN: Color = (0.0, 1.0, 0.0)
BLUE: Color = (0.0, 0.0, 1.0)
AMBER: Color = (1.0, 0.4, 0.0)


@dataclass(frozen=True)
class Pattern:
    color: Color
    blink: bool = False


class SystemState(str, enum.Enum):
    BOOTING = "booting"
    READY = "ready"
    KEYS_LOCKED = "keys_locked"
    NEEDS_ATTENTION = "needs_attention"


LINE_PATTERNS: dict[LineState, Pattern] = {
    LineState.DISABLED: Pattern(OFF),
    LineState.READY: Pattern(GREEN),
    LineState.DIALING: Pattern(GREEN, blink=True),
    LineState.RINGING: Pattern(GREEN, blink=True),
    LineState.IN_CALL: Pattern(BLUE),
    LineState.FAULT: Pattern(RED, blink=True),
    LineState.PAUSED: Pattern(RED),
}

SYSTEM_PATTERNS: dict[SystemState, Pattern] = {
    SystemState.BOOTING: Pattern(BLUE, blink=True),
    SystemState.READY: Pattern(GREEN),
    SystemState.KEYS_LOCKED: Pattern(AMBER),
    SystemState.NEEDS_ATTENTION: Pattern(RED, blink=True),
}


class LedBoard:
    """Owns the RGB LEDs. Give it the line ids in slot order, then :meth:`attach` each line.

    ``pin_factory`` is passed to gpiozero (tests use ``MockFactory(pin_class=MockPWMPin)``); None
    means gpiozero's default (lgpio on a Pi 5, RPi.GPIO/lgpio on a Pi 4).
    """

    def __init__(
        self,
        line_ids: Sequence[str],
        pin_map: PinMap = DEFAULT_PIN_MAP,
        *,
        pin_factory: Any = None,
        blink_on_s: float = 0.5,
        blink_off_s: float = 0.5,
    ) -> None:
        self._pin_map = pin_map
        self._pin_factory = pin_factory
        self._blink = (blink_on_s, blink_off_s)
        self._lock = threading.RLock()
        self._line_states: dict[str, LineState] = {}
        self._system_state = SystemState.BOOTING
        self._shown: dict[str, Pattern] = {}
        self._system_led = self._make_led("system", pin_map.system)
        self._line_leds: dict[str, Any] = {}
        if len(line_ids) > len(pin_map.lines):
            log.warning("%d lines but only %d line LEDs in the pin map; lines %s have no LED",
                        len(line_ids), len(pin_map.lines), ", ".join(line_ids[len(pin_map.lines):]))
        for line_id, pins in zip(line_ids, pin_map.lines):
            self._line_leds[line_id] = self._make_led(f"line {line_id}", pins)
            self._line_states[line_id] = LineState.DISABLED
            self._show(line_id, self._line_leds[line_id], LINE_PATTERNS[LineState.DISABLED])
        self._refresh_system()

    # -- public -----------------------------------------------------------------------------------
    def attach(self, line: Line) -> None:
        """Follow ``line``'s state changes (and show its current state now)."""
        line.add_state_listener(self.on_line_event)
        self.show_line(line.line_id, line.state)

    def on_line_event(self, event: LineEvent) -> None:
        """A line-state listener; never raises."""
        self.show_line(event.line_id, event.state)

    def show_line(self, line_id: str, state: LineState) -> None:
        try:
            with self._lock:
                self._line_states[line_id] = state
                led = self._line_leds.get(line_id)
                if led is not None:
                    self._show(line_id, led, LINE_PATTERNS[state])
                self._refresh_system()
        except Exception:
            log.exception("LED update for line %s failed (ignored)", line_id)

    def set_system(self, state: SystemState) -> None:
        try:
            with self._lock:
                self._system_state = state
                self._refresh_system()
        except Exception:
            log.exception("system LED update failed (ignored)")

    def pattern(self, name: str) -> Pattern | None:
        """What an LED shows now: ``"system"`` or a line id (for the panel and tests)."""
        with self._lock:
            return self._shown.get(name)

    def close(self) -> None:
        with self._lock:
            for led in [self._system_led, *self._line_leds.values()]:
                if led is not None:
                    try:
                        led.close()
                    except Exception:
                        log.exception("closing an LED failed (ignored)")

    # -- internals --------------------------------------------------------------------------------
    def _make_led(self, name: str, pins: RgbPins) -> Any:
        try:
            from gpiozero import RGBLED

            return RGBLED(
                pins.red, pins.green, pins.blue, active_high=not self._pin_map.common_anode,
                pwm=True, pin_factory=self._pin_factory,
            )
        except Exception as exc:
            log.warning("%s LED on GPIO %s/%s/%s unavailable (%s); carrying on without it. Check no other "
                        "service uses these pins and that this is a Raspberry Pi.",
                        name, pins.red, pins.green, pins.blue, exc)
            return None

    def _effective_system(self) -> SystemState:
        if self._system_state == SystemState.READY and LineState.FAULT in self._line_states.values():
            return SystemState.NEEDS_ATTENTION
        return self._system_state

    def _refresh_system(self) -> None:
        self._show("system", self._system_led, SYSTEM_PATTERNS[self._effective_system()])

    def _show(self, name: str, led: Any, pattern: Pattern) -> None:
        if self._shown.get(name) == pattern:
            return  # do not restart a blink (it would stutter) for a repeated state
        self._shown[name] = pattern
        if led is None:
            return
        try:
            if pattern.blink:
                led.blink(on_time=self._blink[0], off_time=self._blink[1], on_color=pattern.color,
                          off_color=OFF, background=True)
            else:
                led.color = pattern.color
        except Exception:
            log.exception("%s LED failed (ignored; calls are unaffected)", name)
