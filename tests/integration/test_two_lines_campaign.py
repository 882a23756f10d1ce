"""A campaign on a box with two SIP lines: both lines call at the same time, each member once.

Real SIP on 127.0.0.1: two SipLines (two accounts on the process's one pjsua2 endpoint) call the phone
bank; every callee presses 9 (opt-out) while the prologue plays, so calls are short and the outcome is
unmistakable. Before, the daemon placed a campaign's calls one after the other whatever the number of lines.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callbox.clock import OffsetClock
from callbox.daemon import CallBox
from callbox.demo import PhoneBankProcess
from callbox.lines.sip import SipAccountConfig, SipLine
from callbox.phonebank.callees import Act, Callee
from callbox.provision import init_box
from callbox.store import models as m
from callbox.store import queries

pytestmark = [pytest.mark.sip, pytest.mark.slow]

START = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
NUMBERS = [f"+86139000004{i:02d}" for i in range(1, 5)]
CALLEES = [Callee(n, "en", f"Callee {i}", acts=(Act(box_spoke_ms=1500, dtmf="9"),)) for i, n in enumerate(NUMBERS)]


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-lines")
    clock = OffsetClock(START)
    store = init_box(root / "data", clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical",
                     "Sunshine Dental")
    for callee in CALLEES:
        contact = queries.add_contact(store, callee.number, callee.label, "en")
        queries.add_consent(store, contact, "reminder", clock.now() - timedelta(days=3), "paper_form", "form-1")
    bank = PhoneBankProcess(CALLEES, root / "bank", root / "cache")
    box = CallBox(root / "data", clock, store)
    try:
        box.load_voice(("en",))
        port = bank.wait_ready()
        for line_id, user in (("front", "1001"), ("back", "1002")):
            line = SipLine(line_id, box.authority, SipAccountConfig(user=user, peer=f"127.0.0.1:{port}"), log_level=0)
            box.add_line(line)
            line.start()
        campaign = box.create_campaign(
            "two-lines", "reminder", "appointment_reminder", records=False,
            members=[{"phone": n, "variables": {"appointment": "tomorrow at 3 p.m."}} for n in NUMBERS],
        )
        results = box.run_campaign(campaign)
        yield {"results": results, "campaign": campaign}
    finally:
        box.close()
        bank.stop()


def test_every_member_is_called_once_and_heard(campaign_run):
    results = campaign_run["results"]
    assert sorted(r.phone for r in results) == NUMBERS
    assert all(r.dialed and r.opt_out for r in results), [(r.phone, r.outcome) for r in results]
    assert sorted(a.phone for a in m.Attempt.select()) == NUMBERS  # one attempt each: no double dial
    assert {d.phone for d in m.DoNotCall.select()} == set(NUMBERS)
    assert all(member.status == "called" for member in campaign_run["campaign"].members)


def test_both_lines_carry_calls_at_the_same_time(campaign_run):
    calls = list(m.Call.select().order_by(m.Call.started_at))
    assert {c.line_id for c in calls} == {"front", "back"}
    first, second = calls[0], calls[1]
    assert first.line_id != second.line_id
    assert second.started_at < first.ended_at  # the second call began while the first was still up
