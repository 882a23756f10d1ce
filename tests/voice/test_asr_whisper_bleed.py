"""Prompt bleed in Whisper transcripts (voice/asr_whisper.py): what counts as the prompt coming back, and
the second decode without a prompt that replaces such a transcript. Pure: no model is loaded."""

from types import SimpleNamespace

import numpy as np
import pytest

from callbox.voice import asr_whisper
from callbox.voice.asr_whisper import WhisperRecognizer, hallucination

PROMPT = asr_whisper._PROMPTS["zh"]


@pytest.mark.parametrize("text,why", [
    ("普通话", "prompt"),  # a piece of the prompt
    ("这次的电话录音", "prompt"),  # mostly its character pairs
    ("好的普通话。", "prompt"),  # three prompt characters in a row: the prompt bled into 好的，同意
    ("是", "prompt"),
    ("文。可以录音。", ""),  # shares 录音 with the prompt, but is an answer to the recording question
    ("可以录音", ""),
    ("不要录音。", ""),
    ("No.", ""),  # single shared letters never counted
    ("Someone called.", ""),
    ("谢谢观看", "credits"),
])
def test_prompt_bleed_is_told_apart_from_answers(text, why):
    assert hallucination(text, 0.2, 0.3, PROMPT) == why


def test_confident_text_and_unprompted_text_are_not_bleed():
    assert hallucination("好的普通话。", 0.1, 0.9, PROMPT) == ""  # Whisper is sure of it
    assert hallucination("普通话", 0.1, 0.3, PROMPT, prompted=False) == ""  # decoded without a prompt
    assert hallucination("嗯", 0.9, 0.1, PROMPT, prompted=False) == "no_speech"


def test_traditional_characters_of_unprompted_decoding_are_simplified():
    assert "現在不方便,一会兒再打".translate(asr_whisper._T2S) == "现在不方便,一会儿再打"


class _Lock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _FakeWhisper(WhisperRecognizer):
    """The recogniser's logic with scripted decodes instead of the model."""

    def __init__(self, prompted_texts, unprompted_texts, retry=True):
        self._prompts = dict(asr_whisper._PROMPTS)
        self._lock = _Lock()
        self._spotter = None
        self.name = "whisper"
        self.retry_unprompted = retry
        self.retries = 0
        self.second_look_on = False  # test_second_look.py covers the faster copy's decode
        self.decodes = []
        self._scripted = {True: prompted_texts, False: unprompted_texts}

    def _decode(self, pcm8k, language, prompted=True):
        self.decodes.append(prompted)
        texts = self._scripted[prompted]
        result = SimpleNamespace(scores=[np.log(0.3)], no_speech_prob=0.1, sequences_ids=[[1]])
        return None, result, texts, 100


def test_bleed_is_decoded_again_without_the_prompt():
    fake = _FakeWhisper(["好的普通话。", "好的普通话"], ["好的,同意。", "好的同意"])
    transcript = fake.transcribe(b"\0" * 16000, "zh")
    assert fake.decodes == [True, False] and fake.retries == 1
    assert transcript.text == "好的,同意。" and transcript.alternatives == ("好的同意",)


def test_an_answer_is_decoded_once_and_retry_can_be_turned_off():
    fake = _FakeWhisper(["可以录音。"], ["x"])
    assert fake.transcribe(b"\0" * 16000, "zh").text == "可以录音。" and fake.decodes == [True]
    off = _FakeWhisper(["普通话"], ["不同意"], retry=False)
    assert off.transcribe(b"\0" * 16000, "zh").text == "" and off.decodes == [True]


def test_a_retry_that_hears_credits_gives_nothing():
    fake = _FakeWhisper(["普通话"], ["谢谢观看"])
    assert fake.transcribe(b"\0" * 16000, "zh").text == ""
