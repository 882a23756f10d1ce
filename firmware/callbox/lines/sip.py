"""SIP line over pjsua2.

``SipLine`` places calls from one SIP account. For the demo and tests the account is local (no
registrar): calls go straight to ``sip:<number>@<peer>``. With a PBX/trunk configured, the account
registers with digest auth and calls go to ``sip:<number>@<domain>``.

Caller ID: the From header is the account's own URI, configured once; nothing here can change it per
call (no spoofing, no rotation).
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from callbox.compliance.permit import PermitAuthority
from callbox.lines.base import CallControl, CallEnd, CallListener, Line, LineState, PlaybackBuffer
from callbox.lines.pjsip import PcmPort, PjEngine, pj

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SipAccountConfig:
    """One SIP account. ``registrar`` empty = no registration (direct peer calls on a LAN/loopback)."""

    user: str = "callbox"
    domain: str = "127.0.0.1"
    registrar: str = ""
    username: str = ""
    password: str = ""
    peer: str = ""  # host:port calls go to when there is no registrar
    bind: str = "127.0.0.1"
    port: int = 0

    def target_uri(self, number: str) -> str:
        host = self.peer or self.domain
        return f"sip:{number}@{host}"


def _end_reason(status: int) -> CallEnd:
    if status in (486, 600):
        return CallEnd.BUSY
    if status in (408, 480):
        return CallEnd.NO_ANSWER
    if status == 603:
        return CallEnd.REJECTED
    if 200 <= status < 300:
        return CallEnd.COMPLETED
    return CallEnd.FAILED


class _SipCall(pj.Call if pj else object):  # type: ignore[misc]
    def __init__(self, line: "SipLine", account: Any, listener: CallListener) -> None:
        super().__init__(account)
        self.line = line
        self.listener = listener
        self.playback = PlaybackBuffer()
        self.port: PcmPort | None = None
        self.answered = False
        self.ended = False
        self.media_up = threading.Event()

    def onCallState(self, prm: Any) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_EARLY:
            self.line._set_state(LineState.RINGING, "ringing")
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.answered:
            self.answered = True
            self.line._set_state(LineState.IN_CALL, "answered")
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            status = info.lastStatusCode
            reason = CallEnd.COMPLETED if self.answered else _end_reason(status)
            if not self.answered and reason == CallEnd.COMPLETED:
                reason = CallEnd.FAILED
            detail = f"{status} {info.lastReason}"
            self.line._call_ended(self)
            try:
                self.listener.on_ended(reason, detail)
            except Exception:
                log.exception("listener.on_ended failed")

    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                if self.port is None:
                    call_audio = self.getAudioMedia(index)
                    self.port = PcmPort(self.listener.on_audio, self.playback, getattr(self.listener, "on_audio_sent", None))
                    self.port.create(f"call{info.id}")
                    call_audio.startTransmit(self.port)
                    self.port.startTransmit(call_audio)
                    first = not self.media_up.is_set()
                    self.media_up.set()
                    if first:
                        try:
                            self.listener.on_answered()
                        except Exception:
                            log.exception("listener.on_answered failed")

    def onDtmfDigit(self, prm: Any) -> None:  # noqa: N802
        try:
            self.listener.on_dtmf(prm.digit)
        except Exception:
            log.exception("listener.on_dtmf failed")


class SipCallControl(CallControl):
    """Holds the call weakly: only the line keeps pjsua2 Call objects alive, so they are all gone
    before ``libDestroy`` (a Call freed after it aborts the process)."""

    def __init__(self, engine: PjEngine, call: _SipCall) -> None:
        self._engine = engine
        self._ref = weakref.ref(call)
        self._playback = call.playback

    @property
    def _call(self) -> _SipCall:
        call = self._ref()
        if call is None:
            raise RuntimeError("call is over")
        return call

    def play(self, pcm: bytes) -> None:
        self._playback.push(pcm)

    def stop_playback(self) -> int:
        return self._playback.clear()

    def playback_pending_ms(self) -> int:
        return self._playback.pending_ms()

    def send_dtmf(self, digits: str) -> None:
        def _send() -> None:
            call = self._ref()
            if call is not None and not call.ended:
                call.dialDtmf(digits)

        self._engine.call(_send, wait=False)

    def hangup(self) -> None:
        def _hangup() -> None:
            call = self._ref()
            if call is not None and not call.ended:
                prm = pj.CallOpParam()
                prm.statusCode = 200 if call.answered else 603
                try:
                    call.hangup(prm)
                except Exception as exc:  # already gone
                    log.debug("hangup: %s", exc)

        self._engine.call(_hangup, wait=False)


class SipLine(Line):
    kind = "sip"

    def __init__(self, line_id: str, authority: PermitAuthority, config: SipAccountConfig, log_level: int = 1) -> None:
        super().__init__(line_id, authority)
        self.config = config
        self.engine = PjEngine(config.bind, config.port, log_level, name=line_id)
        self._active: set[_SipCall] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self.engine.start()

        def _create() -> Any:
            acfg = pj.AccountConfig()
            acfg.idUri = f"sip:{self.config.user}@{self.config.domain}"
            if self.config.registrar:
                acfg.regConfig.registrarUri = f"sip:{self.config.registrar}"
                cred = pj.AuthCredInfo("digest", "*", self.config.username, 0, self.config.password)
                acfg.sipConfig.authCreds.append(cred)
            else:
                acfg.regConfig.registerOnAdd = False
            account = pj.Account()
            account.create(acfg)
            return account

        self.engine.objects["account"] = self.engine.call(_create)
        self._set_state(LineState.READY, f"SIP {self.config.user}@{self.config.domain} port {self.engine.port}")

    def stop(self) -> None:
        def _shutdown() -> None:
            for call in list(self._active):
                try:
                    call.hangup(pj.CallOpParam())
                except Exception:
                    pass

        try:
            self.engine.call(_shutdown)
        except Exception:
            pass
        self.engine.stop()
        self._set_state(LineState.DISABLED, "stopped")

    def _place_call(self, number: str, listener: CallListener) -> CallControl:
        if self.state not in (LineState.READY,):
            raise RuntimeError(f"line {self.line_id} is {self.state.value}, not ready")
        self._set_state(LineState.DIALING, number)

        def _make() -> _SipCall:
            call = _SipCall(self, self.engine.objects["account"], listener)
            prm = pj.CallOpParam(True)
            call.makeCall(self.config.target_uri(number), prm)
            self._active.add(call)
            self.engine.keep.add(call)
            return call

        try:
            call = self.engine.call(_make)
        except Exception as exc:
            self._set_state(LineState.READY, f"dial failed: {exc}")
            raise
        return SipCallControl(self.engine, call)

    def _call_ended(self, call: _SipCall) -> None:
        """On the engine thread: drop the call once pjsua2 has finished with it."""
        def _forget() -> None:
            self._active.discard(call)
            self.engine.keep.discard(call)

        self.engine.call(_forget, wait=False)
        self._set_state(LineState.READY, "call ended")
