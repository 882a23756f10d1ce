"""The box's recording key pairs, protected by the admin's recording passphrase.

Why this shape
--------------
* Recording needs only the *public* key (``<data>/keys/box.pub``, raw 32 bytes, plaintext on purpose),
  so the daemon can record unattended without ever holding a private key.
* All private keys (the current one and every retired one, so old recordings stay playable after a
  rotation) live in one file, ``<data>/keys/box.key.enc``, encrypted with AES-256-GCM under a key that
  argon2id derives from the passphrase. One file means rotate and change-passphrase are a single atomic
  ``os.replace``: a crash leaves either the old or the new file, never a mix of passphrases. The JSON
  header (salt, argon2 parameters, key ids) is the GCM associated data, so it cannot be altered either.
* Changing the passphrase re-encrypts only this small file; audio files are never touched, because each
  recording's data key is wrapped to a key *pair*, not to the passphrase.
* Unlocked keys live only in memory (:class:`UnlockedKeys`); nothing unlocked is ever written to disk.

File layout of ``box.key.enc``: ``b"CBKEYS1\\n"``, header length (4 bytes big-endian), header JSON,
ciphertext. The plaintext is JSON ``{"keys": [{"key_id", "private", "public"}, ...]}`` oldest first.

Threat note: ``box.pub`` is not authenticated; someone who can *write* the SD card could substitute their
own public key for future recordings. :meth:`UnlockedKeys.check_public` detects that at unlock time.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callbox.recordings.stream import fsync_dir, key_id_for

KEYFILE_MAGIC = b"CBKEYS1\n"
PUBLIC_NAME = "box.pub"
PRIVATE_NAME = "box.key.enc"
MIN_PASSPHRASE = 12


@dataclass(frozen=True)
class KdfParams:
    """argon2id cost. The default suits a Raspberry Pi 4 (about 0.5–1 s; see scripts/bench_recordings.py)."""

    time_cost: int = 3
    memory_cost_kib: int = 64 * 1024
    parallelism: int = 2

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        return hash_secret_raw(
            secret=passphrase.encode("utf-8"),
            salt=salt,
            time_cost=self.time_cost,
            memory_cost=self.memory_cost_kib,
            parallelism=self.parallelism,
            hash_len=32,
            type=Type.ID,
        )


DEFAULT_KDF = KdfParams()
# Bounds on parameters read from a file: refuse absurd values instead of hanging or exhausting RAM.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_TIME_COST = 64


class KeyStoreError(Exception):
    """Base of key store problems; each message names the fix."""


class KeysMissing(KeyStoreError):
    """No key pair has been created yet (or ``keys/`` was lost)."""


class KeysExist(KeyStoreError):
    """``init`` was asked to overwrite existing keys."""


class WrongPassphrase(KeyStoreError):
    """The passphrase does not open ``box.key.enc``; nothing was changed."""


class WeakPassphrase(KeyStoreError):
    """The new passphrase is too short."""


class KeyFileDamaged(KeyStoreError):
    """``box.key.enc`` cannot be parsed; restore ``keys/`` from backup."""


@dataclass(frozen=True)
class PublicKey:
    """What a recorder needs: the current public key and its id."""

    key_id: str
    key: X25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class UnlockedKeys(Mapping[str, X25519PrivateKey]):
    """Private keys by key id, in memory only. Pass it to :func:`callbox.recordings.stream.decrypt`."""

    def __init__(self, keys: dict[str, X25519PrivateKey], current_key_id: str) -> None:
        self._keys = dict(keys)
        self.current_key_id = current_key_id

    def __getitem__(self, key_id: str) -> X25519PrivateKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def lock(self) -> None:
        """Drop the private keys. Python cannot wipe memory; dropping references is the best it can do."""
        self._keys.clear()

    def __enter__(self) -> UnlockedKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class KeyStore:
    """Key pairs in ``keys_dir``. Every method re-reads the files; nothing is cached across calls."""

    def __init__(self, keys_dir: Path, kdf: KdfParams | None = None) -> None:
        self.dir = Path(keys_dir)
        self._kdf = kdf

    @classmethod
    def for_data_dir(cls, data_dir: Path, kdf: KdfParams | None = None) -> KeyStore:
        return cls(Path(data_dir) / "keys", kdf)

    @property
    def kdf(self) -> KdfParams:
        return self._kdf or DEFAULT_KDF

    @property
    def public_path(self) -> Path:
        return self.dir / PUBLIC_NAME

    @property
    def private_path(self) -> Path:
        return self.dir / PRIVATE_NAME

    def exists(self) -> bool:
        return self.public_path.exists() or self.private_path.exists()

    # ----------------------------------------------------------------------------------- operations
    def init(self, passphrase: str) -> str:
        """Create the first key pair; returns its key id. Refuses to overwrite existing keys."""
        _check_strength(passphrase)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked():
            if self.exists():
                raise KeysExist(
                    f"recording keys already exist in {self.dir}; use `callbox keys rotate` for a new key pair "
                    "(overwriting would make every recording unplayable)"
                )
            key = X25519PrivateKey.generate()
            self._write(passphrase, [key], key)
            return key_id_for(key.public_key())

    def public_key(self) -> PublicKey:
        """The current public key for new recordings (no passphrase needed)."""
        try:
            raw = self.public_path.read_bytes()
        except FileNotFoundError:
            raise KeysMissing(
                f"no recording public key at {self.public_path}: run `callbox keys init` "
                "(or restore keys/ from backup)"
            ) from None
        if len(raw) != 32:
            raise KeyFileDamaged(f"{self.public_path} is {len(raw)} bytes, not 32: restore keys/ from backup")
        key = X25519PublicKey.from_public_bytes(raw)
        return PublicKey(key_id_for(raw), key)

    def unlock(self, passphrase: str) -> UnlockedKeys:
        """Decrypt every private key into memory. Raises :class:`WrongPassphrase` or :class:`KeysMissing`."""
        header, blob = self._read_private()
        params, salt, nonce = _kdf_from_header(header, self.private_path)
        try:
            plain = AESGCM(params.derive(passphrase, salt)).decrypt(nonce, blob, _header_bytes(header))
        except InvalidTag:
            raise WrongPassphrase("recording passphrase is wrong; nothing was changed") from None
        try:
            entries = json.loads(plain)["keys"]
            keys: dict[str, X25519PrivateKey] = {}
            for entry in entries:
                key = X25519PrivateKey.from_private_bytes(base64.b64decode(entry["private"]))
                kid = key_id_for(key.public_key())
                if kid != entry["key_id"]:
                    raise ValueError(f"key id {entry['key_id']} does not match its key")
                keys[kid] = key
            current = header["current_key_id"]
            if current not in keys:
                raise ValueError("current key is not among the keys")
        except (KeyError, ValueError, TypeError) as exc:
            raise KeyFileDamaged(f"{self.private_path} is inconsistent ({exc}): restore keys/ from backup") from None
        return UnlockedKeys(keys, current)

    def rotate(self, passphrase: str) -> str:
        """Add a new key pair and make it current; old private keys stay so old recordings stay playable."""
        with self._locked():
            unlocked = self.unlock(passphrase)
            new = X25519PrivateKey.generate()
            self._write(passphrase, [*unlocked.values(), new], new)
            unlocked.lock()
            return key_id_for(new.public_key())

    def change_passphrase(self, old: str, new: str) -> None:
        """Re-encrypt the private keys under ``new``. Audio files are not touched."""
        _check_strength(new)
        with self._locked():
            unlocked = self.unlock(old)
            self._write(new, list(unlocked.values()), unlocked[unlocked.current_key_id])
            unlocked.lock()

    def check_public(self, unlocked: UnlockedKeys) -> None:
        """Raise :class:`KeyFileDamaged` if ``box.pub`` is not the current key in ``box.key.enc``."""
        pub = self.public_key()
        if pub.key_id != unlocked.current_key_id:
            raise KeyFileDamaged(
                f"{self.public_path} (key {pub.key_id}) is not the current private key "
                f"({unlocked.current_key_id}): it was replaced or a rotation was interrupted; "
                "run `callbox keys rotate` to publish a fresh key pair"
            )

    # ----------------------------------------------------------------------------------- internals
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise init/rotate/change-passphrase between processes (flock on keys/.lock)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read_private(self) -> tuple[dict, bytes]:
        try:
            data = self.private_path.read_bytes()
        except FileNotFoundError:
            raise KeysMissing(
                f"no recording private key at {self.private_path}: run `callbox keys init` "
                "(or restore keys/ from backup)"
            ) from None
        try:
            if not data.startswith(KEYFILE_MAGIC):
                raise ValueError("wrong magic bytes")
            (length,) = struct.unpack_from(">I", data, len(KEYFILE_MAGIC))
            start = len(KEYFILE_MAGIC) + 4
            header = json.loads(data[start : start + length])
            if _header_bytes(header) != data[start : start + length]:
                raise ValueError("header is not in canonical form")
            return header, data[start + length :]
        except (ValueError, struct.error) as exc:
            raise KeyFileDamaged(f"{self.private_path} is damaged ({exc}): restore keys/ from backup") from None

    def _write(self, passphrase: str, keys: list[X25519PrivateKey], current: X25519PrivateKey) -> None:
        """Write box.key.enc first, then box.pub: a crash in between leaves the old public key in use."""
        params = self.kdf
        salt, nonce = os.urandom(16), os.urandom(12)
        current_id = key_id_for(current.public_key())
        header = {
            "format": 1,
            "cipher": "AES-256-GCM",
            "nonce": _b64(nonce),
            "kdf": {
                "name": "argon2id",
                "version": 19,
                "salt": _b64(salt),
                "time_cost": params.time_cost,
                "memory_cost_kib": params.memory_cost_kib,
                "parallelism": params.parallelism,
            },
            "current_key_id": current_id,
            "key_ids": [key_id_for(k.public_key()) for k in keys],
        }
        entries = [
            {
                "key_id": key_id_for(k.public_key()),
                "private": _b64(_raw_private(k)),
                "public": _b64(_raw_public(k.public_key())),
            }
            for k in keys
        ]
        plain = json.dumps({"keys": entries}).encode()
        hbytes = _header_bytes(header)
        blob = AESGCM(params.derive(passphrase, salt)).encrypt(nonce, plain, hbytes)
        write_atomic(self.private_path, KEYFILE_MAGIC + struct.pack(">I", len(hbytes)) + hbytes + blob)
        write_atomic(self.public_path, _raw_public(current.public_key()))


def _header_bytes(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _kdf_from_header(header: dict, path: Path) -> tuple[KdfParams, bytes, bytes]:
    try:
        kdf = header["kdf"]
        if kdf["name"] != "argon2id":
            raise ValueError(f"unknown kdf {kdf['name']!r}")
        params = KdfParams(int(kdf["time_cost"]), int(kdf["memory_cost_kib"]), int(kdf["parallelism"]))
        if not (1 <= params.time_cost <= _MAX_TIME_COST and 8 <= params.memory_cost_kib <= _MAX_MEMORY_KIB):
            raise ValueError("argon2 parameters out of range")
        return params, base64.b64decode(kdf["salt"]), base64.b64decode(header["nonce"])
    except (KeyError, ValueError, TypeError) as exc:
        raise KeyFileDamaged(f"{path} header is damaged ({exc}): restore keys/ from backup") from None


def _check_strength(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise WeakPassphrase(
            f"recording passphrase is too short ({len(passphrase)} characters): use at least {MIN_PASSPHRASE}, "
            "e.g. four random words"
        )
