"""Voice activity on the line: when does the callee start talking (barge-in) and stop (end of turn).

``webrtcvad`` classifies each 20 ms frame; :class:`TurnDetector` (pure, frame in → events out) turns
those flags into turn events with hysteresis:
- speech starts when ``start_voiced`` of the last ``start_window`` frames are voiced (a short cough
  or click does not start a turn);
- the turn ends after ``end_silence_ms`` of unvoiced frames, or at ``max_turn_ms``.
The utterance includes a pre-roll so the first syllable is not cut.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import webrtcvad

from callbox.lines.base import FRAME_MS, SAMPLE_RATE


@dataclass(frozen=True)
class SpeechStarted:
    t_ms: int


@dataclass(frozen=True)
class Utterance:
    pcm: bytes
    start_ms: int
    end_ms: int


@dataclass
class TurnDetector:
    start_window: int = 8
    start_voiced: int = 6
    end_silence_ms: int = 600
    max_turn_ms: int = 10000
    preroll_frames: int = 10
    _recent: deque = field(default_factory=lambda: deque(maxlen=8))
    _preroll: deque = field(default_factory=lambda: deque(maxlen=10))
    _in_turn: bool = False
    _turn: bytearray = field(default_factory=bytearray)
    _silent_ms: int = 0
    _t_ms: int = 0
    _start_ms: int = 0

    def __post_init__(self) -> None:
        self._recent = deque(maxlen=self.start_window)
        self._preroll = deque(maxlen=self.preroll_frames)

    def feed(self, frame: bytes, voiced: bool) -> list[SpeechStarted | Utterance]:
        self._t_ms += FRAME_MS
        events: list[SpeechStarted | Utterance] = []
        if not self._in_turn:
            self._preroll.append(frame)
            self._recent.append(voiced)
            if sum(self._recent) >= self.start_voiced:
                self._in_turn = True
                self._silent_ms = 0
                self._turn = bytearray(b"".join(self._preroll))
                self._start_ms = self._t_ms - FRAME_MS * len(self._preroll)
                events.append(SpeechStarted(self._t_ms))
            return events
        self._turn.extend(frame)
        self._silent_ms = 0 if voiced else self._silent_ms + FRAME_MS
        turn_ms = self._t_ms - self._start_ms
        if self._silent_ms >= self.end_silence_ms or turn_ms >= self.max_turn_ms:
            events.append(Utterance(bytes(self._turn), self._start_ms, self._t_ms))
            self._in_turn = False
            self._recent.clear()
            self._preroll.clear()
            self._turn = bytearray()
        return events

    @property
    def in_turn(self) -> bool:
        return self._in_turn


class LineVad:
    """webrtcvad over 20 ms line frames feeding a :class:`TurnDetector`."""

    def __init__(self, aggressiveness: int = 2, detector: TurnDetector | None = None) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)
        self.detector = detector or TurnDetector()

    def feed(self, frame: bytes) -> list[SpeechStarted | Utterance]:
        return self.detector.feed(frame, self._vad.is_speech(frame, SAMPLE_RATE))
