"""The compliance gate: the only door to a dial.

``Gate.request(...)`` collects the facts about one intended call from the store, applies the rule
pack (:func:`callbox.compliance.rules.evaluate`), stores the decision with every rule checked, and —
only when the verdict is ``allowed`` — records an attempt and returns a single-use :class:`Permit`
bound to that number and attempt. ``Gate.check(...)`` does the same evaluation and changes nothing;
``Gate.check_many(...)`` does it for many numbers at one instant with batched SQL and
:class:`~callbox.compliance.rules.BatchRules` (the fast path measured by ``scripts/bench_gate.py``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from callbox.clock import Clock
from callbox.compliance.facts import CHUNK, HISTORY_WINDOW, FactLoader, Snapshot
from callbox.compliance.permit import Permit, PermitAuthority
from callbox.compliance.rulepack import RulePack
from callbox.compliance.rules import BatchRules, CallFacts, Check, Verdict, evaluate
from callbox.store import audit
from callbox.store import models as m
from callbox.store.db import Store

log = logging.getLogger(__name__)

__all__ = ["Gate", "GateResult", "HISTORY_WINDOW"]


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
        clock_check: Callable[[], Any] | None = None,
    ) -> None:
        """``clock_check`` returns a :class:`callbox.timesync.ClockStatus`; when the clock is not
        trusted (no NTP, RTC or network time), no call is placed: quiet hours depend on it."""
        self._clock_check = clock_check
        self.store = store
        self.pack = pack
        self.org = organisation
        self.clock = clock
        self._authority = authority
        # One decision at a time: the facts are read, then the attempt written; two lines (or an inbound
        # call and a campaign) asking for the same number at once must not both pass a frequency cap.
        self._decide = threading.Lock()
        self._loader = FactLoader(
            store.db, organisation.region or pack.default_region, organisation.timezone or "UTC"
        )

    def _campaign_state(self, campaign: m.Campaign | None) -> tuple[bool, bool]:
        """(paused, script approved) for ``campaign``; a campaign-less check has neither problem."""
        if campaign is None:
            return False, True
        from callbox.compliance.scripts import is_approved

        return campaign.status == "paused", is_approved(campaign.script)

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
        paused, approved = self._campaign_state(campaign)
        return self._loader.load([raw_number], purpose, now, line_kind, paused, approved)[0]

    # -- decisions -------------------------------------------------------------------------------
    def check(self, raw_number: str, purpose: str, at: datetime | None = None, line_kind: str = "sip") -> Verdict:
        """Evaluate without recording anything (``callbox check-call``)."""
        return evaluate(self.facts(raw_number, purpose, at, line_kind), self.pack)

    def check_many(
        self,
        raw_numbers: Iterable[str],
        purpose: str,
        at: datetime | None = None,
        line_kind: str = "sip",
        campaign: m.Campaign | None = None,
    ) -> list[Verdict]:
        """Verdicts for many numbers at one instant, in input order; records nothing.

        Same facts and same rules as :meth:`check` (property tests hold them equal): numbers are
        looked up :data:`~callbox.compliance.facts.CHUNK` per statement, in sorted order, inside one
        read transaction, and decided by :class:`~callbox.compliance.rules.BatchRules` (one
        :func:`evaluate` per distinct combination of facts that matter, quiet hours and the next
        allowed instant memoised per zone set).
        """
        now = at or self.clock.now()
        paused, approved = self._campaign_state(campaign)
        raws = list(raw_numbers)
        rules = BatchRules(self.pack, purpose, now, line_kind, paused, approved)
        with self.store.db.atomic("DEFERRED"):  # one read snapshot for the whole batch (WAL: writers go on)
            snap = self._loader.snapshot(now, len(raws)) if len(raws) >= CHUNK else Snapshot()
            return self._loader.decide(raws, rules, snap)

    def request(
        self,
        raw_number: str,
        purpose: str,
        line_kind: str,
        campaign: m.Campaign | None = None,
        actor: str = "campaign",
    ) -> GateResult:
        """Decide, store the decision, and on ``allowed`` record an attempt and issue a permit."""
        with self._decide:
            return self._request(raw_number, purpose, line_kind, campaign, actor)

    def _request(
        self, raw_number: str, purpose: str, line_kind: str, campaign: m.Campaign | None, actor: str
    ) -> GateResult:
        facts = self.facts(raw_number, purpose, None, line_kind, campaign)
        verdict = evaluate(facts, self.pack)
        if self._clock_check is not None:
            status = self._clock_check()
            if not status.trusted:
                verdict = Verdict(
                    "deferred", ("clock_untrusted",), None, (Check("clock", False, status.detail), *verdict.checks)
                )
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
