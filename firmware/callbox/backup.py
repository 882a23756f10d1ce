"""Backup and restore of a whole box: one encrypted file a clinic can keep on a USB stick.

What goes in: a consistent snapshot of the store (SQLite online backup API, so the daemon keeps
running), the audit head checkpoint, the wrapped recording keys (``keys/``), ``lines.toml``, installed
rule packs (``rules/``), the moved boot secrets, the panel's settings, and the recordings (already
encrypted; copied as they are). Caches are left out (they are rebuilt).

Why this format: the archive is a tar stream encrypted chunk by chunk with AES-256-GCM (the "STREAM"
construction: nonce = chunk counter + last-chunk flag, header as associated data), under a key argon2id
derives from a backup passphrase. Chunks let a box with gigabytes of recordings back up and restore
in constant memory, and the counter/last flag make reordering, dropping or truncating chunks fail
authentication. The backup passphrase is separate from the recording passphrase: whoever holds the
backup still needs the recording passphrase to listen to anything.

File layout: ``b"CBBACKUP1\\n"``, 4-byte big-endian header length, header JSON, then frames of
4-byte big-endian ciphertext length + ciphertext (plaintext chunk + 16-byte tag).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import struct
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callbox.recordings.keystore import KdfParams

MAGIC = b"CBBACKUP1\n"
CHUNK = 1 << 20
DEFAULT_KDF = KdfParams()  # the recording key store's cost: about a second on a Pi 4
MIN_PASSPHRASE = 12
DB_NAME = "callbox.sqlite3"
SKIP_NAMES = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", "audit.head"}
SKIP_DIRS = {"cache", "tmp"}
_MAX_HEADER = 64 * 1024


class BackupError(Exception):
    """A backup or restore problem; the message names the fix."""


# -- the encrypted stream ----------------------------------------------------------------------------
def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class EncryptingWriter(io.RawIOBase):
    """A write-only file object: bytes in, authenticated frames out to ``sink``."""

    def __init__(self, sink: BinaryIO, passphrase: str, kdf: KdfParams | None = None, meta: dict | None = None) -> None:
        kdf = kdf or DEFAULT_KDF
        salt = os.urandom(16)
        self.header = {
            "format": 1, "cipher": "AES-256-GCM-STREAM", "chunk": CHUNK,
            "kdf": {"name": "argon2id", "salt": salt.hex(), "time_cost": kdf.time_cost,
                    "memory_cost_kib": kdf.memory_cost_kib, "parallelism": kdf.parallelism},
            **(meta or {}),
        }
        self._aad = json.dumps(self.header, sort_keys=True, separators=(",", ":")).encode()
        self._aead = AESGCM(kdf.derive(passphrase, salt))
        self._sink = sink
        self._buf = bytearray()
        self._counter = 0
        self.written = 0
        sink.write(MAGIC + struct.pack(">I", len(self._aad)) + self._aad)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._buf += data
        while len(self._buf) > CHUNK:  # keep at least one byte back: the last frame must carry the flag
            self._frame(bytes(self._buf[:CHUNK]), last=False)
            del self._buf[:CHUNK]
        return len(data)

    def _frame(self, plain: bytes, last: bool) -> None:
        ct = self._aead.encrypt(_nonce(self._counter, last), plain, self._aad)
        self._sink.write(struct.pack(">I", len(ct)) + ct)
        self._counter += 1
        self.written += len(plain)

    def close(self) -> None:
        if not self.closed and not self._sink.closed:
            self._frame(bytes(self._buf), last=True)
            self._buf.clear()
            self._sink.flush()
        super().close()


class DecryptingReader(io.RawIOBase):
    """A read-only file object over an encrypted backup; raises :class:`BackupError` on any tampering."""

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        self._src = source
        if source.read(len(MAGIC)) != MAGIC:
            raise BackupError("this file is not a callbox backup (wrong magic bytes); pick the .cbbackup file")
        (length,) = struct.unpack(">I", _read_exact(source, 4))
        if length > _MAX_HEADER:
            raise BackupError("the backup header is damaged; use another copy of the backup")
        self._aad = _read_exact(source, length)
        try:
            self.header = json.loads(self._aad)
            kdf = self.header["kdf"]
            params = KdfParams(int(kdf["time_cost"]), int(kdf["memory_cost_kib"]), int(kdf["parallelism"]))
            if not (1 <= params.time_cost <= 64 and 8 <= params.memory_cost_kib <= 1024 * 1024):
                raise ValueError("argon2 parameters out of range")
            self._aead = AESGCM(params.derive(passphrase, bytes.fromhex(kdf["salt"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"the backup header is damaged ({exc}); use another copy of the backup") from None
        self._counter = 0
        self._buf = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _next(self) -> None:
        raw = self._src.read(4)
        if len(raw) < 4:
            raise BackupError("the backup ends early (truncated copy?); use a complete copy of the backup")
        (length,) = struct.unpack(">I", raw)
        if length > CHUNK + 16:
            raise BackupError("the backup is damaged (impossible chunk size); use another copy")
        ct = _read_exact(self._src, length)
        for last in (False, True):
            try:
                self._buf = self._aead.decrypt(_nonce(self._counter, last), ct, self._aad)
            except InvalidTag:
                continue
            self._pos, self._done = 0, last
            self._counter += 1
            if last and self._src.read(1):
                raise BackupError("the backup has data after its last chunk (tampered?); use another copy")
            return
        if self._counter == 0:
            raise BackupError("wrong backup passphrase (or the file is damaged); nothing was restored")
        raise BackupError(f"the backup is damaged at chunk {self._counter} (changed after it was made); "
                          "use another copy; nothing was restored")

    def readinto(self, target) -> int:  # type: ignore[override]
        while self._pos >= len(self._buf):
            if self._done:
                return 0
            self._next()
        n = min(len(target), len(self._buf) - self._pos)
        target[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n


def _read_exact(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise BackupError("the backup ends early (truncated copy?); use a complete copy of the backup")
    return data


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the backup passphrase is {len(passphrase)} characters; use at least {MIN_PASSPHRASE} "
                          "(e.g. four random words) and keep it apart from the backup file")


# -- create ----------------------------------------------------------------------------------------
@dataclass
class BackupReport:
    path: Path
    files: int = 0
    recordings: int = 0
    bytes: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def snapshot_db(db_path: Path, out: Path) -> None:
    """A consistent copy of the live store via SQLite's online backup API (the daemon keeps writing)."""
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(out)
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        src.backup(dst, pages=4096, sleep=0.005)
        dst.execute("PRAGMA journal_mode = DELETE")
        dst.commit()
    finally:
        dst.close()
        src.close()


