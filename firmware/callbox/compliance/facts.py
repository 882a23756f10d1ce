"""Loading :class:`~callbox.compliance.rules.CallFacts` from the store, many numbers per query.

Why a separate loader with plain SQL: deciding one call needs a contact, its consents, the
do-not-call list and recent attempts. Through the ORM, one number at a time, that is four queries
and a few hundred Python calls per decision, which caps the gate near 10,000 decisions per second.

Here a chunk of up to :data:`CHUNK` numbers costs one statement: a ``VALUES`` list joined to the
contact and consent tables (one row per consent, no string building in SQL). Do-not-call entries
and recent attempts are either probed in the same statement (small batches) or, for a large batch,
read once in full into a :class:`Snapshot` (one hash set, one dict) when that is fewer rows than
the batch has numbers. Number parsing is skipped for numbers that are already stored contacts (they
were validated and normalised when written). Every read happens inside the caller's transaction,
so one batch sees one consistent state of the store.

The single-number path (``Gate.facts``) uses the same loader with a chunk of one, so the fast and
the plain path cannot drift apart; a property test checks they agree.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from callbox.compliance import numbers
from callbox.compliance.rules import CallFacts, ConsentFact
from callbox.store import models as m
from callbox.store.queries import dnc_hash

HISTORY_WINDOW = timedelta(days=31)
CHUNK = 900  # two bound parameters per number; SQLite >= 3.32 (Raspberry Pi OS has 3.40) allows 32766


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


def _fast_factory(cls):
    """Build frozen dataclass instances without their generated ``__init__``.

    A frozen dataclass sets each field through ``object.__setattr__`` (~2.7 µs for CallFacts); the
    loader makes one per decision. This fills ``__dict__`` from the dataclass's own defaults plus the
    given values, which yields an instance equal in every way (fields, ``==``, ``hash``).
    """
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    new = object.__new__

    def make(**values):
        # No per-call name check (it cost more than the construction); tests compare against the
        # real constructor, and an unknown name would surface as a missing attribute there.
        obj = new(cls)
        obj.__dict__.update(defaults)
        obj.__dict__.update(values)
        return obj

    return make


_facts = _fast_factory(CallFacts)


@dataclass(frozen=True)
class Snapshot:
    """Whole-table reads for one large batch (None = probe per chunk instead)."""

    dnc_hashes: frozenset[str] | None = None
    attempts: dict[str, tuple[datetime, ...]] | None = None


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

    @staticmethod
    def since(now: datetime) -> str:
        return m.Attempt.at.db_value(now - HISTORY_WINDOW)

    # -- whole-table reads for big batches ---------------------------------------------------------
    def snapshot(self, now: datetime, batch_size: int) -> Snapshot:
        """Read the DNC list and/or recent attempts whole when that is cheaper than probing each."""
        since = self.since(now)
        dnc = attempts = None
        (dnc_rows,) = self.db.execute_sql(f"SELECT count(*) FROM {self._t_dnc}").fetchone()
        if dnc_rows <= batch_size:
            dnc = frozenset(h for (h,) in self.db.execute_sql(f"SELECT phone_hash FROM {self._t_dnc}"))
        (attempt_rows,) = self.db.execute_sql(
            f"SELECT count(*) FROM {self._t_attempt} WHERE at >= ?", [since]
        ).fetchone()
        if attempt_rows <= batch_size:
            grouped: dict[str, list[datetime]] = {}
            for phone, at in self.db.execute_sql(
                f"SELECT phone, at FROM {self._t_attempt} WHERE at >= ? ORDER BY at", [since]
            ):
                grouped.setdefault(phone, []).append(_instant(at))
            attempts = {phone: tuple(ats) for phone, ats in grouped.items()}
        return Snapshot(dnc, attempts)

    # -- per chunk ---------------------------------------------------------------------------------
    def _query(self, phones: Sequence[str], since: str, snap: Snapshot) -> dict[str, list]:
        """Per phone: [contact id, birth year, guardian, on DNC, attempts text, consent facts]."""
        if not phones:
            return {}
        probe_dnc, probe_attempts = snap.dnc_hashes is None, snap.attempts is None
        values = ",".join(["(?,?)"] * len(phones))
        params: list = []
        for phone in phones:
            params += (phone, dnc_hash(phone) if probe_dnc else "")
        dnc_col = f"EXISTS (SELECT 1 FROM {self._t_dnc} d WHERE d.phone_hash = q.h)" if probe_dnc else "0"
        attempts_col = (
            f"(SELECT group_concat(a.at, ' ') FROM {self._t_attempt} a WHERE a.phone = q.phone AND a.at >= ?)"
            if probe_attempts else "NULL"
        )
        sql = (
            f"WITH q(phone, h) AS (VALUES {values}) "
            f"SELECT q.phone, c.id, c.birth_year, c.guardian_consent, {dnc_col}, {attempts_col}, "
            "s.purpose, s.given_at, s.expires_at, s.withdrawn_at, s.method "
            f"FROM q LEFT JOIN {self._t_contact} c ON c.phone = q.phone "
            f"LEFT JOIN {self._t_consent} s ON s.contact_id = c.id"
        )
        if probe_attempts:
            params.append(since)
        rows: dict[str, list] = {}
        for phone, cid, birth, guardian, dnc, att, purpose, given, expires, withdrawn, method in self.db.execute_sql(
            sql, params
        ):
            row = rows.get(phone)
            if row is None:
                row = rows[phone] = [cid, birth, guardian, dnc, att, []]
            if purpose is not None:
                row[5].append(ConsentFact(purpose, _instant(given), _instant(expires), _instant(withdrawn), method))
        return rows

    def _rows(self, raws: Sequence[str], since: str, snap: Snapshot) -> tuple[list[str | None], dict[str, list]]:
        """Map each raw input to E.164 (None when invalid) and load its row.

        Inputs that are already stored contacts skip phonenumbers (they were validated when
        written); everything else is parsed and validated, and queried again if parsing changed it.
        """
        rows = self._query(sorted({r for r in raws if r.startswith("+")}), since, snap)
        resolved: list[str | None] = []
        again: set[str] = set()
        for raw in raws:
            row = rows.get(raw)
            if row is not None and row[0] is not None:
                resolved.append(raw)
                continue
            try:
                e164 = numbers.normalise(raw, self.region)
            except numbers.InvalidNumber:
                resolved.append(None)
                continue
            resolved.append(e164)
            if e164 not in rows:
                again.add(e164)
        if again:
            rows.update(self._query(sorted(again), since, snap))
        return resolved, rows

    def load(
        self,
        raws: Sequence[str],
        purpose: str,
        now: datetime,
        line_kind: str = "sip",
        campaign_paused: bool = False,
        script_approved: bool = True,
        snap: Snapshot | None = None,
    ) -> list[CallFacts]:
        """CallFacts for each of ``raws`` (at most :data:`CHUNK`), in order."""
        snap = snap or Snapshot()
        resolved, rows = self._rows(raws, self.since(now), snap)
        dnc_hashes, attempts_of = snap.dnc_hashes, snap.attempts
        meta, fallback = numbers.meta, self.fallback_zone
        out = []
        for number in resolved:
            if number is None:
                out.append(_facts(number=None, purpose=purpose, now=now, line_kind=line_kind))
                continue
            region, zones = meta(number, fallback)
            contact_id, birth_year, guardian, on_dnc, attempt_text, consents = rows[number]
            if dnc_hashes is not None:
                on_dnc = dnc_hash(number) in dnc_hashes
            if attempts_of is not None:
                attempts = attempts_of.get(number, ())
            else:
                attempts = tuple(sorted(_instant(a) for a in attempt_text.split(" "))) if attempt_text else ()
            out.append(
                _facts(
                    number=number,
                    purpose=purpose,
                    now=now,
                    line_kind=line_kind,
                    callee_zones=zones,
                    region=region,
                    in_contacts=contact_id is not None,
                    consents=tuple(consents),
                    on_dnc=bool(on_dnc),
                    attempts=attempts,
                    birth_year=birth_year,
                    guardian_consent=bool(guardian),
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
