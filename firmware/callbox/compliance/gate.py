"""The compliance gate: the only door to a dial.

``Gate.request(...)`` collects the facts about one intended call from the store, applies the rule
pack (:func:`callbox.compliance.rules.evaluate`), stores the decision with every rule checked, and —
only when the verdict is ``allowed`` — records an attempt and returns a single-use :class:`Permit`
bound to that number and attempt. ``Gate.check(...)`` does the same evaluation and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from callbox.clock import Clock
from callbox.compliance import numbers
from callbox.compliance.permit import Permit, PermitAuthority
from callbox.compliance.rulepack import RulePack
from callbox.compliance.rules import CallFacts, ConsentFact, Verdict, evaluate
from callbox.store import audit, queries
from callbox.store import models as m
from callbox.store.db import Store

log = logging.getLogger(__name__)

HISTORY_WINDOW = timedelta(days=31)


@dataclass(frozen=True)
class GateResult:
    verdict: Verdict
    number: str | None
    permit: Permit | None = None
    decision_id: int | None = None
    attempt_id: int | None = None


class Gate:
    def __init__(
        self,
        store: Store,
        pack: RulePack,
        organisation: m.Organisation,
        clock: Clock,
        authority: PermitAuthority,
    ) -> None:
        self.store = store
        self.pack = pack
        self.org = organisation
        self.clock = clock
        self._authority = authority

    # -- facts -----------------------------------------------------------------------------------
    def facts(
        self,
        raw_number: str,
        purpose: str,
        at: datetime | None = None,
        line_kind: str = "sip",
        campaign: m.Campaign | None = None,
    ) -> CallFacts:
        now = at or self.clock.now()
        try:
            number = numbers.normalise(raw_number, self.org.region or self.pack.default_region)
        except numbers.InvalidNumber:
            return CallFacts(number=None, purpose=purpose, now=now, line_kind=line_kind)
        contact = queries.get_contact(number)
        consents: tuple[ConsentFact, ...] = ()
        if contact is not None:
            consents = tuple(
                ConsentFact(c.purpose, c.given_at, c.expires_at, c.withdrawn_at)
                for c in m.Consent.select().where(m.Consent.contact == contact)
            )
        attempts = tuple(a.at for a in queries.attempts_since(number, now - HISTORY_WINDOW))
        return CallFacts(
            number=number,
            purpose=purpose,
            now=now,
            line_kind=line_kind,
            callee_zones=numbers.callee_zones(number, self.org.timezone),
            region=numbers.region_of(number),
            in_contacts=contact is not None,
            consents=consents,
            on_dnc=queries.is_dnc(number),
            attempts=attempts,
            birth_year=contact.birth_year if contact else None,
            guardian_consent=bool(contact and contact.guardian_consent),
            campaign_paused=bool(campaign and campaign.status == "paused"),
        )

    # -- decisions -------------------------------------------------------------------------------
    def check(self, raw_number: str, purpose: str, at: datetime | None = None, line_kind: str = "sip") -> Verdict:
        """Evaluate without recording anything (``callbox check-call``)."""
        return evaluate(self.facts(raw_number, purpose, at, line_kind), self.pack)

    def request(
        self,
        raw_number: str,
        purpose: str,
        line_kind: str,
        campaign: m.Campaign | None = None,
        actor: str = "campaign",
    ) -> GateResult:
        """Decide, store the decision, and on ``allowed`` record an attempt and issue a permit."""
        facts = self.facts(raw_number, purpose, None, line_kind, campaign)
        verdict = evaluate(facts, self.pack)
        number = facts.number
        with self.store.db.atomic():
            attempt = None
            if verdict.allowed and number is not None:
                attempt = m.Attempt.create(phone=number, purpose=purpose, campaign=campaign, at=facts.now)
            decision = m.Decision.create(
                phone=number or raw_number,
                purpose=purpose,
                campaign=campaign,
                at=facts.now,
                decision=verdict.decision,
                reasons=list(verdict.reasons),
                rules=[{"rule": c.rule, "passed": c.passed, "detail": c.detail} for c in verdict.checks],
                next_allowed_at=verdict.next_allowed_at,
                attempt=attempt,
            )
            audit.append(
                self.store,
                actor,
                f"gate.{verdict.decision}",
                number or raw_number,
                {"purpose": purpose, "reasons": list(verdict.reasons), "pack": f"{self.pack.id}@{self.pack.version}"},
            )
        permit = None
        if attempt is not None and number is not None:
            permit = self._authority.issue(number, attempt.id, line_kind)
        log.info(
            "gate decision",
            extra={"phone": number or raw_number, "decision": verdict.decision, "reasons": list(verdict.reasons)},
        )
        return GateResult(verdict, number, permit, decision.id, attempt.id if attempt else None)
