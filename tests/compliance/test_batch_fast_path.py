"""The batch fast path (``BatchRules`` + ``FactLoader.decide``) against the reference path.

The reference is ``rules.evaluate`` on facts from ``Gate.facts`` (one number, probing SQL). The fast
path shares Verdicts between numbers whose facts differ only where the rules do not look, looks
contacts up in two sorted steps, and answers the do-not-call list from a snapshot of numbers plus
orphan hashes; each of those is compared here with the reference on random or adversarial data.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callbox.compliance import facts as facts_mod
from callbox.compliance.facts import CHUNK, Snapshot
from callbox.compliance.rulepack import load_pack
from callbox.compliance.rules import BatchRules, CallFacts, ConsentFact, _consent_reason, evaluate
from callbox.store import models as m
from callbox.store import queries
from callbox.store.queries import dnc_hash
from compliance_support import CONSENT_AT, T0

UTC = timezone.utc
PACKS = {pid: load_pack(pid) for pid in ("cn", "us", "eu")}
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "America/Los_Angeles", "Europe/Paris")
PURPOSES = ("reminder", "follow_up", "service", "marketing", "survey")  # survey: unknown to every pack
METHODS = ("paper_form", "web_form", "verbal_recorded", "in_person")

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
# Offsets from "now" drawn from a small set, so that different calls often share a consent outcome
# (the case where the fast path reuses a Verdict) and boundaries (exactly now) come up.
offsets = st.sampled_from([-400, -40, -1, 0, 0, 1, 40]).map(lambda d: timedelta(days=d)) | st.integers(
    -500 * 86400, 500 * 86400
).map(lambda s: timedelta(seconds=s))


@st.composite
def consent_facts(draw, now, purpose="reminder"):
    return ConsentFact(
        draw(st.sampled_from([purpose, purpose, *PURPOSES[:4]])),
        now + draw(offsets),
        draw(st.none() | offsets.map(lambda d: now + d)),
        draw(st.none() | offsets.map(lambda d: now + d)),
        draw(st.sampled_from(METHODS)),
    )


@st.composite
def call(draw, now, index, purpose):
    valid = draw(st.integers(0, 9)) > 0
    return dict(
        number=f"+86138000{index:05d}" if valid else None,
        region=draw(st.sampled_from(["CN", "US", "DE", "FR", "XX"])),
        zones=tuple(draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True))),
        in_contacts=draw(st.booleans()),
        consents=tuple(draw(st.lists(consent_facts(now, purpose), max_size=3))),
        on_dnc=draw(st.integers(0, 5)) == 0,
        attempts=tuple(sorted(now - timedelta(minutes=draw(st.integers(0, 40 * 1440)))
                              for _ in range(draw(st.integers(0, 3)) if draw(st.booleans()) else 0))),
        # around every pack's minor age (cn 14, us 13, eu 16), where "possibly a minor" flips
        birth_year=draw(st.none() | st.integers(now.year - 30, now.year)
                        | st.sampled_from([now.year - age + d for age in (13, 14, 16) for d in (-1, 0, 1)])),
        guardian_consent=draw(st.booleans()),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_batch_rules_verdict_equals_evaluate(data):
    """Random facts, many per BatchRules (so cached Verdicts are reused): same verdict as evaluate."""
    pid = data.draw(st.sampled_from(sorted(PACKS)))
    pack = PACKS[pid]
    now = data.draw(instants)
    purpose = data.draw(st.sampled_from(PURPOSES))
    line = data.draw(st.sampled_from(["sip", "gsm"]))
    paused, approved = data.draw(st.booleans()), data.draw(st.booleans())
    rules = BatchRules(pack, purpose, now, line, paused, approved)
    calls = data.draw(st.lists(st.integers(0, 99999).flatmap(lambda i: call(now, i, purpose)), min_size=1, max_size=12))
    for c in calls + calls[::-1]:  # second pass: every verdict now comes from the cache
        fast = rules.verdict(c["number"], c["region"], c["zones"], c["in_contacts"], c["consents"], c["on_dnc"],
                             c["attempts"], c["birth_year"], c["guardian_consent"])
        if c["number"] is None:
            reference = evaluate(CallFacts(None, purpose, now, line), pack)
        else:
            reference = evaluate(CallFacts(
                c["number"], purpose, now, line, c["zones"], c["region"], c["in_contacts"], c["consents"],
                c["on_dnc"], c["attempts"], c["birth_year"], c["guardian_consent"], paused, approved,
            ), pack)
        assert fast == reference
        assert fast.as_json() == reference.as_json()


@settings(max_examples=300, deadline=None)
@given(pid=st.sampled_from(sorted(PACKS)), purpose=st.sampled_from(PURPOSES), now=instants, data=st.data())
def test_consent_outcome_equals_consent_reason(pid, purpose, now, data):
    pack = PACKS[pid]
    consents = tuple(data.draw(st.lists(consent_facts(now, purpose), max_size=4)))
    facts = CallFacts("+8613800000000", purpose, now, consents=consents, in_contacts=True)
    assert BatchRules(pack, purpose, now).consent_outcome(consents) == _consent_reason(facts, pack)


def test_snapshot_dnc_numbers_and_orphan_hashes():
    """on_dnc(n) is exactly dnc_hash(n) in the list, with and without orphan (purged) hashes."""
    listed = {f"+861380000{i:04d}" for i in range(0, 40, 3)}
    purged = {f"+861380000{i:04d}" for i in range(1, 40, 7)}
    for orphans in (frozenset(), frozenset(dnc_hash(p) for p in purged)):
        hashes = frozenset(dnc_hash(p) for p in listed) | orphans
        snap = Snapshot(hashes, {}, frozenset(listed), orphans)
        for i in range(60):
            n = f"+861380000{i:04d}"
            assert snap.on_dnc(n) == (dnc_hash(n) in hashes)


# -- against the store ------------------------------------------------------------------------------

def _populate(box, rng: random.Random, count: int = 60) -> list[str]:
    """Contacts in shuffled order with assorted consents; DNC rows with and without the number;
    an erased number (orphan hash) that was imported again; attempts."""
    base = 8613900000000
    phones = [f"+{base + 11 * i}" for i in range(count)]
    order = phones[:]
    rng.shuffle(order)  # contact ids not in phone order (the two-step lookup must not care)
    for phone in order:
        if rng.random() < 0.15:
            continue  # not a contact
        consents = []
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            consents.append((rng.choice(["reminder", "marketing", "service"]),
                             T0 + timedelta(days=rng.choice([-90, -1, 0, 2])),
                             rng.choice([None, None, T0 - timedelta(days=1), T0, T0 + timedelta(days=5)]),
                             rng.choice(METHODS)))
        contact = queries.add_contact(box.store, phone, "n", "zh", rng.choice([None, 1980, 2009, 2010, 2011, 2012, 2013, 2014, 2016]),
                                      rng.random() < 0.5)
        for purpose, given_at, expires_at, method in consents:
            consent = queries.add_consent(box.store, contact, purpose, given_at, method, "f", expires_at=expires_at)
            if rng.random() < 0.15:
                m.Consent.update(withdrawn_at=T0 - timedelta(hours=rng.choice([-3, 0, 3]))).where(
                    m.Consent.id == consent.id).execute()
    picked = rng.sample(phones, 10)
    for phone in picked[:6]:
        queries.add_dnc(box.store, phone, "staff")
    # Erased (orphan hash, no number), then imported again by mistake: must still be on the DNC list.
    erased = picked[6:9]
    queries.erase_numbers(box.store, erased, "test", "asked")
    for phone in erased:
        contact = queries.add_contact(box.store, phone, "n", "zh")
        queries.add_consent(box.store, contact, "reminder", CONSENT_AT, "paper_form", "f")
    # A row whose hash is of another number than its own (not expected, but the hash is what counts).
    m.DoNotCall.create(phone="+12125550199", phone_hash=dnc_hash(picked[9]), source="import", added_at=T0)
    for phone in rng.sample(phones, 12):
        for _ in range(rng.randint(1, 3)):
            m.Attempt.create(phone=phone, purpose="reminder", at=T0 - timedelta(hours=rng.randint(0, 900)))
    return phones


def _inputs(phones: list[str], rng: random.Random) -> list[str]:
    unknown = [f"+{int(p[1:]) + 1}" for p in phones[:5]]
    local = [p[3:] for p in phones[::4]]  # national format: parsed, then found
    odd = ["12345", "not a number", "", "+12127365000", "+86 139 0000 0011", "+8613900000011 "]
    raws = phones + unknown + local + odd
    return [rng.choice(raws) for _ in range(len(raws) * 3)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_check_many_equals_reference_on_a_messy_store(make_box, monkeypatch, seed):
    rng = random.Random(seed)
    box = make_box(["cn", "us", "eu"][seed % 3])
    phones = _populate(box, rng)
    raws = _inputs(phones, rng)
    monkeypatch.setattr(facts_mod, "WINDOW", 37)  # many windows, duplicates across and within them
    for purpose in ("reminder", "marketing", "service", "survey"):
        for at in (T0, T0 + timedelta(hours=11), T0 + timedelta(days=5, hours=3)):
            for line in ("sip", "gsm"):
                reference = [evaluate(box.gate.facts(r, purpose, at, line), box.pack) for r in raws]
                assert box.gate.check_many(raws, purpose, at, line) == reference  # probing (small batch)
                big = raws * (CHUNK // len(raws) + 1)  # snapshot path
                assert box.gate.check_many(big, purpose, at, line) == reference * (CHUNK // len(raws) + 1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), purpose=st.sampled_from(["reminder", "marketing"]),
       hours=st.integers(-12, 24 * 8), dnc_whole=st.booleans(), attempts_whole=st.booleans())
def test_decide_with_every_snapshot_shape(tmp_path_factory, seed, purpose, hours, dnc_whole, attempts_whole):
    """DNC list and attempts each read whole or probed per chunk: the same verdicts either way."""
    from compliance_support import Box

    box = Box(tmp_path_factory.mktemp("shape") / "box", "cn")
    try:
        rng = random.Random(seed)
        phones = _populate(box, rng, 30)
        raws = _inputs(phones, rng)
        at = T0 + timedelta(hours=hours)
        loader = box.gate._loader
        with box.store.db.atomic():
            full = loader.snapshot(at, 10**9)
        snap = dataclasses.replace(
            full,
            dnc_hashes=full.dnc_hashes if dnc_whole else None,
            attempts=full.attempts if attempts_whole else None,
            dnc_phones=full.dnc_phones if dnc_whole else frozenset(),
            dnc_orphans=full.dnc_orphans if dnc_whole else frozenset(),
        )
        fast = loader.decide(raws, BatchRules(box.pack, purpose, at), snap)
        reference = [evaluate(box.gate.facts(r, purpose, at), box.pack) for r in raws]
        assert fast == reference
    finally:
        box.store.close()
