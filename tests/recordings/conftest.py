"""Shared fixtures for recording tests: a fast KDF, a key store, and helpers to build recordings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from callbox.recordings import keystore
from callbox.recordings.keystore import KdfParams, KeyStore, UnlockedKeys
from rec_support import FAST_KDF, FIRMWARE, PASSPHRASE  # noqa: F401  (re-exported for fixtures)


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
