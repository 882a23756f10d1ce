"""Live call recorder: 20 ms frames of both legs in, encrypted stereo ``.cbr`` out.

Why this shape: the call session's media thread hands over one 320-byte frame per leg every 20 ms and
must never block on the SD card. ``feed`` therefore only interleaves in memory and, once a second,
encrypts a chunk and hands it to the kernel with one ``write()`` (a page-cache copy, microseconds). The
slow part, ``fsync``, runs on a small background thread, so a power cut loses at most about a second
and the media thread never waits for flash. Plaintext exists only in the in-memory chunk buffer.

Channel layout: left = callee, right = box (recorded in the metadata as ``channel_roles``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from callbox.clock import parse_instant
from callbox.recordings.stream import DEFAULT_CHUNK_SIZE, RecordingWriter, WriteSummary, shred

FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit mono, as the Line interface delivers it
log = logging.getLogger(__name__)


class RecorderFailed(RuntimeError):
    """Writing the recording failed mid-call (disk full, I/O error); raised by ``stop``, never by ``feed``."""


def interleave(left: bytes, right: bytes) -> bytes:
    """Two mono 16-bit little-endian buffers of equal length -> one stereo buffer (L R L R ...)."""
    out = bytearray(len(left) * 2)
    out[0::4] = left[0::2]
    out[1::4] = left[1::2]
    out[2::4] = right[0::2]
    out[3::4] = right[1::2]
    return bytes(out)


class Recorder:
    """Records one call. Thread-safe: ``feed``, ``stop`` and ``discard`` may come from different threads.

    ``metadata`` must hold ``created_at`` (ISO 8601 with an offset): the retention sweep cannot judge a
    recording without it and would keep it forever. Add ``call_id``, and for retention ``industry`` and
    the campaign's ``retention_months`` if it overrides the pack. Metadata is readable without the
    passphrase, so it must never hold names or phone numbers.

    Frames that arrive after ``stop``/``discard`` are dropped (the media thread may race the hangup) and
    counted in ``frames_dropped``. ``feed`` never raises for I/O errors, so a full disk cannot break the
    call: the recorder stops writing, keeps the file as a valid truncated recording, sets ``error`` and
    makes ``stop`` raise :class:`RecorderFailed`.
    """

    def __init__(
        self,
        path: Path,
        public_key: X25519PublicKey | bytes,
        key_id: str,
        metadata: Mapping[str, Any],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        fsync: bool = True,
    ) -> None:
        try:
            parse_instant(str(metadata["created_at"]))
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"recording metadata needs created_at as an ISO instant with an offset, e.g. "
                f"clock.now().isoformat() ({exc}); without it retention could never expire the recording"
            ) from None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        meta = {"channel_roles": ["callee", "box"], **metadata}
        self._writer = RecordingWriter(path, public_key, key_id, meta, chunk_size=chunk_size, fsync=False)
        self.path = path
        self.frames_dropped = 0
        self.error: OSError | None = None
        self._lock = threading.Lock()  # guards the writer
        self._end_lock = threading.Lock()  # serialises stop/discard so the syncer is joined before close
        self._frames = 0
        self._syncer: _Syncer | None = _Syncer(self._writer) if fsync else None

    @property
    def chunks_written(self) -> int:
        """Encrypted chunks handed to the kernel so far (each survives a crash of this process)."""
        return self._writer.chunks_written

    @property
    def seconds(self) -> float:
        """Audio recorded so far."""
        return self._frames * 0.02

    def feed(self, callee_frame: bytes, box_frame: bytes) -> None:
        """Append one 20 ms frame of each leg. Raises ValueError for frames of the wrong size."""
        if len(callee_frame) != FRAME_BYTES or len(box_frame) != FRAME_BYTES:
            raise ValueError(
                f"each frame must be {FRAME_BYTES} bytes (20 ms of 8 kHz 16-bit mono), got "
                f"{len(callee_frame)} and {len(box_frame)}: resample/reframe before feeding, pad a silent leg"
            )
        stereo = interleave(callee_frame, box_frame)
        with self._lock:
            if self._writer.closed:
                self.frames_dropped += 1
                return
            self._frames += 1
            try:
                if self._writer.write(stereo) and self._syncer:
                    self._syncer.poke()
            except OSError as exc:
                self.error = exc
                log.error("recording %s stopped after chunk %d: %s", self.path.name, self.chunks_written, exc)

    def stop(self) -> WriteSummary:
        """Write the final chunk (the rest of the audio), fsync and close.

        A second ``stop`` (or ``stop`` after ``discard``) raises ValueError: two owners ending one call is
        a bug worth seeing.
        """
        with self._end_lock:
            self._stop_syncer()
            with self._lock:
                if self.error is not None:
                    raise RecorderFailed(
                        f"recording {self.path.name} stopped after chunk {self.chunks_written} "
                        f"({self.error.strerror or self.error}): free space on the data partition; the audio "
                        "before that is readable with `callbox recordings play --salvage`"
                    )
                try:
                    return self._writer.finish()
                except OSError as exc:
                    self.error = exc
                    raise RecorderFailed(
                        f"recording {self.path.name} could not be finished ({exc.strerror or exc}); "
                        "the audio before the last second is readable with `--salvage`"
                    ) from exc

    def discard(self) -> None:
        """Throw the recording away (callee withdrew consent and the pack says discard): shred, unlink."""
        with self._end_lock:
            self._stop_syncer()
            with self._lock:
                self._writer.abandon()
                if self.path.exists():
                    shred(self.path)

    def _stop_syncer(self) -> None:
        syncer, self._syncer = self._syncer, None
        if syncer:
            syncer.close()


class _Syncer:
    """Background fsync after each chunk, so the media thread never waits for the SD card."""

    def __init__(self, writer: RecordingWriter) -> None:
        self._writer = writer
        self._wake = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name=f"fsync {writer.path.name}", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._done = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._done:
                return
            # fsync runs outside the feed lock; close() joins this thread before stop/discard close the
            # fd. (After a failed write the writer closes itself; fsync then fails harmlessly.)
            try:
                self._writer.sync()
            except OSError as exc:
                log.warning("fsync of %s failed: %s", self._writer.path.name, exc)
