"""The prompt cache keeps fixed prompts, and only a bounded amount of per-callee audio (docs/voice.md, Memory)."""

import threading

import numpy as np

from callbox.voice.tts import PromptCache


class CountingVoice:
    """A fake synthesizer: 0.5 s of a tone per call (4000 samples at 8 kHz -> 8000 bytes of line PCM)."""

    voice_id = "fake:1"
    language = "en"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def synthesize(self, text: str):
        with self._lock:
            self.calls.append(text)
        t = np.arange(4000) / 8000
        return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000


def test_per_callee_audio_is_bounded_least_recently_used_first(tmp_path):
    voice = CountingVoice()
    cache = PromptCache({"en": voice}, tmp_path, transient_bytes=3 * 8000)
    one = cache.render("Emily, see you tomorrow.", "en", persist=False)
    for name in ("Wang", "Li", "Zhao"):
        cache.render(f"{name}, see you tomorrow.", "en", persist=False)
    fixed, transient = cache.memory_bytes()
    assert fixed == 0 and transient <= 3 * 8000  # bounded, whatever the number of callees
    assert cache.cached("Emily, see you tomorrow.", "en", persist=False) is None  # the oldest went first
    assert cache.cached("Zhao, see you tomorrow.", "en", persist=False) is not None
    assert list(tmp_path.iterdir()) == []  # personal text is never written to disk
    # Evicted text is simply rendered again, identically.
    assert cache.render("Emily, see you tomorrow.", "en", persist=False) == one
    assert voice.calls.count("Emily, see you tomorrow.") == 2


def test_a_hit_keeps_per_callee_audio_and_fixed_prompts_are_never_evicted(tmp_path):
    voice = CountingVoice()
    cache = PromptCache({"en": voice}, tmp_path, transient_bytes=2 * 8000)
    cache.render("This call is made by an automated AI voice.", "en")  # fixed prompt, persisted
    cache.render("Emily, hello.", "en", persist=False)
    cache.render("Wang, hello.", "en", persist=False)
    assert cache.cached("Emily, hello.", "en", persist=False) is not None  # used: now the most recent
    cache.render("Li, hello.", "en", persist=False)
    assert cache.cached("Emily, hello.", "en", persist=False) is not None
    assert cache.cached("Wang, hello.", "en", persist=False) is None
    for name in range(20):
        cache.render(f"Caller {name}, hello.", "en", persist=False)
    assert cache.cached("This call is made by an automated AI voice.", "en") is not None
    assert voice.calls.count("This call is made by an automated AI voice.") == 1
    assert cache.memory_bytes()[0] == 8000


def test_streamed_sentences_of_per_callee_text_come_from_the_bounded_cache(tmp_path):
    voice = CountingVoice()
    cache = PromptCache({"en": voice}, tmp_path, transient_bytes=10 * 8000)
    text = "Emily, this is a reminder of your appointment tomorrow. Press 1 or say yes to confirm."
    pieces = [f.result(timeout=5) for f in cache.render_stream(text, "en", persist=False)]
    assert len(pieces) > 1 and all(pieces)
    again = [f.result(timeout=5) for f in cache.render_stream(text, "en", persist=False)]
    assert again == pieces and len(voice.calls) == len(pieces)  # second time: all cache hits
    assert cache.memory_bytes() == (0, sum(map(len, pieces)))