def _data_files(data_dir: Path) -> Iterator[Path]:
    """Everything to back up except the live database files and caches, parents before children."""
    for dirpath, dirnames, filenames in os.walk(data_dir):
        rel = Path(dirpath).relative_to(data_dir)
        dirnames[:] = sorted(d for d in dirnames if not (rel == Path(".") and d in SKIP_DIRS))
        if rel != Path("."):
            yield Path(dirpath)
        for name in sorted(filenames):
            if rel == Path(".") and name in SKIP_NAMES:
                continue
            if name.endswith(".tmp") or name == ".lock":
                continue
            yield Path(dirpath) / name


class _Fixed(io.RawIOBase):
    """Exactly ``size`` bytes of ``fh``: a file that shrinks while we read it is padded, not fatal."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fh, self._left = fh, size

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        want = min(len(target), self._left)
        n = self._fh.readinto(memoryview(target)[:want]) or 0
        if n == 0:
            n = want
            target[:n] = bytes(n)
        self._left -= n
        return n


def _counts(db_path: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("contact", "consent", "donotcall", "call", "auditentry")}
    except sqlite3.Error:
        return {}
    finally:
        con.close()


def create_backup(data_dir: Path, out: Path, passphrase: str, kdf: KdfParams | None = None) -> BackupReport:
    """Write an encrypted backup of ``data_dir`` to ``out`` (atomically: ``out`` appears only when complete)."""
    check_passphrase(passphrase)
    data_dir, out = Path(data_dir), Path(out)
    db_path = data_dir / DB_NAME
    if not db_path.exists():
        raise BackupError(f"{data_dir} has no store ({DB_NAME}); check --data")
    if out.resolve().is_relative_to(data_dir.resolve()):
        raise BackupError(f"{out} is inside the data directory; write the backup elsewhere (e.g. a USB stick)")
    t0 = time.monotonic()
    report = BackupReport(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.partial")
    try:
        _write_archive(data_dir, db_path, tmp_out, passphrase, kdf, report)
    except BaseException:
        tmp_out.unlink(missing_ok=True)  # never leave a half backup that looks like a backup
        raise
    os.replace(tmp_out, out)
    report.seconds = time.monotonic() - t0
    return report


def _write_archive(data_dir: Path, db_path: Path, tmp_out: Path, passphrase: str, kdf: KdfParams | None,
                   report: BackupReport) -> None:
    from callbox import __version__

    with tempfile.TemporaryDirectory(prefix="callbox-backup-", dir=tmp_out.parent) as scratch:
        # audit.head first: it may lag the snapshot (allowed) but must never lead it.
        head = data_dir / "audit.head"
        head_copy = Path(scratch) / "audit.head"
        if head.exists():
            shutil.copyfile(head, head_copy)
        snap = Path(scratch) / DB_NAME
        snapshot_db(db_path, snap)
        report.counts = _counts(snap)
        manifest = {"made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "firmware": __version__,
                    "counts": report.counts}
        with open(tmp_out, "wb") as sink:
            enc = EncryptingWriter(sink, passphrase, kdf, {"firmware": __version__})
            with tarfile.open(fileobj=enc, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                blob = json.dumps(manifest, indent=1).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime, info.mode = len(blob), int(time.time()), 0o644
                tar.addfile(info, io.BytesIO(blob))
                tar.add(snap, arcname=DB_NAME)
                if head_copy.exists():
                    tar.add(head_copy, arcname="audit.head")
                for path in _data_files(data_dir):
                    arc = path.relative_to(data_dir).as_posix()
                    try:
                        info = tar.gettarinfo(path, arcname=arc)
                        if info.isdir() or info.issym():
                            tar.addfile(info)
                            continue
                        if not info.isreg():
                            continue
                        with open(path, "rb") as fh:
                            tar.addfile(info, _Fixed(fh, info.size))
                    except FileNotFoundError:
                        continue  # shredded by the retention sweeper while we walked
                    report.files += 1
                    report.recordings += arc.startswith("recordings/") and arc.endswith(".cbr")
            enc.close()
            report.bytes = enc.written
            sink.flush()
            os.fsync(sink.fileno())


# -- restore ---------------------------------------------------------------------------------------
@dataclass
class RestoreReport:
    data_dir: Path
    files: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    moved_aside: Path | None = None
    manifest: dict = field(default_factory=dict)


def is_blank(data_dir: Path) -> bool:
    """True for a missing or empty dir, or one that only holds a freshly initialised box (no people yet)."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        return True
    entries = [p for p in data_dir.iterdir()]
    if not entries:
        return True
    db_path = data_dir / DB_NAME
    if not db_path.exists():
        return False
    if any((data_dir / "recordings").glob("*.cbr")):
        return False
    counts = _counts(db_path)
    return bool(counts) and all(counts.get(t, 0) == 0 for t in ("contact", "consent", "donotcall", "call"))


