"""Piper with its decoder run in windows: the same audio, a fraction of the working memory.

A Piper (VITS) voice computes durations and the latent frames for a whole sentence, then its decoder
(HiFi-GAN: convolutions only) turns all frames into audio at once. The decoder's activations are the
daemon's largest transient during calls (scripts/bench_memory.py --profile phases): ~120 MB for a
4.9 s sentence, growing with the sentence. Decoding ``window`` frames at a time, each with ``overlap``
frames of context on both sides that are computed and thrown away, gives the same samples (measured on
en_US-joe-medium: 64-frame windows with 16 frames of overlap, max difference 0.0000, SNR 138 dB against
the whole decode; 8 frames of overlap was audibly equal but not exact, SNR 61 dB) with a bounded peak
(+35 MB for that sentence) for ~9 % more decoder CPU. The two sessions must not spin-wait (onnxruntime's
default): front and decoder hand work to each other, and two spinning thread pools on 2 cores made a
short piece ("Emily,") 33 → 81 ms; without spinning 41 ms, and a 3-sentence text 373 → 394 ms (+6 %).

This needs the voice's ONNX graph cut in two at the decoder's input: :func:`split_voice` writes
``<voice>.front.onnx`` (text encoder, durations, flow) and ``<voice>.dec.onnx`` beside the voice. It
needs the ``onnx`` package, which the box does not carry: run it where the image is built::

    python -m callbox.voice.piper_windowed /opt/callbox/models/piper/zh_CN-….onnx

:func:`windowed_session` finds the two files and returns a session object that ``piper.PiperVoice``
uses exactly like its ``onnxruntime.InferenceSession``; without them the voice runs whole, as before.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

WINDOW_FRAMES = 64  # ~0.74 s of audio at 22.05 kHz and a hop of 256 samples
OVERLAP_FRAMES = 16  # context each side: the decoder's receptive field, measured (8 was not exact)


def split_paths(model: Path) -> tuple[Path, Path]:
    stem = model.with_suffix("")
    return Path(f"{stem}.front.onnx"), Path(f"{stem}.dec.onnx")


def split_voice(model: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Cut a Piper voice at its decoder's input (needs the ``onnx`` package). Returns (front, dec)."""
    import onnx
    import onnx.utils

    graph = onnx.load(str(model), load_external_data=False).graph
    decoder = [node for node in graph.node if node.name.startswith("/dec/")]
    if not decoder:
        raise ValueError(f"{model}: no /dec/ nodes: not a Piper VITS export")
    produced = {name for node in decoder for name in node.output}
    constants = {init.name for init in graph.initializer}
    inputs = list(dict.fromkeys(
        name for node in decoder for name in node.input if name and name not in produced and name not in constants
    ))
    if len(inputs) != 1:  # a multi-speaker voice conditions its decoder on the speaker too: keep it whole
        raise ValueError(f"{model}: the decoder takes {inputs}, not one input; not split")
    final = graph.output[0].name
    output = next((node.input[0] for node in graph.node if final in node.output), None)
    if output not in produced:
        raise ValueError(f"{model}: the graph output is not the decoder's")
    front, dec = split_paths(out_dir / model.name if out_dir else model)
    onnx.utils.extract_model(str(model), str(front), [i.name for i in graph.input], inputs)
    onnx.utils.extract_model(str(model), str(dec), inputs, [output])
    return front, dec


class WindowedSession:
    """What ``PiperVoice`` needs of an InferenceSession: ``run(None, feed)`` → ``[audio]``."""

    def __init__(self, front: Any, dec: Any, window: int = WINDOW_FRAMES, overlap: int = OVERLAP_FRAMES,
                 hop: int = 256) -> None:
        self.front, self.dec = front, dec
        self.window, self.overlap, self.hop = window, overlap, hop
        self._latent = dec.get_inputs()[0].name

    def get_session_options(self):  # noqa: ANN201
        return self.front.get_session_options()

    def get_inputs(self):  # noqa: ANN201
        return self.front.get_inputs()

    def decode(self, latent: np.ndarray) -> np.ndarray:
        frames = latent.shape[2]
        pieces = []
        for start in range(0, frames, self.window):
            lo, hi = max(0, start - self.overlap), min(frames, start + self.window + self.overlap)
            audio = self.dec.run(None, {self._latent: np.ascontiguousarray(latent[:, :, lo:hi])})[0].reshape(-1)
            keep = min(self.window, frames - start)
            pieces.append(audio[(start - lo) * self.hop:(start - lo + keep) * self.hop])
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def run(self, output_names, feed: dict) -> list[np.ndarray]:  # noqa: ANN001
        latent = self.front.run(None, feed)[0]
        return [self.decode(latent)[None, None, None, :]]


def windowed_session(model: Path, make_session: Callable[[Path], Any], hop: int = 256) -> WindowedSession | None:
    """A windowed session when ``split_voice`` was run for ``model``, else None (run it whole)."""
    front, dec = split_paths(model)
    if not (front.exists() and dec.exists()):
        return None
    return WindowedSession(make_session(front), make_session(dec), hop=hop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cut Piper voices at the decoder input (needs the onnx package).")
    parser.add_argument("models", nargs="+", type=Path, help="voice .onnx files (their .onnx.json stays as is)")
    parser.add_argument("--out", type=Path, help="write the two files here instead of beside each voice")
    args = parser.parse_args(argv)
    for model in args.models:
        front, dec = split_voice(model, args.out)
        print(f"{model}: {front.name} ({front.stat().st_size // 1_000_000} MB), {dec.name} ({dec.stat().st_size // 1_000_000} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
