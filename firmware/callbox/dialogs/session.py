"""One live outbound call on the box side: a full-duplex voice pipeline around the dialog.

    line (20 ms, 8 kHz) → VAD + echo guard → turn events ─┬→ barge-in: pause the prompt now
                                                          └→ ASR (worker) → intent → dialog
    dialog actions → prompt cache (prompts pre-rendered; dynamic text sentence by sentence) → player
    → line, a little at a time (so a prompt can be paused, resumed or dropped within one tick)

Threads: line callbacks only queue events (they run on media threads); one session thread runs the
dialog and the player; one worker runs ASR, so DTMF and barge-in are handled while speech is being
recognised.

Barge-in: when the callee starts speaking over a prompt (echo of the box's own voice does not count,
see :class:`~callbox.voice.vad.EchoGuard`), the prompt is *paused* within one tick. If what they said
turns out to be nothing (a cough, a noise: no words, or words that mean nothing and change nothing),
the prompt resumes a little before where it stopped; otherwise it is dropped and the dialog answers
what was said. The box never goes silent: a paused prompt resumes after ``RESUME_AFTER_S``.

Fast replies: the end of turn comes sooner when a short answer is expected; ASR starts speculatively
after ``early_silence_ms`` of silence (its result is used if the callee does not go on, and if it is
a clear answer such as "Stop calling me." the turn ends right away instead of waiting out the
silence an open answer gets); Whisper runs
with a short encoder context; script replies are rendered while the prologue plays.

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
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from callbox.dialogs import dialog as d
from callbox.dialogs.intents import CONFIRM_BELOW, classify_hypotheses
from callbox.lines.base import CallControl, CallEnd
from callbox.voice.asr import Recognizer, Transcript
from callbox.voice.player import Player, Segment
from callbox.voice.tts import PromptCache
from callbox.voice.vad import LineVad, SpeechResumed, SpeechStarted, TurnDetector, TurnPaused, Utterance

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 6.0  # silence after a question before the dialog hears "silence"
MAX_CALL_S = 180.0
RESUME_AFTER_S = 1.5  # a paused prompt resumes if nothing came of the interruption
NOISE_VOICED_MS = 100  # a turn with less voiced audio than this is a click or a cough: no ASR
SHORT_VOICED_MS = 300  # a turn this short counts only if the recogniser is not guessing (a cough ≠ "嗯")
SHORT_MIN_CONFIDENCE = 0.2  # measured: Whisper gives a clear "同意" 0.29, a cough under 0.1
UNHEARD_VOICED_MS = 700  # this much speech with no words made out is someone talking, not a noise
FILLERS = {"嗯", "啊", "呃", "哦", "噢", "唔", "uh", "um", "hmm", "mm", "oh", "ah", "er"}
SHORT_ANSWER_END_MS = 350  # end of turn when a yes/no is expected (speculative ASR starts at 160)
OPEN_ANSWER_END_MS = 650
# A speculative transcript that is one of these, heard clearly, ends an open turn at once (no wait
# for OPEN_ANSWER_END_MS): "Stop calling me." or "Yes." after a pause is a complete answer.
DECISIVE_INTENTS = {"opt_out", "consent_yes", "consent_no", "handoff", "call_later", "stop_recording"}
TRANSFER_HANGUP_S = 2.0  # after a REFER, leave the call once the PBX has had time to take it


class RecordingSink(Protocol):
    def feed(self, callee_frame: bytes, box_frame: bytes) -> None: ...

    def stop(self) -> None: ...

    def discard(self) -> None: ...


def _spec_id(kind: str) -> int:
    """The job number of a speculative ASR job's kind ("spec:7" → 7)."""
    return int(kind.split(":", 1)[1])


@dataclass
class SessionStats:
    """Timing facts for benchmarks and the closing note (ms since answer)."""

    answered_at: float = 0.0
    first_audio_ms: int | None = None
    barge_in_stops_ms: list[int] | None = None
    turn_latencies_ms: list[int] | None = None
    asr_ms: list[int] = field(default_factory=list)
    audio_ms: list[int] = field(default_factory=list)
    speculative_hits: int = 0
    noise_resumes: int = 0
    second_looks: int = 0  # turns read a second time after the first reading (TwoLookRecognizer)
    late_opt_out_asks: int = 0  # of them, turns already answered whose second reading may be an opt-out


