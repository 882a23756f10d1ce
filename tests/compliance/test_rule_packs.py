"""Table tests per rule pack: each row is one intended call and the verdict the pack must give."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from callbox.compliance.rulepack import load_pack, shipped_pack_ids
from callbox.compliance.rules import CallFacts, ConsentFact, evaluate

UTC = timezone.utc


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def facts(number="+8613800138000", purpose="reminder", now=None, zones=("Asia/Shanghai",), region="CN",
          consents=(("reminder", "paper_form"),), **kw) -> CallFacts:
    now = now or local("Asia/Shanghai", 2026, 3, 2, 10, 0)
    given = now - timedelta(days=30)
    cf = tuple(ConsentFact(p, given, method=meth) for p, meth in consents)
    return CallFacts(number=number, purpose=purpose, now=now, callee_zones=zones, region=region, in_contacts=True,
                     consents=cf, **kw)


def decide(pack_id: str, f: CallFacts):
    v = evaluate(f, load_pack(pack_id))
    return v.decision, list(v.reasons)


SH = "Asia/Shanghai"
CN_TABLE = [
    ("allowed at 10:00", facts(), ("allowed", [])),
    ("09:00 opens", facts(now=local(SH, 2026, 3, 2, 9, 0)), ("allowed", [])),
    ("08:59 quiet", facts(now=local(SH, 2026, 3, 2, 8, 59)), ("deferred", ["quiet_hours"])),
    ("lunch 12:00 quiet", facts(now=local(SH, 2026, 3, 2, 12, 0)), ("deferred", ["quiet_hours"])),
    ("13:59 quiet", facts(now=local(SH, 2026, 3, 2, 13, 59)), ("deferred", ["quiet_hours"])),
    ("14:00 opens", facts(now=local(SH, 2026, 3, 2, 14, 0)), ("allowed", [])),
    ("19:59 allowed", facts(now=local(SH, 2026, 3, 2, 19, 59)), ("allowed", [])),
    ("20:00 quiet", facts(now=local(SH, 2026, 3, 2, 20, 0)), ("deferred", ["quiet_hours"])),
    ("sunday allowed in cn", facts(now=local(SH, 2026, 3, 8, 10, 0)), ("allowed", [])),
    ("marketing needs marketing consent", facts(purpose="marketing"), ("denied", ["purpose_not_consented"])),
    ("marketing with consent", facts(purpose="marketing", consents=(("marketing", "verbal_recorded"),)), ("allowed", [])),
    ("no consent at all", facts(consents=()), ("denied", ["no_consent"])),
    ("dnc forever", facts(on_dnc=True), ("denied", ["dnc"])),
    ("gsm no marketing", facts(purpose="marketing", consents=(("marketing", "paper_form"),), line_kind="gsm"),
     ("denied", ["line_not_permitted"])),
    ("gsm reminder ok", facts(line_kind="gsm"), ("allowed", [])),
    ("minor without guardian", facts(birth_year=2015), ("denied", ["minor_without_guardian"])),
    ("minor with guardian", facts(birth_year=2015, guardian_consent=True), ("allowed", [])),
    ("adult", facts(birth_year=1990), ("allowed", [])),
    ("marketing 1/day", facts(purpose="marketing", consents=(("marketing", "paper_form"),),
                              attempts=(local(SH, 2026, 3, 2, 9, 30),)), ("deferred", ["frequency_cap"])),
    ("marketing 3/30 days", facts(purpose="marketing", consents=(("marketing", "paper_form"),),
                                  attempts=tuple(local(SH, 2026, 2, d, 10) for d in (10, 15, 20))),
     ("deferred", ["frequency_cap"])),
    ("reminder 2/day", facts(attempts=(local(SH, 2026, 3, 2, 9, 10), local(SH, 2026, 3, 2, 9, 40))),
     ("deferred", ["frequency_cap"])),
    ("reminder 1 earlier today", facts(attempts=(local(SH, 2026, 3, 2, 9, 10),)), ("allowed", [])),
    ("paused campaign", facts(campaign_paused=True), ("denied", ["campaign_paused"])),
    ("unapproved script", facts(script_approved=False), ("denied", ["script_not_approved"])),
    ("invalid number", CallFacts(number=None, purpose="reminder", now=local(SH, 2026, 3, 2, 10)),
     ("denied", ["invalid_number"])),
]


@pytest.mark.parametrize("label,f,expected", CN_TABLE, ids=[row[0] for row in CN_TABLE])
def test_cn_pack(label, f, expected):
    assert decide("cn", f) == expected


NY, LA = "America/New_York", "America/Los_Angeles"
US = dict(number="+12127365000", zones=(NY,), region="US")
US_TABLE = [
    ("08:00 NY opens", facts(now=local(NY, 2026, 3, 2, 8, 0), **US), ("allowed", [])),
    ("07:59 NY quiet", facts(now=local(NY, 2026, 3, 2, 7, 59), **US), ("deferred", ["quiet_hours"])),
    ("20:59 NY ok", facts(now=local(NY, 2026, 3, 2, 20, 59), **US), ("allowed", [])),
    ("21:00 NY quiet", facts(now=local(NY, 2026, 3, 2, 21, 0), **US), ("deferred", ["quiet_hours"])),
    ("two zones must both fit", facts(now=local(NY, 2026, 3, 2, 10, 30), **{**US, "zones": (NY, LA)}),
     ("deferred", ["quiet_hours"])),
    ("two zones fit at 11:00 NY", facts(now=local(NY, 2026, 3, 2, 11, 0), **{**US, "zones": (NY, LA)}),
     ("allowed", [])),
    ("AI marketing needs written consent", facts(now=local(NY, 2026, 3, 2, 10), purpose="marketing",
                                                 consents=(("marketing", "verbal_recorded"),), **US),
     ("denied", ["no_written_consent"])),
    ("written web form ok", facts(now=local(NY, 2026, 3, 2, 10), purpose="marketing",
                                  consents=(("marketing", "web_form"),), **US), ("allowed", [])),
    ("reminder verbal ok", facts(now=local(NY, 2026, 3, 2, 10), consents=(("reminder", "verbal_recorded"),), **US),
     ("allowed", [])),
]


@pytest.mark.parametrize("label,f,expected", US_TABLE, ids=[row[0] for row in US_TABLE])
def test_us_pack(label, f, expected):
    assert decide("us", f) == expected


BER, PAR = "Europe/Berlin", "Europe/Paris"
DE = dict(number="+4930123456", zones=(BER,), region="DE")
FR = dict(number="+33142685300", zones=(PAR,), region="FR")
EU_TABLE = [
    ("DE weekday 09:00", facts(now=local(BER, 2026, 3, 2, 9, 0), **DE), ("allowed", [])),
    ("DE Saturday ok", facts(now=local(BER, 2026, 3, 7, 10, 0), **DE), ("allowed", [])),
    ("DE Sunday never", facts(now=local(BER, 2026, 3, 8, 10, 0), **DE), ("deferred", ["quiet_hours"])),
    ("FR 13:30 lunch", facts(now=local(PAR, 2026, 3, 2, 13, 30), **FR), ("deferred", ["quiet_hours"])),
    ("FR 10:00", facts(now=local(PAR, 2026, 3, 2, 10, 0), **FR), ("allowed", [])),
    ("FR Saturday never", facts(now=local(PAR, 2026, 3, 7, 11, 0), **FR), ("deferred", ["quiet_hours"])),
    ("consent per purpose", facts(now=local(BER, 2026, 3, 2, 10), purpose="marketing", **DE),
     ("denied", ["purpose_not_consented"])),
    ("minor under 16", facts(now=local(BER, 2026, 3, 2, 10), birth_year=2011, **DE),
     ("denied", ["minor_without_guardian"])),
]


@pytest.mark.parametrize("label,f,expected", EU_TABLE, ids=[row[0] for row in EU_TABLE])
def test_eu_pack(label, f, expected):
    assert decide("eu", f) == expected


def test_next_allowed_skips_sunday_in_germany():
    v = evaluate(facts(now=local(BER, 2026, 3, 7, 20, 30), **DE), load_pack("eu"))  # Saturday evening
    assert v.decision == "deferred"
    assert v.next_allowed_at == local(BER, 2026, 3, 9, 9, 0)  # Monday 09:00


def test_consent_states():
    now = local(SH, 2026, 3, 2, 10)
    pack = load_pack("cn")
    withdrawn = CallFacts("+8613800138000", "reminder", now, callee_zones=(SH,), region="CN", in_contacts=True,
                          consents=(ConsentFact("reminder", now - timedelta(days=9), withdrawn_at=now - timedelta(days=1)),))
    expired = CallFacts("+8613800138000", "reminder", now, callee_zones=(SH,), region="CN", in_contacts=True,
                        consents=(ConsentFact("reminder", now - timedelta(days=9), expires_at=now - timedelta(days=1)),))
    assert evaluate(withdrawn, pack).reasons == ("consent_withdrawn",)
    assert evaluate(expired, pack).reasons == ("consent_expired",)


@pytest.mark.parametrize("pack_id", ["cn", "us", "eu"])
def test_every_section_names_its_source(pack_id):
    raw = load_pack(pack_id).raw
    for section in ("quiet_hours", "frequency", "consent", "minors", "lines", "dnc", "retention", "campaigns", "risk",
                    "script_lint", "recording"):
        assert raw[section].get("source"), f"[{section}] of {pack_id} has no source"
    assert set(shipped_pack_ids()) >= {"cn", "us", "eu"}


def test_pack_values_match_the_issue():
    cn, us, eu = load_pack("cn"), load_pack("us"), load_pack("eu")
    assert [(s.hour, e.hour) for s, e in cn.windows] == [(9, 12), (14, 20)]
    assert (cn.caps["marketing"].per_day, cn.caps["marketing"].per_30_days, cn.caps["reminder"].per_day) == (1, 3, 2)
    assert cn.retention_months["general"] == 6 and cn.retention_months["finance"] == 60
    assert "marketing" not in cn.line_purposes["gsm"] and cn.minor_age == 14 and cn.dnc_forever
    assert [(s.hour, e.hour) for s, e in us.windows] == [(8, 21)]
    assert us.written_consent_for == {"marketing"} and us.risk.max_abandon_rate == 0.03
    assert eu.erasure_on_request and 6 not in eu.days_for("DE") and 5 not in eu.days_for("FR")
    assert cn.blind_dialing_run == 5
