"""``callbox voice understand FILE.wav ... [--lang zh|en|auto] [--engine whisper] --json``.

Prints one JSON object per file per line: ``{"file", "lang", "text", "intent", "confidence"}``. Models
are loaded once for all files; each file (any rate, mono or stereo) is resampled to the line rate
first, exactly as live audio arrives, then recognised and classified as in a call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from callbox.cli import EXIT_OK, UsageError


def cmd_understand(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from callbox.dialogs.intents import classify_hypotheses
    from callbox.voice.asr import DEFAULT_ENGINE, load_recognizer
    from callbox.voice.understand import Understanding, line_pcm, pick_language

    for path in args.files:
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such file")
    engines: dict[str, object] = {}

    def engine_for(language: str):
        name = args.engine or DEFAULT_ENGINE.get(language, "whisper")
        key = name if name in ("whisper",) else f"{name}:{language}"
        if key not in engines:
            engines[key] = load_recognizer(name, language)
        return engines[key]

    for path in args.files:
        try:
            pcm = line_pcm(path)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the rest
            print(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False), flush=True)
            continue
        language = args.lang
        if language == "auto":
            language = pick_language(engine_for("zh"), pcm)
        transcript = engine_for(language).transcribe(pcm, language)
        intent = classify_hypotheses(transcript.text, transcript.alternatives, language, transcript.spotted)
        confidence = round(intent.confidence * (0.5 + 0.5 * transcript.confidence), 3) if transcript.text else 0.0
        result = Understanding(str(path), language, transcript.text, intent.name, confidence)
        if args.json:
            print(json.dumps(result.as_json(), ensure_ascii=False), flush=True)
        else:
            print(f"{path}: [{language}] {transcript.text!r} → {intent.name} ({confidence:.2f})", flush=True)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    voice = subparsers.add_parser("voice", help="speech tools: understand recorded replies")
    sub = voice.add_subparsers(dest="voice_command", metavar="SUBCOMMAND", required=True)
    understand = sub.add_parser("understand", help="transcribe WAV files and classify the intent, as in a call")
    understand.add_argument("files", nargs="+", type=Path, metavar="FILE.wav")
    understand.add_argument("--lang", choices=("zh", "en", "auto"), default="auto")
    understand.add_argument("--engine", choices=("whisper", "vosk", "sphinx"), default=None,
                            help="ASR engine (default: the measured default per language)")
    understand.add_argument("--json", action="store_true", help="one JSON object per file per line")
    understand.set_defaults(func=cmd_understand)
