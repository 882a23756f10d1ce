"""The ``.cbr`` file format: streaming, chunked, authenticated encryption of one call recording.

Why this shape
--------------
* **A stolen SD card yields nothing audible.** Each recording gets a fresh random 32-byte data key. The
  key is stored only *wrapped*, sealed-box style, to the box's X25519 public key: an ephemeral X25519
  key pair, ECDH with the box key, HKDF-SHA256 (salt = both public keys) gives a key-encryption key,
  and AES-256-GCM wraps the data key. Recording needs only the public key, so the running daemon never
  holds a private key; playing needs the admin's passphrase (see :mod:`callbox.recordings.keystore`).
* **Plaintext never touches disk.** The writer keeps at most one chunk (about 1 s) of audio in memory
  and writes only ciphertext, with one ``write()`` per chunk straight to the file descriptor.
* **A crash leaves a valid recording.** Chunks are self-delimiting and independently authenticated, so a
  ``kill -9`` or power cut leaves every fully written chunk readable; :func:`decrypt` with
  ``salvage=True`` returns them. The last chunk carries a *final* flag inside its authenticated data,
  so a cut-off file can never pass as a complete one.
* **Tampering is detected and named.** Chunk nonces are ``random prefix || 64-bit counter`` and the
  associated data is ``sha256(header) || counter || final``: flipped bytes, dropped, reordered or
  foreign chunks and truncation each fail authentication, and the reader then uses the cleartext frame
  fields (hints only, never trusted) to say *which* of these happened.
* **Crypto-shredding.** The wrapped key sits at a fixed offset in the header (:data:`KEY_BLOCK_OFFSET`);
  :func:`shred` overwrites it with random bytes, fsyncs, then unlinks. On SD cards and eMMC the flash
  translation layer's wear leveling may keep the old physical page, so the overwrite is *best effort*;
  the real guarantee is that the data key was never stored unwrapped, so once the box private keys are
  gone (or the header block is overwritten) the ciphertext is noise.

Layout (all integers big-endian)::

    header  magic(8) version(2) flags(2) key_id(8) file_tag(8) nonce_prefix(4) chunk_size(4)
            eph_pub(32) wrap_nonce(12) wrapped_key(48)        <- key block, shredded on expiry
            meta_len(4) meta_json(meta_len) header_mac(32)    <- HMAC-SHA256, key from the data key
    frame*  "CK" file_tag(8) counter(8) flags(1) ct_len(4) ciphertext+tag(ct_len)

Metadata is stored in clear (authenticated by ``header_mac``) so that listing and the retention sweep
work while the keys are locked. Never put names or phone numbers in it: use call ids.

Content types: the same container carries more than audio. ``metadata["content"]`` says what the
plaintext is: ``"audio"`` (the default, ``.cbr``: interleaved 16-bit PCM) or ``"transcript"``
(``.cbt``: UTF-8 JSON, see :mod:`callbox.recordings.transcript`). The content type sits in the
authenticated metadata, so a transcript cannot be passed off as audio or the other way round, and
every artefact gets the same keys, chunking, tamper detection and crypto-shredding from this module.

Reading streams: :func:`open_decrypt` yields verified chunks one at a time, so playing or exporting a
long recording never holds more than one chunk of plaintext; :func:`decrypt` is the in-memory
convenience built on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"\x89CBR\r\n\x1a\n"
VERSION = 1
SAMPLE_RATE = 8000
CHANNELS = 2
SAMPLE_BYTES = 2
BYTES_PER_SECOND = SAMPLE_RATE * CHANNELS * SAMPLE_BYTES
DEFAULT_CHUNK_SIZE = BYTES_PER_SECOND  # about 1 s of stereo 8 kHz 16-bit audio
MAX_CHUNK_SIZE = 16 * 1024 * 1024
CONTENT_AUDIO = "audio"
MAX_META_BYTES = 64 * 1024
TAG_BYTES = 16

_FIXED = struct.Struct(">8sHH8s8s4sI32s12s48sI")
KEY_BLOCK_OFFSET = 8 + 2 + 2 + 8 + 8 + 4 + 4
KEY_BLOCK_LEN = 32 + 12 + 48
_FRAME = struct.Struct(">2s8sQBI")
FRAME_MAGIC = b"CK"
FLAG_FINAL = 0x01
_WRAP_INFO = b"callbox recording key wrap v1"
_HEADER_MAC_INFO = b"callbox recording header mac v1"
_CHUNK_KEY_INFO = b"callbox recording chunks v1"


# --------------------------------------------------------------------------------------------- errors
class RecordingError(Exception):
    """Base of every problem reading a recording; the message says what happened and what to do."""


class NotARecording(RecordingError):
    """The file does not start with the ``.cbr`` magic bytes."""


class UnsupportedVersion(RecordingError):
    """The file was written by a newer firmware."""


class HeaderTampered(RecordingError):
    """The header is damaged or altered (or the recording was shredded); nothing in it can be trusted."""


class KeyNotAvailable(RecordingError):
    """The recording was sealed to a key pair that is not in the unlocked key store."""


class ChunkError(RecordingError):
    """A chunk failed verification; ``index`` is the position (0-based) where reading stopped."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class ChunkTampered(ChunkError):
    """A chunk's bytes were altered (bit rot or tampering)."""


