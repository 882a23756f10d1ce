"""Helpers for compliance tests (a box on a FixedClock). Named uniquely so folders' helpers do not clash."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from callbox.clock import FixedClock
from callbox.compliance.gate import Gate
from callbox.compliance.permit import PermitAuthority
from callbox.compliance.rulepack import load_pack
from callbox.provision import init_box
from callbox.store import queries

# Monday 2 March 2026, 10:00 in Shanghai.
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
CONSENT_AT = T0 - timedelta(days=60)


class Box:
    def __init__(self, data: Path, rules: str = "cn", timezone_name: str | None = None) -> None:
        self.data = data
        self.clock = FixedClock(T0)
        callback = {"cn": "+862161234567", "us": "+12125550100", "eu": "+4930123456"}[rules]
        self.store = init_box(data, self.clock, rules, "Test Clinic", callback, timezone_name)
        self.org = self.store.organisation()
        self.pack = load_pack(rules, data)
        self.gate = Gate(self.store, self.pack, self.org, self.clock, PermitAuthority(self.clock))

    def contact(self, phone: str, purposes=("reminder",), method: str = "paper_form", given_at=CONSENT_AT,
                birth_year=None, guardian=False, expires_at=None):
        contact = queries.add_contact(self.store, phone, "n", "zh", birth_year, guardian)
        for purpose in purposes:
            queries.add_consent(self.store, contact, purpose, given_at, method, "form-1", expires_at=expires_at)
        return contact




def parse_json(text: str):
    return __import__('json').loads(text.strip().splitlines()[-1])
