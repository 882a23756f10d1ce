"""Reads and writes the rest of the firmware uses. Each write that matters is audited in the same
transaction, so the audit log and the data can never disagree."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from callbox.store import audit
from callbox.store import models as m
from callbox.store.db import Store
from callbox.store.models_compliance import ConsentWithdrawal

DNC_SOURCES = ("spoken_opt_out", "dtmf", "staff", "import", "sms", "erasure")
CONSENT_METHODS = ("paper_form", "web_form", "verbal_recorded", "in_person")


def dnc_hash(e164: str) -> str:
    """The minimal trace kept of a do-not-call number after its personal data is purged."""
    return hashlib.sha256(f"callbox-dnc:{e164}".encode()).hexdigest()


def is_dnc(e164: str) -> bool:
    return m.DoNotCall.select().where(m.DoNotCall.phone_hash == dnc_hash(e164)).exists()


def add_dnc(store: Store, e164: str, source: str, reason: str = "", actor: str = "system") -> bool:
    """Put a number on the do-not-call list for good. Returns False if it was already there.

    The write commits with synchronous=FULL before this returns: callers confirm an opt-out aloud only
    after this call. Unknown sources are stored as given (the call session names its own) but the
    documented ones are ``DNC_SOURCES``.
    """
    with store.db.atomic():
        if is_dnc(e164):
            return False
        m.DoNotCall.create(
            phone=e164, phone_hash=dnc_hash(e164), source=source, reason=reason, added_at=store.clock.now()
        )
        audit.append(store, actor, "dnc.add", e164, {"source": source, "reason": reason})
    return True


def dnc_entries() -> list[dict]:
    """The do-not-call list, oldest first; purged entries have ``phone`` None (hash only)."""
    return [
        {"phone": r.phone, "phone_hash": r.phone_hash, "source": r.source, "reason": r.reason,
         "added_at": r.added_at.isoformat()}
        for r in m.DoNotCall.select().order_by(m.DoNotCall.added_at, m.DoNotCall.id)
    ]


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


def withdraw_consent(
    store: Store, e164: str, actor: str = "system", purpose: str | None = None, source: str = "staff"
) -> int:
    """Mark the number's active consents (all, or one ``purpose``) withdrawn; returns how many.

    The withdrawal itself is recorded (who, how, when) so it can be proven later, even after a purge.
    """
    now = store.clock.now()
    with store.db.atomic():
        contact = get_contact(e164)
        if contact is None:
            return 0
        where = (m.Consent.contact == contact) & m.Consent.withdrawn_at.is_null()
        if purpose is not None:
            where &= m.Consent.purpose == purpose
        count = m.Consent.update(withdrawn_at=now).where(where).execute()
        if count:
            ConsentWithdrawal.create(
                phone=e164, phone_hash=dnc_hash(e164), purpose=purpose or "*", source=source, actor=actor, at=now
            )
            audit.append(store, actor, "consent.withdraw", e164, {"count": count, "purpose": purpose or "*",
                                                                  "source": source})
    return count


def attempts_since(e164: str, since: datetime) -> list[m.Attempt]:
    return list(m.Attempt.select().where((m.Attempt.phone == e164) & (m.Attempt.at >= since)).order_by(m.Attempt.at))


def erase_numbers(store: Store, phones: list[str], actor: str, why: str, keep_dnc_hash: bool = True) -> dict:
    """Delete the personal data of ``phones``; keep only what proves a refusal (hashes).

    Contacts and their consents are deleted; do-not-call entries and withdrawals keep their hash and
    lose the number; attempts and decisions are pseudonymised to the hash (caps and statistics stay
    correct, nobody can read the number back); the encrypted recordings and sealed transcripts of
    their calls are crypto-shredded (wrapped key overwritten, file unlinked, one audit entry each)
    unless a legal hold covers the call, in which case they stay and are counted as held; campaign membership
    (with its variables) is deleted. With ``keep_dnc_hash`` the numbers are also put on the
    do-not-call list as hashes, so an erased person is never called again by a re-import mistake.
    The audit log is append-only and is not rewritten (see docs/compliance.md).
    """
    counts = {"contacts": 0, "consents": 0, "members": 0, "attempts": 0, "decisions": 0, "dnc_hashed": 0,
              "transcripts_shredded": 0, "transcripts_held": 0, "recordings_shredded": 0, "recordings_held": 0}
    now = store.clock.now()
    with store.db.atomic():
        for phone in phones:
            digest = dnc_hash(phone)
            contact = get_contact(phone)
            if contact is not None:
                counts["consents"] += m.Consent.delete().where(m.Consent.contact == contact).execute()
                contact.delete_instance()
                counts["contacts"] += 1
            counts["members"] += m.CampaignMember.delete().where(m.CampaignMember.phone == phone).execute()
            pseudonym = f"sha256:{digest}"
            attempt_ids = [a.id for a in m.Attempt.select(m.Attempt.id).where(m.Attempt.phone == phone)]
            counts["attempts"] += m.Attempt.update(phone=pseudonym).where(m.Attempt.phone == phone).execute()
            if attempt_ids:
                for kind, (shredded, held) in _shred_call_files(store, attempt_ids, actor, why).items():
                    counts[f"{kind}s_shredded"] += shredded
                    counts[f"{kind}s_held"] += held
            counts["decisions"] += m.Decision.update(phone=pseudonym).where(m.Decision.phone == phone).execute()
            ConsentWithdrawal.update(phone=None).where(ConsentWithdrawal.phone == phone).execute()
            if keep_dnc_hash and not is_dnc(phone):
                m.DoNotCall.create(phone=None, phone_hash=digest, source="erasure", reason=why, added_at=now)
            counts["dnc_hashed"] += m.DoNotCall.update(phone=None).where(m.DoNotCall.phone == phone).execute()
        audit.append(store, actor, "personal_data.erase", f"{len(phones)} number(s)", {"why": why, **counts})
    return counts


def _shred_call_files(store: Store, attempt_ids: list[int], actor: str, why: str) -> dict[str, tuple[int, int]]:
    """Crypto-shred the recordings and sealed transcripts of these attempts' calls.

    Runs inside the caller's transaction. The file goes first: if the transaction then fails, the
    audio and words are gone anyway, which is the safe side of an erasure. A legal hold on the call
    (its id or either file name, as the retention sweep reads holds) keeps both files. Returns
    ``{"transcript": (shredded, held), "recording": (shredded, held)}``.
    """
    from callbox.recordings.names import hold_ids
    from callbox.recordings.policy import active_holds
    from callbox.recordings.stream import RecordingError, shred

    folder = Path(store.path).parent / "recordings"
    holds = active_holds(store)
    fields = {"transcript": m.Call.transcript_file, "recording": m.Call.recording_file}
    counts = {kind: [0, 0] for kind in fields}  # kind -> [shredded, held]
    calls = m.Call.select().where(
        m.Call.attempt.in_(attempt_ids) & (m.Call.transcript_file.is_null(False) | m.Call.recording_file.is_null(False))
    )
    for call in list(calls):
        files = {kind: getattr(call, f.name) for kind, f in fields.items() if getattr(call, f.name)}
        if any(hold_ids(name, call.id) & holds for name in files.values()):
            for kind in files:
                counts[kind][1] += 1
            continue
        for kind, name in files.items():
            path = folder / name
            try:
                if path.exists():
                    shred(path)
            except (RecordingError, OSError) as exc:  # kept in the record so a human can look; erasure goes on
                audit.append(store, actor, "recording.shred_failed", name, {"call_id": call.id, "error": str(exc)})
                continue
            m.Call.update({fields[kind]: None}).where(m.Call.id == call.id).execute()
            audit.append(store, actor, "recording.shredded", name,
                         {"call_id": call.id, "kind": kind, "reason": "personal_data.erase", "why": why})
            counts[kind][0] += 1
    return {kind: (shredded, held) for kind, (shredded, held) in counts.items()}
