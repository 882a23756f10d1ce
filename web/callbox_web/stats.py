"""Numbers for the dashboard and the campaign pages, counted in the organisation's own day.

"Today" is the organisation's local calendar day (from the box clock, never the server's zone), so a
clinic in Shanghai sees its own day even when the box runs on UTC.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callbox.store import models as m
from callbox.store.models_panel import PanelComplaint


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def local_day(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def _calls_between(start: datetime, end: datetime, campaign: m.Campaign | None = None):
    query = m.Call.select().where((m.Call.started_at >= start) & (m.Call.started_at < end))
    if campaign is not None:
        query = query.join(m.Attempt).where(m.Attempt.campaign == campaign)
    return list(query)


@dataclass
class Today:
    calls: int
    answered: int
    answer_rate: float | None
    opt_outs: int
    complaints_30d: int
    answered_30d: int
    complaint_rate: float | None
    denied: int
    deferred: int


def today(now: datetime, zone: str) -> Today:
    start, end = day_bounds(local_day(now, zone), zone)
    calls = _calls_between(start, end)
    answered = sum(1 for c in calls if c.answered_at is not None)
    opt_outs = m.DoNotCall.select().where((m.DoNotCall.added_at >= start) & (m.DoNotCall.added_at < end)).count()
    since = now - timedelta(days=30)
    answered_30d = m.Call.select().where((m.Call.started_at >= since) & m.Call.answered_at.is_null(False)).count()
    complaints_30d = PanelComplaint.select().where(PanelComplaint.received_at >= since).count()
    decisions = Counter(
        d.decision for d in m.Decision.select(m.Decision.decision).where((m.Decision.at >= start) & (m.Decision.at < end))
    )
    return Today(
        calls=len(calls),
        answered=answered,
        answer_rate=answered / len(calls) if calls else None,
        opt_outs=opt_outs,
        complaints_30d=complaints_30d,
        answered_30d=answered_30d,
        complaint_rate=complaints_30d / answered_30d if answered_30d else None,
        denied=decisions.get("denied", 0),
        deferred=decisions.get("deferred", 0),
    )


def calls_per_hour(now: datetime, zone: str) -> list[int]:
    """Calls started in each local hour (0-23) of today."""
    start, end = day_bounds(local_day(now, zone), zone)
    tz = ZoneInfo(zone)
    hours = [0] * 24
    for call in _calls_between(start, end):
        hours[call.started_at.astimezone(tz).hour] += 1
    return hours


def outcomes(since: datetime, until: datetime, campaign: m.Campaign | None = None) -> list[tuple[str, int]]:
    """(outcome code, count) of calls in the period, most frequent first."""
    counts = Counter((c.outcome or c.end_reason or "") for c in _calls_between(since, until, campaign))
    return counts.most_common()


@dataclass
class TrendDay:
    day: date
    answered: int
    opt_outs: int
    complaints: int

    @property
    def opt_out_rate(self) -> float | None:
        return self.opt_outs / self.answered if self.answered else None

    @property
    def complaint_rate(self) -> float | None:
        return self.complaints / self.answered if self.answered else None


def campaign_trend(campaign: m.Campaign, now: datetime, zone: str, days: int = 14) -> list[TrendDay]:
    """Per local day, the last ``days`` days: answered calls, opt-outs and complaints of one campaign."""
    last = local_day(now, zone)
    first = last - timedelta(days=days - 1)
    start, _ = day_bounds(first, zone)
    _, end = day_bounds(last, zone)
    tz = ZoneInfo(zone)
    by_day = {first + timedelta(days=i): TrendDay(first + timedelta(days=i), 0, 0, 0) for i in range(days)}
    for call in _calls_between(start, end, campaign):
        entry = by_day.get(call.started_at.astimezone(tz).date())
        if entry is None:
            continue
        if call.answered_at is not None:
            entry.answered += 1
        if call.opt_out:
            entry.opt_outs += 1
    complaints = PanelComplaint.select().where(
        (PanelComplaint.campaign_id == campaign.id) & (PanelComplaint.received_at >= start) & (PanelComplaint.received_at < end)
    )
    for complaint in complaints:
        entry = by_day.get(complaint.received_at.astimezone(tz).date())
        if entry is not None:
            entry.complaints += 1
    return [by_day[d] for d in sorted(by_day)]


@dataclass
class Progress:
    total: int
    by_status: dict[str, int]

    @property
    def done(self) -> int:
        return sum(v for k, v in self.by_status.items() if k in ("called", "denied", "failed"))


def campaign_progress(campaign: m.Campaign) -> Progress:
    counts = Counter(member.status for member in m.CampaignMember.select(m.CampaignMember.status)
                     .where(m.CampaignMember.campaign == campaign))
    return Progress(sum(counts.values()), dict(counts))