class ChunkMissing(ChunkError):
    """A chunk was dropped from the middle of the file."""


class ChunkReordered(ChunkError):
    """Chunks are present but out of order (or one is repeated)."""


class ChunkFromOtherRecording(ChunkError):
    """A chunk belongs to a different recording (spliced in)."""


class RecordingTruncated(RecordingError):
    """The file ends before its final chunk: the writer crashed or lost power mid-call."""

    def __init__(self, message: str, chunks_ok: int, seconds: float) -> None:
        super().__init__(message)
        self.chunks_ok = chunks_ok
        self.seconds = seconds


class TrailingData(RecordingError):
    """Bytes follow the final chunk; something was appended after the recording was closed."""


# --------------------------------------------------------------------------------------------- keys
def key_id_for(public_key: X25519PublicKey | bytes) -> str:
    """The key id used in file headers: the first 8 bytes (hex) of sha256 of the raw public key."""
    return hashlib.sha256(_raw_public(public_key)).digest()[:8].hex()


def _raw_public(public_key: X25519PublicKey | bytes) -> bytes:
    if isinstance(public_key, bytes):
        if len(public_key) != 32:
            raise ValueError(f"an X25519 public key is 32 raw bytes, got {len(public_key)}")
        return public_key
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _hkdf(secret: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def _kek(shared: bytes, eph_pub: bytes, box_pub: bytes, key_id: bytes) -> bytes:
    return _hkdf(shared, eph_pub + box_pub, _WRAP_INFO + key_id)


# --------------------------------------------------------------------------------------------- header
@dataclass(frozen=True)
class RecordingHeader:
    """The parsed header. ``metadata`` is authenticated only once :func:`open_header` succeeded."""

    version: int
    key_id: str
    file_tag: bytes
    nonce_prefix: bytes
    chunk_size: int
    eph_pub: bytes
    wrap_nonce: bytes
    wrapped_key: bytes
    metadata: dict[str, Any]
    raw: bytes = field(repr=False)  # every header byte including the MAC

    @property
    def length(self) -> int:
        return len(self.raw)

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()

    @property
    def bytes_per_second(self) -> int:
        rate = int(self.metadata.get("sample_rate", SAMPLE_RATE))
        channels = int(self.metadata.get("channels", CHANNELS))
        return max(1, rate * channels * SAMPLE_BYTES)


def _parse_header(f: BinaryIO, name: str) -> RecordingHeader:
    fixed = f.read(_FIXED.size)
    if len(fixed) < len(MAGIC) or fixed[: len(MAGIC)] != MAGIC:
        raise NotARecording(f"{name} is not a callbox recording (no .cbr magic bytes)")
    if len(fixed) < _FIXED.size:
        raise HeaderTampered(f"{name}: header is incomplete ({len(fixed)} bytes); the file is unusable")
    (_, version, _flags, key_id, file_tag, prefix, chunk_size, eph, wnonce, wrapped, meta_len) = _FIXED.unpack(
        fixed
    )
    if version != VERSION:
        raise UnsupportedVersion(
            f"{name} is format version {version}; this firmware reads version {VERSION}: update the firmware"
        )
    if not 0 < chunk_size <= MAX_CHUNK_SIZE or meta_len > MAX_META_BYTES:
        raise HeaderTampered(f"{name}: header fields are out of range; the header was altered")
    rest = f.read(meta_len + 32)
    if len(rest) < meta_len + 32:
        raise HeaderTampered(f"{name}: header is incomplete; the file is unusable")
    try:
        metadata = json.loads(rest[:meta_len].decode("utf-8"))
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not an object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise HeaderTampered(f"{name}: header metadata is unreadable ({exc}); the header was altered") from None
    return RecordingHeader(
        version=version,
        key_id=key_id.hex(),
        file_tag=file_tag,
        nonce_prefix=prefix,
        chunk_size=chunk_size,
        eph_pub=eph,
        wrap_nonce=wnonce,
        wrapped_key=wrapped,
        metadata=metadata,
        raw=fixed + rest,
    )


def read_header(path: Path) -> RecordingHeader:
    """Parse a header without any key (for listing and retention). Its metadata is *not* verified."""
    with open(path, "rb") as f:
        return _parse_header(f, Path(path).name)


def _unwrap(header: RecordingHeader, private_key: X25519PrivateKey, name: str) -> bytes:
    box_pub = _raw_public(private_key.public_key())
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(header.eph_pub))
        kek = _kek(shared, header.eph_pub, box_pub, bytes.fromhex(header.key_id))
        aad = header.raw[:KEY_BLOCK_OFFSET] + header.eph_pub
        data_key = AESGCM(kek).decrypt(header.wrap_nonce, header.wrapped_key, aad)
    except (InvalidTag, ValueError):
        raise HeaderTampered(
            f"{name}: the data key does not unwrap with key {header.key_id}: the header was altered or the "
            "recording was shredded; restore the file from backup if you have one"
        ) from None
    mac = hmac.new(_hkdf(data_key, None, _HEADER_MAC_INFO), header.raw[:-32], hashlib.sha256).digest()
    if not hmac.compare_digest(mac, header.raw[-32:]):
        raise HeaderTampered(f"{name}: header metadata was altered (header MAC does not match)")
    return data_key


