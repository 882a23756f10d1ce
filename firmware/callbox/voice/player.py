"""The box's mouth: prompts queued in order and fed to the line a little at a time.

Why not hand the line a whole prompt: a line buffer that holds ten seconds can only be *dropped* on
barge-in, and then a cough would cost the rest of the prompt. The player keeps at most ``lead_ms`` in
the line's buffer, so it can

- ``pause()`` within one tick when the callee starts speaking, remembering where it was;
- ``resume()`` (rewound a little, to the last word) if that was only a cough or noise;
- ``stop()`` if what they said needs an answer, reporting which prompts were cut or never played;
- play a prompt whose later sentences are still being synthesised (each piece is a ``Future``):
  the first sentence is on the line while the next renders.

Not thread-safe by design: one session thread owns it. Pure except for the ``CallControl`` calls.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from callbox.lines.base import CallControl

BYTES_PER_MS = 16  # 8 kHz, 16-bit mono


def ready(pcm: bytes) -> Future:
    future: Future = Future()
    future.set_result(pcm)
    return future


@dataclass
class Segment:
    key: str
    turn: int
    pieces: list[Future]  # sentences, in order; each resolves to line PCM
    piece: int = 0  # next piece to push
    offset: int = 0  # next byte of that piece
    end_at: int | None = None  # stream position of its last byte, once all of it is pushed
    started: bool = False


@dataclass
class _Pushed:
    segment: Segment
    piece: int
    offset: int
    length: int
    at: int  # stream position of its first byte


@dataclass
class Player:
    control: CallControl
    lead_ms: int = 100
    chunk_ms: int = 40
    rewind_ms: int = 400
    queue: deque = field(default_factory=deque)
    paused: bool = False
    _pushed_total: int = 0
    _records: deque = field(default_factory=deque)

    # -- queueing --------------------------------------------------------------------------------
    def enqueue(self, key: str, pieces: list[Future] | bytes, turn: int = -1) -> None:
        if isinstance(pieces, (bytes, bytearray)):
            pieces = [ready(bytes(pieces))]
        self.queue.append(Segment(key, turn, list(pieces)))

    @property
    def active(self) -> bool:
        """Something is queued or still on the line."""
        return bool(self.queue)

    @property
    def audible(self) -> bool:
        return bool(self.queue) and not self.paused

    @property
    def current_key(self) -> str:
        return self.queue[0].key if self.queue else ""

    def sent_position(self) -> int:
        return self._pushed_total - self.control.playback_pending_ms() * BYTES_PER_MS

    # -- the media side --------------------------------------------------------------------------
    def pump(self) -> list[Segment]:
        """Top up the line buffer; return the segments that have now been heard completely."""
        if not self.paused:
            budget = self.lead_ms - self.control.playback_pending_ms()
            while budget > 0:
                pushed = self._push_next(min(budget, self.chunk_ms) * BYTES_PER_MS)
                if not pushed:
                    break
                budget -= pushed // BYTES_PER_MS
        sent = self.sent_position()
        while self._records and self._records[0].at + self._records[0].length <= sent:
            self._records.popleft()
        finished = []
        while self.queue and self.queue[0].end_at is not None and self.queue[0].end_at <= sent:
            finished.append(self.queue.popleft())
        return finished

    def _push_next(self, limit: int) -> int:
        for segment in self.queue:
            if segment.end_at is not None:
                continue
            while segment.piece < len(segment.pieces):
                future = segment.pieces[segment.piece]
                if not future.done():
                    return 0  # the next sentence is still rendering: wait, keep order
                pcm = future.result() if future.exception() is None else b""
                if segment.offset >= len(pcm):
                    segment.piece += 1
                    segment.offset = 0
                    continue
                chunk = pcm[segment.offset : segment.offset + limit]
                chunk = chunk[: len(chunk) - len(chunk) % 2]
                self.control.play(chunk)
                self._records.append(_Pushed(segment, segment.piece, segment.offset, len(chunk), self._pushed_total))
                self._pushed_total += len(chunk)
                segment.offset += len(chunk)
                segment.started = True
                if segment.offset >= len(pcm) and segment.piece == len(segment.pieces) - 1:
                    segment.piece += 1
                if segment.piece >= len(segment.pieces):
                    segment.end_at = self._pushed_total
                return len(chunk)
            segment.end_at = self._pushed_total  # empty prompt
        return 0

    # -- barge-in --------------------------------------------------------------------------------
    def pause(self) -> int:
        """Stop sound now; keep the place. Returns the milliseconds taken back from the line."""
        if self.paused:
            return 0
        self.paused = True
        dropped_ms = self.control.stop_playback()
        self._pushed_total -= dropped_ms * BYTES_PER_MS
        sent = self._pushed_total
        # Rewind every segment to the first byte the line did not send.
        rewind_to: _Pushed | None = None
        while self._records and self._records[-1].at + self._records[-1].length > sent:
            rewind_to = self._records.pop()
        if rewind_to is not None:
            unsent_from = max(0, sent - rewind_to.at)
            segment = rewind_to.segment
            segment.piece, segment.offset = rewind_to.piece, rewind_to.offset + unsent_from
            found = False
            for s in self.queue:
                if s is segment:
                    found = True
                    s.end_at = None
                elif found:
                    s.piece, s.offset, s.end_at = 0, 0, None
        return dropped_ms

    def resume(self) -> None:
        """Go on after a noise, a little before where it stopped (within the same sentence)."""
        if not self.paused:
            return
        self.paused = False
        if self.queue:
            segment = self.queue[0]
            segment.offset = max(0, segment.offset - self.rewind_ms * BYTES_PER_MS)
            segment.offset -= segment.offset % 2

    def stop(self) -> list[Segment]:
        """Drop everything (the callee's words need an answer). Returns the dropped segments in order."""
        dropped_ms = self.control.stop_playback()
        self._pushed_total -= dropped_ms * BYTES_PER_MS
        dropped = list(self.queue)
        self.queue.clear()
        self._records.clear()
        self.paused = False
        return dropped
