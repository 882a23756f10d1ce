"""Writes that read first survive a concurrent writer (the panel, an inbound call, another line's call).

A deferred SQLite transaction that has read and then writes fails at once with "database is locked"
when another connection committed in between (WAL cannot upgrade a stale snapshot; the busy timeout
does not apply). That lost a spoken opt-out when two lines called at once. The store's transactions
now take the write lock at BEGIN, so the second writer waits its turn instead.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from callbox.clock import FixedClock
from callbox.store import models as m
from callbox.store import queries
from callbox.store.db import open_store

NUMBER, OTHER = "+8613900000777", "+8613900000778"


def test_an_opt_out_written_after_a_read_survives_a_write_from_another_connection(tmp_path):
    store = open_store(tmp_path, FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)))
    has_read, failures = threading.Event(), []

    def opt_out_with_a_pause() -> None:  # add_dnc's shape: look, then write, in one transaction
        try:
            with store.db.atomic():
                assert not queries.is_dnc(NUMBER)
                has_read.set()
                time.sleep(0.3)  # meanwhile the other connection writes
                m.DoNotCall.create(phone=NUMBER, phone_hash=queries.dnc_hash(NUMBER), source="spoken_opt_out",
                                   reason="test", added_at=store.clock.now())
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)

    def staff_writes() -> None:
        has_read.wait(5)
        try:
            queries.add_dnc(store, OTHER, "staff", "asked by phone")
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=opt_out_with_a_pause), threading.Thread(target=staff_writes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not failures, failures
    assert queries.is_dnc(NUMBER) and queries.is_dnc(OTHER)
    store.close()


def test_a_read_only_snapshot_can_still_be_asked_for(tmp_path):
    store = open_store(tmp_path)
    with store.db.atomic("DEFERRED"):
        assert not queries.is_dnc(NUMBER)
    store.close()


def test_two_lines_asking_for_one_number_at_once_pass_the_daily_cap_once(tmp_path):
    """The gate decides one call at a time: facts read by one request include the attempt the other
    just recorded (marketing: 1 attempt per day in the cn pack)."""
    from compliance_support import Box

    box = Box(tmp_path)
    box.contact(NUMBER, purposes=("marketing",))
    read_facts = box.gate.facts

    def slow_facts(*args, **kwargs):  # widen the window between reading the facts and the write
        facts = read_facts(*args, **kwargs)
        time.sleep(0.3)
        return facts

    box.gate.facts = slow_facts
    decisions: list[str] = []

    def ask() -> None:
        decisions.append(box.gate.request(NUMBER, "marketing", "sip").verdict.decision)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(decisions) == ["allowed", "deferred"]
    assert m.Attempt.select().where(m.Attempt.phone == NUMBER).count() == 1
