"""The dialog of one outbound call: the fixed prologue, then the script, with opt-out always armed.

Pure: it receives events (``start``, ``said``, ``interrupted``, ``heard``, ``dtmf``, ``silence``) and
returns :class:`Action` lists; the call session turns actions into audio, DNC writes, transfers and
hang-ups. The script runner (say, ask, branch, collect DTMF, confirm, transfer, hang up) lives here,
inside the prologue and opt-out handling that no script can remove.

DTMF everywhere: 1 yes, 2 no, 9 opt-out, 0 a person (a collect step takes the other digits as data).

Invariants a script cannot change:
- the first things said are the identity (organisation + callback number) and the AI disclosure, in
  the callee's language; the recording question follows when the campaign records, and recording
  starts only after a clear yes (DTMF 1 or a spoken yes); anything else leaves it off;
- an opt-out (DTMF 9 or a clear spoken opt-out) at any moment stops speech, is written to the DNC list
  (``RecordOptOut``, executed synchronously by the session) *before* the confirmation is spoken, and
  the call ends; an unclear opt-out is confirmed once.
- an interrupted prologue part is said again after the interruption is handled, so every callee hears
  the full disclosure unless they opt out or hang up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callbox.compliance.rulepack import RulePack
from callbox.dialogs.intents import CONFIRM_BELOW, DTMF_INTENTS, Intent

CLEAR_YES = 0.9  # intents.py: a plain yes/是的/DTMF 1 is ≥ 0.9; assent idioms ("no problem", 没关系) 0.7-0.8
from callbox.dialogs.script import Script, Step


# --- actions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Say:
    key: str
    text: str
    persist: bool = True  # False for text containing personal data (not cached on disk)
    turn: int = -1  # index of this prompt in the transcript


@dataclass(frozen=True)
class StopSpeaking:
    pass


@dataclass(frozen=True)
class StartRecording:
    how: str  # dtmf | speech


@dataclass(frozen=True)
class StopRecording:
    discard: bool


@dataclass(frozen=True)
class RecordOptOut:
    source: str  # dtmf | spoken_opt_out


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Transfer:
    """Hand the callee to a person: SIP REFER to ``target`` where the line can, else a callback task."""

    target: str


Action = Say | StopSpeaking | StartRecording | StopRecording | RecordOptOut | Hangup | Transfer

# Phrases the box says around a handoff, when the script does not give its own.
HANDOFF_PHRASES = {
    "zh": {"transfer": "好的，正在为您转接工作人员，请稍候。", "callback": "好的，我们的工作人员会尽快给您回电。再见。"},
    "en": {
        "transfer": "Of course. Connecting you to a member of staff, please hold.",
        "callback": "Of course. A member of our staff will call you back shortly. Goodbye.",
    },
}

PROLOGUE_PARTS = ("identity", "ai_disclosure", "opt_out_hint")


@dataclass
class CallFacts:
    """What the dialog learned; copied into the call record."""

    ai_disclosed: bool = False
    recording: str = "none"  # on | off | none
    opt_out: bool = False
    outcome: str = ""
    transcript: list[dict] = field(default_factory=list)
    collected: dict[str, str] = field(default_factory=dict)
    handoff: str = ""  # "" | transferred | callback

    @property
    def owes_callback(self) -> bool:
        """The callee asked for a person and was not put through (no transfer on this line, a failed
        REFER, or a script branch that promises a call back): staff must call them."""
        return self.handoff == "callback" or (self.outcome == "handoff" and self.handoff != "transferred")


class OutboundDialog:
    def __init__(
        self,
        pack: RulePack,
        script: Script,
        language: str,
        org_name: str,
        callback_spoken: str,
        records: bool,
        variables: dict[str, str] | None = None,
    ) -> None:
        self.language = language if language in pack.prologue else pack.default_language
        self.phrases = pack.prologue_text(self.language)
        self.pack = pack
        self.script = script
        self.records = records
        self.vars = {"org": org_name, "callback": callback_spoken, **(variables or {})}
        self.facts = CallFacts(recording="off" if records else "none")
        self.state = "idle"
        self._pending_prologue: list[str] = []
        self._step: Step | None = None
        self._reprompted = False
        self._asked_opt_out = False
        self._sorry_in_prologue = False
        self._wants_person = False  # asked for a person during the prologue: hand off right after it
        self._resume_state = ""
        self._digits = ""
        # Set by the session from the line: can it transfer (SIP REFER), or must staff call back?
        self.can_transfer = True
        self.transfer_to = script.transfer_to or self.vars.get("staff_extension", "staff")

    # -- helpers ---------------------------------------------------------------------------------
    def _say(self, key: str) -> Say:
        text = self.phrases[key].format(**self.vars)
        self.facts.transcript.append({"who": "box", "text": text})
        return Say(key, text, True, len(self.facts.transcript) - 1)

    def _say_text(self, key: str, template: str) -> Say:
        text = template.format(**self.vars)
        self.facts.transcript.append({"who": "box", "text": text})
        return Say(key, text, False, len(self.facts.transcript) - 1)

    def dropped(self, turns: list[int]) -> None:
        """Prompts stopped before they finished: the first was cut off, the others never played."""
        for n, turn in enumerate(turns):
            if 0 <= turn < len(self.facts.transcript):
                entry = self.facts.transcript[turn]
                if n == 0:
                    entry["text"] += " [interrupted]"
                else:
                    entry["dropped"] = True

    def transcript(self) -> list[dict]:
        """What was actually said and heard, in order ({who, text})."""
        return [{"who": t["who"], "text": t["text"]} for t in self.facts.transcript if not t.get("dropped")]

    def _prologue_keys(self) -> list[str]:
        keys = list(PROLOGUE_PARTS)
        if self.records:
            keys.append("recording_question")
        return keys

    # -- events ----------------------------------------------------------------------------------
    def start(self) -> list[Action]:
        """Call answered: say the prologue."""
        self.state = "prologue"
        self._pending_prologue = self._prologue_keys()
        return [self._say(k) for k in self._pending_prologue]

    def said(self, key: str) -> list[Action]:
        """A prompt finished playing completely."""
        if key in self._pending_prologue:
            self._pending_prologue.remove(key)
        if key == "ai_disclosure":
            self.facts.ai_disclosed = True
        if self.state == "prologue" and not self._pending_prologue:
            if self._wants_person:
                return self._handoff()
            if self.records:
                self.state = "await_recording"
                return []
            return self._enter_step(self.script.steps[0])
        if self.state == "ending" and key in ("goodbye", "opt_out_confirm", "branch_end", "handoff_callback", "step_end"):
            self.state = "done"
            return [Hangup()]
        if self.state == "transferring" and key == "handoff_transfer":
            self.state = "done"
            return [Transfer(self.transfer_to)]
        return []

    def interrupted(self, key: str) -> list[Action]:
        """The callee started speaking while ``key`` played; playback was stopped by the session."""
        return []

    def dtmf(self, digit: str) -> list[Action]:
        self.facts.transcript.append({"who": "callee", "text": f"[DTMF {digit}]"})
        if self.state == "collect" and digit not in ("9", "0"):
            return self._collect_digit(digit)
        intent = DTMF_INTENTS.get(digit)
        if intent is None:
            return []
        return self._handle(Intent(intent, 1.0, f"dtmf {digit}"), source="dtmf")

    def heard(self, text: str, intent: Intent) -> list[Action]:
        self.facts.transcript.append({"who": "callee", "text": text})
        return self._handle(intent, source="spoken_opt_out")

    def heard_late(self, text: str, intent: Intent) -> list[Action]:
        """A second reading of a turn already answered (voice/asr.py: TwoLookRecognizer) may be an opt-out.

        The box answered the first reading without waiting for the second; if the second may be "stop
        calling me", it asks now, once, as for any unsure opt-out — over whatever it is saying, its goodbye
        too. It never writes an opt-out on a late reading alone, and nothing else a late reading says
        changes the call: that turn was answered."""
        if (intent.name != "opt_out" or self._asked_opt_out or self.facts.opt_out or self.facts.handoff
                or self.state in ("done", "transferring", "confirm_opt_out")):
            return []
        self.facts.transcript.append({"who": "callee", "text": f"[heard again: {text}]"})
        self._asked_opt_out = True
        self._resume_state = self.state
        self.state = "confirm_opt_out"
        return [StopSpeaking(), self._say("opt_out_ask")]

    def not_understood(self) -> list[Action]:
        """The callee clearly spoke (far longer than a cough) but no words could be made out.

        Never ignored: someone talking over the box may be saying "stop calling me". In the prologue
        the box says it did not catch that (once per call) and says the rest of the prologue again,
        which tells them how to stop calls; while a question is open it is an answer that matched
        nothing (reprompt once, as for any unclear answer).
        """
        self.facts.transcript.append({"who": "callee", "text": "[not understood]"})
        if self.state == "prologue":
            if self._sorry_in_prologue:
                return []
            self._sorry_in_prologue = True
            return [StopSpeaking(), self._say("reprompt")] + [self._say(k) for k in self._pending_prologue]
        return self._handle(Intent("unknown", 0.0, "not understood"), source="spoken_opt_out")

    def silence(self) -> list[Action]:
        """No answer within the timeout while the box was waiting for one."""
        if self.state == "await_recording":
            return self._recording_answer(False, "silence")
        if self.state == "await_step":
            if not self._reprompted:
                self._reprompted = True
                return [self._say("reprompt"), self._say_text("step", self._step.say[self.language])]
            self.facts.outcome = self.facts.outcome or "no_response"
            return self._end()
        if self.state == "confirm_opt_out":
            return self._resume()
        if self.state == "collect":
            if self._digits:
                return self._collect_done()
            if not self._reprompted:
                self._reprompted = True
                return [self._say("reprompt"), self._say_text("step", self._step.say[self.language])]
            self.facts.outcome = self.facts.outcome or "no_response"
            return self._end()
        return []

    @property
    def waiting_for_answer(self) -> bool:
        return self.state in ("await_recording", "await_step", "confirm_opt_out", "collect")

    @property
    def expects_short_answer(self) -> bool:
        """Yes/no-like answers are expected: the session may end turns sooner."""
        return self.state in ("await_recording", "confirm_opt_out") or (
            self.state == "await_step" and self._step is not None and set(self._step.on) <= {"consent_yes", "consent_no", "call_later", "handoff"}
        )

    def upcoming_texts(self) -> list[str]:
        """Every script text this call may say, filled in: rendered ahead while the prologue plays."""
        texts = []
        for step in self.script.steps:
            if step.say.get(self.language):
                texts.append(step.say[self.language].format(**self.vars))
            for branch in step.on.values():
                if branch.say.get(self.language):
                    texts.append(branch.say[self.language].format(**self.vars))
        return texts

    @property
    def done(self) -> bool:
        return self.state == "done"

    # -- logic -----------------------------------------------------------------------------------
    def _handle(self, intent: Intent, source: str) -> list[Action]:
        if self.state in ("done", "transferring") or (self.state == "ending" and self.facts.opt_out):
            return []
        if self.state == "confirm_opt_out":
            # "Do you want us to stop calling you?" — written on a clear yes or a restated opt-out only:
            # an idiom such as "no problem" / 没关系 (0.7-0.8) may as well mean "keep calling".
            if intent.name == "opt_out" or (intent.name == "consent_yes" and intent.confidence >= CLEAR_YES):
                return self._opt_out(source)
            return self._resume()
        if intent.name == "opt_out":
            if intent.confidence >= CONFIRM_BELOW:
                return self._opt_out(source)
            if not self._asked_opt_out:
                self._asked_opt_out = True
                self._resume_state = self.state
                self.state = "confirm_opt_out"
                return [StopSpeaking(), self._say("opt_out_ask")]
        if intent.name == "stop_recording" and self.facts.recording == "on":
            self.facts.recording = "off"
            discard = self.pack.recording_on_withdrawal == "discard"
            return [StopRecording(discard=discard), self._say("recording_off")]
        if self.state == "prologue":
            # Interrupted by something that is not an opt-out: finish the disclosure first. A person
            # asked for gets one right after it (no recording question: nothing will be recorded).
            if intent.name == "handoff":
                self._wants_person = True
                if "recording_question" in self._pending_prologue:
                    self._pending_prologue.remove("recording_question")
                if not self._pending_prologue:
                    return self._handoff()
            if intent.name == "repeat" or self._pending_prologue:
                return [StopSpeaking()] + [self._say(k) for k in self._pending_prologue]
            return []
        if self.state == "await_recording":
            if intent.name == "consent_yes":
                return self._recording_answer(True, source)
            if intent.name == "handoff":  # a person, not the script: nothing is recorded
                self.facts.recording = "off"
                return self._handoff()
            return self._recording_answer(False, source)
        if intent.name == "handoff" and not (self.state == "await_step" and self._step and "handoff" in self._step.on):
            return self._handoff()
        if self.state == "await_step" and self._step is not None:
            return self._step_answer(intent)
        return []

    def _handoff(self) -> list[Action]:
        """A person, now: transfer where the line can, else a callback task for staff."""
        self.facts.outcome = "handoff"
        phrases = HANDOFF_PHRASES.get(self.language, HANDOFF_PHRASES["en"])
        if self.can_transfer:
            self.state = "transferring"
            self.facts.handoff = "transferred"
            return [StopSpeaking(), self._say_text("handoff_transfer", phrases["transfer"])]
        self.state = "ending"
        self.facts.handoff = "callback"
        return [StopSpeaking(), self._say_text("handoff_callback", phrases["callback"])]

    def _collect_digit(self, digit: str) -> list[Action]:
        assert self._step is not None and self._step.collect is not None
        if digit == "#":
            return self._collect_done()
        self._digits += digit
        if len(self._digits) >= self._step.collect.digits:
            return self._collect_done()
        return []

    def _collect_done(self) -> list[Action]:
        assert self._step is not None and self._step.collect is not None
        self.facts.collected[self._step.collect.var] = self._digits
        self.vars[self._step.collect.var] = self._digits
        self._digits = ""
        actions: list[Action] = [StopSpeaking()]
        if self._step.next == "end":
            return actions + self._end()
        return actions + self._enter_step(self.script.step(self._step.next))

    def _opt_out(self, source: str) -> list[Action]:
        self.facts.opt_out = True
        self.facts.outcome = "opt_out"
        self.state = "ending"
        actions: list[Action] = [StopSpeaking(), RecordOptOut("dtmf" if source == "dtmf" else "spoken_opt_out")]
        return actions + [self._say("opt_out_confirm")]

    def _resume(self) -> list[Action]:
        self.state = self._resume_state or "await_step"
        if self.state == "prologue":
            return [self._say(k) for k in self._pending_prologue]
        if self.state == "await_step" and self._step is not None:
            return [self._say_text("step", self._step.say[self.language])]
        if self.state == "await_recording":
            return [self._say("recording_question")]
        if self.state == "ending":  # asked over the goodbye (heard_late): say it again, then hang up
            return [self._say("goodbye")]
        return []

    def _recording_answer(self, yes: bool, how: str) -> list[Action]:
        actions: list[Action] = []
        if yes:
            self.facts.recording = "on"
            actions += [StartRecording("dtmf" if how == "dtmf" else "speech"), self._say("recording_on")]
        else:
            self.facts.recording = "off"
            actions.append(self._say("recording_off"))
        return actions + self._enter_step(self.script.steps[0])

    def _enter_step(self, step: Step) -> list[Action]:
        self._step = step
        self._reprompted = False
        if step.transfer:
            self.transfer_to = step.transfer if step.transfer != "staff" else self.transfer_to
            return ([self._say_text("step", step.say[self.language])] if step.say else []) + self._handoff()
        if step.hangup:
            self.state = "ending"
            if step.say:
                return [self._say_text("step_end", step.say[self.language])]
            self.state = "done"
            return [Hangup()]
        say = [self._say_text("step", step.say[self.language])] if step.say else []
        if step.collect is not None:
            self.state = "collect"
            self._digits = ""
            return say
        if step.is_question:
            self.state = "await_step"
            return say
        if step.next == "end":
            return say + self._end()
        return say + self._enter_step(self.script.step(step.next))

    def _step_answer(self, intent: Intent) -> list[Action]:
        assert self._step is not None
        if intent.name == "repeat" or intent.name not in self._step.on:
            if intent.name != "repeat" and self._reprompted:
                self.facts.outcome = self.facts.outcome or "not_understood"
                return self._end()
            self._reprompted = intent.name != "repeat"
            return [StopSpeaking(), self._say("reprompt"), self._say_text("step", self._step.say[self.language])]
        branch = self._step.on[intent.name]
        self.facts.outcome = branch.outcome
        actions: list[Action] = [StopSpeaking()]
        if branch.say:
            actions.append(self._say_text("branch", branch.say[self.language]))
        if branch.transfer:
            return actions + self._handoff()[1:]
        if branch.next == "end":
            return actions + self._end()
        return actions + self._enter_step(self.script.step(branch.next))

    def _end(self) -> list[Action]:
        self.state = "ending"
        return [self._say("goodbye")]
