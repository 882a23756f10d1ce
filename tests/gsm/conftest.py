"""Fixtures for GSM line tests: a pty modem emulator and a fast-timing GsmLine wired to it."""

from __future__ import annotations

import pytest
from gsm_support import FAST, RecordingHandler, running

from callbox.clock import SystemClock
from callbox.compliance.permit import PermitAuthority
from callbox.lines.gsm import GsmLine
from callbox.lines.modem_emulator import ModemEmulator


@pytest.fixture
def authority() -> PermitAuthority:
    return PermitAuthority(SystemClock())


@pytest.fixture
def emulator():
    with ModemEmulator(boot_s=0.2, ring_interval_s=0.3) as emu:
        yield emu


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def line(emulator, authority, handler):
    gsm = GsmLine("gsm1", authority, emulator.at_port, audio_port=emulator.audio_port, handler=handler, timing=FAST)
    with running(gsm):
        yield gsm
