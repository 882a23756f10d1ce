"""The phone bank process: one pjsua2 endpoint, one account that answers every incoming call, and a
scripted callee per dialed number."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from callbox.lines.base import PlaybackBuffer
from callbox.lines.pjsip import PcmPort, PjEngine, pj
from callbox.phonebank.callees import Callee, EarState
from callbox.voice import audio

log = logging.getLogger("callbox.phonebank")
_out_lock = threading.Lock()


def emit(obj: dict) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        sys.stdout.flush()


class CalleeCall(pj.Call):  # type: ignore[misc]
    def __init__(self, bank: "PhoneBank", account: Any, call_id: int) -> None:
        super().__init__(account, call_id)
        self.bank = bank
        self.callee: Callee | None = None
        self.playback = PlaybackBuffer()
        self.port: PcmPort | None = None
        self.heard = bytearray()
        self.ear = EarState()
        self.events: list[dict] = []
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.ended = threading.Event()
        self.answered = threading.Event()
        self.hung_up_by = "box"

    def note(self, what: str, **extra: Any) -> None:
        self.events.append({"t_ms": int((time.monotonic() - self.t0) * 1000), "event": what, **extra})

    def on_frame(self, frame: bytes) -> None:
        with self.lock:
            self.heard.extend(frame)
            rms = float(np.sqrt(np.mean(np.frombuffer(frame, "<i2").astype(np.float32) ** 2)))
            self.ear.feed(rms)

    def onCallState(self, prm: Any) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended.is_set():
            self.note("disconnected", status=info.lastStatusCode)
            self.ended.set()

    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                call_audio = self.getAudioMedia(index)
                if self.port is None:
                    self.port = self.bank.engine.media_port(self.on_frame, self.playback)
                self.port.connect(call_audio)  # every time: a re-INVITE may have recreated the stream
                self.answered.set()

    def onDtmfDigit(self, prm: Any) -> None:  # noqa: N802
        self.note("dtmf_received", digit=prm.digit)


class BankAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, bank: "PhoneBank") -> None:
        super().__init__()
        self.bank = bank

    def onIncomingCall(self, prm: Any) -> None:  # noqa: N802
        call = CalleeCall(self.bank, self, prm.callId)
        self.bank.engine.keep.add(call)
        info = call.getInfo()
        number = info.localUri.split("sip:", 1)[-1].split("@", 1)[0]
        callee = self.bank.callees.get(number)
        ringing = pj.CallOpParam()
        ringing.statusCode = 180
        call.answer(ringing)
        threading.Thread(target=self.bank.run_callee, args=(call, number, callee), daemon=True).start()


class PhoneBank:
    def __init__(self, callees: list[Callee], out_dir: Path, cache_dir: Path | None, port: int = 0) -> None:
        self.callees = {c.number: c for c in callees}
        self.out_dir = out_dir
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.engine = PjEngine("127.0.0.1", port, log_level=0, name="phonebank")
        self.phrases: dict[tuple[str, str], bytes] = {}
        self._render_phrases(cache_dir)

    def _render_phrases(self, cache_dir: Path | None) -> None:
        from callbox.voice.tts import PromptCache, load_synthesizer

        languages = sorted({c.language for c in self.callees.values() if any(a.say for a in c.acts)})
        cache = PromptCache({lang: load_synthesizer(lang) for lang in languages}, cache_dir)
        for callee in self.callees.values():
            for act in callee.acts:
                if act.say:
                    self.phrases[(callee.language, act.say)] = cache.render(act.say, callee.language)

    def start(self) -> int:
        self.engine.start()

        def _account() -> Any:
            acfg = pj.AccountConfig()
            acfg.idUri = "sip:phonebank@127.0.0.1"
            acfg.regConfig.registerOnAdd = False
            # RTP on loopback, and loopback in the SDP (not whatever address pjsip guesses).
            acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
            acfg.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
            account = BankAccount(self)
            account.create(acfg)
            return account

        self.engine.objects["account"] = self.engine.call(_account)
        return self.engine.port

    def run_callee(self, call: CalleeCall, number: str, callee: Callee | None) -> None:
        """One call's life on the callee side (its own thread)."""
        try:
            if callee is None:
                self.engine.call(lambda: call.hangup(_status(404)))
                call.note("unknown_number")
                return
            time.sleep(callee.answer_after_ms / 1000)
            self.engine.call(lambda: call.answer(_status(200)))
            call.note("answered")
            call.answered.wait(5)
            deadline = time.monotonic() + callee.give_up_after_s
            for act in callee.acts:
                while not call.ended.is_set() and time.monotonic() < deadline:
                    with call.lock:
                        ready = call.ear.ready_for(act)
                    if ready:
                        break
                    time.sleep(0.02)
                if call.ended.is_set() or time.monotonic() >= deadline:
                    break
                with call.lock:
                    call.ear.acted()
                if act.say:
                    call.note("say", text=act.say)
                    call.playback.push(self.phrases[(callee.language, act.say)])
                    # Like a person, the next act answers what the box says *after* this phrase:
                    # the box's pause while it listens to us is not its turn ending.
                    while call.playback.pending_ms() > 0 and not call.ended.is_set():
                        time.sleep(0.02)
                    with call.lock:
                        call.ear.acted()
                if act.reinvite:
                    call.note("reinvite")
                    self.engine.call(lambda: call.reinvite(_reinit_media()))
                if act.dtmf:
                    call.note("dtmf", digits=act.dtmf)
                    self.engine.call(lambda d=act.dtmf: call.dialDtmf(d))
                if act.hangup:
                    call.hung_up_by = "callee"
                    call.note("hangup")
                    self.engine.call(lambda: call.hangup(_status(200)))
            if not call.ended.wait(max(0.0, deadline - time.monotonic())):
                call.hung_up_by = "callee (timeout)"
                self.engine.call(lambda: call.hangup(_status(200)))
                call.ended.wait(5)
        except Exception as exc:  # report, never crash the bank
            log.exception("callee %s failed", number)
            call.note("error", detail=str(exc))
        finally:
            self._finish(call, number)

    def _finish(self, call: CalleeCall, number: str) -> None:
        with call.lock:
            heard = bytes(call.heard)
            onsets = list(call.ear.speech_onsets_ms)
        wav = self.out_dir / f"heard-{number.lstrip('+')}-{int(call.t0 * 1000)}.wav"
        audio.write_wav(wav, heard)
        emit(
            {
                "event": "call_done",
                "number": number,
                "heard_wav": str(wav),
                "heard_ms": audio.duration_ms(heard),
                "box_speech_onsets_ms": onsets,
                "hung_up_by": call.hung_up_by,
                "events": call.events,
            }
        )
        def _forget() -> None:  # on the pjsua thread; the port goes back to the pool (PjEngine.release_port)
            port, call.port = call.port, None
            if port is not None:
                self.engine.release_port(port)
            self.engine.keep.discard(call)

        self.engine.call(_forget, wait=False)

    def stop(self) -> None:
        self.engine.stop()


def _status(code: int) -> Any:
    prm = pj.CallOpParam()
    prm.statusCode = code
    return prm


def _reinit_media() -> Any:
    """A re-INVITE with fresh media transports: new RTP ports, so both ends recreate their streams."""
    prm = pj.CallOpParam(True)
    prm.opt.flag = pj.PJSUA_CALL_REINIT_MEDIA
    return prm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callbox-phonebank", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="JSON list of callees")
    parser.add_argument("--out", required=True, type=Path, help="where to write what each callee heard")
    parser.add_argument("--cache", type=Path, help="cache of rendered callee phrases")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    callees = [Callee.from_json(c) for c in json.loads(args.config.read_text(encoding="utf-8"))]
    bank = PhoneBank(callees, args.out, args.cache, args.port)
    port = bank.start()
    emit({"event": "ready", "port": port})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    bank.stop()
    return 0
