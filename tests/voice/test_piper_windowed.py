"""Piper's decoder run in windows gives the same audio with bounded working memory (voice/piper_windowed.py)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from callbox.voice.piper_windowed import WindowedSession, split_paths


class Port:
    def __init__(self, name):
        self.name = name


class FakeFront:
    """Returns fixed latent frames [1, 4, T]."""

    def __init__(self, latent):
        self.latent = latent

    def run(self, names, feed):
        return [self.latent]

    def get_inputs(self):
        return [Port("input")]


class FakeDecoder:
    """A local operation like a convolutional decoder: each output sample depends on frames ±3 (hop 4)."""

    def __init__(self):
        self.widths = []

    def get_inputs(self):
        return [Port("z")]

    def run(self, names, feed):
        z = feed["z"][0].sum(axis=0)
        self.widths.append(z.size)
        padded = np.pad(z, 3)
        smooth = np.convolve(padded, np.ones(7) / 7, mode="valid")  # receptive field: 3 frames each side
        return [np.repeat(smooth, 4)[None, None, :].astype(np.float32)]


@pytest.mark.parametrize("frames", [1, 10, 64, 65, 200, 419])
def test_windows_give_exactly_the_whole_decode_and_bounded_inputs(frames):
    latent = np.random.default_rng(frames).normal(size=(1, 4, frames)).astype(np.float32)
    whole = FakeDecoder().run(None, {"z": latent})[0].reshape(-1)
    decoder = FakeDecoder()
    session = WindowedSession(FakeFront(latent), decoder, window=16, overlap=4, hop=4)
    audio = session.run(None, {"input": None})[0]
    assert audio.shape == (1, 1, 1, frames * 4)  # what PiperVoice squeezes
    np.testing.assert_allclose(audio.reshape(-1), whole, atol=1e-6)
    assert max(decoder.widths) <= 16 + 2 * 4  # never more than a window and its context at once


def test_too_little_overlap_is_not_exact():
    """The overlap must cover the decoder's receptive field: the reason for OVERLAP_FRAMES."""
    latent = np.random.default_rng(1).normal(size=(1, 4, 100)).astype(np.float32)
    whole = FakeDecoder().run(None, {"z": latent})[0].reshape(-1)
    audio = WindowedSession(FakeFront(latent), FakeDecoder(), window=16, overlap=1, hop=4).run(None, {})[0]
    assert np.abs(audio.reshape(-1) - whole).max() > 1e-3


def test_a_real_voice_split_sounds_the_same(tmp_path):
    """Needs the onnx package (image build time only); skipped where it is not installed."""
    pytest.importorskip("onnx")
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    from callbox.voice import models, tts
    from callbox.voice.piper_windowed import split_voice

    source = models.piper_voice_en()
    model = tmp_path / source.name
    model.symlink_to(source)
    shutil.copy(f"{source}.json", f"{model}.json")
    front, dec = split_voice(model)
    assert (front, dec) == split_paths(model) and front.exists() and dec.exists()
    windowed = tts.PiperSynthesizer(model, "en")
    assert windowed.windowed
    for part in (windowed._voice.session.front, windowed._voice.session.dec):  # two pools must not spin-wait
        assert part.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    config = PiperConfig.from_dict(json.loads(Path(f"{model}.json").read_text()))
    whole = PiperVoice(config=config, session=tts.onnx_session(source))
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # deterministic
    text = "If you do not want any more calls from us, say stop calling me or press 9 at any time."
    a = np.concatenate([c.audio_float_array for c in whole.synthesize(text, quiet)])
    b = np.concatenate([c.audio_float_array for c in windowed._voice.synthesize(text, quiet)])
    assert a.size == b.size
    assert np.abs(a - b).max() < 1e-3


def test_without_split_files_the_voice_runs_whole(piper_en):
    assert not piper_en.windowed
