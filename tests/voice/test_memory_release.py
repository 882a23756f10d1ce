"""Between calls the daemon gives memory back: cyclic garbage collected, heap trimmed; startup objects
frozen so that collecting after every call is cheap (callbox.voice.memory, docs/voice.md Memory)."""

import gc
import json
import subprocess
import sys
import weakref

from callbox.voice import memory


class Holder:
    """Stands in for a finished call: a reference cycle holding a buffer."""

    def __init__(self) -> None:
        self.buffer = bytearray(1 << 20)
        self.me = self


def test_release_free_memory_collects_what_a_call_left_in_cycles():
    gc.disable()  # the cycle must not go away by chance before the call under test
    try:
        holder = Holder()
        alive = weakref.ref(holder)
        del holder
        assert alive() is not None  # refcounting alone never frees a cycle
        memory.release_free_memory()
        assert alive() is None
    finally:
        gc.enable()


def test_release_without_collect_leaves_cycles_alone():
    gc.disable()
    try:
        holder = Holder()
        alive = weakref.ref(holder)
        del holder
        memory.release_free_memory(collect=False)
        assert alive() is not None
        assert memory.collect_garbage() >= 1 and alive() is None
    finally:
        gc.enable()


# In a subprocess: freezing is for the whole interpreter, not for a shared test process.
PREWARM = r"""
import gc, json, sys, threading
from callbox.daemon import VoiceStack

class FakeVoice:
    voice_id = "fake:1"
    def __init__(self, language):
        self.language = language
        self.threads = []
    def synthesize(self, text):
        import numpy as np
        self.threads.append(threading.current_thread().name)
        return np.full(800, 0.3, dtype=np.float32), 8000

class Pack:
    def prologue_text(self, language):
        return {"identity": "Hello from {org}, {callback}.", "goodbye": "Goodbye."}

class Org:
    callback_number = "+862161234567"
    def name_for(self, language):
        return "Clinic"

from callbox.voice.tts import PromptCache
voices = {"zh": FakeVoice("zh"), "en": FakeVoice("en")}
for v in voices.values():
    v.voice_id = f"fake:{v.language}"
stack = VoiceStack.__new__(VoiceStack)
stack.prompts = PromptCache(voices, None)
assert "pypinyin" not in sys.modules
stack.prewarm(Pack(), Org())
print(json.dumps({
    "threads": sorted({t for v in voices.values() for t in v.threads}),
    "renders": sum(len(v.threads) for v in voices.values()),
    "pypinyin": "pypinyin" in sys.modules,
    "frozen": gc.get_freeze_count(),
}))
"""


def test_prewarm_renders_on_one_thread_loads_understanding_and_freezes_startup_objects():
    out = subprocess.run([sys.executable, "-c", PREWARM], check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["renders"] == 4
    assert result["threads"] == ["MainThread"]  # one voice after the other: one malloc arena, not two
    assert result["pypinyin"]  # the first zh turn no longer loads ~53 MB of dictionaries mid-call
    assert result["frozen"] > 1000
