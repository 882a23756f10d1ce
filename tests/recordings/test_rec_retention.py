"""Retention: pure expiry decisions with an injected ``now``, and the shredding sweep."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from callbox.recordings import stream
from callbox.recordings.keystore import KeyStore
from callbox.recordings.retention import (
    RecordingFacts,
    RetentionError,
    RetentionRule,
    add_months,
    check_override,
    effective_months,
    facts_from_metadata,
    is_expired,
    rules_from_months,
    select_expired,
    sweep,
)

UTC = timezone.utc
CN = {"default": RetentionRule(6), "finance": RetentionRule(60, min_months=60, max_months=120)}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2026-01-15T10:00:00+00:00", 6, "2026-07-15T10:00:00+00:00"),
        ("2026-08-31T10:00:00+00:00", 6, "2027-02-28T10:00:00+00:00"),
        ("2027-08-31T10:00:00+00:00", 6, "2028-02-29T10:00:00+00:00"),
        ("2026-11-30T00:00:00+00:00", 3, "2027-02-28T00:00:00+00:00"),
        ("2026-12-01T00:00:00+00:00", 60, "2031-12-01T00:00:00+00:00"),
    ],
)
def test_add_months(start: str, months: int, end: str) -> None:
    assert add_months(at(start), months) == at(end)


def test_expiry_boundary() -> None:
    facts = RecordingFacts("a.cbr", at("2026-01-15T10:00:00+08:00"), 6)
    assert not is_expired(facts, at("2026-07-15T01:59:59+00:00"))
    assert is_expired(facts, at("2026-07-15T02:00:00+00:00"))  # 10:00 +08:00 is 02:00 UTC


def test_legal_hold_never_expires() -> None:
    facts = RecordingFacts("a.cbr", at("2020-01-01T00:00:00+00:00"), 6, legal_hold=True)
    assert not is_expired(facts, at("2030-01-01T00:00:00+00:00"))


def test_select_expired_oldest_first() -> None:
    now = at("2026-12-01T00:00:00+00:00")
    recs = [
        RecordingFacts("new", at("2026-11-01T00:00:00+00:00"), 6),
        RecordingFacts("old", at("2025-01-01T00:00:00+00:00"), 6),
        RecordingFacts("mid", at("2026-03-01T00:00:00+00:00"), 6),
        RecordingFacts("held", at("2025-01-01T00:00:00+00:00"), 6, legal_hold=True),
    ]
    assert [r.name for r in select_expired(recs, now)] == ["old", "mid"]


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        is_expired(RecordingFacts("a", at("2026-01-01T00:00:00+00:00"), 6), datetime(2026, 9, 1))


def test_override_within_limits() -> None:
    rule = CN["finance"]
    assert check_override(rule, None) == 60
    assert check_override(rule, 84) == 84
    with pytest.raises(RetentionError, match="60..120"):
        check_override(rule, 12)
    with pytest.raises(RetentionError, match="1..6"):
        check_override(CN["default"], 7)  # no extension beyond the pack's period by default
    assert effective_months(rule, 12) == 60  # the sweep clamps instead of failing
    assert effective_months(rule, 500) == 120
    assert effective_months(CN["default"], 3) == 3


def test_invalid_rule() -> None:
    with pytest.raises(RetentionError):
        RetentionRule(6, min_months=12)


def test_facts_from_metadata() -> None:
    meta = {"created_at": "2026-01-01T09:00:00+08:00", "industry": "finance", "retention_months": 6, "call_id": "c7"}
    facts = facts_from_metadata("x.cbr", meta, CN)
    assert facts.months == 60 and facts.call_id == "c7" and not facts.legal_hold
    assert facts_from_metadata("x.cbr", meta, CN, legal_holds={"c7"}).legal_hold
    assert facts_from_metadata("x.cbr", {**meta, "industry": "retail"}, CN).months == 6  # falls back to default
    with pytest.raises(RetentionError, match="created_at"):
        facts_from_metadata("x.cbr", {"industry": "finance"}, CN)
    with pytest.raises(RetentionError, match="no retention rule"):
        facts_from_metadata("x.cbr", {**meta, "industry": "retail"}, {"finance": CN["finance"]})


# ------------------------------------------------------------------------------------------ sweep
def _record(store: KeyStore, directory: Path, name: str, created: str, **meta) -> Path:
    pub = store.public_key()
    directory.mkdir(exist_ok=True)
    w = stream.RecordingWriter(
        directory / name, pub.key, pub.key_id, {"call_id": name[:-4], "created_at": created, **meta}, chunk_size=64
    )
    w.write(b"\x01" * 100)
    w.finish()
    return directory / name


class Audit:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def __call__(self, action: str, subject: str, details: dict) -> None:
        self.calls.append((action, subject, details))


@pytest.fixture
def recs(store: KeyStore, data_dir: Path) -> Path:
    d = data_dir / "recordings"
    _record(store, d, "old.cbr", "2025-01-01T00:00:00+00:00")
    _record(store, d, "recent.cbr", "2026-05-01T00:00:00+00:00")
    _record(store, d, "held.cbr", "2024-01-01T00:00:00+00:00")
    _record(store, d, "bank.cbr", "2023-01-01T00:00:00+00:00", industry="finance")
    _record(store, d, "short.cbr", "2026-05-01T00:00:00+00:00", retention_months=1)
    (d / "broken.cbr").write_bytes(b"junk that is not a recording")
    (d / "notes.txt").write_text("not touched")
    return d


NOW = at("2026-07-01T00:00:00+00:00")


def test_sweep_dry_run_changes_nothing(recs: Path) -> None:
    before = sorted(p.name for p in recs.iterdir())
    audit = Audit()
    report = sweep(recs, NOW, True, audit, rules=CN, legal_holds={"held"})
    assert sorted(report.shredded) == ["old.cbr", "short.cbr"]
    assert sorted(p.name for p in recs.iterdir()) == before
    assert {(a, s) for a, s, _ in audit.calls} >= {("recording.would_shred", "old.cbr"), ("recording.would_shred", "short.cbr")}


def test_sweep_shreds_expired(recs: Path, keys) -> None:
    audit = Audit()
    report = sweep(recs, NOW, False, audit, rules=CN, legal_holds={"held"})
    assert sorted(report.shredded) == ["old.cbr", "short.cbr"]
    assert sorted(report.kept) == ["bank.cbr", "recent.cbr"]
    assert report.held == ["held.cbr"]
    assert set(report.skipped) == {"broken.cbr"}
    remaining = sorted(p.name for p in recs.iterdir())
    assert remaining == ["bank.cbr", "broken.cbr", "held.cbr", "notes.txt", "recent.cbr"]
    shredded = [(s, d) for a, s, d in audit.calls if a == "recording.shredded"]
    assert sorted(s for s, _ in shredded) == ["old.cbr", "short.cbr"]
    old = dict(shredded)["old.cbr"]
    assert old["call_id"] == "old" and old["months"] == 6 and old["expired_at"].startswith("2025-07-01")
    assert ("recording.sweep_skipped", "broken.cbr") in {(a, s) for a, s, _ in audit.calls}
    assert stream.decrypt(recs / "recent.cbr", keys).complete  # survivors are intact


def test_sweep_later_takes_the_finance_recording(recs: Path) -> None:
    report = sweep(recs, NOW + timedelta(days=365 * 3), False, Audit(), rules=CN, legal_holds={"held"})
    assert "bank.cbr" in report.shredded and "held.cbr" in report.held


def test_pack_table_with_general_fallback() -> None:
    rules = rules_from_months({"general": 6, "finance": 60})
    meta = {"created_at": "2026-01-01T00:00:00+00:00", "industry": "dental", "retention_months": 24}
    assert facts_from_metadata("x.cbr", meta, rules).months == 6  # unknown industry -> general; no extension
    assert facts_from_metadata("x.cbr", {**meta, "industry": "finance"}, rules).months == 24
