"""Field tests: cheap argon2 (production cost is measured by scripts/bench_field.py, not here)."""

from __future__ import annotations

import pytest

from callbox import backup
from callbox.recordings import keystore
from callbox.recordings.keystore import KdfParams

FAST_KDF = KdfParams(time_cost=1, memory_cost_kib=8, parallelism=1)


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> KdfParams:
    monkeypatch.setattr(keystore, "DEFAULT_KDF", FAST_KDF)
    monkeypatch.setattr(backup, "DEFAULT_KDF", FAST_KDF)
    return FAST_KDF