# --------------------------------------------------------------------------------------------- writer
def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + struct.pack(">Q", counter)


def _aad(header_digest: bytes, counter: int, final: bool) -> bytes:
    return header_digest + struct.pack(">QB", counter, FLAG_FINAL if final else 0)


def fsync_dir(directory: Path) -> None:
    """fsync a directory so a created, renamed or removed entry survives a power cut."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class WriteSummary:
    """What a finished writer produced."""

    path: Path
    chunks: int
    audio_bytes: int
    file_bytes: int


class RecordingWriter:
    """Encrypts a byte stream into a new ``.cbr`` file, one authenticated chunk per ``chunk_size`` bytes.

    Not thread-safe on its own (the :class:`~callbox.recordings.recorder.Recorder` adds the lock). The
    file is created with ``O_EXCL`` and mode 0600; the header is fsynced immediately so the file exists
    after a power cut. Chunks are written with a single ``os.write`` each (no user-space buffer, so a
    killed process loses nothing already written); ``fsync=True`` also fsyncs every chunk.
    """

    def __init__(
        self,
        path: Path,
        public_key: X25519PublicKey | bytes,
        key_id: str,
        metadata: Mapping[str, Any],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        fsync: bool = False,
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be 1..{MAX_CHUNK_SIZE} bytes, got {chunk_size}")
        box_pub = _raw_public(public_key)
        if key_id != key_id_for(box_pub):
            raise ValueError(
                f"key_id {key_id!r} does not belong to this public key ({key_id_for(box_pub)}); "
                "read both from KeyStore.public_key()"
            )
        if metadata.get("content", CONTENT_AUDIO) == CONTENT_AUDIO:
            meta = {"sample_rate": SAMPLE_RATE, "channels": CHANNELS, **metadata}
        else:  # not audio: no audio defaults in the header
            meta = dict(metadata)
        meta_bytes = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if len(meta_bytes) > MAX_META_BYTES:
            raise ValueError(f"metadata is {len(meta_bytes)} bytes; keep it under {MAX_META_BYTES}")

        data_key = AESGCM.generate_key(bit_length=256)
        eph = X25519PrivateKey.generate()
        eph_pub = _raw_public(eph.public_key())
        kid = bytes.fromhex(key_id)
        kek = _kek(eph.exchange(X25519PublicKey.from_public_bytes(box_pub)), eph_pub, box_pub, kid)
        self._file_tag = os.urandom(8)
        self._prefix = os.urandom(4)
        wrap_nonce = os.urandom(12)
        fixed_start = struct.pack(">8sHH8s8s4sI", MAGIC, VERSION, 0, kid, self._file_tag, self._prefix, chunk_size)
        wrapped = AESGCM(kek).encrypt(wrap_nonce, data_key, fixed_start + eph_pub)
        body = fixed_start + eph_pub + wrap_nonce + wrapped + struct.pack(">I", len(meta_bytes)) + meta_bytes
        header = body + hmac.new(_hkdf(data_key, None, _HEADER_MAC_INFO), body, hashlib.sha256).digest()
        self._digest = hashlib.sha256(header).digest()
        self._aead = AESGCM(_hkdf(data_key, None, _CHUNK_KEY_INFO))
        del data_key

        self.path = Path(path)
        self.chunk_size = chunk_size
        self._fsync = fsync
        self._buf = bytearray()
        self._counter = 0
        self._audio_bytes = 0
        self._file_bytes = 0
        self._closed = False
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            self._write_all(header)
            os.fsync(self._fd)
            fsync_dir(self.path.parent)
        except BaseException:
            os.close(self._fd)
            self.path.unlink(missing_ok=True)
            raise

    @property
    def chunks_written(self) -> int:
        return self._counter

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Buffer ``data`` and write every chunk that is now full; returns how many chunks were written."""
        if self._closed:
            raise ValueError(f"{self.path.name} is already closed")
        view = memoryview(data).cast("B")
        self._audio_bytes += len(view)
        written = 0
        if self._buf:  # top up the partial chunk first
            need = self.chunk_size - len(self._buf)
            self._buf += view[:need]
            view = view[need:]
            if len(self._buf) < self.chunk_size:
                return 0
            self._emit(self._buf, final=False)
            self._buf.clear()
            written += 1
        while len(view) >= self.chunk_size:  # whole chunks straight from the caller's buffer
            self._emit(view[: self.chunk_size], final=False)
            view = view[self.chunk_size :]
            written += 1
        self._buf += view
        return written

    def finish(self) -> WriteSummary:
        """Write the remaining audio as the final chunk (possibly empty), fsync and close."""
        if self._closed:
            raise ValueError(f"{self.path.name} is already closed")
        self._emit(self._buf, final=True)
        self._buf[:] = bytes(len(self._buf))
        self._buf.clear()
        os.fsync(self._fd)
        self._close()
        return WriteSummary(self.path, self._counter, self._audio_bytes, self._file_bytes)

    def sync(self) -> None:
        """fsync what has been written so far (safe to call from another thread while open)."""
        if not self._closed:
            os.fsync(self._fd)

    def abandon(self) -> None:
        """Close without a final chunk, leaving a truncated recording (what a crash leaves behind)."""
        if not self._closed:
            self._buf[:] = bytes(len(self._buf))
            self._buf.clear()
            self._close()

    def _close(self) -> None:
        self._closed = True
        os.close(self._fd)

    def _emit(self, plaintext: bytes | bytearray | memoryview, final: bool) -> None:
        counter = self._counter
        ct = self._aead.encrypt(_nonce(self._prefix, counter), plaintext, _aad(self._digest, counter, final))
        try:
            self._write_all(_FRAME.pack(FRAME_MAGIC, self._file_tag, counter, FLAG_FINAL if final else 0, len(ct)) + ct)
            if self._fsync and not final:
                os.fsync(self._fd)
        except OSError:
            self._fail()
            raise
        self._counter += 1

    def _fail(self) -> None:
        """A write failed (disk full, I/O error): cut the torn frame off and close, so the file stays a
        valid truncated recording that salvage can read up to the last whole chunk."""
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._file_bytes)
        self._buf[:] = bytes(len(self._buf))
        self._buf.clear()
        self._close()

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._file_bytes += len(data)


