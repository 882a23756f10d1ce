"""sd_notify over a real unix datagram socket, clock trust decisions, UPS power-loss shutdown."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from callbox import sdnotify, timesync
from callbox.timesync import judge

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


# -- sd_notify ---------------------------------------------------------------------------------------
@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield str(path), sock
    sock.close()


def test_notify_sends_one_datagram(notify_socket, monkeypatch):
    path, sock = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert sdnotify.ready("2 lines")
    assert sock.recv(4096) == b"READY=1\nSTATUS=2 lines"
    assert sdnotify.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_notify_abstract_namespace(monkeypatch):
    name = f"callbox-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        assert sdnotify.notify("WATCHDOG=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_outside_systemd_everything_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    assert sdnotify.notify("READY=1", env={"NOTIFY_SOCKET": "/nonexistent/socket"}) is False


def test_watchdog_interval_from_env():
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "120000000"}) == 120.0
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.watchdog_interval({}) is None


def test_watchdog_pings_only_while_the_loop_beats(notify_socket):
    path, sock = notify_socket
    dog = sdnotify.Watchdog(0.1, stall_s=0.3, env={"NOTIFY_SOCKET": path})
    dog.start()
    try:
        assert sock.recv(100) == b"WATCHDOG=1"
        time.sleep(0.5)  # no beat: the loop is "stuck"
        while True:  # drain pings sent before the stall was noticed
            sock.settimeout(0.2)
            try:
                sock.recv(100)
            except socket.timeout:
                break
        dog.beat()
        sock.settimeout(2)
        assert sock.recv(100) == b"WATCHDOG=1"
    finally:
        dog.stop()


# -- clock trust -------------------------------------------------------------------------------------
def test_ntp_synchronised_is_trusted():
    status = judge(NOW, True, {}, None, False)
    assert (status.trusted, status.source) == (True, "ntp")


def test_no_source_is_untrusted_with_a_fix():
    status = judge(NOW, False, {}, None, False)
    assert not status.trusted and status.source == "none"
    assert "NTP" in status.detail and "SIM" in status.detail


def test_modem_network_time_vouches_when_it_agrees():
    assert judge(NOW, False, {"gsm1": NOW + timedelta(seconds=20)}, None, False).source == "modem"
    conflict = judge(NOW, True, {"gsm1": NOW + timedelta(hours=7)}, None, False)
    assert not conflict.trusted and conflict.source == "conflict" and "+7.0 h" in conflict.detail


def test_rtc_counts_only_with_a_plausible_time():
    assert judge(NOW, None, {}, NOW, True).source == "rtc"
    flat_battery = judge(NOW, None, {}, datetime(2000, 1, 1, tzinfo=timezone.utc), True)
    assert not flat_battery.trusted and "battery" in flat_battery.detail


def test_clock_before_the_firmware_existed_is_never_trusted():
    assert not judge(datetime(2024, 1, 1, tzinfo=timezone.utc), True, {}, None, False).trusted


def test_clock_status_reads_injected_inputs(tmp_path):
    rtc = tmp_path / "rtc0"
    rtc.mkdir()
    (rtc / "since_epoch").write_text(str(int(NOW.timestamp())))
    status = timesync.clock_status(
        now_provider=lambda: NOW,
        timedatectl=lambda: "Timezone=Asia/Shanghai\nNTPSynchronized=no\n",
        rtc_dir=rtc,
        network_sources={"gsm1": lambda: None, "broken": lambda: 1 / 0},
    )
    assert (status.trusted, status.source) == (True, "rtc")
    status = timesync.clock_status(lambda: NOW, lambda: None, tmp_path / "none", {})
    assert not status.trusted and "no hardware RTC" in status.detail


def test_modem_hook_registry():
    timesync.register_network_time_source("gsm-test", lambda: NOW)
    try:
        status = timesync.clock_status(lambda: NOW, lambda: None, Path("/nonexistent"))
        assert status.source == "modem"
    finally:
        timesync.unregister_network_time_source("gsm-test")
    assert "gsm-test" not in timesync.registered_sources()


# -- UPS HAT -----------------------------------------------------------------------------------------
@pytest.fixture
def factory():
    from gpiozero.pins.mock import MockFactory

    f = MockFactory()
    yield f
    f.reset()


def test_ups_power_loss_runs_the_shutdown_command_after_grace(factory):
    from callbox.ups import UpsConfig, UpsMonitor

    calls: list[list[str]] = []
    monitor = UpsMonitor(UpsConfig(gpio=26, grace_s=0.2, command="/bin/echo bye"), factory, run=lambda a: calls.append(a) or 0)
    try:
        pin = factory.pin(26)
        pin.drive_high()
        assert monitor.shutdown_finished.wait(2)
        assert calls == [["/bin/echo", "bye"]]
    finally:
        monitor.close()


def test_ups_short_dip_is_ignored(factory):
    from callbox.ups import UpsConfig, UpsMonitor

    calls: list[list[str]] = []
    monitor = UpsMonitor(UpsConfig(gpio=26, grace_s=0.3), factory, run=lambda a: calls.append(a) or 0)
    try:
        pin = factory.pin(26)
        pin.drive_high()
        time.sleep(0.1)
        pin.drive_low()
        time.sleep(0.5)
        assert calls == [] and not monitor.shutdown_started.is_set()
    finally:
        monitor.close()


def test_ups_active_low_hat(factory):
    from callbox.ups import UpsConfig, UpsMonitor

    calls: list[list[str]] = []
    factory.pin(6).drive_high()  # mains present = high on this HAT
    monitor = UpsMonitor(UpsConfig(gpio=6, active_high=False, grace_s=0.1), factory, run=lambda a: calls.append(a) or 0)
    try:
        factory.pin(6).drive_low()
        assert monitor.shutdown_finished.wait(2) and calls == [["systemctl", "poweroff"]]
    finally:
        monitor.close()


def test_cached_clock_check_reuses_only_trusted_answers():
    answers = [timesync.ClockStatus(False, "none", "x"), timesync.ClockStatus(True, "ntp", "ok")]
    calls = []
    t = [0.0]

    def check():
        calls.append(1)
        return answers[min(len(calls) - 1, 1)]

    cached = timesync.CachedClockCheck(check, ttl_s=60, monotonic=lambda: t[0])
    assert not cached().trusted
    assert cached().trusted and len(calls) == 2  # untrusted is asked again at once
    t[0] = 30
    assert cached().trusted and len(calls) == 2  # trusted is reused within the ttl
    t[0] = 61
    cached()
    assert len(calls) == 3
