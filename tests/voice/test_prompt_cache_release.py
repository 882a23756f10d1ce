"""The prompt cache's worker gives synthesis buffers back once it runs out of text (docs/voice.md, Memory)."""

import threading

import numpy as np

from callbox.voice.tts import PromptCache


class GatedVoice:
    """A fake synthesizer that waits for ``gate`` (so texts queue up) and notes how many releases it saw."""

    voice_id = "fake:gated"
    language = "en"

    def __init__(self, releases: list) -> None:
        self.gate = threading.Event()
        self.releases_seen: list[int] = []
        self._releases = releases

    def synthesize(self, text: str):
        self.gate.wait(10)
        self.releases_seen.append(len(self._releases))
        return np.full(800, 0.3, dtype=np.float32), 8000


def test_memory_is_released_once_after_the_last_queued_sentence_not_per_sentence(tmp_path):
    releases: list[int] = []
    voice = GatedVoice(releases)
    cache = PromptCache({"en": voice}, tmp_path, release=lambda: releases.append(1))
    text = "Emily, this is the clinic. Your appointment is tomorrow at ten. Please call us back if needed."
    futures = cache.render_stream(text, "en", persist=False)
    assert len(futures) >= 3
    voice.gate.set()
    for future in futures:
        future.result(10)
    cache._worker.submit(lambda: None).result(10)  # the release runs on the worker after the last render
    assert voice.releases_seen == [0] * len(futures)  # none while sentences were still queued
    assert releases == [1]


def test_nothing_is_released_when_nothing_was_synthesised(tmp_path):
    releases: list[int] = []
    voice = GatedVoice(releases)
    voice.gate.set()
    cache = PromptCache({"en": voice}, tmp_path, release=lambda: releases.append(1))
    text = "Emily, this is the clinic. Your appointment is tomorrow at ten."
    for future in cache.render_stream(text, "en"):
        future.result(10)
    cache._worker.submit(lambda: None).result(10)
    assert releases == [1]
    cache._memory.clear()  # the sentences are now read from the disk cache: no synthesis, no release
    for future in cache.render_stream(text, "en"):
        future.result(10)
    cache._worker.submit(lambda: None).result(10)
    assert releases == [1]


def test_a_failing_release_does_not_fail_the_prompt(tmp_path):
    voice = GatedVoice([])
    voice.gate.set()

    def broken() -> None:
        raise OSError("no libc")

    cache = PromptCache({"en": voice}, tmp_path, release=broken)
    assert cache.render_stream("Hello there.", "en")[0].result(10)
