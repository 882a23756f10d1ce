"""One live outbound call on the box side: audio in → VAD → ASR → intent → dialog → audio out.

The session is the :class:`~callbox.lines.base.CallListener` a line talks to. Line callbacks only
queue events (they run on media threads); one session thread runs the dialog, and one worker thread
runs ASR so that DTMF and barge-in are handled while speech is being recognised.

Opt-out is durable before it is confirmed: ``RecordOptOut`` writes the DNC row (SQLite, synchronous
FULL) on the session thread before the confirmation prompt is queued, and the call only ends after
the confirmation has played.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from callbox.dialogs import dialog as d
from callbox.dialogs.intents import classify
from callbox.lines.base import CallControl, CallEnd
from callbox.voice.asr import Recognizer
from callbox.voice.audio import duration_ms
from callbox.voice.tts import PromptCache
from callbox.voice.vad import LineVad, SpeechStarted, Utterance

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 6.0  # silence after a question before the dialog hears "silence"
MAX_CALL_S = 180.0


class RecordingSink(Protocol):
    def feed(self, callee_frame: bytes, box_frame: bytes) -> None: ...

    def stop(self) -> None: ...

    def discard(self) -> None: ...


@dataclass
class SessionStats:
    """Timing facts for benchmarks and the closing note (ms since answer)."""

    answered_at: float = 0.0
    first_audio_ms: int | None = None
    barge_in_stops_ms: list[int] | None = None
    turn_latencies_ms: list[int] | None = None


class CallSession:
    def __init__(
        self,
        dialog: d.OutboundDialog,
        prompts: PromptCache,
        recognizer: Recognizer,
        on_opt_out: Callable[[str], None],
        recorder_factory: Callable[[], RecordingSink] | None = None,
        on_event: Callable[[str, dict], None] | None = None,
    ) -> None:
        self.dialog = dialog
        self.prompts = prompts
        self.recognizer = recognizer
        self.on_opt_out = on_opt_out
        self.recorder_factory = recorder_factory
        self.on_event = on_event or (lambda kind, data: None)
        self.control: CallControl | None = None
        self.events: "queue.Queue[tuple[str, Any]]" = queue.Queue()
        self.vad = LineVad()
        self.end_reason: CallEnd | None = None
        self.end_detail = ""
        self.answered = False
        self.finished = threading.Event()
        self.stats = SessionStats(barge_in_stops_ms=[], turn_latencies_ms=[])
        self._segments: deque[tuple[str, int, int]] = deque()  # (prompt key, end in pushed ms, transcript turn)
        self._pushed_ms = 0
        self._recorder: RecordingSink | None = None
        self._rec_lock = threading.Lock()
        self._callee_frames: deque[bytes] = deque(maxlen=50)
        self._asr_jobs: "queue.Queue[Utterance | None]" = queue.Queue()
        self._last_activity = time.monotonic()
        self._speech_end_at: float | None = None
        self._hangup_sent = False

    # -- CallListener (line threads: only queue) -------------------------------------------------
    def on_answered(self) -> None:
        self.events.put(("answered", None))

    def on_audio(self, frame: bytes) -> None:
        if self._recorder is not None:
            self._callee_frames.append(frame)
        for event in self.vad.feed(frame):
            self.events.put(("vad", event))

    def on_audio_sent(self, frame: bytes) -> None:
        with self._rec_lock:
            if self._recorder is not None:
                callee = self._callee_frames.popleft() if self._callee_frames else bytes(len(frame))
                self._recorder.feed(callee, frame)

    def on_dtmf(self, digit: str) -> None:
        self.events.put(("dtmf", digit))

    def on_ended(self, reason: CallEnd, detail: str) -> None:
        self.events.put(("ended", (reason, detail)))

    # -- session thread --------------------------------------------------------------------------
    def run(self, control: CallControl) -> None:
        """Drive the call until it ends. Blocks; call from a thread of its own."""
        self.control = control
        worker = threading.Thread(target=self._asr_worker, name="asr", daemon=True)
        worker.start()
        started = time.monotonic()
        try:
            while True:
                try:
                    kind, payload = self.events.get(timeout=0.02)
                except queue.Empty:
                    kind, payload = "tick", None
                if kind == "ended":
                    self.end_reason, self.end_detail = payload
                    break
                self._handle(kind, payload)
                self._advance_playback()
                if self.answered and time.monotonic() - started > MAX_CALL_S and not self._hangup_sent:
                    log.warning("call exceeded %s s; hanging up", MAX_CALL_S)
                    self._hangup()
        finally:
            self._asr_jobs.put(None)
            self._stop_recording(discard=False)
            self.finished.set()

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "answered":
            self.answered = True
            self.stats.answered_at = time.monotonic()
            self.on_event("answered", {})
            self._do(self.dialog.start())
        elif kind == "dtmf":
            self._last_activity = time.monotonic()
            self.on_event("dtmf", {"digit": payload})
            self._do(self.dialog.dtmf(payload))
        elif kind == "vad":
            if isinstance(payload, SpeechStarted):
                self._last_activity = time.monotonic()
                if self.control and self.control.playback_pending_ms() > 0 and self._segments:
                    t0 = time.monotonic()
                    key = self._segments[0][0]
                    self._stop_speaking()
                    self.stats.barge_in_stops_ms.append(int((time.monotonic() - t0) * 1000))
                    self.on_event("barge_in", {"prompt": key})
                    self._do(self.dialog.interrupted(key))
            elif isinstance(payload, Utterance):
                self._last_activity = time.monotonic()
                self._speech_end_at = time.monotonic()
                self._asr_jobs.put(payload)
        elif kind == "heard":
            text, language = payload
            intent = classify(text, language)
            self.on_event("heard", {"text": text, "intent": intent.name})
            self._do(self.dialog.heard(text, intent))
        elif kind == "tick":
            if (
                self.answered
                and self.dialog.waiting_for_answer
                and not self._segments
                and not self.vad.detector.in_turn
                and self._asr_jobs.empty()
                and time.monotonic() - self._last_activity > ANSWER_TIMEOUT_S
            ):
                self._last_activity = time.monotonic()
                self._do(self.dialog.silence())

    def _asr_worker(self) -> None:
        while True:
            job = self._asr_jobs.get()
            if job is None:
                return
            try:
                result = self.recognizer.transcribe(job.pcm, self.dialog.language)
            except Exception:
                log.exception("ASR failed")
                continue
            if result.text:
                self.events.put(("heard", (result.text, self.dialog.language)))

    # -- actions ---------------------------------------------------------------------------------
    def _do(self, actions: list[d.Action]) -> None:
        for action in actions:
            if isinstance(action, d.Say):
                pcm = self.prompts.render(action.text, self.dialog.language, persist=action.persist)
                if self._speech_end_at is not None:
                    self.stats.turn_latencies_ms.append(int((time.monotonic() - self._speech_end_at) * 1000))
                    self._speech_end_at = None
                if self.stats.first_audio_ms is None:
                    self.stats.first_audio_ms = int((time.monotonic() - self.stats.answered_at) * 1000)
                assert self.control is not None
                self.control.play(pcm)
                self._pushed_ms += duration_ms(pcm)
                self._segments.append((action.key, self._pushed_ms, action.turn))
                self.on_event("say", {"key": action.key, "text": action.text})
            elif isinstance(action, d.StopSpeaking):
                self._stop_speaking()
            elif isinstance(action, d.RecordOptOut):
                self.on_opt_out(action.source)  # durable before anything else happens
                self.on_event("opt_out", {"source": action.source})
            elif isinstance(action, d.StartRecording):
                if self.recorder_factory is not None:
                    with self._rec_lock:
                        self._recorder = self.recorder_factory()
                    self.on_event("recording", {"on": True})
            elif isinstance(action, d.StopRecording):
                self._stop_recording(action.discard)
                self.on_event("recording", {"on": False, "discard": action.discard})
            elif isinstance(action, d.Hangup):
                self._hangup()

    def _stop_speaking(self) -> None:
        if self.control is None:
            return
        self.control.stop_playback()
        if self._segments:
            self.dialog.dropped([turn for _, _, turn in self._segments])
        self._segments.clear()
        self._pushed_ms = 0

    def _advance_playback(self) -> None:
        if self.control is None or not self._segments:
            return
        sent_ms = self._pushed_ms - self.control.playback_pending_ms()
        while self._segments and self._segments[0][1] <= sent_ms:
            key, _, _ = self._segments.popleft()
            if not self._segments:
                self._pushed_ms = 0
                self._last_activity = time.monotonic()
            self._do(self.dialog.said(key))

    def _stop_recording(self, discard: bool) -> None:
        with self._rec_lock:
            recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        try:
            recorder.discard() if discard else recorder.stop()
        except Exception:
            log.exception("recorder failed to close")

    def _hangup(self) -> None:
        if self.control is not None and not self._hangup_sent:
            self._hangup_sent = True
            self.control.hangup()
