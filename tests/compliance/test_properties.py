"""Property tests: quiet hours across zones and DST, frequency caps, and the batch gate path."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callbox.compliance.rulepack import load_pack
from callbox.compliance.rules import CallFacts, ConsentFact, cap_reached, evaluate, in_calling_window

UTC = timezone.utc
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Shanghai", "America/Los_Angeles")
PACKS = {pid: load_pack(pid) for pid in ("cn", "us", "eu")}
# 2026 and 2027 include every DST switch of New York and Berlin (Shanghai has none).
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                        timezones=st.just(UTC))
zone_sets = st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True).map(tuple)


def reference_allowed(pack, region, zones, at):
    """Independent statement of the rule: in every zone, an allowed weekday and inside a window."""
    for zone in zones:
        local = at.astimezone(ZoneInfo(zone))
        if local.weekday() not in pack.days_for(region):
            return False
        if not any(start <= local.time() < end for start, end in pack.windows_for(region)):
            return False
    return True


@given(pid=st.sampled_from(sorted(PACKS)), zones=zone_sets, at=instants, region=st.sampled_from(["CN", "US", "DE", "FR"]))
def test_quiet_hours_match_local_wall_clock(pid, zones, at, region):
    pack = PACKS[pid]
    assert in_calling_window(pack, region, zones, at) == reference_allowed(pack, region, zones, at)


@settings(max_examples=60, deadline=None)
@given(pid=st.sampled_from(sorted(PACKS)), zones=zone_sets, at=instants)
def test_deferred_time_is_the_first_allowed_instant(pid, zones, at):
    pack = PACKS[pid]
    f = CallFacts("+10000000000", "reminder", at, callee_zones=zones, region="XX", in_contacts=True,
                  consents=(ConsentFact("reminder", at - timedelta(days=1)),))
    verdict = evaluate(f, pack)
    if verdict.decision == "allowed":
        assert reference_allowed(pack, "XX", zones, at)
        return
    assert verdict.decision == "deferred" and verdict.reasons == ("quiet_hours",)
    nxt = verdict.next_allowed_at
    if nxt is None:  # zone sets with no common window (e.g. Shanghai + New York under the cn pack)
        return
    assert nxt > at and reference_allowed(pack, "XX", zones, nxt)
    # Nothing earlier works: step back minute by minute across the last two hours before nxt.
    probe = nxt - timedelta(minutes=1)
    while probe > max(at, nxt - timedelta(hours=2)):
        assert not reference_allowed(pack, "XX", zones, probe)
        probe -= timedelta(minutes=1)


def test_dst_spring_forward_new_york():
    pack = PACKS["us"]
    ny = ZoneInfo("America/New_York")
    # 8 March 2026: clocks jump 02:00 -> 03:00. 12:59 UTC is 08:59 EDT (not allowed), 13:00 UTC is 09:00 EDT.
    assert not in_calling_window(pack, "US", ("America/New_York",), datetime(2026, 3, 8, 11, 59, tzinfo=UTC))
    assert in_calling_window(pack, "US", ("America/New_York",), datetime(2026, 3, 8, 12, 0, tzinfo=UTC))
    # A day earlier (EST) 12:00 UTC is 07:00 local: quiet.
    assert not in_calling_window(pack, "US", ("America/New_York",), datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    assert datetime(2026, 3, 8, 12, 0, tzinfo=UTC).astimezone(ny).time() == time(8, 0)


def test_dst_fall_back_berlin():
    pack = PACKS["eu"]
    # 25 Oct 2026 is a Sunday (never) ; Monday 26 Oct 08:00 UTC = 09:00 CET (allowed), a week earlier 08:00 UTC = 10:00 CEST.
    assert in_calling_window(pack, "DE", ("Europe/Berlin",), datetime(2026, 10, 26, 8, 0, tzinfo=UTC))
    assert not in_calling_window(pack, "DE", ("Europe/Berlin",), datetime(2026, 10, 26, 7, 59, tzinfo=UTC))
    assert not in_calling_window(pack, "DE", ("Europe/Berlin",), datetime(2026, 10, 25, 10, 0, tzinfo=UTC))


@settings(max_examples=80, deadline=None)
@given(pid=st.sampled_from(sorted(PACKS)), purpose=st.sampled_from(["marketing", "reminder"]),
       zone=st.sampled_from(ZONES), start=instants,
       gaps=st.lists(st.integers(min_value=1, max_value=60 * 30), min_size=1, max_size=40))
def test_caps_never_exceeded_by_a_greedy_dialer(pid, purpose, zone, start, gaps):
    """Dial whenever the cap allows: per local day and per rolling 30 days the cap still holds."""
    pack = PACKS[pid]
    cap = pack.caps[purpose]
    attempts: list[datetime] = []
    at = start
    for gap in gaps:
        at = at + timedelta(minutes=gap)
        if not cap_reached(pack, purpose, (zone,), tuple(attempts), at):
            attempts.append(at)
    tz = ZoneInfo(zone)
    days: dict = {}
    for a in attempts:
        days[a.astimezone(tz).date()] = days.get(a.astimezone(tz).date(), 0) + 1
    if cap.per_day is not None:
        assert max(days.values()) <= cap.per_day
    if cap.per_30_days is not None:
        for a in attempts:
            assert sum(1 for b in attempts if a - timedelta(days=30) < b <= a) <= cap.per_30_days


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_check_many_equals_check(tmp_path_factory, data):
    """The batch fast path and the one-number path give identical verdicts."""
    from compliance_support import Box

    box = Box(tmp_path_factory.mktemp("batch") / "box")
    try:
        _compare(box, data)
    finally:
        box.store.close()


def _compare(box, data):
    base = 8613800000000
    for i in range(12):
        phone = f"+{base + i}"
        if data.draw(st.booleans(), label=f"contact{i}"):
            purposes = data.draw(st.lists(st.sampled_from(["reminder", "marketing", "service"]), max_size=2, unique=True))
            box.contact(phone, purposes=purposes or ("reminder",),
                        birth_year=data.draw(st.sampled_from([None, 1980, 2016])))
    from callbox.store import models as m
    from callbox.store import queries

    for i in data.draw(st.lists(st.integers(0, 14), max_size=3)):
        queries.add_dnc(box.store, f"+{base + i}", "staff")
    for i in data.draw(st.lists(st.integers(0, 14), max_size=6)):
        m.Attempt.create(phone=f"+{base + i}", purpose="reminder", at=box.clock.now() - timedelta(hours=data.draw(st.integers(0, 800))))
    raws = [f"+{base + i}" for i in range(15)] + ["13800000003", "12345", "not a number", "+12127365000"]
    purpose = data.draw(st.sampled_from(["reminder", "marketing", "service"]))
    at = box.clock.now() + timedelta(minutes=data.draw(st.integers(-600, 3000)))
    line = data.draw(st.sampled_from(["sip", "gsm"]))
    batch = box.gate.check_many(raws, purpose, at, line)
    single = [box.gate.check(r, purpose, at, line) for r in raws]
    assert batch == single
    # A batch of at least CHUNK numbers reads DNC and attempts whole (the snapshot path): same verdicts.
    from callbox.compliance.facts import CHUNK

    repeats = CHUNK // len(raws) + 1
    assert box.gate.check_many(raws * repeats, purpose, at, line) == single * repeats
