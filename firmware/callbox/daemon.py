"""The running box: store + rule pack + gate + lines + voice, and the campaign loop that ties them.

Flow for each campaign member: ``Gate.request`` (decision stored, permit issued only when allowed) →
``Line.dial(permit)`` → :class:`~callbox.dialogs.session.CallSession` until hang-up → call record.
Nothing else in the firmware can reach a line's dial.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from callbox.clock import Clock
from callbox.compliance.gate import Gate
from callbox.compliance.numbers import spoken
from callbox.compliance.permit import PermitAuthority
from callbox.compliance.rulepack import RulePack, load_pack
from callbox.dialogs.dialog import OutboundDialog
from callbox.dialogs.script import Script, load_script
from callbox.dialogs.session import CallSession
from callbox.lines.base import CallEnd, Line, LineEvent
from callbox.recordings.names import recording_name, transcript_name
from callbox.store import audit, queries
from callbox.store import models as m
from callbox.store.db import Store, open_store
from callbox.store.models_panel import panel_line_listeners

log = logging.getLogger(__name__)


@dataclass
class ContactResult:
    """What happened to one campaign member (the demo's summary row)."""

    phone: str
    name: str = ""
    dialed: bool = False
    decision: str = ""
    reasons: list[str] = field(default_factory=list)
    next_allowed_at: str | None = None
    ai_disclosed: bool = False
    recording: str = "none"
    opt_out: bool = False
    outcome: str = ""
    end: str = ""
    transcript: list[dict] = field(default_factory=list)
    first_audio_ms: int | None = None
    call_setup_ms: int | None = None

    def as_json(self) -> dict:
        return {
            "phone": self.phone,
            "name": self.name,
            "dialed": self.dialed,
            "decision": self.decision,
            "reasons": self.reasons,
            "next_allowed_at": self.next_allowed_at,
            "ai_disclosed": self.ai_disclosed,
            "recording": self.recording,
            "opt_out": self.opt_out,
            "outcome": self.outcome,
            "transcript": self.transcript,
        }


class VoiceStack:
    """Models loaded once per daemon: a synthesizer per language (behind a prompt cache) and ASR."""

    def __init__(self, data_dir: Path, languages: tuple[str, ...] = ("zh", "en"), cache_dir: Path | None = None) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from callbox.voice.asr import WhisperRecognizer
        from callbox.voice.tts import PromptCache, load_synthesizer

        self.prompts = PromptCache(
            {lang: load_synthesizer(lang) for lang in languages}, cache_dir or data_dir / "cache" / "prompts"
        )
        self.recognizer = WhisperRecognizer()

    def prewarm(self, pack: RulePack, org: m.Organisation) -> None:
        """Render every fixed prompt now so the first audio after answer needs no synthesis.

        One language after the other, on this thread. Rendering both voices at once (a thread each)
        was measured (scripts/bench_memory.py, product profile, first start): RSS after the trim 429-430
        vs 385-386 MB sequentially, peak 724-753 vs 621-622 MB (each thread fragments a malloc arena of
        its own); time within the noise of a shared 2-core machine (onnxruntime already runs one voice
        on every core). Only a first start renders; every later start reads the data dir's prompt cache.
        """
        for language in self.prompts.languages():
            for text in pack.prologue_text(language).values():
                spoken_text = text.format(org=org.name_for(language), callback=spoken(org.callback_number, language))
                self.prompts.render(spoken_text, language)
        from callbox.voice.memory import freeze_startup_objects, release_free_memory

        self._warm_understanding()
        release_free_memory()  # the synthesis buffers of a first start (~100 MB) back to the system
        freeze_startup_objects()  # later collections (after each call) skip the ~260,000 startup objects

    def _warm_understanding(self) -> None:
        """Load what the first turn would otherwise load mid-call: the Chinese sound-alike repair's
        pypinyin dictionaries (compact since the 400 MB round: +5 MB after the trim, was +53 MB; 0.3 s here,
        more on a Pi), before the startup objects are frozen."""
        from callbox.dialogs.intents import classify_hypotheses

        for language, text in (("zh", "好的，我会准时到。"), ("en", "Yes, I will be there.")):
            if language in self.prompts.languages():
                try:
                    classify_hypotheses(text, [], language)
                except Exception:  # noqa: BLE001 (a warm-up must never stop the daemon from starting)
                    log.warning("warming up %s understanding failed", language, exc_info=True)


class ConsentEvidence:
    """Remembers the answer that turned recording on: when, how (DTMF or speech) and what was said.

    Kept with the call record as evidence that the callee agreed (PIPL art. 13-14). The audio of a
    spoken answer is part of neither the recording (it starts after the answer) nor this record.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last: dict | None = None
        self.value: dict | None = None

    def see(self, kind: str, data: dict) -> None:
        if kind == "dtmf":
            self._last = {"how": "dtmf", "answer": data.get("digit", "")}
        elif kind == "heard":
            self._last = {"how": "speech", "answer": data.get("text", "")}
        elif kind == "recording" and data.get("on") and self.value is None:
            self.value = {"at": self._clock.now().isoformat(), **(self._last or {"how": "unknown", "answer": ""})}


class InboundHandler:
    """What the box does with traffic that reaches it, on any line (GSM or SIP).

    Opt-out SMS go straight to the do-not-call list. An inbound call hears who answered, that it is an
    automated voice, and two choices: 9 = never call me again (the DNC row is committed before the
    confirmation is spoken), 0 = a person (a ``CallbackTask`` for staff plus an audit entry, in one
    transaction). Without a loaded voice stack the call is declined rather than answered into silence.
    """

    MESSAGES = {
        "zh": {
            "greeting": "您好，这里是{org}。这是自动语音服务。如需我们不再来电请按9，需要人工服务请按0。",
            "dnc": "好的，已为您登记，我们不会再给您打电话。再见。",
            "callback": "好的，我们的工作人员会尽快给您回电。再见。",
            "no_number": "抱歉，您的号码没有显示，无法登记。请直接联系我们的工作人员。再见。",
            "goodbye": "感谢您的来电，再见。",
        },
        "en": {
            "greeting": "Hello, this is {org}. This is an automated voice. To stop our calls, press 9. "
                        "To speak to a member of staff, press 0.",
            "dnc": "Done. We will not call you again. Goodbye.",
            "callback": "Thank you. A member of staff will call you back soon. Goodbye.",
            "no_number": "Sorry, your number was withheld, so we cannot note that. Please contact our staff. Goodbye.",
            "goodbye": "Thank you for calling. Goodbye.",
        },
    }
    KEY_WAIT_S = 8.0  # after the greeting, how long to wait for 9 or 0

    def __init__(self, store: Store, box: "CallBox | None" = None, line_id: str = "") -> None:
        self.store = store
        self.box = box
        self.line_id = line_id

    def on_sms_opt_out(self, number: str) -> None:
        queries.add_dnc(self.store, number, "sms", "unsubscribed by SMS", actor="callee")

    def on_incoming_call(self, number: str, control):  # noqa: ANN001, ANN201 (CallControl -> CallListener | None)
        """Answer with the inbound dialog when voices are loaded; otherwise decline (the line sends 603)."""
        voice = getattr(self.box, "voice", None)
        if voice is None:
            log.info("inbound call from %s declined: voices are not loaded yet", number or "a withheld number")
            return None
        return InboundHandler.Call(self, number, control, self._language(voice))

    def _language(self, voice) -> str:  # noqa: ANN001
        languages = voice.prompts.languages()
        preferred = self.box.pack.default_language if self.box is not None else "zh"
        return preferred if preferred in languages and preferred in self.MESSAGES else (
            "zh" if "zh" in languages else languages[0])

    def text(self, key: str, language: str) -> str:
        org = self.box.org.name_for(language) if self.box is not None else ""
        return self.MESSAGES.get(language, self.MESSAGES["en"])[key].format(org=org)

    def e164(self, number: str) -> str | None:
        """The caller's number as stored in the DNC list, or None when withheld or not a phone number."""
        from callbox.compliance.numbers import InvalidNumber, normalise

        region = self.box.pack.default_region if self.box is not None else "CN"
        try:
            return normalise(number, region) if number else None
        except InvalidNumber:
            return None

    def opt_out(self, number: str) -> bool:
        e164 = self.e164(number)
        if e164 is None:
            log.warning("inbound caller pressed 9 but the number %r is not usable; nothing stored", number)
            return False
        queries.add_dnc(self.store, e164, "dtmf", "pressed 9 on an inbound call", actor="callee")
        log.info("inbound caller %s pressed 9: on the do-not-call list", e164)
        return True

    def request_callback(self, number: str) -> bool:
        from callbox.store import queries_callbacks

        e164 = self.e164(number)
        if e164 is None:
            log.warning("inbound caller pressed 0 but the number %r is not usable; no callback task", number)
            return False
        task = queries_callbacks.request(self.store, e164, self.line_id, "pressed 0 on an inbound call")
        log.info("inbound caller %s pressed 0: callback task %s for staff", e164, task.id)
        return True

    class Call:
        """The listener for one inbound call: greeting, one key, a confirmation, hang up (own thread)."""

        def __init__(self, handler: "InboundHandler", number: str, control, language: str) -> None:  # noqa: ANN001
            import queue

            self.handler = handler
            self.number = number
            self.control = control
            self.language = language
            self.keys: "queue.Queue[str | None]" = queue.Queue()
            self.ended = threading.Event()
            self.outcome = ""

        def on_answered(self) -> None:
            threading.Thread(target=self.run, name="inbound-call", daemon=True).start()

        def on_audio(self, frame: bytes) -> None:
            pass

        def on_dtmf(self, digit: str) -> None:
            self.keys.put(digit)

        def on_ended(self, reason: CallEnd, detail: str) -> None:
            self.ended.set()
            self.keys.put(None)

        def say(self, key: str) -> None:
            pcm = self.handler.box.voice.prompts.render(self.handler.text(key, self.language), self.language)
            self.control.play(pcm)

        def run(self) -> None:
            try:
                self.say("greeting")
                key = self.wait_for_key()
                self.control.stop_playback()  # a key during the greeting cuts it short
                self.outcome = self.record(key)  # stored even if the caller has already hung up
                if not self.ended.is_set():
                    self.confirm()
            except Exception:
                log.exception("inbound call from %s failed", self.number)
                self.control.hangup()

        def wait_for_key(self) -> str | None:
            """9 or 0, pressed during the greeting or up to KEY_WAIT_S after it; None otherwise."""
            import queue
            import time

            deadline = None
            while True:
                if deadline is None and self.control.playback_pending_ms() == 0:
                    deadline = time.monotonic() + self.handler.KEY_WAIT_S
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                try:
                    key = self.keys.get(timeout=0.1)
                except queue.Empty:
                    continue
                if key in ("9", "0"):
                    return key
                if key is None:
                    return None

        def record(self, key: str | None) -> str:
            if key == "9":
                return "opt_out" if self.handler.opt_out(self.number) else "no_number"
            if key == "0":
                return "callback" if self.handler.request_callback(self.number) else "no_number"
            return "no_choice"

        def confirm(self) -> None:
            """Say what was done, let it play out, hang up."""
            self.say({"opt_out": "dnc", "callback": "callback", "no_number": "no_number"}.get(self.outcome, "goodbye"))
            while not self.ended.is_set() and self.control.playback_pending_ms() > 0:
                self.ended.wait(0.05)
            if not self.ended.is_set():
                self.ended.wait(0.3)  # let the last frames leave the jitter buffer
                self.control.hangup()


class CallBox:
    def __init__(self, data_dir: Path, clock: Clock, store: Store | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.store = store or open_store(self.data_dir, clock)
        org = self.store.organisation()
        if org is None:
            raise RuntimeError(f"no organisation in {self.data_dir}: run `callbox init` first")
        self.org = org
        self.pack = load_pack(org.rules, self.data_dir)
        self.authority = PermitAuthority(clock)
        from callbox.clock import SystemClock
        from callbox.timesync import CachedClockCheck

        # Only the real clock needs checking: tests, the demo and --at rehearsals inject their own.
        clock_check = CachedClockCheck() if isinstance(clock, SystemClock) else None
        self.gate = Gate(self.store, self.pack, org, clock, self.authority, clock_check=clock_check)
        self.lines: list[Line] = []
        self.voice: VoiceStack | None = None
        self.line_listeners: list[Callable[[LineEvent], None]] = []
        self.line_listeners.extend(panel_line_listeners(self.store))  # LineStatus rows for the panel's live view
        self.call_listeners: list[Callable[[str, str, dict], None]] = []
        self._calls_up = 0  # outbound calls in progress; memory is trimmed when the last one ends
        self._calls_lock = threading.Lock()
        self._claimed: set[str] = set()  # lines a campaign call has taken, before they stop being READY

    # -- wiring ----------------------------------------------------------------------------------
    def add_line(self, line: Line) -> None:
        for listener in self.line_listeners:
            line.add_state_listener(listener)
        self.lines.append(line)

    def load_voice(self, languages: tuple[str, ...] = ("zh", "en"), cache_dir: Path | None = None) -> VoiceStack:
        if self.voice is None:
            self.voice = VoiceStack(self.data_dir, languages, cache_dir)
            self.voice.prewarm(self.pack, self.org)
        return self.voice

    def _seal_transcript(self, call: m.Call, turns: list[dict]) -> str | None:
        """Encrypt the call's transcript beside its recording; returns the file name (None without keys).

        Same public key, metadata and retention fields as the recording, so the sweeper treats the
        two as one unit. Without a key pair nothing is kept at all: plaintext is never the fallback.
        """
        from callbox.recordings import transcript
        from callbox.recordings.keystore import KeyStore, KeyStoreError

        keys = KeyStore.for_data_dir(self.data_dir)
        if not keys.exists():
            log.warning("call %s: no recording keys (run `callbox keys init`), so its transcript is not kept", call.id)
            return None
        path = self.data_dir / "recordings" / transcript_name(call.id)
        metadata = {"call_id": call.id, "created_at": call.started_at.isoformat(), "industry": self.org.industry}
        try:
            public = keys.public_key()
            transcript.write(path, turns, public.key, public.key_id, metadata)
        except (OSError, ValueError, KeyStoreError) as exc:
            log.error("call %s: transcript could not be sealed (%s); it is not kept", call.id, exc)
            return None
        return path.name

    def _recorder_factory(self, call_id: int):
        from callbox.recordings.keystore import KeyStore
        from callbox.recordings.recorder import Recorder

        keys = KeyStore.for_data_dir(self.data_dir)
        if not keys.exists():
            return None
        public = keys.public_key()
        path = self.data_dir / "recordings" / recording_name(call_id)

        def make() -> Recorder:
            metadata = {"call_id": call_id, "created_at": self.clock.now().isoformat(), "industry": self.org.industry}
            return Recorder(path, public.key, public.key_id, metadata)

        return make

    # -- campaigns -------------------------------------------------------------------------------
    def create_campaign(self, name: str, purpose: str, script: str, records: bool, members: list[dict]) -> m.Campaign:
        with self.store.atomic():
            campaign = m.Campaign.create(
                name=name, purpose=purpose, script=script, records=records, status="running", created_at=self.clock.now()
            )
            for member in members:
                m.CampaignMember.create(campaign=campaign, phone=member["phone"], variables=member.get("variables", {}))
            audit.append(self.store, "staff", "campaign.create", name, {"purpose": purpose, "members": len(members)})
        return campaign

    def run_campaign(self, campaign: m.Campaign, on_result: Callable[[ContactResult], None] | None = None) -> list[ContactResult]:
        """One pass over the members that are due, one call per line at a time: with one line the calls
        follow each other; with several, each free line takes the next member (the gate decides one
        call at a time, so two lines never both pass a frequency cap for the same number)."""
        script = load_script(campaign.script)
        # Materialise first: an open read cursor would pin an old WAL snapshot and make later writes fail.
        members = list(campaign.members.order_by(m.CampaignMember.id))
        due = [member for member in members if member.status in ("pending", "deferred")
               and not (member.next_try_at and member.next_try_at > self.clock.now())]
        if len(self.lines) <= 1:
            results = []
            for member in due:
                result = self.process_member(campaign, member, script)
                results.append(result)
                if on_result:
                    on_result(result)
            return results
        return self._run_on_every_line(campaign, due, script, on_result)

    def _run_on_every_line(self, campaign: m.Campaign, due: list[m.CampaignMember], script: Script,
                           on_result: Callable[[ContactResult], None] | None) -> list[ContactResult]:
        results: list[ContactResult] = []
        failures: list[BaseException] = []
        done = threading.Lock()
        workers: list[threading.Thread] = []

        def call(member: m.CampaignMember, line: Line) -> None:
            try:
                result = self.process_member(campaign, member, script, line)
                with done:
                    results.append(result)
                    if on_result:
                        on_result(result)
            except BaseException as exc:  # re-raised below, after the other calls ended
                log.exception("campaign %s: call to %s failed", campaign.name, member.phone)
                failures.append(exc)
            finally:
                self._release_line(line)

        for member in due:
            if failures:
                break
            line = self._claim_line(workers)
            worker = threading.Thread(target=call, args=(member, line), name=f"campaign-{line.line_id}", daemon=True)
            workers.append(worker)
            worker.start()
        for worker in workers:
            worker.join()
        if failures:
            raise failures[0]
        return results

    def process_member(self, campaign: m.Campaign, member: m.CampaignMember, script: Script,
                       line: Line | None = None) -> ContactResult:
        line = line or self._free_line()
        contact = queries.get_contact(member.phone)
        result = ContactResult(phone=member.phone, name=contact.name if contact else "")
        gate = self.gate.request(member.phone, campaign.purpose, line.kind, campaign)
        verdict = gate.verdict
        result.decision = verdict.decision
        result.reasons = list(verdict.reasons)
        result.next_allowed_at = verdict.next_allowed_at.isoformat() if verdict.next_allowed_at else None
        if gate.permit is None:
            member.status = verdict.decision
            member.next_try_at = verdict.next_allowed_at
            member.last_reasons = list(verdict.reasons)
            member.save()
            self._notify(member.phone, verdict.decision, {"reasons": list(verdict.reasons)})
            return result
        assert gate.attempt_id is not None and gate.number is not None
        self._place(line, gate.permit, gate.number, gate.attempt_id, contact, campaign, script, member, result)
        member.status = "called"
        member.save()
        return result

    def _free_line(self) -> Line:
        from callbox.lines.base import LineState

        for line in self.lines:
            if line.state == LineState.READY and line.line_id not in self._claimed:
                return line
        raise RuntimeError("no line is ready: check `callbox doctor` (SIP registration, modem, SIM)")

    def _claim_line(self, workers: list[threading.Thread], poll_s: float = 0.05) -> Line:
        """A ready line for the next call of a campaign, waiting while lines are busy with calls (ours
        or inbound); none ready and none busy means none will be: the same error as one line."""
        from callbox.lines.base import LineState

        busy = (LineState.DIALING, LineState.RINGING, LineState.IN_CALL)
        while True:
            with self._calls_lock:
                try:
                    line = self._free_line()
                except RuntimeError:
                    if not any(w.is_alive() for w in workers) and not any(ln.state in busy for ln in self.lines):
                        raise
                else:
                    self._claimed.add(line.line_id)
                    return line
            time.sleep(poll_s)

    def _release_line(self, line: Line) -> None:
        with self._calls_lock:
            self._claimed.discard(line.line_id)

    def _place(self, line, permit, number, attempt_id, contact, campaign, script, member, result: ContactResult) -> None:
        assert self.voice is not None, "load_voice() before placing calls"
        language = contact.language if contact else self.pack.default_language
        dialog = OutboundDialog(
            self.pack,
            script,
            language,
            self.org.name_for(language),
            spoken(self.org.callback_number, language),
            records=campaign.records,
            variables={"name": contact.name if contact else "", **member.variables},
        )
        call = m.Call.create(attempt=attempt_id, line_id=line.line_id, started_at=self.clock.now())
        evidence = ConsentEvidence(self.clock)
        from callbox.recordings.transcript import ConsentTimeline, stored_turns

        consent = ConsentTimeline()  # which callee words the sealed transcript may keep

        def opt_out(source: str) -> None:
            queries.add_dnc(self.store, number, source, f"said during call {call.id}", actor="callee")

        session = CallSession(
            dialog,
            self.voice.prompts,
            self.voice.recognizer,
            on_opt_out=opt_out,
            recorder_factory=self._recorder_factory(call.id) if campaign.records else None,
            on_event=lambda kind, data: (evidence.see(kind, data), consent.see(kind, data), self._notify(number, kind, data)),
        )
        import time

        t_dial = time.monotonic()
        self._notify(number, "dialing", {"line": line.line_id})
        with self._calls_lock:
            self._calls_up += 1
        try:
            control = line.dial(permit, session)
            worker = threading.Thread(target=session.run, args=(control,), name=f"call-{call.id}", daemon=True)
            worker.start()
            worker.join()
        finally:
            with self._calls_lock:
                self._calls_up -= 1
                idle = self._calls_up == 0
            from callbox.voice.memory import collect_garbage, release_free_memory

            if idle:  # the call's ASR/TTS working buffers (35-110 MB) back to the system between calls
                release_free_memory()
            else:  # other calls go on: only the cycles this call left (cheap: startup objects are frozen)
                collect_garbage()
        facts = dialog.facts
        result.dialed = True
        result.ai_disclosed = facts.ai_disclosed
        result.recording = facts.recording
        result.opt_out = facts.opt_out
        result.outcome = facts.outcome or (session.end_reason.value if session.end_reason else "")
        result.end = session.end_reason.value if session.end_reason else ""
        heard = dialog.transcript()  # everything said, in memory only: for risk control below
        result.transcript = stored_turns(heard, consent)  # what may be kept (and shown in the demo summary)
        transcript_file = self._seal_transcript(call, result.transcript) if session.answered else None
        result.first_audio_ms = session.stats.first_audio_ms
        if session.stats.answered_at:
            result.call_setup_ms = int((session.stats.answered_at - t_dial) * 1000)
        with self.store.atomic():
            call.answered_at = call.started_at if session.answered else None
            call.ended_at = self.clock.now()
            call.end_reason = result.end
            call.ai_disclosed = facts.ai_disclosed
            call.recording = facts.recording if session.answered else "none"
            call.opt_out = facts.opt_out
            call.outcome = result.outcome
            call.transcript_file = transcript_file
            call.recording_consent = evidence.value
            recording_path = self.data_dir / "recordings" / recording_name(call.id)
            call.recording_file = recording_path.name if recording_path.exists() else None
            call.save()
            m.Attempt.update(outcome=result.outcome or result.end).where(m.Attempt.id == attempt_id).execute()
            if facts.owes_callback:  # in the same transaction: a promise to call back is never lost
                self._callback_task(number, line.line_id, campaign, call.id)
        if not session.answered and session.end_reason in (CallEnd.NO_ANSWER, CallEnd.BUSY):
            result.outcome = session.end_reason.value
        self._notify(number, "ended", {"outcome": result.outcome})
        from callbox.compliance.complaints import call_had_complaint
        from callbox.compliance.risk import after_call  # risk control: may pause the campaign (campaign_paused)

        paused = after_call(self.store, campaign, answered=session.answered, pack=self.pack, opt_out=facts.opt_out,
                            duration_s=time.monotonic() - session.stats.answered_at if session.answered else 0.0,
                            complaint=call_had_complaint(heard),
                            first_audio_ms=session.stats.first_audio_ms)
        if paused:
            # The line's LED turns solid red ("campaign paused by risk control") until it is used again.
            self._notify(number, "campaign_paused", {"campaign": campaign.name, "reason": paused, "line": line.line_id})

    def _callback_task(self, number: str, line_id: str, campaign, call_id: int) -> None:  # noqa: ANN001
        """The callee was told staff will call them back: a task staff see in the panel."""
        from callbox.store import queries_callbacks

        task = queries_callbacks.request(self.store, number, line_id,
                                         f"asked for a person during call {call_id} (campaign {campaign.name})",
                                         {"call": call_id, "campaign": campaign.name})
        log.info("callee %s asked for a person: callback task %s for staff", number, task.id)
        self._notify(number, "callback_task", {"task": task.id})

    def _notify(self, number: str, kind: str, data: dict) -> None:
        for listener in self.call_listeners:
            try:
                listener(number, kind, data)
            except Exception:
                log.exception("call listener failed")

    def close(self) -> None:
        for line in self.lines:
            try:
                line.stop()
            except Exception:
                log.exception("stopping line %s failed", line.line_id)
        self.store.close()
