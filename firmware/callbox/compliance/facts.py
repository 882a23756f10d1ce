"""Loading :class:`~callbox.compliance.rules.CallFacts` from the store, many numbers per query.

Why a separate loader with plain SQL: deciding one call means four lookups (contact, consents,
do-not-call, recent attempts). Through the ORM, one number at a time, that is ~40 queries' worth of
Python per decision and caps the gate at a few thousand decisions per second. Here a chunk of up to
:data:`CHUNK` numbers costs four indexed ``IN (...)`` queries, and number parsing is skipped for
numbers that are already stored contacts (they were validated and normalised when written).

The single-number path (``Gate.facts``) uses the same loader with a chunk of one, so the fast and
the plain path cannot drift apart; a property test checks they agree.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from callbox.compliance import numbers
from callbox.compliance.rules import CallFacts, ConsentFact
from callbox.store import models as m
from callbox.store.queries import dnc_hash

HISTORY_WINDOW = timedelta(days=31)
CHUNK = 900  # SQLite's default limit on bound parameters is 32766 (999 before 3.32); stay well under


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


class FactLoader:
    """Builds CallFacts for numbers as the store sees them now (read-only)."""

    def __init__(self, db, region: str, fallback_zone: str) -> None:
        self.db = db
        self.region = region
        self.fallback_zone = fallback_zone
        self._t_contact = m.Contact._meta.table_name
        self._t_consent = m.Consent._meta.table_name
        self._t_dnc = m.DoNotCall._meta.table_name
        self._t_attempt = m.Attempt._meta.table_name

    def _contacts(self, phones: Sequence[str]) -> dict[str, tuple]:
        if not phones:
            return {}
        rows = self.db.execute_sql(
            f"SELECT phone, id, birth_year, guardian_consent FROM {self._t_contact} "
            f"WHERE phone IN ({_placeholders(len(phones))})",
            list(phones),
        ).fetchall()
        return {row[0]: row[1:] for row in rows}

    def _resolve(self, raws: Sequence[str]) -> tuple[list[str | None], dict[str, tuple]]:
        """Map each raw input to E.164 (None when invalid) and load the contacts among them."""
        direct = {r for r in raws if r.startswith("+")}
        contacts = self._contacts(sorted(direct))
        resolved: list[str | None] = []
        missing: set[str] = set()
        for raw in raws:
            if raw in contacts:
                resolved.append(raw)  # stored contacts are valid E.164 by construction
                continue
            try:
                e164 = numbers.normalise(raw, self.region)
            except numbers.InvalidNumber:
                resolved.append(None)
                continue
            resolved.append(e164)
            if e164 not in contacts:
                missing.add(e164)
        contacts.update(self._contacts(sorted(missing)))
        return resolved, contacts

    def load(
        self,
        raws: Sequence[str],
        purpose: str,
        now: datetime,
        line_kind: str = "sip",
        campaign_paused: bool = False,
        script_approved: bool = True,
    ) -> list[CallFacts]:
        """CallFacts for each of ``raws`` (at most :data:`CHUNK`), in order."""
        resolved, contacts = self._resolve(raws)
        valid = sorted({n for n in resolved if n is not None})
        consents: dict[int, list[ConsentFact]] = defaultdict(list)
        ids = [c[0] for c in contacts.values()]
        if ids:
            for contact_id, cpurpose, given, expires, withdrawn, method in self.db.execute_sql(
                f"SELECT contact_id, purpose, given_at, expires_at, withdrawn_at, method FROM {self._t_consent} "
                f"WHERE contact_id IN ({_placeholders(len(ids))}) ORDER BY id",
                ids,
            ):
                consents[contact_id].append(
                    ConsentFact(cpurpose, _instant(given), _instant(expires), _instant(withdrawn), method)
                )
        dnc: set[str] = set()
        attempts: dict[str, list[datetime]] = defaultdict(list)
        if valid:
            hashes = {dnc_hash(n): n for n in valid}
            dnc = {
                hashes[h]
                for (h,) in self.db.execute_sql(
                    f"SELECT phone_hash FROM {self._t_dnc} WHERE phone_hash IN ({_placeholders(len(hashes))})",
                    list(hashes),
                )
            }
            since = m.Attempt.at.db_value(now - HISTORY_WINDOW)
            for phone, at in self.db.execute_sql(
                f"SELECT phone, at FROM {self._t_attempt} WHERE phone IN ({_placeholders(len(valid))}) "
                "AND at >= ? ORDER BY at",
                [*valid, since],
            ):
                attempts[phone].append(_instant(at))
        out = []
        for number in resolved:
            if number is None:
                out.append(CallFacts(number=None, purpose=purpose, now=now, line_kind=line_kind))
                continue
            region, zones = numbers.meta(number, self.fallback_zone)
            contact = contacts.get(number)
            out.append(
                CallFacts(
                    number=number,
                    purpose=purpose,
                    now=now,
                    line_kind=line_kind,
                    callee_zones=zones,
                    region=region,
                    in_contacts=contact is not None,
                    consents=tuple(consents.get(contact[0], ())) if contact else (),
                    on_dnc=number in dnc,
                    attempts=tuple(attempts.get(number, ())),
                    birth_year=contact[1] if contact else None,
                    guardian_consent=bool(contact and contact[2]),
                    campaign_paused=campaign_paused,
                    script_approved=script_approved,
                )
            )
        return out


def chunks(items: Iterable[str], size: int = CHUNK) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