# --------------------------------------------------------------------------------------------- reader
@dataclass(frozen=True)
class _Frame:
    offset: int  # of the ciphertext
    tag: bytes
    counter: int
    final: bool
    ct_len: int


@dataclass(frozen=True)
class FrameScan:
    """Frame layout of a file read without any key: enough to list it, not to trust it."""

    frames: list[_Frame]
    torn_tail: int  # bytes of an incomplete frame at the end (a crash mid-write)
    garbage_at: int | None  # index where the bytes stop looking like frames

    @property
    def looks_complete(self) -> bool:
        return bool(self.frames) and self.frames[-1].final and not self.torn_tail and self.garbage_at is None


def _scan_frames(f: BinaryIO, start: int, chunk_size: int) -> FrameScan:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    pos = start
    frames: list[_Frame] = []
    while pos < size:
        f.seek(pos)
        head = f.read(_FRAME.size)
        if len(head) < _FRAME.size:
            if head == FRAME_MAGIC[: len(head)] or head[:2] == FRAME_MAGIC:
                return FrameScan(frames, size - pos, None)
            return FrameScan(frames, 0, len(frames))
        magic, tag, counter, flags, ct_len = _FRAME.unpack(head)
        final = bool(flags & FLAG_FINAL)
        full = chunk_size + TAG_BYTES
        bad_len = not TAG_BYTES <= ct_len <= full or (not final and ct_len != full)
        if magic != FRAME_MAGIC or flags & ~FLAG_FINAL or bad_len:
            return FrameScan(frames, 0, len(frames))
        if pos + _FRAME.size + ct_len > size:
            return FrameScan(frames, size - pos, None)
        frames.append(_Frame(pos + _FRAME.size, tag, counter, final, ct_len))
        pos += _FRAME.size + ct_len
    return FrameScan(frames, 0, None)


