"""The rules themselves: a pure function from facts about one intended call to a verdict.

No database, no clock, no I/O: everything the decision depends on arrives in :class:`CallFacts`, so
the same facts always give the same verdict (which is what makes decisions explainable and testable
across time zones and DST with property-based tests).

Decision semantics:
- ``denied``: at least one reason that time cannot fix (no consent, do-not-call, wrong line, ...).
- ``deferred``: only time-based reasons (quiet hours, frequency caps); ``next_allowed_at`` says when.
- ``allowed``: every rule passed.

Reason codes (stable; the CLI and panel show them): invalid_number, not_in_contacts, no_consent,
purpose_not_consented, consent_expired, consent_withdrawn, no_written_consent, dnc, quiet_hours,
frequency_cap, minor_without_guardian, line_not_permitted, campaign_paused, script_not_approved.
(``blind_dialing`` is decided on whole campaign lists, see :mod:`callbox.compliance.campaigns`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from callbox.compliance.rulepack import RulePack

TIME_BASED = frozenset({"quiet_hours", "frequency_cap"})
SEARCH_HORIZON = timedelta(days=62)


class ConsentFact(NamedTuple):
    """One consent as the rules see it (a NamedTuple: the gate builds one per consent per decision)."""

    purpose: str
    given_at: datetime
    expires_at: datetime | None = None
    withdrawn_at: datetime | None = None
    method: str = ""  # paper_form | web_form | verbal_recorded | in_person


@dataclass(frozen=True)
class CallFacts:
    """Everything the rules need to know about one intended call."""

    number: str | None  # E.164, or None when the input did not parse as a valid number
    purpose: str
    now: datetime
    line_kind: str = "sip"
    callee_zones: tuple[str, ...] = ()
    region: str = ""
    in_contacts: bool = False
    consents: tuple[ConsentFact, ...] = ()
    on_dnc: bool = False
    attempts: tuple[datetime, ...] = ()  # past attempts to this number, any purpose
    birth_year: int | None = None
    guardian_consent: bool = False
    campaign_paused: bool = False
    script_approved: bool = True  # False only when a campaign's script lost (or never had) approval


class Check(NamedTuple):
    """One rule's result. A NamedTuple (not a dataclass) because the gate builds ten per decision."""

    rule: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    decision: str
    reasons: tuple[str, ...]
    next_allowed_at: datetime | None
    checks: tuple[Check, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"

    def as_json(self) -> dict:
        return {
            "allowed": self.allowed,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "next_allowed_at": self.next_allowed_at.isoformat() if self.next_allowed_at else None,
        }


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def in_calling_window(pack: RulePack, region: str, zones: tuple[str, ...], at: datetime) -> bool:
    """True if ``at`` is inside a calling window in *every* zone the number may ring in."""
    windows = pack.windows_for(region)
    days = pack.days_for(region)
    for zone in zones:
        local = at.astimezone(_zone(zone))
        if local.weekday() not in days:
            return False
        t = local.time()
        if not any(start <= t < end for start, end in windows):
            return False
    return True


def _local_day(at: datetime, zone: str):
    return at.astimezone(_zone(zone)).date()


def cap_reached(pack: RulePack, purpose: str, zones: tuple[str, ...], attempts: tuple[datetime, ...], at: datetime) -> str:
    """Which cap (if any) an attempt at ``at`` would exceed; '' when none."""
    cap = pack.caps.get(purpose)
    if cap is None or not attempts:
        return ""
    zone = zones[0]
    if cap.per_day is not None:
        today = _local_day(at, zone)
        if sum(1 for a in attempts if a <= at and _local_day(a, zone) == today) >= cap.per_day:
            return f"{cap.per_day} per day"
    if cap.per_30_days is not None:
        since = at - timedelta(days=30)
        if sum(1 for a in attempts if since < a <= at) >= cap.per_30_days:
            return f"{cap.per_30_days} per 30 days"
    return ""


def _candidates(pack: RulePack, region: str, zones: tuple[str, ...], attempts: tuple[datetime, ...], now: datetime):
    """Instants at which a deferred call could become allowed: window starts and cap expiries."""
    points = {now}
    for zone in zones:
        tz = _zone(zone)
        day0 = now.astimezone(tz).date()
        for offset in range(SEARCH_HORIZON.days + 1):
            day = day0 + timedelta(days=offset)
            for start, _ in pack.windows_for(region):
                points.add(datetime.combine(day, start, tzinfo=tz))
    for a in attempts:
        points.add(a + timedelta(days=30) + timedelta(microseconds=1))
    return sorted(p for p in points if p >= now)


def next_allowed(facts: CallFacts, pack: RulePack) -> datetime | None:
    """The first instant at or after ``now`` when quiet hours and caps both allow the call."""
    zones = facts.callee_zones
    for candidate in _candidates(pack, facts.region, zones, facts.attempts, facts.now):
        if candidate - facts.now > SEARCH_HORIZON:
            break
        if in_calling_window(pack, facts.region, zones, candidate) and not cap_reached(
            pack, facts.purpose, zones, facts.attempts, candidate
        ):
            return candidate
    return None


def _consent_reason(facts: CallFacts, pack: RulePack) -> tuple[str, str]:
    needed = pack.consent_required.get(facts.purpose)
    if needed is None:
        return "purpose_not_consented", f"the rule pack knows no purpose {facts.purpose!r}"
    if not facts.consents:
        return "no_consent", "no consent on record"
    now = facts.now
    matching = [c for c in facts.consents if c.purpose == needed and c.given_at <= now]
    if not matching:
        return "purpose_not_consented", f"consent on record does not cover {needed}"
    active = [c for c in matching if c.withdrawn_at is None or c.withdrawn_at > now]
    if not active:
        return "consent_withdrawn", f"{needed} consent was withdrawn"
    valid = [c for c in active if c.expires_at is None or c.expires_at > now]
    if not valid:
        return "consent_expired", f"{needed} consent expired"
    if facts.purpose in pack.written_consent_for:
        valid = [c for c in valid if c.method in pack.written_methods]
        if not valid:
            return "no_written_consent", (
                f"{facts.purpose} by artificial voice needs prior express written consent "
                f"({' or '.join(sorted(pack.written_methods))})"
            )
    first = valid[0].given_at if len(valid) == 1 else min(c.given_at for c in valid)
    sensitive = " (sensitive: separate consent)" if facts.purpose in pack.sensitive_purposes else ""
    return "", f"{needed} consent given {first.date().isoformat()}{sensitive}"


class Memo:
    """Caches for evaluating many calls at one instant (``Gate.check_many``).

    Quiet hours depend only on (region, zones, instant), and the next allowed instant of a number
    with no past attempts only on (region, zones, purpose, instant): a batch of a million numbers
    shares a handful of zone sets, so this turns the costliest rule into a dictionary lookup. Pure:
    results are exactly what :func:`in_calling_window` and :func:`next_allowed` return.
    """

    def __init__(self) -> None:
        self.windows: dict[tuple, bool] = {}
        self.next_free: dict[tuple, datetime | None] = {}

    def in_window(self, pack: RulePack, region: str, zones: tuple[str, ...], at: datetime) -> bool:
        key = (region, zones, at)
        hit = self.windows.get(key)
        if hit is None:
            hit = self.windows[key] = in_calling_window(pack, region, zones, at)
        return hit

    def next_allowed(self, facts: CallFacts, pack: RulePack) -> datetime | None:
        if facts.attempts:
            return next_allowed(facts, pack)
        key = (facts.region, facts.callee_zones, facts.purpose, facts.now)
        if key not in self.next_free:
            self.next_free[key] = next_allowed(facts, pack)
        return self.next_free[key]


@lru_cache(maxsize=1024)
def _zones_detail(zones: tuple[str, ...]) -> str:
    return f"callee zones {', '.join(zones)}"


_OK_VALID = Check("valid_number", True, "")
_OK_IN_CONTACTS = Check("in_contacts", True, "numbers must come from the consent store")
_NO_IN_CONTACTS = Check("in_contacts", False, "numbers must come from the consent store")
_OK_DNC = Check("dnc", True, "")
_NO_DNC = Check("dnc", False, "on the do-not-call list")
_OK_MINOR = Check("minors", True, "")
_OK_CAMPAIGN = Check("campaign_active", True, "")
_NO_CAMPAIGN = Check("campaign_active", False, "")
_OK_SCRIPT = Check("script_approved", True, "")
_NO_SCRIPT = Check("script_approved", False,
                   "the campaign's script changed or was never approved: submit and approve it")
_OK_LINE = Check("line_purpose", True, "")
_OK_CAP = Check("frequency_cap", True, "")


def evaluate(facts: CallFacts, pack: RulePack, memo: Memo | None = None) -> Verdict:
    """Apply every rule of ``pack`` to ``facts``. Pure and deterministic (``memo`` only caches).

    Written flat (no helper closures, constant Check objects) because ``Gate.check_many`` runs it
    for every number of a campaign; the rules themselves are the ones named in the module docstring.
    """
    if facts.number is None:
        return Verdict("denied", ("invalid_number",), None, (Check("valid_number", False, "not a valid phone number"),))
    reasons: list[str] = []
    checks: list[Check] = [_OK_VALID]
    if facts.in_contacts:
        checks.append(_OK_IN_CONTACTS)
    else:
        checks.append(_NO_IN_CONTACTS)
        reasons.append("not_in_contacts")
    if facts.on_dnc:
        checks.append(_NO_DNC)
        reasons.append("dnc")
    else:
        checks.append(_OK_DNC)
    if facts.in_contacts:
        reason, detail = _consent_reason(facts, pack)
        checks.append(Check("consent", not reason, detail))
        if reason:
            reasons.append(reason)
        possibly_minor = facts.birth_year is not None and facts.now.year - facts.birth_year <= pack.minor_age
        if possibly_minor:
            blocked = not facts.guardian_consent
            checks.append(Check("minors", not blocked, f"may be under {pack.minor_age}"))
            if blocked:
                reasons.append("minor_without_guardian")
        else:
            checks.append(_OK_MINOR)
    if facts.purpose in pack.line_purposes.get(facts.line_kind, frozenset()):
        checks.append(_OK_LINE)
    else:
        checks.append(Check("line_purpose", False, f"{facts.purpose} calls are not allowed on {facts.line_kind} lines"))
        reasons.append("line_not_permitted")
    if facts.campaign_paused:
        checks.append(_NO_CAMPAIGN)
        reasons.append("campaign_paused")
    else:
        checks.append(_OK_CAMPAIGN)
    if facts.script_approved:
        checks.append(_OK_SCRIPT)
    else:
        checks.append(_NO_SCRIPT)
        reasons.append("script_not_approved")
    zones = facts.callee_zones
    if memo is not None:
        in_window = memo.in_window(pack, facts.region, zones, facts.now)
    else:
        in_window = in_calling_window(pack, facts.region, zones, facts.now)
    checks.append(Check("quiet_hours", in_window, _zones_detail(zones)))
    if not in_window:
        reasons.append("quiet_hours")
    cap = cap_reached(pack, facts.purpose, zones, facts.attempts, facts.now)
    if cap:
        checks.append(Check("frequency_cap", False, cap))
        reasons.append("frequency_cap")
    else:
        checks.append(_OK_CAP)

    if not reasons:
        return Verdict("allowed", (), None, tuple(checks))
    if all(r in TIME_BASED for r in reasons):
        when = memo.next_allowed(facts, pack) if memo is not None else next_allowed(facts, pack)
        return Verdict("deferred", tuple(reasons), when, tuple(checks))
    return Verdict("denied", tuple(reasons), None, tuple(checks))


class BatchRules:
    """:func:`evaluate` for many calls that share purpose, instant, line and campaign state.

    ``Gate.check_many`` decides up to a million numbers with the same purpose at the same instant.
    For a number with no recent attempt, :func:`evaluate` depends on its facts only through

    - the zone set and region (quiet hours, their detail, the next allowed instant),
    - in contacts, on the do-not-call list,
    - the outcome of the consent rule (reason and detail, see :meth:`consent_outcome`),
    - the outcome of the minors rule (not a minor / minor with guardian / minor without),

    because the line, campaign and script checks are the same for the whole batch and the cap rule
    never fires without attempts. So the first number of each combination is decided by
    :func:`evaluate` itself, and later numbers with the same combination get that (immutable)
    Verdict. Numbers with attempts go to :func:`evaluate` directly. Same verdicts, by construction;
    a property test compares this with :func:`evaluate` on random facts.
    """

    def __init__(
        self,
        pack: RulePack,
        purpose: str,
        now: datetime,
        line_kind: str = "sip",
        campaign_paused: bool = False,
        script_approved: bool = True,
        memo: Memo | None = None,
    ) -> None:
        self.pack = pack
        self.purpose = purpose
        self.now = now
        self.line_kind = line_kind
        self.campaign_paused = campaign_paused
        self.script_approved = script_approved
        self.memo = memo if memo is not None else Memo()
        self._needed = needed = pack.consent_required.get(purpose)
        self._written = purpose in pack.written_consent_for
        self._written_methods = pack.written_methods
        # possibly a minor: now.year - birth_year <= minor_age, i.e. birth_year >= now.year - minor_age
        self._minor_from = now.year - pack.minor_age
        self._sensitive = " (sensitive: separate consent)" if purpose in pack.sensitive_purposes else ""
        self._given_prefix = f"{needed} consent given "
        # The fixed outcomes of the consent rule (the same text _consent_reason builds).
        self._c_unknown = ("purpose_not_consented", f"the rule pack knows no purpose {purpose!r}")
        self._c_none = ("no_consent", "no consent on record")
        self._c_not_covered = ("purpose_not_consented", f"consent on record does not cover {needed}")
        self._c_withdrawn = ("consent_withdrawn", f"{needed} consent was withdrawn")
        self._c_expired = ("consent_expired", f"{needed} consent expired")
        self._c_not_written = ("no_written_consent", (
            f"{purpose} by artificial voice needs prior express written consent "
            f"({' or '.join(sorted(pack.written_methods))})"
        ))
        self._verdicts: dict[tuple, Verdict] = {}
        self.invalid = evaluate(self.facts(None), pack)

    def facts(
        self,
        number: str | None,
        region: str = "",
        zones: tuple[str, ...] = (),
        in_contacts: bool = False,
        consents: tuple[ConsentFact, ...] = (),
        on_dnc: bool = False,
        attempts: tuple[datetime, ...] = (),
        birth_year: int | None = None,
        guardian_consent: bool = False,
    ) -> CallFacts:
        """The CallFacts these values stand for (what :meth:`verdict` decides)."""
        if number is None:
            return CallFacts(None, self.purpose, self.now, self.line_kind,
                             campaign_paused=self.campaign_paused, script_approved=self.script_approved)
        return CallFacts(
            number, self.purpose, self.now, self.line_kind, zones, region, in_contacts, tuple(consents), on_dnc,
            tuple(attempts), birth_year, guardian_consent, self.campaign_paused, self.script_approved,
        )

    def consent_outcome(self, consents) -> tuple[str, str]:
        """Exactly ``_consent_reason`` (reason, detail) for these consents at this batch's instant."""
        needed = self._needed
        if needed is None:
            return self._c_unknown
        if not consents:
            return self._c_none
        now = self.now
        matching = active = valid = False
        first = None
        for purpose, given_at, expires_at, withdrawn_at, method in consents:
            if purpose != needed or not given_at <= now:
                continue
            matching = True
            if withdrawn_at is not None and not withdrawn_at > now:
                continue
            active = True
            if expires_at is not None and not expires_at > now:
                continue
            valid = True
            if self._written and method not in self._written_methods:
                continue
            if first is None or given_at < first:
                first = given_at
        if first is None:
            if not matching:
                return self._c_not_covered
            if not active:
                return self._c_withdrawn
            if not valid:
                return self._c_expired
            return self._c_not_written
        return "", f"{self._given_prefix}{first.date().isoformat()}{self._sensitive}"

    def verdict(
        self,
        number: str | None,
        region: str,
        zones: tuple[str, ...],
        in_contacts: bool,
        consents: tuple[ConsentFact, ...],
        on_dnc: bool,
        attempts: tuple[datetime, ...],
        birth_year: int | None,
        guardian_consent: bool,
    ) -> Verdict:
        """``evaluate(self.facts(...), pack)``, memoised as the class docstring explains."""
        if number is None:
            return self.invalid
        if attempts:
            return evaluate(
                self.facts(number, region, zones, in_contacts, consents, on_dnc, attempts, birth_year, guardian_consent),
                self.pack, self.memo,
            )
        if in_contacts:
            consent = self.consent_outcome(consents)
            if birth_year is not None and birth_year >= self._minor_from:
                minor = 1 if guardian_consent else 2
            else:
                minor = 0
        else:
            consent = None
            minor = 0
        key = (zones, region, in_contacts, on_dnc, consent, minor)
        hit = self._verdicts.get(key)
        if hit is None:
            hit = self._verdicts[key] = evaluate(
                self.facts(number, region, zones, in_contacts, consents, on_dnc, (), birth_year, guardian_consent),
                self.pack, self.memo,
            )
        return hit
