"""The second look (voice/asr_whisper.py): an unsure Chinese turn is decoded once more from a copy played
faster, and that decode's hypotheses join the turn's alternatives — evidence for an *unsure* opt-out only.

Pure checks of the tempo shift and of which turns get a second look, then real telephone-band audio from
the tuning halves of the labelled sets (evalset.render, cached).
"""

from pathlib import Path

import numpy as np
import pytest

from callbox.dialogs.intents import CONFIRM_BELOW, classify_hypotheses
from callbox.voice import asr_whisper, audio, evalset
from callbox.voice.asr import Transcript
from callbox.voice.asr_whisper import SECOND_LOOK_BELOW, SECOND_LOOK_MAX_SECONDS, WhisperRecognizer

STRESS = Path(__file__).parents[1] / "data" / "voice_stress.csv"


def _tone(hz: float, seconds: float) -> bytes:
    t = np.arange(int(audio.LINE_RATE * seconds)) / audio.LINE_RATE
    return audio.to_pcm16(0.5 * np.sin(2 * np.pi * hz * t))


def _peak_hz(pcm: bytes) -> float:
    samples = audio.to_float(pcm)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / audio.LINE_RATE)[np.argmax(spectrum)])


def test_tempo_shift_is_shorter_and_higher_at_the_line_rate():
    pcm = _tone(400, 2.0)
    faster = asr_whisper.tempo_shifted(pcm, 1.15)
    assert len(faster) // 2 == pytest.approx(2.0 * audio.LINE_RATE / 1.15, abs=2)
    assert _peak_hz(faster) == pytest.approx(460, abs=3)


def _recognizer(second_look: bool = True) -> WhisperRecognizer:
    recognizer = object.__new__(WhisperRecognizer)  # the gate needs no model
    recognizer.second_look_on = second_look
    return recognizer


@pytest.mark.parametrize("text,language,confidence,seconds,looks", [
    ("每个字大状和文。", "zh", 0.33, 2.0, True),  # unsure, nothing heard: a second look
    ("行曲播打这个后码。", "zh", SECOND_LOOK_BELOW - 0.05, 2.0, True),  # a "yes" (行) Whisper was unsure of
    ("好的。", "zh", SECOND_LOOK_BELOW, 1.0, False),  # Whisper was sure enough
    ("不要再打了。", "zh", 0.3, 1.5, False),  # already heard as an opt-out
    ("转人工。", "zh", 0.3, 1.5, False),  # already heard as a request for a person
    ("每个字大状和文。", "zh", 0.33, SECOND_LOOK_MAX_SECONDS + 1, False),  # a long turn
    ("We're calling me.", "en", 0.3, 1.5, False),  # English: no second look
    ("", "zh", 0.0, 1.0, False),  # nothing said
])
def test_which_turns_get_a_second_look(text, language, confidence, seconds, looks):
    transcript = Transcript(text, language, confidence)
    assert _recognizer()._wants_second_look(transcript, language, seconds) is looks
    assert _recognizer(second_look=False)._wants_second_look(transcript, language, seconds) is False


@pytest.fixture(scope="module")
def labelled():
    items = {item.id: item for item in evalset.load() + evalset.load(STRESS)}
    voices = evalset.Voices()
    return lambda item_id: (items[item_id], evalset.render(items[item_id], voices))


@pytest.fixture
def looking(whisper):
    """The shared recogniser with and without the second look (restored after the test)."""
    before = whisper.second_look_on

    def transcribe(pcm: bytes, language: str, second_look: bool) -> Transcript:
        whisper.second_look_on = second_look
        return whisper.transcribe(pcm, language)

    yield transcribe
    whisper.second_look_on = before


def _intent(transcript: Transcript):
    return classify_hypotheses(transcript.text, transcript.alternatives, transcript.language, transcript.spotted)


def test_second_look_hears_an_opt_out_the_first_missed(looking, labelled):
    """zh-201 (tuning half): 停止拨打这个号码 heard 行曲播打这个后码 — read as a *yes* (行). The faster copy is
    heard 停止播打这个后码: an unsure opt-out, so the box asks once instead of going on."""
    item, pcm = labelled("zh-201")
    first = looking(pcm, item.lang, second_look=False)
    assert _intent(first).name != "opt_out", first
    second = looking(pcm, item.lang, second_look=True)
    assert second.text == first.text and len(second.alternatives) > len(first.alternatives), second
    intent = _intent(second)
    assert intent.name == "opt_out" and intent.confidence < CONFIRM_BELOW, (intent, second)


def test_a_live_call_reads_the_turn_in_two_steps_with_the_same_result(whisper, labelled):
    """The session's path (first_look now, second_look after the answer) hears what transcribe hears."""
    item, pcm = labelled("zh-201")
    first = whisper.first_look(pcm, item.lang)
    later = whisper.second_look(pcm, item.lang, first)
    assert later is not None and later.text == first.text
    assert _intent(later).name == "opt_out" and _intent(first).name != "opt_out"
    assert later.alternatives == whisper.transcribe(pcm, item.lang).alternatives
    sure = Transcript("好的。", "zh", 0.95)
    assert whisper.second_look(pcm, "zh", sure) is None  # Whisper was sure: no second look


@pytest.mark.parametrize("item_id", ["zh-s21", "zh-s22"])
def test_second_look_asks_no_benign_reply(looking, labelled, item_id):
    """您好，哪位？ and 把我的预约改到上午 (stress set, tuning half): unsure turns that get a second look; the
    faster copy adds hypotheses but no opt-out (a slower copy, x0.87, read both as opt-outs: not used)."""
    item, pcm = labelled(item_id)
    first = looking(pcm, item.lang, second_look=False)
    assert first.confidence < SECOND_LOOK_BELOW, first  # a turn that gets a second look
    transcript = looking(pcm, item.lang, second_look=True)
    assert len(transcript.alternatives) > len(first.alternatives), transcript
    assert _intent(transcript).name != "opt_out", transcript
