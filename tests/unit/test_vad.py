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