def scan(path: Path) -> tuple[RecordingHeader, FrameScan]:
    """Header and frame layout without decrypting (for ``recordings list``); nothing here is verified."""
    with open(path, "rb") as f:
        header = _parse_header(f, Path(path).name)
        return header, _scan_frames(f, header.length, header.chunk_size)


@dataclass(frozen=True)
class Decrypted:
    """Result of :func:`decrypt`. ``problem`` is set only in salvage mode, for an incomplete recording."""

    header: RecordingHeader
    audio: bytes
    chunks: int
    complete: bool
    problem: RecordingError | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.header.bytes_per_second


class _Reader:
    """Walks the frames of an opened recording, verifying each one in order."""

    def __init__(self, f: BinaryIO, name: str, header: RecordingHeader, data_key: bytes) -> None:
        self.f = f
        self.name = name
        self.header = header
        self.aead = AESGCM(_hkdf(data_key, None, _CHUNK_KEY_INFO))
        self.digest = header.digest
        self.layout = _scan_frames(f, header.length, header.chunk_size)

    def _try(self, frame: _Frame, counter: int) -> bytes | None:
        self.f.seek(frame.offset)
        ct = self.f.read(frame.ct_len)
        try:
            return self.aead.decrypt(
                _nonce(self.header.nonce_prefix, counter), ct, _aad(self.digest, counter, frame.final)
            )
        except InvalidTag:
            return None

    def chunks(self) -> Iterator[bytes]:
        frames = self.layout.frames
        audio = 0
        for i, frame in enumerate(frames):
            plain = self._try(frame, i) if frame.counter == i and frame.tag == self.header.file_tag else None
            if plain is None:
                raise self._diagnose(i)
            if (not frame.final and len(plain) != self.header.chunk_size) or len(plain) > self.header.chunk_size:
                raise ChunkTampered(f"{self.name}: chunk {i} has the wrong length; the file was altered", i)
            audio += len(plain)
            yield plain
            if frame.final:
                if i + 1 < len(frames) or self.layout.torn_tail or self.layout.garbage_at is not None:
                    raise TrailingData(
                        f"{self.name}: data follows the final chunk {i}; something was appended after the "
                        "call ended. The audio up to it is intact"
                    )
                return
        n = len(frames)
        if self.layout.garbage_at is not None:
            raise ChunkTampered(f"{self.name}: chunk {n} is not a valid frame; the file was altered", n)
        seconds = audio / self.header.bytes_per_second
        raise RecordingTruncated(
            f"{self.name}: recording is truncated after chunk {n}: the call did not finish writing "
            f"(crash or power cut); {seconds:.0f} seconds are readable (use salvage to read them)",
            n,
            seconds,
        )

    def _diagnose(self, i: int) -> ChunkError:
        """Say why frame ``i`` failed, using cleartext hints checked against authentication."""
        frames = self.layout.frames
        frame = frames[i]
        if frame.tag != self.header.file_tag:
            return ChunkFromOtherRecording(
                f"{self.name}: chunk {i} belongs to another recording (spliced in); the file was altered", i
            )
        if frame.counter != i and self._try(frame, frame.counter) is not None:
            later = any(f.counter == i and self._try(f, i) is not None for f in frames[i + 1 :])
            if later or frame.counter < i:
                return ChunkReordered(
                    f"{self.name}: chunk {i} is out of order (found chunk {frame.counter} in its place); "
                    "the file was altered",
                    i,
                )
            return ChunkMissing(
                f"{self.name}: chunk {i} is missing (the next chunk present is {frame.counter}); "
                "the file was altered",
                i,
            )
        return ChunkTampered(f"{self.name}: chunk {i} fails authentication (bytes altered or damaged)", i)


