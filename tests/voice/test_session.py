"""The full-duplex session on a fake line clocked in real time (20 ms frames): barge-in, coughs,
echo, answers after an interruption. Real VAD and dialog; speech from Piper; ASR scripted.

Timings are printed, not asserted (they depend on the machine); behaviour is asserted.
"""

import threading
import time
from concurrent.futures import Future

import numpy as np
import pytest

from callbox.compliance.rulepack import load_pack
from callbox.dialogs.dialog import OutboundDialog
from callbox.dialogs.script import load_script
from callbox.dialogs.session import CallSession
from callbox.lines.base import FRAME_BYTES, CallControl, CallEnd, PlaybackBuffer
from callbox.voice import audio
from callbox.voice.asr import Transcript


class FakeLine(CallControl):
    """A line whose media clock runs on a thread; callee audio and echo are injected per frame."""

    def __init__(self, session, echo_db=None):
        self.session = session
        self.buffer = PlaybackBuffer()
        self.sent = []  # (t, rms) per frame the box sent
        self.callee = bytearray()
        self.callee_onsets = []
        self.echo = None if echo_db is None else 10 ** (echo_db / 20)
        self.stop = threading.Event()
        self.hung_up = threading.Event()

    def play(self, pcm):
        self.buffer.push(pcm)

    def stop_playback(self):
        return self.buffer.clear()

    def playback_pending_ms(self):
        return self.buffer.pending_ms()

    def send_dtmf(self, digits):
        pass

    def hangup(self):
        self.hung_up.set()

    def say(self, pcm):
        self.callee += pcm

    def run(self):
        self.session.on_answered()
        next_t = time.monotonic()
        while not self.stop.is_set():
            out = self.buffer.pop_frame()
            self.session.on_audio_sent(out)
            self.sent.append((time.monotonic(), float(np.abs(np.frombuffer(out, "<i2")).mean())))
            frame = bytes(self.callee[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\0")
            del self.callee[:FRAME_BYTES]
            if not self.callee_onsets and np.abs(np.frombuffer(frame, "<i2")).mean() > 300:
                self.callee_onsets.append(time.monotonic())  # the callee's first audible frame
            if self.echo is not None:
                mixed = np.frombuffer(frame, "<i2").astype(np.float32) + np.frombuffer(out, "<i2") * self.echo
                frame = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
            self.session.on_audio(frame)
            next_t += 0.02
            time.sleep(max(0.0, next_t - time.monotonic()))
        self.session.on_ended(CallEnd.COMPLETED, "test over")

    def silent_after(self, t0, frames=3):
        """First time after t0 the box's output stayed silent for ``frames`` frames."""
        run = 0
        for t, level in self.sent:
            if t < t0:
                continue
            run = run + 1 if level < 1 else 0
            if run == frames:
                return t - 0.02 * (frames - 1)
        return None


class ScriptedAsr:
    """Hears ``text`` in anything long enough to be speech (speculative and final passes alike)."""

    name = "scripted"

    def __init__(self, text=""):
        self.text = text
        self.calls = 0

    def transcribe(self, pcm, language):
        self.calls += 1
        text = self.text if audio.duration_ms(pcm) > 500 else ""
        return Transcript(text, language, 0.9 if text else 0.0, "scripted", 5)


class TonePrompts:
    """Every prompt is a tone of 30 ms per character (fast, no TTS): enough to measure playback."""

    def render_stream(self, text, language, persist=True):
        t = np.arange(int(8000 * 0.03 * len(text))) / 8000
        future = Future()
        future.set_result(audio.to_pcm16(0.3 * np.sin(2 * np.pi * 440 * t)))
        return [future]

    def prerender(self, texts, language):
        pass


@pytest.fixture(scope="module")
def speech(piper_en):
    def make(text):
        samples, rate = piper_en.synthesize(text)
        return audio.to_line(samples, rate)

    return {
        "stop": make("Stop calling me, please."),
        "hello": make("Hello? Who is this?"),
        "stop_short": make("Stop calling me."),
        "please": make("Please."),
    }


def call(asr, echo_db=None, records=False, script=None, line_cls=None):
    dialog = OutboundDialog(load_pack("cn"), script or load_script("appointment_reminder"), "en", "Clinic", "0 2 1",
                            records=records, variables={"name": "Emily", "appointment": "tomorrow"})
    opt_outs = []
    events = []
    session = CallSession(dialog, TonePrompts(), asr, opt_outs.append, on_event=lambda k, d: events.append((k, d)))
    line = (line_cls or FakeLine)(session, echo_db)
    threading.Thread(target=session.run, args=(line,), daemon=True).start()
    threading.Thread(target=line.run, daemon=True).start()
    return dialog, session, line, opt_outs, events


def finish(line, session):
    line.stop.set()
    session.finished.wait(5)


def wait_for_hangup(line, seconds):
    deadline = time.monotonic() + seconds
    while not line.hung_up.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_barge_in_stops_the_prompt_and_the_opt_out_is_answered(speech):
    dialog, session, line, opt_outs, events = call(ScriptedAsr("Stop calling me, please."))
    time.sleep(1.0)
    line.say(speech["stop"])
    wait_for_hangup(line, 8)
    finish(line, session)
    onset = line.callee_onsets[0]
    stopped = line.silent_after(onset)
    print(f"\nbarge-in: box silent {1000 * (stopped - onset):.0f} ms after the callee's first audible frame; "
          f"session says {session.stats.barge_in_stops_ms} ms; turn latency {session.stats.turn_latencies_ms} ms")
    assert stopped is not None and stopped - onset < audio.duration_ms(speech["stop"]) / 1000
    assert opt_outs == ["spoken_opt_out"] and dialog.facts.opt_out
    assert any(t["text"].endswith("[interrupted]") for t in dialog.transcript())
    assert line.hung_up.is_set()  # after the confirmation played


class SlowAsr:
    """A recogniser busy for ``delay_s`` per pass (a loaded Pi): hears ``long_text`` in the long piece of
    speech and ``short_text`` in anything shorter than ``split_ms``."""

    name = "slow"

    def __init__(self, long_text, short_text, split_ms=1200, delay_s=2.0):
        self.long_text, self.short_text, self.split_ms, self.delay_s = long_text, short_text, split_ms, delay_s

    def transcribe(self, pcm, language):
        time.sleep(self.delay_s)
        text = self.long_text if audio.duration_ms(pcm) > self.split_ms else self.short_text
        return Transcript(text, language, 0.9 if text else 0.0, "slow", int(self.delay_s * 1000))


@pytest.mark.parametrize("afterthought", ["please", ""], ids=["heard-as-words", "heard-as-nothing"])
def test_an_opt_out_is_not_lost_when_the_callee_adds_a_word_while_asr_is_busy(speech, afterthought):
    """"Stop calling me. … Please." — two turns; the second ends before ASR has finished the first.
    The second (a word the dialog ignores, or a sound ASR finds empty) must not hide the first."""
    dialog, session, line, opt_outs, events = call(SlowAsr("Stop calling me.", afterthought))
    time.sleep(1.0)
    line.say(speech["stop_short"] + bytes(16 * 700) + speech["please"])
    wait_for_hangup(line, 15)
    finish(line, session)
    heard = [d["text"] for k, d in events if k == "heard"]
    assert heard and heard[0] == "Stop calling me.", heard
    assert opt_outs == ["spoken_opt_out"] and dialog.facts.opt_out
    assert line.hung_up.is_set()


def test_speech_the_recogniser_cannot_make_out_is_answered_not_ignored(speech):
    """1.8 s of speech over the prologue, no words made out: it may have been "stop calling me", so the
    box says it did not catch that and says the rest of the prologue (how to stop calls) again."""
    dialog, session, line, opt_outs, events = call(ScriptedAsr(""))
    time.sleep(1.0)
    line.say(speech["stop"])
    time.sleep(4.0)
    finish(line, session)
    says = [d["key"] for k, d in events if k == "say"]
    assert "barge_in" in [k for k, _ in events]
    assert "reprompt" in says and says.index("reprompt") > says.index("opt_out_hint"), says
    assert says[says.index("reprompt") + 1:][:1] in (["identity"], ["ai_disclosure"], ["opt_out_hint"]), says
    assert {"text": "", "intent": "not_understood"} in [d for k, d in events if k == "heard"]
    assert not opt_outs


def test_a_cough_pauses_the_prompt_which_then_goes_on():
    dialog, session, line, opt_outs, events = call(ScriptedAsr(""))  # the recogniser hears no words
    time.sleep(1.0)
    rng = np.random.default_rng(3)
    cough = audio.to_pcm16(np.concatenate([rng.normal(0, 0.3, 2000) * np.hanning(2000), np.zeros(800)]))
    line.say(cough)
    time.sleep(3.0)
    finish(line, session)
    kinds = [k for k, _ in events]
    assert "heard" not in kinds and not opt_outs
    if "barge_in" in kinds:  # the VAD took it for speech: the prompt must have resumed
        assert "resumed" in kinds and session.stats.noise_resumes >= 1
    assert dialog.facts.transcript[0]["text"].endswith("[interrupted]") is False
    print(f"\ncough: events {kinds}")


def test_after_a_benign_interruption_the_box_answers_and_finishes_the_disclosure(speech):
    dialog, session, line, opt_outs, events = call(ScriptedAsr("Hello? Who is this?"))
    time.sleep(1.0)
    line.say(speech["hello"])
    time.sleep(4.0)
    finish(line, session)
    says = [d["key"] for k, d in events if k == "say"]
    assert "barge_in" in [k for k, _ in events]
    # the interrupted prologue is said again from the part that was cut: the box never goes quiet
    assert says.count("identity") >= 2 or says.count("ai_disclosure") >= 2, says


class TwoLookAsr:
    """Reads a turn twice (voice/asr.py: TwoLookRecognizer): the long turn is heard "Hello? Who is this?" at
    once and, ``look_s`` later, also as "Stop calling me." (a second reading); a short turn is "Yes."."""

    name = "two-look"

    def __init__(self, look_s=1.0, split_ms=1000):
        self.look_s, self.split_ms = look_s, split_ms

    def transcribe(self, pcm, language):
        return self.second_look(pcm, language, self.first_look(pcm, language)) or self.first_look(pcm, language)

    def first_look(self, pcm, language):
        text = "Hello? Who is this?" if audio.duration_ms(pcm) > self.split_ms else "Yes."
        return Transcript(text, language, 0.9, "two-look", 5)

    def second_look(self, pcm, language, first):
        if first.text != "Hello? Who is this?":
            return None
        time.sleep(self.look_s)
        return Transcript(first.text, language, first.confidence, "two-look", 5, ("Stop calling me.",))


def _hello_until_asked(speech, look_s):
    """A call whose callee barges in with what is first read "Hello? Who is this?" (a second reading adds
    "Stop calling me."), run until the box asks whether to stop calling; also what it said and heard, in order."""
    dialog, session, line, opt_outs, events = call(TwoLookAsr(look_s=look_s))
    time.sleep(1.0)
    line.say(speech["hello"])
    deadline = time.monotonic() + 8
    while not any(d.get("key") == "opt_out_ask" for k, d in list(events) if k == "say") and time.monotonic() < deadline:
        time.sleep(0.05)
    order = [d.get("key") or d.get("text") for k, d in events if k in ("say", "heard")]
    return dialog, session, line, opt_outs, order


def test_a_second_reading_never_delays_the_answer_and_a_possible_opt_out_in_it_is_asked(speech):
    """The box answers the first reading at once (here: it goes on with the disclosure); 1 s later the
    second reading may be "stop calling me": the box stops and asks once, and writes the opt-out only
    when the callee says yes."""
    dialog, session, line, opt_outs, order = _hello_until_asked(speech, look_s=1.0)
    assert dialog.state == "confirm_opt_out" and not opt_outs, order
    heard_at, asked_at = order.index("Hello? Who is this?"), order.index("opt_out_ask")
    # the first reading was answered (the cut prologue said again) before the second reading's question
    assert any(key in ("identity", "ai_disclosure", "opt_out_hint") for key in order[heard_at:asked_at]), order
    assert session.stats.second_looks >= 1 and session.stats.late_opt_out_asks == 1
    deadline = time.monotonic() + 8
    while session.player.active and time.monotonic() < deadline:
        time.sleep(0.05)
    line.say(speech["please"])  # heard "Yes."
    wait_for_hangup(line, 8)
    finish(line, session)
    assert opt_outs == ["spoken_opt_out"] and dialog.facts.opt_out
    assert any(t["text"].startswith("[heard again") for t in dialog.facts.transcript)


def test_a_second_reading_that_comes_before_the_turn_ends_is_part_of_the_answer(speech):
    """A quick second reading (here: at once) lands while the turn's end-of-speech silence is still being
    waited out: it replaces the speculative reading, so the box asks right away, as the answer to that turn
    — no late question, no "[heard again]"."""
    dialog, session, line, opt_outs, order = _hello_until_asked(speech, look_s=0.0)
    finish(line, session)
    heard_at = order.index("Hello? Who is this?")
    assert order[heard_at + 1:heard_at + 2] == ["opt_out_ask"], order  # the answer to that turn is the question
    assert session.stats.late_opt_out_asks == 0 and not opt_outs
    assert not any(t["text"].startswith("[heard again") for t in dialog.facts.transcript)


def test_the_echo_of_the_box_is_not_a_barge_in():
    dialog, session, line, opt_outs, events = call(ScriptedAsr(), echo_db=-15)
    time.sleep(3.0)
    finish(line, session)
    assert "barge_in" not in [k for k, _ in events]


OPEN_QUESTION = """
id = "follow_up"
purpose = "reminder"
languages = ["en"]

[[steps]]
id = "how"
say.en = "How have you been feeling since your visit?"
[steps.on.question]
say.en = "A nurse will call you back about that."
outcome = "question"
[steps.on.consent_yes]
say.en = "We are glad to hear it."
outcome = "fine"
"""


def test_a_clear_answer_heard_in_a_pause_ends_an_open_turn_without_waiting_out_the_silence(speech):
    """After an open question the turn gets the open-answer silence (650 ms); a speculative
    transcript that is a clear opt-out ends it at the next silent frame."""
    from callbox.dialogs.session import OPEN_ANSWER_END_MS
    from callbox.voice.vad import Utterance

    from callbox.dialogs.script import parse_script

    follow_up = parse_script(OPEN_QUESTION)
    dialog, session, line, opt_outs, events = call(ScriptedAsr("Stop calling me, please."), script=follow_up)
    ends = []
    feed = session.vad.feed
    session.vad.feed = lambda frame: [ends.append(e.silence_ms) or e if isinstance(e, Utterance) else e
                                      for e in feed(frame)]
    while dialog.state != "await_step" or session.player is None or session.player.active:
        time.sleep(0.05)  # the prologue and the question played: the box listens for an open answer
    assert not dialog.expects_short_answer
    line.say(speech["stop"])
    wait_for_hangup(line, 8)
    finish(line, session)
    assert opt_outs == ["spoken_opt_out"]
    assert ends and ends[0] < OPEN_ANSWER_END_MS, ends


class TransferLine(FakeLine):
    can_transfer = True

    def __init__(self, session, echo_db=None):
        super().__init__(session, echo_db)
        self.transferred_to = []

    def transfer(self, target):
        self.transferred_to.append(target)
        return True


@pytest.mark.parametrize("line_cls", [FakeLine, TransferLine], ids=["gsm-like", "sip-like"])
def test_a_request_for_a_person_is_a_transfer_where_the_line_can_and_a_staff_callback_where_not(speech, line_cls):
    dialog, session, line, opt_outs, events = call(ScriptedAsr("I want to speak to a person."), line_cls=line_cls)
    time.sleep(1.0)
    line.say(speech["hello"])  # over the prologue (the script's own step would offer a callback)
    wait_for_hangup(line, 25)
    finish(line, session)
    kinds = [k for k, _ in events]
    assert line.hung_up.is_set()
    if line_cls is TransferLine:
        assert "transfer" in kinds and line.transferred_to and dialog.facts.handoff == "transferred"
    else:  # told "staff will call you back" (the daemon turns that into a task): never a promised transfer
        assert "transfer" not in kinds and dialog.facts.handoff == "callback"
        assert "handoff_callback" in [d["key"] for k, d in events if k == "say"]
