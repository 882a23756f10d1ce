"""Constants shared by the recording tests (a uniquely named module: ``from conftest import`` would
pick up whichever conftest.py another test folder loaded first)."""

from __future__ import annotations

from pathlib import Path

from callbox.recordings.keystore import KdfParams

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
PASSPHRASE = "correct horse battery staple"
# argon2id at its cheapest: the production cost is measured by scripts/bench_recordings.py, not here.
FAST_KDF = KdfParams(time_cost=1, memory_cost_kib=8, parallelism=1)
