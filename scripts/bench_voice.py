#!/usr/bin/env python3
"""Benchmark the voice pipeline: real loopback SIP calls, then N concurrent calls on software lines.

    .venv/bin/python scripts/bench_voice.py                 # SIP calls + concurrency 1,2,4,6
    .venv/bin/python scripts/bench_voice.py --calls 1 --concurrency 1,4 --json out.json

Part 1 — SIP (the box's SipLine ⇄ the phone bank, pjsua2 on 127.0.0.1, real TTS, real ASR, real DTMF),
through the daemon's own campaign path (gate → permit → line → CallSession). Callees answer the
recording question and the appointment question by voice, some barge into the prologue. Printed:
- turn latency: callee stops speaking → first reply audio, box side (VAD end of speech → first frame
  queued to the line) and callee side (the phone bank's ear: end of its phrase → box speech onset);
- barge-in stop time: callee speech onset → box audio stops (box side; callee side from the ear);
- ASR real-time factor, TTS time to first audio (cached prompt / dynamic sentence), daemon RSS.

Part 2 — concurrency: N sessions at once in one process sharing one model set, each on a software line
clocked in real time (20 ms frames) with a callee speaking real synthesized replies; calls start 2.3 s
apart, as calls on real lines do. A level "stays real time" when media clocks are never more than
40 ms late (p99) and the turn latency p95 stays under 1.5 s.
Software lines, not SIP, for this part: their media clock is the one whose lateness is measured, and the
callees need no second process. (Several SIP lines do share one endpoint in the daemon: tests/integration/test_two_lines_campaign.py.)

Numbers are printed, never asserted (tests do not assert timings).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {pct(values, 0.5):.0f} ms, p95 {pct(values, 0.95):.0f} ms (n={len(values)})"


# -- part 1: SIP loopback -------------------------------------------------------------------------
# (box_spoke_ms, box_pause_ms, phrase): see callbox.phonebank.callees.Act
EN_CALLEE = [(0, 700, "Yes."), (0, 700, "Yes, I will be there.")]
ZH_CALLEE = [(0, 700, "同意"), (0, 700, "好的，我会准时到。")]
# After barging in, a callee answers the recording question only when the box waits for an answer
# (1.5 s of box silence: longer than any gap inside the prologue), so the bank stays in step with it.
EN_BARGE = [(2500, 0, "Hello? Who is this?"), (12000, 1500, "Yes."), EN_CALLEE[1]]
ZH_BARGE = [(2500, 0, "喂？你是哪里？"), (12000, 1500, "同意"), ZH_CALLEE[1]]


def sip_part(calls_per_kind: int, workdir: Path) -> dict:
    import callbox.daemon as daemon_module
    from callbox.clock import OffsetClock
    from callbox.daemon import CallBox
    from callbox.demo import PhoneBankProcess
    from callbox.dialogs.script import load_script
    from callbox.dialogs.session import CallSession
    from callbox.lines.sip import SipAccountConfig, SipLine
    from callbox.phonebank.callees import Act, Callee
    from callbox.provision import init_box
    from callbox.store import queries
    from callbox.voice import audio
    from callbox.voice.tts import PromptCache

    sessions: dict[str, CallSession] = {}

    class MeasuredSession(CallSession):
        """The daemon's session, kept for its stats (the daemon drops it after the call)."""

        def run(self, control):  # noqa: D401
            sessions[self.dialog.vars.get("bench_number", "")] = self
            super().run(control)

    daemon_module.CallSession = MeasuredSession
    kinds = [("en", EN_CALLEE), ("en", EN_BARGE), ("zh", ZH_CALLEE), ("zh", ZH_BARGE)]
    callees, languages = [], {}
    n = 0
    for _ in range(calls_per_kind):
        for language, acts in kinds:
            n += 1
            number = f"+86139000{n:05d}"
            callees.append(Callee(number, language, f"bench{n}", acts=tuple(
                Act(box_spoke_ms=spoke, box_pause_ms=pause, say=text) for spoke, pause, text in acts)))
            languages[number] = language
    start = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    clock = OffsetClock(start)
    data = workdir / "data"
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862161234567", "Asia/Shanghai", "medical", "Sunshine Dental")
    for callee in callees:
        contact = queries.add_contact(store, callee.number, callee.label, callee.language)
        queries.add_consent(store, contact, "reminder", clock.now() - timedelta(days=3), "paper_form", "form-1")
    bank_cache = workdir / "bank-cache"
    bank = PhoneBankProcess(callees, workdir / "bank", bank_cache)
    box = CallBox(data, clock, store)
    rss_before = rss_mb()
    t = time.monotonic()
    box.load_voice(("zh", "en"))
    load_s = time.monotonic() - t
    rss_loaded = rss_mb()
    results: dict = {"rss_models_loaded_mb": round(rss_loaded), "voice_load_s": round(load_s, 1),
                     "rss_models_delta_mb": round(rss_loaded - rss_before)}
    try:
        port = bank.wait_ready()
        line = SipLine("sip1", box.authority, SipAccountConfig(user="clinic", peer=f"127.0.0.1:{port}"), log_level=0)
        box.add_line(line)
        line.start()
        campaign = box.create_campaign(
            "bench", "reminder", "appointment_reminder", records=True,
            members=[{"phone": c.number, "variables": {"appointment": "tomorrow at 3 p.m." if c.language == "en" else "明天下午三点",
                                                       "bench_number": c.number}} for c in callees],
        )
        script = load_script("appointment_reminder")
        cpu0, wall0 = time.process_time(), time.monotonic()
        outcomes = {}
        for member in list(campaign.members):
            result = box.process_member(campaign, member, script)
            outcomes[member.phone] = result.outcome
        cpu_per_call = (time.process_time() - cpu0) / max(1e-6, time.monotonic() - wall0)
        results["rss_after_calls_mb"] = round(rss_mb())
        # The callee's ear: end of each phrase it said → the next onset of box speech it heard.
        phrase_cache = PromptCache(box.voice.prompts._synth, bank_cache)  # noqa: SLF001 (same voices, same cache)
        ear_turns, ear_barge = [], []
        for callee in callees:
            report = bank.wait_report(callee.number, timeout=15)
            if not report:
                continue
            answered = next((e["t_ms"] for e in report["events"] if e["event"] == "answered"), 0)
            samples, rate = audio.read_wav(report["heard_wav"])
            frame = rate // 50
            levels = np.sqrt(np.convolve(samples**2, np.ones(frame) / frame, mode="valid"))[::frame] * 32768
            loud = levels >= 200  # the phone bank's own threshold for "the box is speaking"
            for e in report["events"]:
                if e["event"] != "say":
                    continue
                pcm = phrase_cache.render(e["text"], callee.language)
                voiced = np.flatnonzero(np.abs(np.frombuffer(pcm, "<i2")) > 500)
                if not voiced.size:
                    continue
                said_from = e["t_ms"] - answered + voiced[0] / 8
                said_to = e["t_ms"] - answered + voiced[-1] / 8
                if e["text"].startswith(("Hello", "喂")):
                    i = int(said_from // 20)
                    while i < len(loud) and loud[i]:
                        i += 1
                    if i < len(loud):
                        ear_barge.append(i * 20 - said_from)
                else:
                    i = int(said_to // 20)
                    while i < len(loud) and not loud[i]:
                        i += 1
                    if i < len(loud):
                        ear_turns.append(i * 20 - said_to)
        turn = [ms for s in sessions.values() for ms in (s.stats.turn_latencies_ms or [])]
        barge = [ms for s in sessions.values() for ms in (s.stats.barge_in_stops_ms or [])]
        asr_ms = sum(ms for s in sessions.values() for ms in s.stats.asr_ms)
        audio_ms = sum(ms for s in sessions.values() for ms in s.stats.audio_ms)
        first = [s.stats.first_audio_ms for s in sessions.values() if s.stats.first_audio_ms is not None]
        results.update(
            calls=len(sessions), outcomes=outcomes,
            turn_latency_box_ms=turn, turn_latency_ear_ms=[round(x) for x in ear_turns],
            barge_in_box_ms=barge, barge_in_ear_ms=[round(x) for x in ear_barge],
            asr_rtf=round(asr_ms / audio_ms, 3) if audio_ms else None,
            first_audio_after_answer_ms=first, cpu_cores_one_call=round(cpu_per_call, 2),
            speculative_hits=sum(s.stats.speculative_hits for s in sessions.values()),
        )
        results["tts"] = tts_first_audio(box.voice.prompts)
    finally:
        box.close()
        bank.stop()
    return results


def tts_first_audio(prompts) -> dict:
    """Time to first audio: a cached prompt, and dynamic text streamed sentence by sentence."""
    out = {}
    texts = {"en": "Emily, this is a reminder of your appointment on Friday at 4:30 p.m. Press 1 or say yes to confirm, "
                   "or press 2 to reschedule.",
             "zh": "李娜，提醒您预约了星期五下午四点半的就诊。确认请按1或说“确认”，需要改期请按2。"}
    for language, text in texts.items():
        text = text + f" ({time.monotonic_ns() % 997})"  # never in the cache
        t = time.monotonic()
        futures = prompts.render_stream(text, language, persist=False)
        futures[0].result()
        first = (time.monotonic() - t) * 1000
        for f in futures:
            f.result()
        whole = (time.monotonic() - t) * 1000
        t = time.monotonic()
        prompts.render_stream(text, language, persist=False)[0].result()
        cached = (time.monotonic() - t) * 1000
        out[language] = {"first_sentence_ms": round(first), "whole_text_ms": round(whole), "cached_ms": round(cached, 2),
                         "sentences": len(futures)}
    return out


# -- part 2: concurrency on software lines ----------------------------------------------------------
from callbox.lines.base import CallControl  # noqa: E402


class SoftLine(CallControl):
    """A CallControl with a real-time media clock thread; plays a callee script of (wait_ms, pcm)."""

    def __init__(self, session, replies: list[bytes]) -> None:
        from callbox.lines.base import PlaybackBuffer

        self.session = session
        self.buffer = PlaybackBuffer()
        self.replies = list(replies)
        self.callee = bytearray()
        self.stop = threading.Event()
        self.hung_up = threading.Event()
        self.lateness_ms: list[float] = []
        self.box_silent_ms = 0
        self.box_spoke = False

    def play(self, pcm: bytes) -> None:
        self.buffer.push(pcm)

    def stop_playback(self) -> int:
        return self.buffer.clear()

    def playback_pending_ms(self) -> int:
        return self.buffer.pending_ms()

    def send_dtmf(self, digits: str) -> None:
        pass

    def hangup(self) -> None:
        self.hung_up.set()
        self.stop.set()

    def run(self) -> None:
        from callbox.lines.base import CallEnd, FRAME_BYTES

        self.session.on_answered()
        next_t = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            self.lateness_ms.append(max(0.0, (now - next_t) * 1000))
            out = self.buffer.pop_frame()
            self.session.on_audio_sent(out)
            if np.abs(np.frombuffer(out, "<i2")).mean() > 50:
                self.box_spoke, self.box_silent_ms = True, 0
            else:
                self.box_silent_ms += 20
            # The callee answers after the box has been quiet for 700 ms (its turn ended).
            if not self.callee and self.replies and self.box_spoke and self.box_silent_ms >= 700:
                self.callee += self.replies.pop(0)
                self.box_spoke = False
            frame = bytes(self.callee[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\0")
            del self.callee[:FRAME_BYTES]
            self.session.on_audio(frame)
            next_t += 0.02
            time.sleep(max(0.0, next_t - time.monotonic()))
        self.session.on_ended(CallEnd.COMPLETED, "bench")


def concurrency_part(levels: list[int], voice_stack, replies: dict[str, list[bytes]] | None = None) -> list[dict]:
    """``replies``: the callees' line PCM per language (default: rendered here by the stack's own voices)."""
    from callbox.compliance.rulepack import load_pack
    from callbox.dialogs.dialog import OutboundDialog
    from callbox.dialogs.script import load_script
    from callbox.dialogs.session import CallSession
    from callbox.voice import audio

    pack, script = load_pack("cn"), load_script("appointment_reminder")
    if replies is None:
        replies = {}
        for language, texts in (("en", ["Yes.", "Yes, I will be there."]), ("zh", ["同意", "好的，我会准时到。"])):
            replies[language] = [audio.to_line(*voice_stack.prompts._synth[language].synthesize(t)) + audio.silence(300)  # noqa: SLF001
                                 for t in texts]
    rows = []
    for n in levels:
        sessions, lines, threads = [], [], []
        for i in range(n):
            language = "en" if i % 2 == 0 else "zh"
            dialog = OutboundDialog(pack, script, language, "Sunshine Dental" if language == "en" else "阳光口腔诊所",
                                    "0 2 1", records=True, variables={"name": "Emily", "appointment": "tomorrow"})
            session = CallSession(dialog, voice_stack.prompts, voice_stack.recognizer, lambda source: None)
            line = SoftLine(session, replies[language])
            sessions.append(session)
            lines.append(line)
        cpu0, wall0 = time.process_time(), time.monotonic()
        for session, line in zip(sessions, lines):
            threads.append(threading.Thread(target=session.run, args=(line,), daemon=True))
            threads.append(threading.Thread(target=line.run, daemon=True))
        for k in range(0, len(threads), 2):  # calls start staggered, as on real lines (2.3 s apart)
            threads[k].start()
            threads[k + 1].start()
            time.sleep(2.3 if k + 2 < len(threads) else 0)
        deadline = time.monotonic() + 120
        for line in lines:
            line.hung_up.wait(max(0.1, deadline - time.monotonic()))
        for line in lines:
            line.stop.set()
        for session in sessions:
            session.finished.wait(5)
        wall = time.monotonic() - wall0
        cpu = (time.process_time() - cpu0) / wall
        late = [x for line in lines for x in line.lateness_ms]
        turns = [ms for s in sessions for ms in (s.stats.turn_latencies_ms or [])]
        asr = [ms for s in sessions for ms in s.stats.asr_ms]
        completed = sum(1 for s in sessions if s.dialog.facts.outcome == "confirmed")
        realtime = bool(late) and pct(late, 0.99) < 40 and (not turns or pct(turns, 0.95) < 1500)
        rows.append({"calls": n, "completed": completed, "cpu_cores": round(cpu, 2), "cpu_per_call": round(cpu / n, 2),
                     "media_late_p99_ms": round(pct(late, 0.99), 1), "media_late_max_ms": round(max(late), 1),
                     "turn_p50_ms": pct(turns, 0.5), "turn_p95_ms": pct(turns, 0.95), "asr_p95_ms": pct(asr, 0.95),
                     "rss_mb": round(rss_mb()), "realtime": realtime})
        print(f"  {n} concurrent: {completed}/{n} confirmed, CPU {cpu:.2f} cores ({cpu / n:.2f}/call), media clock late "
              f"p99 {pct(late, 0.99):.1f} ms (max {max(late):.0f}), turn {fmt(turns)}, ASR p95 {pct(asr, 0.95):.0f} ms, "
              f"RSS {rss_mb():.0f} MB → {'real time' if realtime else 'NOT real time'}", flush=True)
    return rows


# -- part 3: VAD, webrtcvad vs Silero ---------------------------------------------------------------
def vad_part(limit: int = 120) -> dict:
    """Onset delay, missed utterances, false starts on noise and coughs, CPU per frame, per classifier."""
    from callbox.voice import audio, evalset
    from callbox.voice.vad import SileroClassifier, SpeechStarted, TurnDetector, WebRtcClassifier

    items = evalset.load()[::max(1, len(evalset.load()) // limit)]
    voices = evalset.Voices()
    clips = [evalset.render(item, voices) for item in items]
    rng = np.random.default_rng(7)
    noises = {
        "white -35 dBFS": audio.to_pcm16(rng.normal(0, 10 ** (-35 / 20), 8000 * 3)),
        "white -25 dBFS": audio.to_pcm16(rng.normal(0, 10 ** (-25 / 20), 8000 * 3)),
        "hum 50 Hz": audio.to_pcm16(0.1 * np.sin(2 * np.pi * 50 * np.arange(8000 * 3) / 8000)),
    }
    coughs = []
    for k in range(20):  # 120–300 ms broadband bursts with a decay, like a cough or a knock
        n = int(8000 * (0.12 + 0.009 * k))
        burst = rng.normal(0, 0.3, n) * np.exp(-np.linspace(0, 4, n))
        coughs.append(audio.silence(300) + audio.to_pcm16(burst) + audio.silence(500))
    out = {}
    for name, make in (("webrtc", WebRtcClassifier), ("silero", SileroClassifier)):
        delays, missed, cpu = [], 0, []
        for pcm in clips:
            classifier, detector = make(), TurnDetector(start_window=7, start_voiced=5)
            frames = audio.frames(pcm)
            levels = [np.sqrt(np.mean(np.frombuffer(f, "<i2").astype(np.float32) ** 2)) for f in frames]
            onset = next((i for i, level in enumerate(levels) if level > 300), 0) * 20
            started = None
            for i, frame in enumerate(frames):
                t = time.perf_counter()
                voiced = classifier.is_speech(frame)
                cpu.append((time.perf_counter() - t) * 1e6)
                if started is None and any(isinstance(e, SpeechStarted) for e in detector.feed(frame, voiced)):
                    started = (i + 1) * 20
            if started is None:
                missed += 1
            else:
                delays.append(started - onset)
        false = {}
        for label, pcm in list(noises.items()) + [("coughs (20)", b"".join(coughs))]:
            classifier, detector = make(), TurnDetector(start_window=7, start_voiced=5)
            false[label] = sum(isinstance(e, SpeechStarted) for f in audio.frames(pcm) for e in detector.feed(f, classifier.is_speech(f)))
        out[name] = {"utterances": len(clips), "missed": missed, "onset_delay_ms": delays, "false_starts": false,
                     "cpu_us_per_frame": round(statistics.mean(cpu), 1)}
        print(f"  {name:>6}: missed {missed}/{len(clips)} utterances, start detected {fmt(delays)} after onset, "
              f"false starts {false}, {statistics.mean(cpu):.0f} µs per 20 ms frame", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2, help="SIP calls per callee kind (4 kinds: en/zh × answer/barge-in)")
    parser.add_argument("--concurrency", default="1,2,4,6")
    parser.add_argument("--vad", action="store_true", help="only compare webrtcvad and Silero VAD")
    parser.add_argument("--json", help="write all numbers here")
    args = parser.parse_args(argv)
    if args.vad:
        print("VAD on the evaluation utterances, noise and coughs (turn start: 5 of 7 voiced frames)…", flush=True)
        result = vad_part()
        if args.json:
            Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="callbox-bench-voice-"))
    try:
        print("SIP loopback calls (box SipLine ⇄ phone bank), models zh+en loaded…", flush=True)
        sip = sip_part(args.calls, workdir) if args.calls else {}
        if sip:
            print(f"  calls: {sip['calls']}, outcomes: {sorted(set(sip['outcomes'].values()))}")
            print(f"  daemon RSS with models loaded: {sip['rss_models_loaded_mb']} MB (+{sip['rss_models_delta_mb']} MB for "
                  f"zh+en TTS and Whisper; load {sip['voice_load_s']} s); after the calls {sip['rss_after_calls_mb']} MB")
            print(f"  turn latency, box side (end of speech → first reply frame queued): {fmt(sip['turn_latency_box_ms'])}")
            print(f"  turn latency, callee's ear (end of its phrase → box speech heard): {fmt(sip['turn_latency_ear_ms'])}")
            print(f"  barge-in stop, box side (speech onset → playback paused): {fmt(sip['barge_in_box_ms'])}")
            print(f"  barge-in stop, callee's ear (its speech onset → box audio gone): {fmt(sip['barge_in_ear_ms'])}")
            print(f"  ASR real-time factor: {sip['asr_rtf']}; speculative ASR results used: {sip['speculative_hits']}")
            print(f"  first audio after answer (prewarmed prompt): {fmt(sip['first_audio_after_answer_ms'])}")
            for language, t in sip["tts"].items():
                print(f"  TTS {language}: dynamic text of {t['sentences']} sentences: first audio {t['first_sentence_ms']} ms, "
                      f"all {t['whole_text_ms']} ms; cached {t['cached_ms']} ms")
            print(f"  CPU during sequential SIP calls: {sip['cpu_cores_one_call']} cores (box + its media; bank is a separate process)")
        print("Concurrent calls on software lines (one process, one model set, real-time media clocks)…", flush=True)
        from callbox.daemon import VoiceStack

        stack = VoiceStack(workdir / "conc", ("zh", "en"))
        rows = concurrency_part([int(x) for x in args.concurrency.split(",")], stack)
        ok = [r["calls"] for r in rows if r["realtime"]]
        print(f"  largest level that stayed real time: {max(ok) if ok else 0} concurrent calls")
        if args.json:
            Path(args.json).write_text(json.dumps({"sip": sip, "concurrency": rows}, ensure_ascii=False, indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
