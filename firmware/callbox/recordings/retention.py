"""Which recordings have outlived their retention period, and the sweeper that shreds them.

Why this shape: the decision ("is this recording expired at ``now``?") is pure, so it is tested with
plain values and never reads the clock. Periods come from the rule pack as :class:`RetentionRule`
parameters (e.g. the ``cn`` pack: 6 months general, at least 60 months for finance); nothing here knows a
jurisdiction. :func:`sweep` is the thin I/O edge: it reads headers (no key needed), asks the pure
functions, and crypto-shreds expired files with :func:`callbox.recordings.stream.shred` (overwrite the
wrapped data key, fsync, unlink; best effort on flash, see that module).

A campaign may override the period *within the pack's limits*. The recorder writes the campaign's
choice into the recording's metadata (``retention_months``) and its ``industry``; the sweep clamps any
override to ``[min_months, max_months]`` so a bad value can neither keep audio longer than the law allows
nor delete it before a mandatory minimum. Legal holds are decided later than the recording, so they come
in as a set of call ids (or file names) in addition to a ``legal_hold`` flag in the metadata.

A call's transcript (``call-000012.cbt``, see :mod:`callbox.recordings.transcript`) is one unit with
its recording (``call-000012.cbr``): the sweep judges the recording and shreds, keeps or holds the
transcript with it, and a hold on either file name covers both. A transcript without a recording (the
callee did not agree to recording) is judged by its own metadata, which carries the same industry
and period fields.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from callbox.clock import as_utc, parse_instant
from callbox.recordings.names import hold_ids
from callbox.recordings.stream import RecordingError, read_header, shred

AuditFn = Callable[[str, str, dict], None]
DEFAULT_INDUSTRIES = ("default", "general")  # rule packs call the fallback period "general"


class RetentionError(ValueError):
    """A retention setting is invalid; the message names the allowed range."""


@dataclass(frozen=True)
class RetentionRule:
    """One industry's period from the rule pack. ``max_months`` defaults to ``months`` (no extension)."""

    months: int
    min_months: int = 0
    max_months: int | None = None

    def __post_init__(self) -> None:
        if self.months < 1 or self.min_months < 0 or self.ceiling < self.months or self.min_months > self.months:
            raise RetentionError(
                f"retention rule needs 0 <= min_months <= months <= max_months and months >= 1, got "
                f"min={self.min_months} months={self.months} max={self.ceiling}"
            )

    @property
    def ceiling(self) -> int:
        return self.months if self.max_months is None else self.max_months


def check_override(rule: RetentionRule, override: int | None) -> int:
    """Validate a campaign's override (for the campaign editor); returns the months that will apply."""
    if override is None:
        return rule.months
    if not rule.min_months <= override <= rule.ceiling or override < 1:
        raise RetentionError(
            f"campaign retention of {override} months is outside the rule pack's limits: choose "
            f"{max(1, rule.min_months)}..{rule.ceiling} months"
        )
    return override


def effective_months(rule: RetentionRule, override: int | None) -> int:
    """The months that apply to one recording: the override clamped into the pack's limits."""
    if override is None:
        return rule.months
    return min(max(override, rule.min_months, 1), rule.ceiling)


def add_months(at: datetime, months: int) -> datetime:
    """Calendar month arithmetic: Aug 31 + 6 months is Feb 28/29 (the day is clamped, never rolled over)."""
    total = at.month - 1 + months
    year, month = at.year + total // 12, total % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class RecordingFacts:
    """What retention needs to know about one recording."""

    name: str
    created_at: datetime
    months: int
    legal_hold: bool = False
    call_id: str | None = None

    @property
    def expires_at(self) -> datetime:
        return add_months(as_utc(self.created_at), self.months)


def is_expired(facts: RecordingFacts, now: datetime) -> bool:
    """True once ``now`` reaches the end of the period, unless the recording is under legal hold."""
    return not facts.legal_hold and as_utc(now) >= facts.expires_at


def select_expired(recordings: Iterable[RecordingFacts], now: datetime) -> list[RecordingFacts]:
    """The expired subset, oldest first."""
    return sorted((r for r in recordings if is_expired(r, now)), key=lambda r: r.expires_at)


