"""Shared, module-scoped voice models for the voice tests (loading them is most of the cost)."""

import os
import shutil

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def whisper():
    from callbox.voice.asr import load_recognizer

    return load_recognizer("whisper")


@pytest.fixture(scope="session")
def piper_en():
    from callbox.voice.tts import load_synthesizer

    return load_synthesizer("en")


@pytest.fixture(scope="session")
def espeak():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    return shutil.which("espeak-ng")
