"""Shared fixtures for recording tests: a fast KDF, a key store, and helpers to build recordings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
if str(FIRMWARE) not in sys.path:
    sys.path.insert(0, str(FIRMWARE))

from callbox.recordings import keystore  # noqa: E402
from callbox.recordings.keystore import KdfParams, KeyStore, UnlockedKeys  # noqa: E402

PASSPHRASE = "correct horse battery staple"
# argon2id at its cheapest: the production cost is measured by scripts/bench_recordings.py, not here.
FAST_KDF = KdfParams(time_cost=1, memory_cost_kib=8, parallelism=1)


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> KdfParams:
    monkeypatch.setattr(keystore, "DEFAULT_KDF", FAST_KDF)
    return FAST_KDF


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def store(data_dir: Path) -> KeyStore:
    s = KeyStore.for_data_dir(data_dir)
    s.init(PASSPHRASE)
    return s


@pytest.fixture
def keys(store: KeyStore) -> UnlockedKeys:
    return store.unlock(PASSPHRASE)
