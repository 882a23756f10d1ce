"""Loading :class:`~callbox.compliance.rules.CallFacts` from the store, many numbers per query.

Why a separate loader with plain SQL: deciding one call needs a contact, its consents, the
do-not-call list and recent attempts. Through the ORM, one number at a time, that is four queries
and a few hundred Python calls per decision, which caps the gate near 10,000 decisions per second.

Here a chunk of up to :data:`CHUNK` numbers costs one statement: a ``VALUES`` list joined to the
contact and consent tables (one row per consent, no string building in SQL). Do-not-call entries
and recent attempts are either probed in the same statement (small batches) or, for a large batch,
read once in full into a :class:`Snapshot` (one set, one dict) when that is fewer rows than the
batch has numbers. Number parsing is skipped for numbers that are already stored contacts (they
were validated and normalised when written). Every read happens inside the caller's transaction,
so one batch sees one consistent state of the store.

Big batches (:meth:`FactLoader.decide`) go one step further: the distinct numbers of up to
:data:`WINDOW` inputs are looked up in sorted order, so consecutive index probes land on the same
or neighbouring B-tree pages (random order costs ~11 µs per number on a 1,000,000-contact store,
sorted ~3 µs), and each row is decided at once by :class:`~callbox.compliance.rules.BatchRules`
without building CallFacts for the common case.

The single-number path (``Gate.facts``) uses the same queries with a chunk of one, so the fast and
the plain path cannot drift apart; property tests check they agree.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator, Sequence

from callbox.compliance import numbers
from callbox.compliance.rules import BatchRules, CallFacts, ConsentFact, Verdict
from callbox.store import models as m
from callbox.store.queries import dnc_hash

HISTORY_WINDOW = timedelta(days=31)
CHUNK = 900  # two bound parameters per number; SQLite >= 3.32 (Raspberry Pi OS has 3.40) allows 32766
WINDOW = 100_000  # inputs whose distinct numbers are sorted together (bounds the memory of one step)
_UTC = timezone.utc
_fromiso = datetime.fromisoformat
_new_tuple = tuple.__new__


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
    """Whole-table reads for one large batch (None = probe per chunk instead).

    The do-not-call list is keyed by hash (a purge keeps only the hash). ``dnc_phones`` holds the
    numbers of rows whose hash is the hash of their own ``phone``, ``dnc_orphans`` every other hash;
    so ``dnc_hash(n) in dnc_hashes`` exactly when ``n in dnc_phones`` or ``dnc_hash(n) in
    dnc_orphans`` (SHA-256 has no known collisions, which the hash-only DNC list relies on anyway),
    and the hash is computed only when orphans exist.
    """

    dnc_hashes: frozenset[str] | None = None
    attempts: dict[str, tuple[datetime, ...]] | None = None
    dnc_phones: frozenset[str] = frozenset()
    dnc_orphans: frozenset[str] = frozenset()

    @property
    def complete(self) -> bool:
        return self.dnc_hashes is not None and self.attempts is not None

    def on_dnc(self, number: str) -> bool:
        if number in self.dnc_phones:
            return True
        return bool(self.dnc_orphans) and dnc_hash(number) in self.dnc_orphans


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
        hashes: set[str] = set()
        phones: set[str] = set()
        orphans: set[str] = set()
        (dnc_rows,) = self.db.execute_sql(f"SELECT count(*) FROM {self._t_dnc}").fetchone()
        if dnc_rows <= batch_size:
            for phone, h in self.db.execute_sql(f"SELECT phone, phone_hash FROM {self._t_dnc}"):
                hashes.add(h)
                if phone is not None and dnc_hash(phone) == h:
                    phones.add(phone)
                else:
                    orphans.add(h)
            dnc = frozenset(hashes)
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
        return Snapshot(dnc, attempts, frozenset(phones), frozenset(orphans))

    # -- per chunk ---------------------------------------------------------------------------------
    _CONSENT_COLS = "s.purpose, s.given_at, s.expires_at, s.withdrawn_at, s.method"

    def _query(self, phones: Sequence[str], since: str, snap: Snapshot) -> dict[str, list]:
        """Per phone: [contact id, birth year, guardian, on DNC, attempts, consent facts].

        On DNC is None and attempts None when ``snap`` holds them instead. With a complete snapshot
        only stored contacts are returned (:meth:`_contact_chunks`); otherwise every phone of
        ``phones``, from one ``VALUES`` statement that probes the DNC list and attempts too.
        """
        if not phones:
            return {}
        if snap.complete:
            rows: dict[str, list] = {}
            for part in self._contact_chunks(phones):
                rows.update(part)
            return rows
        probe_dnc, probe_attempts = snap.dnc_hashes is None, snap.attempts is None
        values = ",".join(["(?,?)"] * len(phones))
        params: list = []
        for phone in phones:
            params += (phone, dnc_hash(phone) if probe_dnc else "")
        dnc_col = f"EXISTS (SELECT 1 FROM {self._t_dnc} d WHERE d.phone_hash = q.h)" if probe_dnc else "NULL"
        attempts_col = (
            f"(SELECT group_concat(a.at, ' ') FROM {self._t_attempt} a WHERE a.phone = q.phone AND a.at >= ?)"
            if probe_attempts else "NULL"
        )
        sql = (
            f"WITH q(phone, h) AS (VALUES {values}) "
            f"SELECT q.phone, c.id, c.birth_year, c.guardian_consent, {dnc_col}, {attempts_col}, {self._CONSENT_COLS} "
            f"FROM q LEFT JOIN {self._t_contact} c ON c.phone = q.phone "
            f"LEFT JOIN {self._t_consent} s ON s.contact_id = c.id"
        )
        if probe_attempts:
            params.append(since)
        return self._collect(self.db.execute_sql(sql, params), probe_attempts)

    def _contact_chunks(self, phones: Sequence[str]) -> Iterator[dict[str, list]]:
        """Rows (as :meth:`_query`, DNC and attempts None) of the stored contacts among ``phones``.

        Two steps, both in storage order: phone -> contact id from the phone index alone (covering,
        probed in sorted phone order), then contacts and consents by sorted contact id. Contacts are
        rarely stored in phone-number order, and a join driven by phones would visit the contact and
        consent tables at random (measured ~9 µs per number with 1,000,000 contacts, ~5 µs this way).
        Yields up to :data:`CHUNK` contacts at a time.
        """
        ids: dict[int, str] = {}
        for batch in chunks(phones):
            ids.update(self.db.execute_sql(
                f"SELECT id, phone FROM {self._t_contact} WHERE phone IN ({','.join(['?'] * len(batch))})", batch
            ))
        for batch in chunks(sorted(ids)):
            sql = (
                f"SELECT c.phone, c.id, c.birth_year, c.guardian_consent, NULL, NULL, {self._CONSENT_COLS} "
                f"FROM {self._t_contact} c LEFT JOIN {self._t_consent} s ON s.contact_id = c.id "
                f"WHERE c.id IN ({','.join(['?'] * len(batch))})"
            )
            yield self._collect(self.db.execute_sql(sql, batch), False)

    @staticmethod
    def _collect(cursor, probe_attempts: bool) -> dict[str, list]:
        """Rows of :meth:`_query` from result rows (one per consent)."""
        rows: dict[str, list] = {}
        fromiso, utc, new_tuple = _fromiso, _UTC, _new_tuple
        for phone, cid, birth, guardian, dnc, att, purpose, given, expires, withdrawn, method in cursor:
            row = rows.get(phone)
            if row is None:
                if probe_attempts:
                    att = tuple(sorted(_instant(a) for a in att.split(" "))) if att else ()
                row = rows[phone] = [cid, birth, bool(guardian), None if dnc is None else bool(dnc), att, ()]
            if purpose is not None:
                # _instant, inlined: the one per-row conversion of this loop
                given = fromiso(given)
                if given.tzinfo is not utc:
                    given = given.astimezone(utc)
                if expires is not None:
                    expires = fromiso(expires)
                    if expires.tzinfo is not utc:
                        expires = expires.astimezone(utc)
                if withdrawn is not None:
                    withdrawn = fromiso(withdrawn)
                    if withdrawn.tzinfo is not utc:
                        withdrawn = withdrawn.astimezone(utc)
                row[5] += (new_tuple(ConsentFact, (purpose, given, expires, withdrawn, method)),)
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
        """CallFacts for each of ``raws`` (at most :data:`CHUNK`), in order (the reference path)."""
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
            contact_id, birth_year, guardian, on_dnc, attempts, consents = rows.get(number) or _NO_ROW
            if dnc_hashes is not None:
                on_dnc = dnc_hash(number) in dnc_hashes
            if attempts_of is not None:
                attempts = attempts_of.get(number, ())
            out.append(
                _facts(
                    number=number,
                    purpose=purpose,
                    now=now,
                    line_kind=line_kind,
                    callee_zones=zones,
                    region=region,
                    in_contacts=contact_id is not None,
                    consents=consents,
                    on_dnc=bool(on_dnc),
                    attempts=attempts,
                    birth_year=birth_year,
                    guardian_consent=guardian,
                    campaign_paused=campaign_paused,
                    script_approved=script_approved,
                )
            )
        return out

    # -- the batch fast path ----------------------------------------------------------------------
    def decide(self, raws: Sequence[str], rules: BatchRules, snap: Snapshot | None = None) -> list[Verdict]:
        """Verdicts for ``raws`` in order: the same as ``evaluate`` on :meth:`load`'s facts.

        Per :data:`WINDOW` inputs: the distinct inputs starting with ``+`` are looked up in sorted
        order, and those that are stored contacts decided; every other input is parsed and
        validated (exactly as :meth:`_rows` does), and the distinct numbers that yields looked up
        and decided the same way. Duplicate inputs share one decision.
        """
        snap = snap or Snapshot()
        since = self.since(rules.now)
        out: list[Verdict] = []
        for start in range(0, len(raws), WINDOW):
            window = raws[start : start + WINDOW]
            decided: dict[str, Verdict] = {}
            self._decide_numbers(sorted({r for r in window if r.startswith("+")}), rules, snap, since, decided, True)
            resolved: dict[str, str] = {}
            again: set[str] = set()
            for raw in set(window).difference(decided):
                try:
                    e164 = numbers.normalise(raw, self.region)
                except numbers.InvalidNumber:
                    decided[raw] = rules.invalid
                    continue
                resolved[raw] = e164
                if e164 not in decided:
                    again.add(e164)
            self._decide_numbers(sorted(again), rules, snap, since, decided, False)
            for raw, e164 in resolved.items():
                decided[raw] = decided[e164]
            out += [decided[raw] for raw in window]
        return out

    def _decide_numbers(
        self, phones: list[str], rules: BatchRules, snap: Snapshot, since: str, decided: dict[str, Verdict],
        contacts_only: bool,
    ) -> None:
        """Decide each of ``phones`` (E.164, sorted) into ``decided``; with ``contacts_only``, stored contacts only."""
        if snap.complete:
            for rows in self._contact_chunks(phones):
                self._decide_rows(rows, rows, rules, snap, decided)
            if not contacts_only:
                self._decide_rows([p for p in phones if p not in decided], {}, rules, snap, decided)
            return
        for batch in chunks(phones):
            rows = self._query(batch, since, snap)
            if contacts_only:
                self._decide_rows([p for p, row in rows.items() if row[0] is not None], rows, rules, snap, decided)
            else:
                self._decide_rows(batch, rows, rules, snap, decided)

    def _decide_rows(
        self, phones: Iterable[str], rows: dict[str, list], rules: BatchRules, snap: Snapshot,
        decided: dict[str, Verdict],
    ) -> None:
        """Decide each of ``phones`` (E.164) from its row in ``rows`` (none: not a stored contact)."""
        meta, fallback, verdict = numbers.meta, self.fallback_zone, rules.verdict
        attempts_of, on_dnc_snap, get = snap.attempts, snap.on_dnc, rows.get
        for phone in phones:
            cid, birth, guardian, on_dnc, attempts, consents = get(phone) or _NO_ROW
            if on_dnc is None:
                on_dnc = on_dnc_snap(phone)
            if attempts is None:
                attempts = attempts_of.get(phone, ())
            region, zones = meta(phone, fallback)
            decided[phone] = verdict(phone, region, zones, cid is not None, consents, on_dnc, attempts, birth, guardian)


_NO_ROW = (None, None, False, None, None, ())


def chunks(items: Iterable, size: int = CHUNK) -> Iterable[list]:
    """Consecutive lists of up to ``size`` items (slices when ``items`` is already a list)."""
    if isinstance(items, list):
        for start in range(0, len(items), size):
            yield items[start : start + size]
        return
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
