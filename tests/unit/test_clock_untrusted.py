"""Quiet hours depend on the clock: with an untrusted clock the gate places no call."""

from datetime import datetime, timedelta, timezone

from callbox.clock import FixedClock
from callbox.compliance.gate import Gate
from callbox.compliance.permit import PermitAuthority
from callbox.compliance.rulepack import load_pack
from callbox.provision import init_box
from callbox.store import queries
from callbox.timesync import ClockStatus


def test_untrusted_clock_defers_every_call(tmp_path):
    clock = FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc))  # 10:00 Shanghai
    store = init_box(tmp_path, clock, "cn", "阳光口腔诊所", "+862161234567")
    contact = queries.add_contact(store, "+8613800138001", "王芳")
    queries.add_consent(store, contact, "reminder", clock.now() - timedelta(days=1), "paper_form", "f1")
    status = {"value": ClockStatus(False, "none", "no NTP sync, no RTC, no network time")}
    gate = Gate(store, load_pack("cn"), store.organisation(), clock, PermitAuthority(clock),
                clock_check=lambda: status["value"])
    result = gate.request("+8613800138001", "reminder", "sip")
    assert result.permit is None
    assert result.verdict.decision == "deferred" and result.verdict.reasons == ("clock_untrusted",)
    status["value"] = ClockStatus(True, "ntp", "NTPSynchronized=yes")
    assert gate.request("+8613800138001", "reminder", "sip").permit is not None
    store.close()