class DecryptStream:
    """Verified plaintext of one opened artefact, one chunk at a time (from :func:`open_decrypt`).

    Iterate it once. Strict mode raises the specific :class:`RecordingError` where verification stops;
    salvage mode ends the iteration there instead and leaves the error in :attr:`problem`. After the
    iteration, :attr:`complete` says whether the final chunk was reached and verified.
    """

    def __init__(self, reader: _Reader, salvage: bool) -> None:
        self._reader = reader
        self.header = reader.header
        self.salvage = salvage
        self.chunks = 0
        self.plain_bytes = 0
        self.complete = False
        self.problem: RecordingError | None = None

    @property
    def expected_bytes(self) -> int:
        """Plaintext bytes if every chunk present verifies (from the unverified frame layout)."""
        return sum(f.ct_len - TAG_BYTES for f in self._reader.layout.frames)

    @property
    def seconds(self) -> float:
        return self.plain_bytes / self.header.bytes_per_second

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._reader.chunks():
                self.chunks += 1
                self.plain_bytes += len(chunk)
                yield chunk
            self.complete = True
        except RecordingError as exc:
            if not self.salvage:
                raise
            self.problem = exc


@contextlib.contextmanager
def open_decrypt(
    path: Path, private_keys: Mapping[str, X25519PrivateKey], *, salvage: bool = False
) -> Iterator[DecryptStream]:
    """Open an artefact, unwrap its key and authenticate its header; yield a :class:`DecryptStream`.

    Header problems always raise here (without a trustworthy header no chunk can be verified), before
    any plaintext exists, so a caller can write its access audit entry and only then read.
    """
    name = Path(path).name
    with open(path, "rb") as f:
        header = _parse_header(f, name)
        private = private_keys.get(header.key_id)
        if private is None:
            have = ", ".join(sorted(private_keys)) or "none"
            raise KeyNotAvailable(
                f"{name} was sealed to key {header.key_id}, which is not in the key store (have: {have}); "
                "restore keys/ from the backup taken before that key was removed"
            )
        yield DecryptStream(_Reader(f, name, header, _unwrap(header, private, name)), salvage)


def decrypt(path: Path, private_keys: Mapping[str, X25519PrivateKey], *, salvage: bool = False) -> Decrypted:
    """Decrypt a whole recording into memory, verifying every chunk.

    Strict mode raises the specific :class:`RecordingError` on the first problem. ``salvage=True``
    returns every chunk up to the last verifiable one and puts the problem in ``Decrypted.problem``
    (for a crashed recording, a :class:`RecordingTruncated`); header problems always raise, because
    without a trustworthy header no chunk can be verified. For long recordings prefer
    :func:`open_decrypt`, which never holds more than one chunk.
    """
    with open_decrypt(path, private_keys, salvage=salvage) as stream:
        audio = b"".join(stream)
    return Decrypted(stream.header, audio, stream.chunks, stream.complete, stream.problem)


def open_header(path: Path, private_keys: Mapping[str, X25519PrivateKey]) -> RecordingHeader:
    """Parse and authenticate a header (unwrap the key, check the MAC) without reading audio."""
    name = Path(path).name
    header = read_header(path)
    private = private_keys.get(header.key_id)
    if private is None:
        raise KeyNotAvailable(f"{name} was sealed to key {header.key_id}, which is not in the key store")
    _unwrap(header, private, name)
    return header


# --------------------------------------------------------------------------------------------- shred
def shred(path: Path) -> None:
    """Crypto-shred a recording: overwrite its wrapped data key with random bytes, fsync, unlink.

    Best effort against the raw flash (wear leveling may keep old pages); see the module docstring.
    Refuses files that are not recordings, so a wrong path cannot destroy something else.
    """
    path = Path(path)
    fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    try:
        head = os.pread(fd, KEY_BLOCK_OFFSET + KEY_BLOCK_LEN, 0)
        if head[: len(MAGIC)] != MAGIC:
            raise NotARecording(f"{path.name} is not a callbox recording; refusing to shred it")
        if len(head) > KEY_BLOCK_OFFSET:
            os.pwrite(fd, os.urandom(len(head) - KEY_BLOCK_OFFSET), KEY_BLOCK_OFFSET)
            os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    fsync_dir(path.parent)
