"""Reads and writes the rest of the firmware uses. Each write that matters is audited in the same
transaction, so the audit log and the data can never disagree."""

from __future__ import annotations

import hashlib
from datetime import datetime

from callbox.store import audit
from callbox.store import models as m
from callbox.store.db import Store


def dnc_hash(e164: str) -> str:
    """The minimal trace kept of a do-not-call number after its personal data is purged."""
    return hashlib.sha256(f"callbox-dnc:{e164}".encode()).hexdigest()


def is_dnc(e164: str) -> bool:
    return m.DoNotCall.select().where(m.DoNotCall.phone_hash == dnc_hash(e164)).exists()


def add_dnc(store: Store, e164: str, source: str, reason: str = "", actor: str = "system") -> bool:
    """Put a number on the do-not-call list for good. Returns False if it was already there.

    The write commits with synchronous=FULL before this returns: callers confirm an opt-out aloud only
    after this call.
    """
    with store.db.atomic():
        if is_dnc(e164):
            return False
        m.DoNotCall.create(
            phone=e164, phone_hash=dnc_hash(e164), source=source, reason=reason, added_at=store.clock.now()
        )
        audit.append(store, actor, "dnc.add", e164, {"source": source, "reason": reason})
    return True


def get_contact(e164: str) -> m.Contact | None:
    return m.Contact.get_or_none(m.Contact.phone == e164)


def add_contact(
    store: Store,
    e164: str,
    name: str = "",
    language: str = "zh",
    birth_year: int | None = None,
    guardian_consent: bool = False,
) -> m.Contact:
    return m.Contact.create(
        phone=e164,
        name=name,
        language=language,
        birth_year=birth_year,
        guardian_consent=guardian_consent,
        created_at=store.clock.now(),
    )


def add_consent(
    store: Store,
    contact: m.Contact,
    purpose: str,
    given_at: datetime,
    method: str,
    evidence: str = "",
    collected_by: str = "",
    expires_at: datetime | None = None,
    actor: str = "system",
) -> m.Consent:
    with store.db.atomic():
        consent = m.Consent.create(
            contact=contact,
            purpose=purpose,
            given_at=given_at,
            method=method,
            evidence=evidence,
            collected_by=collected_by,
            expires_at=expires_at,
        )
        audit.append(store, actor, "consent.add", contact.phone, {"purpose": purpose, "method": method})
    return consent


def withdraw_consent(store: Store, e164: str, actor: str = "system") -> int:
    """Mark every active consent of the number withdrawn; returns how many."""
    now = store.clock.now()
    with store.db.atomic():
        contact = get_contact(e164)
        if contact is None:
            return 0
        count = (
            m.Consent.update(withdrawn_at=now)
            .where((m.Consent.contact == contact) & m.Consent.withdrawn_at.is_null())
            .execute()
        )
        audit.append(store, actor, "consent.withdraw", e164, {"count": count})
    return count


def attempts_since(e164: str, since: datetime) -> list[m.Attempt]:
    return list(m.Attempt.select().where((m.Attempt.phone == e164) & (m.Attempt.at >= since)).order_by(m.Attempt.at))
