#!/usr/bin/env python3
"""Benchmark recording encryption on this machine (run it on the Pi before shipping KDF parameters).

Prints:
  * chunk encryption throughput on one core (goal >= 200 MB/s). A Pi 5 (Cortex-A76) has the ARMv8 AES
    and PMULL instructions that OpenSSL uses for AES-GCM; a Pi 4 (BCM2711) does not, so expect a far lower
    figure there. Either way a live call needs only 32 kB/s, so the number that matters is the CPU share,
  * full writer throughput (encrypt + write() to a file in --dir),
  * the CPU share of one live stereo 8 kHz recording (32 kB/s) fed as 20 ms frames through Recorder,
  * the cost of fsync per 1 s chunk on --dir's file system (the recorder does it on a background thread),
  * unlock time with the production argon2id parameters (time_cost=3, 64 MiB, parallelism=2).

Usage: .venv/bin/python scripts/bench_recordings.py [--dir DIR] [--seconds 120]
Nothing here writes plaintext: the audio is synthetic and only ciphertext goes to disk.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "firmware"))

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from callbox.recordings import keystore  # noqa: E402
from callbox.recordings.recorder import FRAME_BYTES, Recorder  # noqa: E402
from callbox.recordings.stream import DEFAULT_CHUNK_SIZE, RecordingWriter, decrypt, key_id_for  # noqa: E402

MB = 1_000_000


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned"


def bench_chunk_encrypt(total_mb: int) -> float:
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    chunk = os.urandom(DEFAULT_CHUNK_SIZE)
    ad = os.urandom(41)
    n = total_mb * MB // len(chunk)
    t = time.perf_counter()
    for i in range(n):
        aead.encrypt(i.to_bytes(12, "big"), chunk, ad)
    return n * len(chunk) / (time.perf_counter() - t) / MB


def bench_writer(directory: Path, total_mb: int) -> tuple[float, float]:
    pub = X25519PrivateKey.generate().public_key()
    block = os.urandom(DEFAULT_CHUNK_SIZE * 8)
    path = directory / "bench-writer.cbr"
    w = RecordingWriter(path, pub, key_id_for(pub), {"call_id": "bench"})
    n = total_mb * MB // len(block)
    t = time.perf_counter()
    for _ in range(n):
        w.write(block)
    w.finish()
    write_rate = n * len(block) / (time.perf_counter() - t) / MB
    path.unlink()
    return write_rate, n * len(block) / MB


def bench_decrypt(directory: Path, total_mb: int) -> float:
    priv = X25519PrivateKey.generate()
    pub = priv.public_key()
    path = directory / "bench-read.cbr"
    w = RecordingWriter(path, pub, key_id_for(pub), {"call_id": "bench"})
    w.write(os.urandom(total_mb * MB))
    w.finish()
    t = time.perf_counter()
    decrypt(path, {key_id_for(pub): priv})
    rate = total_mb * MB / (time.perf_counter() - t) / MB
    path.unlink()
    return rate


def bench_live(directory: Path, seconds: int, fsync: bool) -> tuple[float, float]:
    """Feed ``seconds`` of call audio as fast as possible; CPU seconds per audio second = CPU share."""
    pub = X25519PrivateKey.generate().public_key()
    path = directory / f"bench-live-{int(fsync)}.cbr"
    callee, box = os.urandom(FRAME_BYTES), os.urandom(FRAME_BYTES)
    frames = seconds * 50
    meta = {"call_id": "bench", "created_at": "2026-01-01T00:00:00+00:00"}
    rec = Recorder(path, pub, key_id_for(pub), meta, fsync=fsync)
    c0, t0 = time.process_time(), time.perf_counter()
    worst = 0.0
    for _ in range(frames):
        f0 = time.perf_counter()
        rec.feed(callee, box)
        worst = max(worst, time.perf_counter() - f0)
    rec.stop()
    cpu = time.process_time() - c0
    path.unlink()
    return cpu / seconds * 100, worst * 1000


def bench_fsync(directory: Path, rounds: int = 30) -> tuple[float, float]:
    path = directory / "bench-fsync.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    data = os.urandom(DEFAULT_CHUNK_SIZE + 39)
    times = []
    try:
        for _ in range(rounds):
            os.write(fd, data)
            t = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return times[len(times) // 2] * 1000, times[-1] * 1000


def bench_unlock(directory: Path) -> tuple[float, float, keystore.KdfParams]:
    params = keystore.DEFAULT_KDF
    salt = os.urandom(16)
    t = time.perf_counter()
    params.derive("correct horse battery staple", salt)
    derive = time.perf_counter() - t
    store = keystore.KeyStore(directory / "bench-keys", params)
    store.init("correct horse battery staple")
    store.rotate("correct horse battery staple")
    t = time.perf_counter()
    store.unlock("correct horse battery staple")
    unlock = time.perf_counter() - t
    return derive, unlock, params


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, help="directory on the file system to test (default: a temp dir)")
    ap.add_argument("--seconds", type=int, default=120, help="call length for the live-recording test")
    ap.add_argument("--mb", type=int, default=200, help="megabytes for the throughput tests")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]} on {os.uname().machine}; {pin_one_core()}")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="callbox-bench-") as tmp:
        d = Path(tmp)
        print(f"chunk encryption (AES-256-GCM, 32 kB chunks, one core): {bench_chunk_encrypt(args.mb):8.0f} MB/s  (goal >= 200)")
        rate, mb = bench_writer(d, args.mb)
        print(f"writer (encrypt + write() to {d}):  {rate:8.0f} MB/s over {mb:.0f} MB")
        print(f"reader (verify + decrypt from {d}):  {bench_decrypt(d, min(args.mb, 100)):8.0f} MB/s")
        for fsync in (False, True):
            share, worst = bench_live(d, args.seconds, fsync)
            label = "with background fsync" if fsync else "without fsync        "
            print(f"live recording {label}: {share:6.3f} % of one core (32 kB/s); worst feed() {worst:.2f} ms")
        median, worst = bench_fsync(d)
        print(f"fsync of a 32 kB chunk on this file system: median {median:.2f} ms, worst {worst:.2f} ms")
        derive, unlock, p = bench_unlock(d)
        print(
            f"argon2id t={p.time_cost} m={p.memory_cost_kib // 1024} MiB p={p.parallelism}: derive {derive * 1000:.0f} ms; "
            f"KeyStore.unlock (2 keys) {unlock * 1000:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
