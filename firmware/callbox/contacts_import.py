"""Importing consented contacts from CSV: all rows or none.

Every row is validated first (number, purposes, consent time and method, minors); any bad row rejects
the whole file, and every bad row is reported with its line number and the reason. Only a clean file
is written, in one transaction.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from callbox.clock import parse_instant
from callbox.compliance import numbers
from callbox.compliance.rulepack import PURPOSES
from callbox.store import audit, queries
from callbox.store import models as m
from callbox.store.db import Store

REQUIRED = ("phone", "name", "purposes", "consent_at", "consent_method", "consent_evidence")
OPTIONAL = ("guardian_consent", "birth_year", "language")
METHODS = ("paper_form", "web_form", "verbal_recorded", "in_person")


@dataclass
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ParsedRow:
    line: int
    phone: str
    name: str
    purposes: list[str]
    consent_at: datetime
    method: str
    evidence: str
    guardian_consent: bool = False
    birth_year: int | None = None
    language: str = ""


@dataclass
class ImportResult:
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_csv(text: str, region: str, default_language: str, now: datetime) -> ImportResult:
    result = ImportResult()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        result.errors.append(RowError(1, f"header is missing {', '.join(missing)}; expected {','.join(REQUIRED)}"))
        return result
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    if unknown:
        result.errors.append(RowError(1, f"unknown column(s) {', '.join(unknown)}"))
        return result
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        problems = []
        phone = ""
        try:
            phone = numbers.normalise(row["phone"], region)
        except numbers.InvalidNumber as exc:
            problems.append(str(exc))
        if phone and phone in seen:
            problems.append(f"{phone} already on line {seen[phone]}")
        purposes = [p.strip() for p in row["purposes"].split(";") if p.strip()]
        bad = [p for p in purposes if p not in PURPOSES]
        if not purposes:
            problems.append("purposes is empty")
        if bad:
            problems.append(f"unknown purpose {', '.join(bad)} (use {'; '.join(PURPOSES)})")
        consent_at = None
        try:
            consent_at = parse_instant(row["consent_at"])
            if consent_at > now:
                problems.append("consent_at is in the future")
        except ValueError:
            problems.append(f"consent_at {row['consent_at']!r} is not ISO 8601 with a zone (2026-03-01T09:30:00+08:00)")
        if row["consent_method"] not in METHODS:
            problems.append(f"consent_method {row['consent_method']!r} must be one of {', '.join(METHODS)}")
        if not row["consent_evidence"]:
            problems.append("consent_evidence is empty: give the form number or file hash")
        guardian = row.get("guardian_consent", "").lower() in ("1", "yes", "true", "y")
        if row.get("guardian_consent", "").lower() not in ("", "0", "1", "yes", "no", "true", "false", "y", "n"):
            problems.append("guardian_consent must be yes or no")
        birth_year = None
        if row.get("birth_year"):
            try:
                birth_year = int(row["birth_year"])
                if not 1900 <= birth_year <= now.year:
                    problems.append(f"birth_year {birth_year} is out of range")
            except ValueError:
                problems.append(f"birth_year {row['birth_year']!r} is not a year")
        language = row.get("language") or default_language
        if language not in ("zh", "en"):
            problems.append("language must be zh or en")
        if problems:
            result.errors.append(RowError(line, "; ".join(problems)))
            continue
        seen[phone] = line
        assert consent_at is not None
        result.rows.append(
            ParsedRow(line, phone, row["name"], purposes, consent_at, row["consent_method"], row["consent_evidence"],
                      guardian, birth_year, language)
        )
    if not result.rows and not result.errors:
        result.errors.append(RowError(1, "the file has no contacts"))
    return result


def import_contacts(store: Store, path: Path, actor: str = "staff") -> ImportResult:
    """Validate ``path`` and write it whole, or write nothing and return the errors."""
    org = store.organisation()
    assert org is not None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ImportResult(errors=[RowError(1, "file is not UTF-8 text; save the CSV as UTF-8")])
    from callbox.compliance.rulepack import load_pack

    pack = load_pack(org.rules)
    result = parse_csv(text, org.region, pack.default_language, store.clock.now())
    if not result.ok:
        return result
    with store.atomic():
        for row in result.rows:
            contact = queries.get_contact(row.phone)
            if contact is None:
                contact = queries.add_contact(store, row.phone, row.name, row.language, row.birth_year, row.guardian_consent)
            else:
                contact.name, contact.language = row.name or contact.name, row.language
                contact.birth_year, contact.guardian_consent = row.birth_year, row.guardian_consent
                contact.save()
            for purpose in row.purposes:
                m.Consent.create(contact=contact, purpose=purpose, given_at=row.consent_at, method=row.method,
                                 evidence=row.evidence, collected_by=actor)
        audit.append(store, actor, "contacts.import", path.name, {"rows": len(result.rows)})
    return result
