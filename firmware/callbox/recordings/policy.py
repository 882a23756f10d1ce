"""What the sweeper must respect on this box: the rule pack's retention periods and the legal holds.

One place for both the daily timer (``callbox sweep``) and the admin's ``callbox recordings sweep``,
so the periods never come from a number typed on a command line by mistake.
"""

from __future__ import annotations

from pathlib import Path

from callbox.clock import Clock
from callbox.recordings.retention import RetentionRule
from callbox.store import audit
from callbox.store.db import Store


class HoldError(ValueError):
    """A hold request that cannot be done; the message says why."""


def pack_rules(data_dir: Path, store: Store) -> dict[str, RetentionRule]:
    """Retention rules from the box's rule pack; the organisation's industry is the default."""
    from callbox.compliance.rulepack import load_pack

    org = store.organisation()
    if org is None:
        raise HoldError(f"{data_dir} is not set up yet (no organisation)")
    months = load_pack(org.rules, data_dir).retention_months
    rules = {name: RetentionRule(int(m)) for name, m in months.items()}
    rules["default"] = rules.get(org.industry) or rules.get("general") or RetentionRule(max(months.values()))
    return rules


def active_holds(store: Store) -> set[str]:
    from callbox.store.models_recordings import LegalHold

    return {h.recording for h in LegalHold.select().where(LegalHold.released_at.is_null())}


def place_hold(store: Store, recording: str, reason: str, by: str) -> None:
    """Put a recording under legal hold (audited). ``recording`` is a file name or a call id."""
    from callbox.store.models_recordings import LegalHold

    if len(reason.strip()) < 5:
        raise HoldError("give the reason for the hold (e.g. the court or complaint reference)")
    if recording in active_holds(store):
        raise HoldError(f"{recording} is already under legal hold")
    with store.atomic():
        LegalHold.create(recording=recording, reason=reason.strip(), placed_by=by, placed_at=store.clock.now())
        audit.append(store, by, "recording.hold", recording, {"reason": reason.strip()})


def release_hold(store: Store, recording: str, reason: str, by: str) -> None:
    from callbox.store.models_recordings import LegalHold

    with store.atomic():
        updated = (
            LegalHold.update(released_by=by, released_at=store.clock.now())
            .where((LegalHold.recording == recording) & LegalHold.released_at.is_null())
            .execute()
        )
        if not updated:
            raise HoldError(f"{recording} is not under legal hold")
        audit.append(store, by, "recording.hold_released", recording, {"reason": reason})


def open_for(data_dir: Path, clock: Clock | None = None) -> Store:
    from callbox.store.db import open_store

    return open_store(data_dir, clock)