class CallSession:
    def __init__(
        self,
        dialog: d.OutboundDialog,
        prompts: PromptCache,
        recognizer: Recognizer,
        on_opt_out: Callable[[str], None],
        recorder_factory: Callable[[], RecordingSink] | None = None,
        on_event: Callable[[str, dict], None] | None = None,
        vad: LineVad | None = None,
    ) -> None:
        self.dialog = dialog
        self.prompts = prompts
        self.recognizer = recognizer
        self.on_opt_out = on_opt_out
        self.recorder_factory = recorder_factory
        self.on_event = on_event or (lambda kind, data: None)
        self.control: CallControl | None = None
        self.player: Player | None = None
        self.events: "queue.Queue[tuple[str, Any, float]]" = queue.Queue()
        self.vad = vad or LineVad(
            detector=TurnDetector(start_window=7, start_voiced=5, end_silence_ms=OPEN_ANSWER_END_MS, early_silence_ms=160)
        )
        self.end_reason: CallEnd | None = None
        self.end_detail = ""
        self.answered = False
        self.finished = threading.Event()
        self.stats = SessionStats(barge_in_stops_ms=[], turn_latencies_ms=[])
        self._recorder: RecordingSink | None = None
        self._rec_lock = threading.Lock()
        self._callee_frames: deque[bytes] = deque(maxlen=50)
        self._asr_jobs: "queue.Queue[tuple[int, str, bytes] | None]" = queue.Queue()
        self._asr_busy = threading.Event()
        self._last_activity = time.monotonic()
        self._speech_end_at: float | None = None
        self._hangup_sent = False
        self._hangup_at: float | None = None
        self._turn = 0  # VAD turn counter
        self._spec: dict[int, int | Transcript] = {}  # per turn: the speculative job in flight, or its result
        self._jobs = 0
        # Turns that ended and wait for their final transcript (turn → voiced ms). More than one when
        # the callee pauses mid-sentence ("Stop calling me … please") while ASR is still busy: each is
        # answered in order, and a later cough or a short "please" never hides an earlier real turn.
        self._pending: dict[int, int] = {}
        self._answered: set[int] = set()  # turns the dialog has heard (a late second reading may still come)
        self._paused_at: float | None = None

    # -- CallListener (line threads: only queue) -------------------------------------------------
    def on_answered(self) -> None:
        self.events.put(("answered", None, time.monotonic()))

    def on_audio(self, frame: bytes) -> None:
        if self._recorder is not None:
            self._callee_frames.append(frame)
        for event in self.vad.feed(frame):
            self.events.put(("vad", event, time.monotonic()))

    def on_audio_sent(self, frame: bytes) -> None:
        self.vad.note_sent(frame)
        with self._rec_lock:
            if self._recorder is not None:
                callee = self._callee_frames.popleft() if self._callee_frames else bytes(len(frame))
                self._recorder.feed(callee, frame)

    def on_dtmf(self, digit: str) -> None:
        self.events.put(("dtmf", digit, time.monotonic()))

    def on_ended(self, reason: CallEnd, detail: str) -> None:
        self.events.put(("ended", (reason, detail), time.monotonic()))

    # -- session thread --------------------------------------------------------------------------
    def run(self, control: CallControl) -> None:
        """Drive the call until it ends. Blocks; call from a thread of its own."""
        self.control = control
        self.player = Player(control)
        self.dialog.can_transfer = control.can_transfer
        worker = threading.Thread(target=self._asr_worker, name="asr", daemon=True)
        worker.start()
        started = time.monotonic()
        try:
            while True:
                try:
                    kind, payload, at = self.events.get(timeout=0.01)
                except queue.Empty:
                    kind, payload, at = "tick", None, time.monotonic()
                if kind == "ended":
                    self.end_reason, self.end_detail = payload
                    break
                self._handle(kind, payload, at)
                self._advance_playback()
                now = time.monotonic()
                if self._hangup_at is not None and now >= self._hangup_at:
                    self._hangup()
                if self.answered and now - started > MAX_CALL_S and not self._hangup_sent:
                    log.warning("call exceeded %s s; hanging up", MAX_CALL_S)
                    self._hangup()
        finally:
            self._asr_jobs.put(None)
            self._stop_recording(discard=False)
            self.finished.set()

    def _handle(self, kind: str, payload: Any, at: float) -> None:
        if kind == "answered":
            self.answered = True
            self.stats.answered_at = time.monotonic()
            self.on_event("answered", {})
            self._do(self.dialog.start())
            prerender = getattr(self.prompts, "prerender", None)
            if prerender is not None:
                prerender([(text, False) for text in self.dialog.upcoming_texts()], self.dialog.language)
        elif kind == "dtmf":
            self._last_activity = time.monotonic()
            self.on_event("dtmf", {"digit": payload})
            self._answer(self.dialog.dtmf(payload))
        elif kind == "vad":
            self._on_vad(payload, at)
        elif kind == "asr":
            self._on_transcript(*payload)
        elif kind == "tick":
            self._on_tick()

    def _on_vad(self, event: Any, at: float) -> None:
        assert self.player is not None
        self._last_activity = time.monotonic()
        if isinstance(event, SpeechStarted):
            self._turn += 1
            if self.player.audible:
                self.player.pause()
                self._paused_at = time.monotonic()
                # Someone who talks over the box usually says something short: answer it quickly.
                self.vad.detector.end_silence_ms = SHORT_ANSWER_END_MS
                # Onset → silence on the line: the detector's hysteresis (frames it needed) plus our delay.
                detect_ms = self.vad.detector.start_voiced * 20
                self.stats.barge_in_stops_ms.append(detect_ms + int((time.monotonic() - at) * 1000))
                self.on_event("barge_in", {"prompt": self.player.current_key})
        elif isinstance(event, TurnPaused):
            if not self._asr_busy.is_set() and self._asr_jobs.empty():
                self._jobs += 1
                self._spec[self._turn] = self._jobs
                self._asr_jobs.put((self._turn, f"spec:{self._jobs}", event.pcm))
        elif isinstance(event, SpeechResumed):
            self._spec.pop(self._turn, None)
        elif isinstance(event, Utterance):
            self._speech_end_at = time.monotonic() - event.silence_ms / 1000
            self.stats.audio_ms.append(len(event.pcm) // 16)
            if event.voiced_ms < NOISE_VOICED_MS or not event.confirmed:
                log.debug("turn %d: %d ms voiced, not speech", self._turn, event.voiced_ms)
                self._noise()
                return
            self._pending[self._turn] = event.voiced_ms
            if self._turn in self._spec:
                result = self._spec[self._turn]
                if isinstance(result, Transcript):
                    self.stats.speculative_hits += 1
                    self._on_transcript(self._turn, "final", result)
                return  # in flight: its result will be taken as final
            self._asr_jobs.put((self._turn, "final", event.pcm))

    def _on_tick(self) -> None:
        assert self.player is not None
        now = time.monotonic()
        if self.player.paused and self._paused_at is not None and not self.vad.detector.in_turn:
            if not self._pending and self._asr_jobs.empty() and not self._asr_busy.is_set():
                if now - self._paused_at > RESUME_AFTER_S:
                    self._noise()
        if (
            self.answered
            and self.dialog.waiting_for_answer
            and not self.player.active
            and not self.vad.detector.in_turn
            and not self._pending
            and self._asr_jobs.empty()
            and not self._asr_busy.is_set()
            and now - self._last_activity > ANSWER_TIMEOUT_S
        ):
            self._last_activity = now
            self._answer(self.dialog.silence())

    def _asr_worker(self) -> None:
        while True:
            job = self._asr_jobs.get()
            if job is None:
                return
            turn, kind, pcm = job
            language = self.dialog.language
            # A recogniser that reads some turns twice (voice/asr.py: TwoLookRecognizer) is answered on its
            # first reading at once; the second follows as evidence, so it never delays the box's reply.
            first_look = getattr(self.recognizer, "first_look", None) or self.recognizer.transcribe
            self._asr_busy.set()
            try:
                result = first_look(pcm, language)
            except Exception:
                log.exception("ASR failed")
                result = Transcript("", language, 0.0)
            finally:
                self._asr_busy.clear()
            self.stats.asr_ms.append(result.elapsed_ms)
            self.events.put(("asr", (turn, kind, result), time.monotonic()))
            second_look = getattr(self.recognizer, "second_look", None)
            if second_look is not None and result.text and not self._stale(turn, kind):
                try:
                    more = second_look(pcm, language, result)
                except Exception:
                    log.exception("ASR second look failed")
                    more = None
                if more is not None:
                    self.events.put(("asr", (turn, "look:" + kind, more), time.monotonic()))

    def _stale(self, turn: int, kind: str) -> bool:
        """A speculative reading the callee has since talked past (ASR thread: a read of the session's
        dict, which only the session thread writes; a wrong answer costs one second look or skips one
        of a reading nobody will use)."""
        current = self._spec.get(turn)  # the speculative job in flight for this turn, or its reading
        return kind.startswith("spec:") and isinstance(current, int) and current != _spec_id(kind)

    def _on_transcript(self, turn: int, kind: str, result: Transcript) -> None:
        if kind.startswith("look:"):
            self._on_second_look(turn, result)
            return
        if kind.startswith("spec:"):
            if self._spec.get(turn) != _spec_id(kind):
                return  # the callee went on speaking after this pause: stale
            self._spec[turn] = result
            if turn not in self._pending:
                if turn == self._turn and self._is_decisive(result):
                    self.vad.detector.end_now()  # the Utterance follows at the next silent frame
                return  # the turn has not ended yet; kept for when it does
            self.stats.speculative_hits += 1
        if turn not in self._pending:
            return
        voiced_ms = self._pending.pop(turn)
        self._answered.add(turn)
        for done in [t for t in self._spec if t <= turn]:
            del self._spec[done]
        text = result.text.strip()
        bare = text.lower().strip(" .,!?。，！？、…")
        if not bare and voiced_ms >= UNHEARD_VOICED_MS:
            log.info("turn %d: %d ms of speech but the recogniser made out no words; saying so", turn, voiced_ms)
            self.on_event("heard", {"text": "", "intent": "not_understood"})  # a callee turn, for the transcript
            self._answer(self.dialog.not_understood())
            return
        if not bare or bare in FILLERS or (voiced_ms < SHORT_VOICED_MS and result.confidence < SHORT_MIN_CONFIDENCE):
            log.debug("turn %d: %r (confidence %.2f, %d ms voiced) taken as noise", turn, text, result.confidence, voiced_ms)
            self._noise()
            return
        language = self.dialog.language
        intent = classify_hypotheses(text, result.alternatives, language, result.spotted)
        log.debug("turn %d heard %r → %s %.2f (ASR %d ms, %s)", turn, text, intent.name, intent.confidence,
                  result.elapsed_ms, "after the next turn began" if turn != self._turn else "last turn")
        self.on_event("heard", {"text": text, "intent": intent.name})
        paused_key = self.player.current_key if self.player and self.player.paused else ""
        actions = self.dialog.interrupted(paused_key) if paused_key else []
        actions += self.dialog.heard(text, intent)
        if not actions and self.player and self.player.paused and voiced_ms < 400 and intent.name == "unknown":
            self.stats.noise_resumes += 1
        self._answer(actions)

    def _on_second_look(self, turn: int, result: Transcript) -> None:
        """A turn's second reading: the same text, more hypotheses.

        Still waiting for its turn to end (a speculative reading): it replaces the first reading, so the
        turn is answered on both. Already answered: only a possible opt-out matters, and the dialog asks
        about it once (dialog.heard_late). Stale (the callee went on speaking): dropped."""
        self.stats.second_looks += 1
        stored = self._spec.get(turn)
        if isinstance(stored, Transcript) and stored.text == result.text and turn not in self._answered:
            self._spec[turn] = result
            return
        if turn not in self._answered:
            return
        language = self.dialog.language
        intent = classify_hypotheses(result.text, result.alternatives, language, result.spotted)
        if intent.name != "opt_out":
            return
        actions = self.dialog.heard_late(result.text, intent)
        log.info("turn %d: a second reading of %r may be an opt-out (%s); %s", turn, result.text, intent.matched,
                 "asking the callee" if actions else "already asked or the call is ending: nothing to do")
        if actions:
            self.stats.late_opt_out_asks += 1
            self._answer(actions)

    def _is_decisive(self, result: Transcript) -> bool:
        if not result.text.strip():
            return False
        intent = classify_hypotheses(result.text, result.alternatives, self.dialog.language, result.spotted)
        return intent.name in DECISIVE_INTENTS and intent.confidence >= CONFIRM_BELOW

    def _noise(self) -> None:
        """Nothing came of a sound on the line: go on where the prompt was paused — unless an earlier
        turn still waits for its transcript; that one decides."""
        if self._pending:
            return
        self._speech_end_at = None  # no reply is due, so no turn latency to measure
        if self.player is not None and self.player.paused:
            self.stats.noise_resumes += 1
            self.player.resume()
            self._paused_at = None
            self.on_event("resumed", {"prompt": self.player.current_key})

    def _answer(self, actions: list[d.Action]) -> None:
        """Carry out the dialog's answer; a paused prompt is dropped if the dialog said anything new,
        and resumed if it had nothing to say (the box never falls silent)."""
        assert self.player is not None
        if self.player.paused:
            if any(isinstance(a, (d.Say, d.StopSpeaking, d.Hangup, d.Transfer)) for a in actions):
                self._stop_speaking()
            else:
                self.player.resume()
                self._paused_at = None
        if not any(isinstance(a, d.Say) for a in actions):
            self._speech_end_at = None  # nothing to say to that (e.g. a DTMF digit mid-collect): not a turn
        self._do(actions)
        self._tune_turn_end()

    def _tune_turn_end(self) -> None:
        short = self.dialog.expects_short_answer
        self.vad.detector.end_silence_ms = SHORT_ANSWER_END_MS if short else OPEN_ANSWER_END_MS

    # -- actions ---------------------------------------------------------------------------------
    def _do(self, actions: list[d.Action]) -> None:
        assert self.player is not None and self.control is not None
        for action in actions:
            if isinstance(action, d.Say):
                pieces = self.prompts.render_stream(action.text, self.dialog.language, persist=action.persist)
                self.player.enqueue(action.key, pieces, action.turn)
                self.player.pump()  # first audio on the line now, not at the next tick
                if self._speech_end_at is not None:
                    self.stats.turn_latencies_ms.append(int((time.monotonic() - self._speech_end_at) * 1000))
                    self._speech_end_at = None
                if self.stats.first_audio_ms is None:
                    self.stats.first_audio_ms = int((time.monotonic() - self.stats.answered_at) * 1000)
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
            elif isinstance(action, d.Transfer):
                self._transfer(action.target)
            elif isinstance(action, d.Hangup):
                self._hangup()

    def _transfer(self, target: str) -> None:
        assert self.control is not None
        if self.control.can_transfer and self.control.transfer(target):  # SIP REFER sent
            self.on_event("transfer", {"target": target})
            self._hangup_at = time.monotonic() + TRANSFER_HANGUP_S
        else:  # GSM, or the REFER could not be sent: staff call back
            self.dialog.facts.handoff = "callback"
            self.on_event("callback_task", {"target": target, "reason": "callee asked for a person"})
            self._hangup()

    def _stop_speaking(self) -> None:
        if self.player is None:
            return
        dropped: list[Segment] = self.player.stop()
        self._paused_at = None
        if dropped:
            # The first was cut off only if any of it was heard; the rest never played.
            turns = [s.turn for s in dropped]
            if not dropped[0].started:
                turns = [-1] + turns
            self.dialog.dropped(turns)

    def _advance_playback(self) -> None:
        if self.player is None:
            return
        for segment in self.player.pump():
            if not self.player.active:
                self._last_activity = time.monotonic()
            self._do(self.dialog.said(segment.key))
            self._tune_turn_end()

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
            self._hangup_at = None
            self.control.hangup()