def restore_backup(archive: Path, data_dir: Path, passphrase: str, force: bool = False) -> RestoreReport:
    """Restore ``archive`` into ``data_dir``. Everything is unpacked and checked beside the target first;
    the target is swapped in only when the backup decrypted completely and the store passed its check."""
    archive, data_dir = Path(archive), Path(data_dir)
    if not archive.exists():
        raise BackupError(f"{archive}: no such file")
    if not force and not is_blank(data_dir):
        raise BackupError(f"{data_dir} already holds contacts, calls or recordings; restoring would replace them. "
                          "Restore into an empty --data directory, or add --force (the old data is kept aside)")
    t0 = time.monotonic()
    report = RestoreReport(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    try:
        os.chmod(staging, 0o750)
        with open(archive, "rb") as src:
            reader = io.BufferedReader(DecryptingReader(src, passphrase), CHUNK)
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for member in tar:
                        if member.name == "manifest.json":
                            fh = tar.extractfile(member)
                            report.manifest = json.loads(fh.read()) if fh else {}
                            continue
                        tar.extract(member, staging, filter="data")
                        report.files += member.isfile()
            except tarfile.TarError as exc:
                raise BackupError(f"the backup's contents are damaged ({exc}); use another copy") from None
        db = staging / DB_NAME
        if not db.exists():
            raise BackupError("the backup holds no store; it was not made by `callbox backup create`")
        con = sqlite3.connect(db)
        try:
            verdict = con.execute("PRAGMA integrity_check").fetchone()[0]
            con.execute("PRAGMA journal_mode = WAL")
        finally:
            con.close()
        if verdict != "ok":
            raise BackupError(f"the store in the backup fails its integrity check ({verdict}); use another copy")
        report.counts = _counts(db)
        for sub in ("keys", "secrets"):
            if (staging / sub).is_dir():
                os.chmod(staging / sub, 0o700)
        if data_dir.exists():
            aside = data_dir.with_name(f"{data_dir.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(data_dir, aside)
            report.moved_aside = aside
        os.replace(staging, data_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.monotonic() - t0
    return report
