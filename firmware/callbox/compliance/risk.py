"""Risk control per campaign: stop a campaign that people complain about before a regulator must.

After every placed call the daemon reports what happened (:func:`after_call`). Over the pack's
rolling window we track, per campaign:

- complaint rate = (opt-outs + spoken complaints) / answered calls,
- short hang-up rate = answered calls that ended within ``short_hangup_s`` / answered calls,
- answer rate = answered / dialed,
- abandonment rate = abandoned / answered (US: 3 % per campaign per 30 days, 47 CFR 64.1200(a)(7)).

Crossing a threshold of the pack's ``[risk]`` table pauses the campaign (the gate then refuses its
calls with ``campaign_paused``) and writes why into the audit log. A person must resume it.
:func:`assess` is pure; :func:`after_call` is the thin I/O around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from callbox.compliance.rulepack import RiskLimits, RulePack
from callbox.store import audit
from callbox.store import models as m
from callbox.store.db import Store
from callbox.store.models_compliance import CallStat


@dataclass(frozen=True)
class RiskStats:
    dialed: int = 0
    answered: int = 0
    complaints: int = 0  # opt-outs + spoken complaints, among answered calls
    short_hangups: int = 0
    abandoned: int = 0

    def rates(self) -> dict[str, float | None]:
        per_answer = (lambda n: n / self.answered) if self.answered else (lambda n: None)
        return {
            "complaint_rate": per_answer(self.complaints),
            "short_hangup_rate": per_answer(self.short_hangups),
            "answer_rate": self.answered / self.dialed if self.dialed else None,
            "abandon_rate": per_answer(self.abandoned),
        }


def assess(stats: RiskStats, limits: RiskLimits) -> str | None:
    """The first threshold ``stats`` cross, as a sentence naming rate and limit; None if none."""
    rates = stats.rates()
    if stats.answered >= limits.min_answered:
        if limits.max_complaint_rate is not None and rates["complaint_rate"] > limits.max_complaint_rate:
            return (f"complaint rate {rates['complaint_rate']:.1%} over {stats.answered} answered calls "
                    f"exceeds {limits.max_complaint_rate:.1%}")
        if limits.max_abandon_rate is not None and rates["abandon_rate"] > limits.max_abandon_rate:
            return (f"abandonment rate {rates['abandon_rate']:.1%} over {stats.answered} answered calls "
                    f"exceeds {limits.max_abandon_rate:.1%}")
        if limits.max_short_hangup_rate is not None and rates["short_hangup_rate"] > limits.max_short_hangup_rate:
            return (f"hang-up-within-{limits.short_hangup_s:g}-s rate {rates['short_hangup_rate']:.1%} "
                    f"exceeds {limits.max_short_hangup_rate:.1%}")
    if stats.dialed >= limits.min_dialed and limits.min_answer_rate is not None:
        if rates["answer_rate"] < limits.min_answer_rate:
            return (f"answer rate {rates['answer_rate']:.1%} over {stats.dialed} calls is below "
                    f"{limits.min_answer_rate:.1%}: check the list is current")
    return None


def was_abandoned(answered: bool, duration_s: float, first_audio_ms: int | None, connect_within_s: float) -> bool:
    """Answered, and the box spoke late, or never while the callee stayed longer than the limit."""
    if not answered:
        return False
    if first_audio_ms is None:
        return duration_s > connect_within_s
    return first_audio_ms > connect_within_s * 1000


def campaign_stats(campaign: m.Campaign, since: datetime, short_hangup_s: float) -> RiskStats:
    rows = list(
        CallStat.select(CallStat.answered, CallStat.duration_s, CallStat.opt_out, CallStat.complaint, CallStat.abandoned)
        .where((CallStat.campaign == campaign) & (CallStat.at >= since))
        .tuples()
    )
    answered = [r for r in rows if r[0]]
    return RiskStats(
        dialed=len(rows),
        answered=len(answered),
        complaints=sum(1 for r in answered if r[2] or r[3]),
        short_hangups=sum(1 for r in answered if r[1] < short_hangup_s),
        abandoned=sum(1 for r in answered if r[4]),
    )


def after_call(
    store: Store,
    campaign: m.Campaign,
    *,
    answered: bool,
    duration_s: float,
    opt_out: bool,
    complaint: bool,
    pack: RulePack,
    abandoned: bool | None = None,
    first_audio_ms: int | None = None,
) -> str | None:
    """Record one placed call of ``campaign``; pause it if a rate crossed the pack's limits.

    Returns the pause reason when this call paused the campaign, else None. ``abandoned``: the
    callee answered but heard nothing from the box in time (US abandonment rule); when not given it
    is derived from ``first_audio_ms`` (see :func:`was_abandoned`).
    """
    now = store.clock.now()
    limits = pack.risk
    if abandoned is None:
        abandoned = was_abandoned(answered, duration_s, first_audio_ms, limits.connect_within_s)
    with store.atomic():
        CallStat.create(
            campaign=campaign, at=now, answered=answered, duration_s=max(0.0, float(duration_s)),
            opt_out=opt_out, complaint=complaint, abandoned=abandoned and answered,
        )
        current = m.Campaign.get_by_id(campaign.id)
        if current.status == "paused":
            return None
        stats = campaign_stats(campaign, now - timedelta(days=limits.window_days), limits.short_hangup_s)
        reason = assess(stats, limits)
        if reason is None:
            return None
        m.Campaign.update(status="paused", paused_reason=reason).where(m.Campaign.id == campaign.id).execute()
        audit.append(store, "risk_control", "campaign.paused", campaign.name,
                     {"reason": reason, **{k: v for k, v in stats.__dict__.items()}})
    campaign.status, campaign.paused_reason = "paused", reason
    return reason
