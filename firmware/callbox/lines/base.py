"""The Line interface every phone technology implements.

Audio crossing this interface is always telephone-band: 8 kHz, signed 16-bit little-endian mono, in
20 ms frames (160 samples, 320 bytes). Lines convert to and from whatever their hardware uses.

Threading: listener callbacks may arrive on a line's own threads. Listeners must return quickly
(queue the work); they must never call back into the line from inside a media callback.
"""

from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Protocol

from callbox.compliance.permit import Permit, PermitAuthority

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2


class LineState(str, enum.Enum):
    """What a technician sees on the line's LED and in the panel."""

    DISABLED = "disabled"
    READY = "ready"
    DIALING = "dialing"
    RINGING = "ringing"
    IN_CALL = "in_call"
    FAULT = "fault"
    PAUSED = "paused"


@dataclass(frozen=True)
class LineEvent:
    line_id: str
    state: LineState
    detail: str = ""
    at: datetime | None = None


class CallEnd(str, enum.Enum):
    """Why a call ended, as stored in the call record."""

    COMPLETED = "completed"  # answered, then either side hung up
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # network/line error
    REJECTED = "rejected"


class CallListener(Protocol):
    """What a line tells the dialog about one call."""

    def on_answered(self) -> None: ...

    def on_audio(self, frame: bytes) -> None:
        """One received 20 ms frame (320 bytes)."""

    def on_dtmf(self, digit: str) -> None: ...

    def on_ended(self, reason: CallEnd, detail: str) -> None: ...


class CallControl(ABC):
    """What the dialog can do to one call in progress."""

    #: Whether :meth:`transfer` can hand the call to a person (SIP REFER). Where it cannot (GSM), the
    #: dialog promises a staff callback instead of a transfer.
    can_transfer: bool = False

    @abstractmethod
    def play(self, pcm: bytes) -> None:
        """Queue 8 kHz mono PCM for sending; returns at once."""

    @abstractmethod
    def stop_playback(self) -> int:
        """Drop everything queued (barge-in); returns how many milliseconds were dropped."""

    @abstractmethod
    def playback_pending_ms(self) -> int:
        """Milliseconds of queued audio not yet sent."""

    @abstractmethod
    def send_dtmf(self, digits: str) -> None: ...

    @abstractmethod
    def hangup(self) -> None: ...

    def transfer(self, target: str) -> bool:
        """Blind-transfer the call to ``target`` (an extension or SIP URI). Lines that can (SIP REFER)
        override this; the default says it cannot, so the dialog offers a staff callback instead."""
        return False


StateListener = Callable[[LineEvent], None]


class Line(ABC):
    """A phone line. Subclasses implement :meth:`_place_call`; :meth:`dial` is the gate check."""

    kind: str = "abstract"

    def __init__(self, line_id: str, authority: PermitAuthority) -> None:
        self.line_id = line_id
        self._authority = authority
        self._state = LineState.DISABLED
        self._listeners: list[StateListener] = []
        self._state_lock = threading.Lock()

    # -- state -----------------------------------------------------------------------------------
    @property
    def state(self) -> LineState:
        return self._state

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def _set_state(self, state: LineState, detail: str = "") -> None:
        with self._state_lock:
            if state == self._state and not detail:
                return
            self._state = state
        event = LineEvent(self.line_id, state, detail)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken LED or panel must never break a call
                import logging

                logging.getLogger(__name__).exception("line state listener failed")

    # -- dialing ---------------------------------------------------------------------------------
    def dial(self, permit: Permit, listener: CallListener) -> CallControl:
        """Dial the number the permit allows. The only public way to place a call."""
        number = self._authority.redeem(permit, self.kind)
        return self._place_call(number, listener)

    @abstractmethod
    def _place_call(self, number: str, listener: CallListener) -> CallControl:
        """Technology-specific dial. Called only by :meth:`dial` after the permit was redeemed."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...


@dataclass
class PlaybackBuffer:
    """A thread-safe FIFO of outgoing PCM, consumed one 20 ms frame at a time by a media clock."""

    _data: bytearray = field(default_factory=bytearray)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, pcm: bytes) -> None:
        with self._lock:
            self._data.extend(pcm)

    def pop_frame(self) -> bytes:
        """Next frame, padded with silence; silence when empty."""
        with self._lock:
            chunk = bytes(self._data[:FRAME_BYTES])
            del self._data[:FRAME_BYTES]
        if len(chunk) < FRAME_BYTES:
            chunk += bytes(FRAME_BYTES - len(chunk))
        return chunk

    def clear(self) -> int:
        with self._lock:
            dropped = len(self._data)
            self._data.clear()
        return dropped * 1000 // (SAMPLE_RATE * 2)

    def pending_ms(self) -> int:
        with self._lock:
            return len(self._data) * 1000 // (SAMPLE_RATE * 2)
