"""Turn detection: hysteresis at the start (a click is not a turn), end after silence, pre-roll kept."""

from callbox.lines.base import FRAME_BYTES
from callbox.voice.vad import SpeechStarted, TurnDetector, Utterance

FRAME = bytes(FRAME_BYTES)


def feed(detector, pattern):
    events = []
    for voiced in pattern:
        events += detector.feed(FRAME, voiced)
    return events


def test_short_noise_does_not_start_a_turn():
    detector = TurnDetector()
    assert feed(detector, [True, True, True, False, False, False, False, False] * 3) == []


def test_speech_starts_within_six_voiced_frames_and_ends_after_silence():
    detector = TurnDetector(end_silence_ms=200)
    events = feed(detector, [False] * 5 + [True] * 6)
    assert len(events) == 1 and isinstance(events[0], SpeechStarted)
    assert events[0].t_ms == (5 + 6) * 20  # detected at the sixth voiced frame: 120 ms after onset
    events = feed(detector, [True] * 20 + [False] * 10)
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert len(utterances) == 1
    # pre-roll (10 frames) + the rest of the turn, ending after 200 ms of silence
    assert len(utterances[0].pcm) == (10 + 20 + 10) * FRAME_BYTES


def test_long_turn_is_cut_at_the_maximum():
    detector = TurnDetector(max_turn_ms=1000)
    events = feed(detector, [True] * 80)
    assert sum(isinstance(e, Utterance) for e in events) >= 1


# -- echo guard and turn events --------------------------------------------------------------------
import numpy as np  # noqa: E402

from callbox.voice.vad import EchoGuard, SpeechResumed, TurnPaused  # noqa: E402


def frame_of(level, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, level, 160)).astype("<i2").tobytes()


def test_echo_of_the_box_is_not_the_callee():
    guard = EchoGuard(erl_db=10)
    for i in range(10):
        guard.note_sent(frame_of(3000, i))
    echo = frame_of(3000 * 10 ** (-12 / 20), 99)  # the box's voice back at -12 dB
    assert not guard.admit(echo, True)


def test_callee_talking_over_the_box_is_heard():
    guard = EchoGuard(erl_db=10)
    for i in range(10):
        guard.note_sent(frame_of(3000, i))
    assert guard.admit(frame_of(2500, 7), True)


def test_without_box_speech_the_classifier_decides():
    guard = EchoGuard()
    assert guard.admit(frame_of(50), True) and not guard.admit(frame_of(5000), False)


def test_a_pause_in_the_turn_allows_speculative_asr_and_resuming_cancels_it():
    detector = TurnDetector(end_silence_ms=600, early_silence_ms=200)
    events = feed(detector, [True] * 10 + [False] * 10 + [True] * 2)
    assert [type(e) for e in events] == [SpeechStarted, TurnPaused, SpeechResumed]
    events = feed(detector, [False] * 30)
    utterance = [e for e in events if isinstance(e, Utterance)][0]
    assert utterance.voiced_ms == 12 * 20 + 0 and utterance.silence_ms == 600


def test_end_of_turn_can_be_shortened_for_short_answers():
    detector = TurnDetector(end_silence_ms=600)
    feed(detector, [True] * 10)
    detector.end_silence_ms = 400
    events = feed(detector, [False] * 20)
    assert isinstance(events[-1], Utterance) and events[-1].silence_ms == 400


def test_a_turn_known_to_be_complete_ends_at_the_next_silent_frame_unless_the_callee_goes_on():
    detector = TurnDetector(end_silence_ms=640, early_silence_ms=160)
    feed(detector, [True] * 10 + [False] * 8)  # paused 160 ms: speculative ASR starts
    detector.end_now()  # its transcript is a clear answer
    events = feed(detector, [False])
    assert isinstance(events[-1], Utterance) and events[-1].silence_ms == 9 * 20
    # A callee who goes on after end_now() cancels it: the turn ends after the usual silence.
    feed(detector, [True] * 10 + [False] * 8)
    detector.end_now()
    events = feed(detector, [True] * 3 + [False] * 40)
    assert [e.silence_ms for e in events if isinstance(e, Utterance)] == [640]
    detector.end_now()  # between turns: nothing to end
    assert feed(detector, [False] * 5) == []


def test_a_turn_the_confirmer_never_heard_is_unconfirmed():
    from callbox.voice.vad import LineVad

    class Always:
        def __init__(self, answer):
            self.answer = answer

        def is_speech(self, frame):
            return self.answer

    for silero_says, confirmed in ((False, False), (True, True)):
        vad = LineVad(detector=TurnDetector(end_silence_ms=100), classifier=Always(True), confirmer=Always(silero_says))
        events = [e for _ in range(10) for e in vad.feed(frame_of(3000))]
        vad.classifier = Always(False)
        events += [e for _ in range(10) for e in vad.feed(frame_of(10))]
        utterance = [e for e in events if isinstance(e, Utterance)][0]
        assert utterance.confirmed is confirmed
