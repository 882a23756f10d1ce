"""kill -9 a recorder at random moments: no plaintext anywhere, and salvage returns every full chunk."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callbox.recordings.keystore import KeyStore, UnlockedKeys
from callbox.recordings.recorder import interleave
from callbox.recordings.stream import DEFAULT_CHUNK_SIZE, RecordingError, RecordingTruncated, decrypt
from rec_support import FIRMWARE
from crash_child import BOX, CALLEE
from rec_helpers import walk_files

CHILD = Path(__file__).with_name("crash_child.py")
STEREO = interleave(CALLEE, BOX)
NEEDLES = [b"RIFF", CALLEE[:16], BOX[:16], STEREO[:32], STEREO[2:34]]
# 8 runs in CI; a soak before a release: CALLBOX_CRASH_RUNS=200 pytest tests/recordings/test_rec_crash.py
RUNS = int(os.environ.get("CALLBOX_CRASH_RUNS", "8"))


def _run_and_kill(store: KeyStore, path: Path, tmpdir: Path, delay: float, wait_ready: bool) -> int:
    pub = store.public_key()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(FIRMWARE), str(path), pub.raw.hex(), pub.key_id],
        stdout=subprocess.PIPE,
        env=env,
    )
    if wait_ready:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    reported = [int(line.split()[1]) for line in out.splitlines() if line.startswith(b"chunks ")]
    return reported[-1] if reported else 0


def test_kill_dash_nine_at_random_points(store: KeyStore, keys: UnlockedKeys, data_dir: Path, tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    salvaged_something = False
    for run in range(RUNS):
        path = data_dir / "recordings" / f"crash{run}.cbr"
        wait_ready = run % 4 != 0  # every fourth run may die during start-up, before or while creating the file
        delay = rng.uniform(0.0, 0.35)
        reported = _run_and_kill(store, path, tmpdir, delay, wait_ready)
        context = f"seed={seed} run={run} delay={delay:.3f} reported={reported}"

        for f in walk_files(data_dir, tmpdir):
            data = f.read_bytes()
            for needle in NEEDLES:
                assert needle not in data, f"plaintext {needle!r} found in {f} ({context})"

        if not path.exists() or path.stat().st_size == 0:
            assert not wait_ready, f"recording missing after 'ready' ({context})"
            continue
        with pytest.raises(RecordingTruncated):
            decrypt(path, keys)
        result = decrypt(path, keys, salvage=True)
        assert isinstance(result.problem, RecordingTruncated), context
        assert result.chunks >= reported, f"lost chunks the child had written ({context})"
        assert len(result.audio) == result.chunks * DEFAULT_CHUNK_SIZE, context
        assert result.audio == STEREO * (len(result.audio) // len(STEREO)), context
        salvaged_something |= result.chunks > 0
    assert salvaged_something, f"no run lived long enough to write a chunk (seed={seed})"


def test_salvage_of_header_only_file(store: KeyStore, keys: UnlockedKeys, data_dir: Path, tmp_path: Path) -> None:
    """A crash right after the header: zero chunks readable, reported as truncation, not as damage."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    path = data_dir / "recordings" / "early.cbr"
    pub = store.public_key()
    child = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, os, signal; sys.path.insert(0, sys.argv[1]);"
            "from callbox.recordings.recorder import Recorder;"
            "Recorder(sys.argv[2], bytes.fromhex(sys.argv[3]), sys.argv[4], {'created_at': '2026-03-01T10:00:00Z'});"
            "os.kill(os.getpid(), signal.SIGKILL)"
        ), str(FIRMWARE), str(path), pub.raw.hex(), pub.key_id],
    )  # fmt: skip
    child.wait(timeout=10)
    with pytest.raises(RecordingTruncated, match="truncated after chunk 0"):
        decrypt(path, keys)
    result = decrypt(path, keys, salvage=True)
    assert result.chunks == 0 and result.audio == b""


def test_no_partial_header_is_mistaken_for_audio(keys: UnlockedKeys, tmp_path: Path) -> None:
    empty = tmp_path / "empty.cbr"
    empty.write_bytes(b"")
    with pytest.raises(RecordingError):
        decrypt(empty, keys, salvage=True)