def rule_for(rules: Mapping[str, RetentionRule] | RetentionRule, industry: str | None) -> RetentionRule | None:
    """Pick the industry's rule, falling back to ``"default"`` or ``"general"``; ``None`` if neither exists."""
    if isinstance(rules, RetentionRule):
        return rules
    if industry and industry in rules:
        return rules[industry]
    return next((rules[k] for k in DEFAULT_INDUSTRIES if k in rules), None)


def rules_from_months(months: Mapping[str, int]) -> dict[str, RetentionRule]:
    """Rules from a pack's ``retention.months`` table (e.g. ``{"general": 6, "finance": 60}``).

    The pack table has no floors or ceilings yet, so each period is both the default and the ceiling.
    """
    return {industry: RetentionRule(int(m)) for industry, m in months.items()}


def facts_from_metadata(
    name: str,
    metadata: Mapping[str, Any],
    rules: Mapping[str, RetentionRule] | RetentionRule,
    legal_holds: Collection[str] = (),
) -> RecordingFacts:
    """Build :class:`RecordingFacts` from a header's metadata; raises :class:`RetentionError` if it can't."""
    try:
        created = parse_instant(str(metadata["created_at"]))
    except (KeyError, ValueError) as exc:
        raise RetentionError(f"{name}: no usable created_at in its metadata ({exc})") from None
    industry = metadata.get("industry")
    rule = rule_for(rules, industry)
    if rule is None:
        raise RetentionError(
            f"{name}: no retention rule for industry {industry!r} and no 'general' rule: add one to the pack"
        )
    override = metadata.get("retention_months")
    months = effective_months(rule, int(override) if override is not None else None)
    call_id = metadata.get("call_id")
    hold = bool(metadata.get("legal_hold")) or any(i in legal_holds for i in hold_ids(name, call_id))
    return RecordingFacts(name, created, months, hold, None if call_id is None else str(call_id))


@dataclass
class SweepReport:
    """What a sweep did (or would do, in a dry run)."""

    shredded: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it could not be judged


def sweep(
    directory: Path,
    now: datetime,
    dry_run: bool,
    audit: AuditFn,
    *,
    rules: Mapping[str, RetentionRule] | RetentionRule,
    legal_holds: Collection[str] = (),
) -> SweepReport:
    """Shred every expired ``.cbr`` (with its ``.cbt`` transcript) in ``directory``; audit each shred.

    Lone transcripts are judged on their own. Files whose header cannot be read are skipped and
    audited, never deleted: a human decides (a recording's transcript is then skipped with it).
    """
    report = SweepReport()
    directory = Path(directory)
    recordings = sorted(directory.glob("*.cbr"))
    stems = {p.stem for p in recordings}
    lone = [p for p in sorted(directory.glob("*.cbt")) if p.stem not in stems]
    for path in recordings + lone:
        name = path.name
        sibling = path.with_suffix(".cbt") if path.suffix == ".cbr" else None
        unit = [path] + ([sibling] if sibling is not None and sibling.exists() else [])
        try:
            facts = facts_from_metadata(name, read_header(path).metadata, rules, legal_holds)
        except (RecordingError, RetentionError, OSError) as exc:
            for member in unit:
                report.skipped[member.name] = str(exc)
                audit("recording.sweep_skipped", member.name, {"reason": str(exc)})
            continue
        if facts.legal_hold:
            report.held.extend(p.name for p in unit)
            continue
        if not is_expired(facts, now):
            report.kept.extend(p.name for p in unit)
            continue
        details = {
            "call_id": facts.call_id,
            "created_at": facts.created_at.isoformat(),
            "expired_at": facts.expires_at.isoformat(),
            "months": facts.months,
            "dry_run": dry_run,
        }
        for member in unit:
            extra = {} if member is path else {"with": name}
            if dry_run:
                audit("recording.would_shred", member.name, {**details, **extra})
                report.shredded.append(member.name)
                continue
            try:
                shred(member)
            except (RecordingError, OSError) as exc:
                report.skipped[member.name] = f"shred failed: {exc}"
                audit("recording.shred_failed", member.name, {**details, **extra, "error": str(exc)})
                continue
            audit("recording.shredded", member.name, {**details, **extra})
            report.shredded.append(member.name)
    return report
