"""SIP line over pjsua2: one SIP account on a clinic PBX, a SIP trunk, or (demo/tests) a direct peer.

What the line does, and where:

* **Registration** (:class:`SipLine`, :func:`registration_outcome`). With a ``registrar`` configured the
  account REGISTERs with digest auth; pjsip refreshes it before it expires. Failures are retried by this
  module, not by pjsua, so the delay can follow the registrar's answer: exponential backoff, at least
  ``auth_retry_min_s`` after a wrong password or 403 (so the PBX does not ban the box's IP), and exactly
  ``Retry-After`` after a 503 that carries one. The line is READY only while registered (or when no
  registrar is configured) and FAULT with a technician-readable detail otherwise; it recovers by itself.
* **Calls** (:class:`_SipCall`). ``on_answered`` fires once the call is confirmed *and* audio flows, so
  early media (183 with SDP: ringback, operator announcements) is never mistaken for the callee. A ring
  timeout cancels unanswered calls as NO_ANSWER. Redirects (3xx) and transfer requests from the far end
  (REFER) are refused: both would make the box dial a number no permit allowed.
* **Inbound calls** go to ``handler.on_incoming_call(number, control)`` (the shape
  :class:`callbox.lines.gsm.GsmHandler` uses); ``None`` declines with 603, a second call while one is in
  progress gets 486.
* **Blind transfer** (human handoff): :meth:`SipCallControl.transfer` sends REFER (pjsua2 ``Call.xfer``)
  and hangs up its own leg once the PBX reports the transfer succeeded.

Caller ID: the From header is the account's own URI, configured once; nothing here can change it per
call (no spoofing, no rotation). All pjsua2 work runs on the line's :class:`PjEngine` thread.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol
from urllib.parse import unquote

from callbox.compliance.permit import PermitAuthority
from callbox.lines.base import CallControl, CallEnd, CallListener, Line, LineState, PlaybackBuffer
from callbox.lines.pjsip import (
    SIP_ENGINE,
    TRANSPORTS,
    PcmPort,
    PjEngine,
    SharedEngine,
    SipUnavailable,
    TlsFiles,
    is_wildcard,
    pj,
)

log = logging.getLogger(__name__)

SRTP_MODES = ("off", "optional", "mandatory")


# -- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SipAccountConfig:
    """One ``[[lines]]`` table with ``kind = "sip"`` in lines.toml (every key: hardware/sip.md).

    ``registrar`` empty = no registration: calls go straight to ``peer`` (demo, tests, a LAN gateway).
    """

    user: str = "callbox"
    domain: str = "127.0.0.1"
    registrar: str = ""
    username: str = ""  # auth user when it differs from ``user``
    password: str = ""
    peer: str = ""  # host:port calls go to when there is no registrar
    bind: str = "127.0.0.1"
    port: int = 0
    transport: str = "udp"  # udp | tcp | tls
    outbound_proxy: str = ""  # host[:port]; every request goes through it
    register_expires_s: int = 300
    keepalive_s: int = 15  # NAT keepalive (UDP CRLF) interval; 0 = off
    srtp: str = "off"  # off | optional | mandatory
    tls_ca_file: str = ""
    tls_verify_server: bool = True
    tls_cert_file: str = ""
    tls_key_file: str = ""
    ring_timeout_s: float = 60.0

    def problems(self) -> list[str]:
        """What is wrong with this account, each with the fix; empty when it can start."""
        out = []
        if self.transport not in TRANSPORTS:
            out.append(f"transport = {self.transport!r} is not supported: use \"udp\", \"tcp\" or \"tls\"")
        if self.srtp not in SRTP_MODES:
            out.append(f"srtp = {self.srtp!r} is not supported: use \"off\", \"optional\" or \"mandatory\"")
        if self.registrar and not self.password:
            out.append("registrar is set but password is empty: add the account's password")
        if not self.user or not self.domain:
            out.append("user and domain are required (the extension and the PBX's SIP domain)")
        if self.register_expires_s < 60 and self.registrar:
            out.append(f"register_expires_s = {self.register_expires_s} is too short: use 60..3600 (300 is typical)")
        return out

    @property
    def auth_user(self) -> str:
        return self.username or self.user

    def _params(self) -> str:
        return "" if self.transport == "udp" else f";transport={self.transport}"

    def id_uri(self) -> str:
        """The box's identity: the only From it ever sends."""
        return f"sip:{self.user}@{self.domain}"

    def registrar_uri(self) -> str:
        return f"sip:{self.registrar}{self._params()}"

    def proxy_uri(self) -> str:
        return f"sip:{self.outbound_proxy};lr{self._params()}"

    def target_uri(self, number: str) -> str:
        """Where a dialled number (or a transfer extension) goes: the peer, else the PBX's domain."""
        host = self.peer or self.domain
        return f"sip:{number}@{host}{self._params()}"


@dataclass(frozen=True)
class SipTiming:
    """Retry pacing (seconds). Defaults suit real PBXs; tests shrink them."""

    retry_base_s: float = 5.0  # first retry after a failure; doubles per consecutive failure
    retry_max_s: float = 300.0
    auth_retry_min_s: float = 60.0  # wrong password / 403: backoff starts here, so fail2ban does not ban us
    retry_after_max_s: float = 3600.0  # a registrar asking for longer is capped here
    jitter: float = 0.1  # up to +10 % so boxes restarted together do not retry in lockstep


class SipHandler(Protocol):
    """Inbound calls, as for GSM (:class:`callbox.lines.gsm.GsmHandler`)."""

    def on_incoming_call(self, number: str, control: CallControl) -> CallListener | None: ...


# -- registration policy (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class RegOutcome:
    ok: bool
    detail: str
    retry_in_s: float | None = None


_RETRY_AFTER = re.compile(r"^Retry-After\s*:\s*(\d+)", re.IGNORECASE | re.MULTILINE)


def retry_after_s(message: str) -> int | None:
    """The Retry-After seconds of a SIP response text, or None."""
    found = _RETRY_AFTER.search(message or "")
    return int(found.group(1)) if found else None


def backoff_s(failures: int, timing: SipTiming, base_s: float | None = None,
              rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff for the ``failures``-th consecutive failure (1 = first), capped, with jitter."""
    base = timing.retry_base_s if base_s is None else base_s
    delay = min(timing.retry_max_s, base * 2 ** max(0, failures - 1))
    return delay * (1 + timing.jitter * rand())


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def registration_outcome(
    code: int,
    reason: str,
    failures: int,
    cfg: SipAccountConfig,
    timing: SipTiming,
    retry_after: int | None = None,
    rand: Callable[[], float] = random.random,
) -> RegOutcome:
    """What a registrar's answer means for the line: the detail a technician sees and when to retry.

    ``failures`` counts consecutive failures including this one.
    """
    if 200 <= code < 300:
        return RegOutcome(True, f"registered with {cfg.registrar} as {cfg.auth_user}")
    delay = backoff_s(failures, timing, rand=rand)
    slow = backoff_s(failures, timing, base_s=timing.auth_retry_min_s, rand=rand)
    where = f"registrar {cfg.registrar}"
    if code in (401, 407):
        delay = slow
        text = (f"{where} rejected username '{cfg.auth_user}' or its password ({code} {reason}). "
                "Fix: correct username/password of this line in lines.toml (callbox.toml on the boot "
                "partition), then restart callbox")
    elif code == 403:
        delay = slow
        text = (f"{where} forbids this account ({code} {reason}). Fix: ask the PBX administrator to enable "
                f"extension '{cfg.auth_user}' and to allow registrations from this box's IP address")
    elif code == 404:
        text = (f"{where} does not know user '{cfg.user}' ({code} {reason}). Fix: check user and domain of this "
                "line in lines.toml against the PBX's extension list")
    elif code in (408, 0) or code == 503 and retry_after is None and "transport" in reason.lower():
        text = (f"no reply from {where} ({code or 408} {reason or 'timeout'}). Fix: check the network cable or "
                f"Wi-Fi, the registrar address and port, and that the firewall lets SIP ({cfg.transport.upper()}) "
                "through")
    elif code in (500, 502, 503, 504, 480) or code >= 600:
        if retry_after is not None:
            delay = min(float(retry_after), timing.retry_after_max_s)
        text = (f"{where} is temporarily unavailable ({code} {reason})"
                + (f"; it asked us to retry after {retry_after} s" if retry_after is not None else "")
                + ". Nothing to fix on the box if this clears; otherwise ask the PBX/trunk provider")
    else:
        text = f"{where} refused registration ({code} {reason}). Fix: check this line's settings in lines.toml"
    return RegOutcome(False, f"{text}; retrying in {_seconds(delay)}", delay)


@dataclass
class RegistrationStatus:
    """What the line knows about its registration (panel, doctor, tests)."""

    configured: bool
    registered: bool = False
    code: int = 0
    reason: str = ""
    detail: str = ""
    successes: int = 0  # 2xx answers, first registration and refreshes
    failures: int = 0  # consecutive failures; 0 once registered
    first_registered_s: float | None = None  # from start() to the first 2xx
    expires_s: int = 0
    next_retry_s: float | None = None
    history: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, code), newest last


# -- calls -----------------------------------------------------------------------------------------


_HINTS = {
    404: "the number does not exist on the PBX/trunk",
    403: "the PBX does not allow this account to call that number",
    484: "the number is incomplete",
    488: "no common codec (the box offers PCMA/PCMU)",
    503: "the PBX/trunk could not route the call",
}


def end_reason(status: int, answered: bool, timed_out: bool) -> CallEnd:
    """CallEnd for a finished call from its last SIP status."""
    if answered:
        return CallEnd.COMPLETED
    if timed_out or status in (408, 480, 487):
        return CallEnd.NO_ANSWER
    if status in (486, 600):
        return CallEnd.BUSY
    if status == 603:
        return CallEnd.REJECTED
    return CallEnd.FAILED


# Kept for callers of the old name.
def _end_reason(status: int) -> CallEnd:
    return end_reason(status, False, False) if not 200 <= status < 300 else CallEnd.COMPLETED


def caller_number(remote_uri: str) -> str:
    """The user part of a SIP URI (``"Ann" <sip:+86139...@pbx;user=phone>`` → ``+86139...``)."""
    match = re.search(r"sips?:([^@;>]+)@", remote_uri or "")
    if not match:
        return ""
    user = unquote(match.group(1))
    return "" if user.lower() in ("anonymous", "unknown", "restricted") else user


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """pjsua2 callbacks must never raise into C++ (SWIG would abort the process): log instead."""

    def wrapper(self: Any, *args: Any) -> Any:
        try:
            return fn(self, *args)
        except Exception:
            log.exception("SIP callback %s failed", fn.__name__)
            return None

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _noop() -> None:
    pass


def _op(code: int) -> Any:
    prm = pj.CallOpParam()
    prm.statusCode = code
    return prm


class _SipCall(pj.Call if pj else object):  # type: ignore[misc]
    def __init__(
        self, line: "SipLine", account: Any, listener: CallListener | None, direction: str = "out",
        call_id: int = -1,
    ) -> None:
        if call_id >= 0:
            super().__init__(account, call_id)
        else:
            super().__init__(account)
        self.line = line
        self.listener = listener
        self.direction = direction
        self.playback = PlaybackBuffer()
        self.port: PcmPort | None = None
        self.answered = False
        self.answer_notified = False
        self.timed_out = False
        self.ended = False
        self.media_up = threading.Event()
        self.cancel_ring_timer: Callable[[], None] = _noop

    def _notify(self, method: str, *args: Any) -> None:
        target = getattr(self.listener, method, None) if self.listener is not None else None
        if target is None:
            return
        try:
            target(*args)
        except Exception:
            log.exception("line %s: listener.%s failed", self.line.line_id, method)

    def _maybe_answered(self) -> None:
        """Tell the dialog once: the call is confirmed and audio flows both ways."""
        if self.answered and self.media_up.is_set() and not self.answer_notified and not self.ended:
            self.answer_notified = True
            self._notify("on_answered")

    def _on_frame(self, frame: bytes) -> None:
        # Early media (ringback, "the number you dialled...") is not the callee speaking.
        if self.answer_notified:
            self._notify("on_audio", frame)

    def _on_sent(self, frame: bytes) -> None:
        self._notify("on_audio_sent", frame)

    @_guarded
    def onCallState(self, prm: Any) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_EARLY and not self.answered:
            what = "early media" if info.lastStatusCode == 183 else "ringing"
            if self.direction == "out":
                self.line._set_state(LineState.RINGING, f"{what} ({info.lastStatusCode})")
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.answered:
            self.answered = True
            self.cancel_ring_timer()
            self.line._set_state(LineState.IN_CALL, "answered" if self.direction == "out" else "inbound call answered")
            self._maybe_answered()
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self._disconnected(info.lastStatusCode, info.lastReason)

    def _disconnected(self, status: int, reason_text: str) -> None:
        self.ended = True
        self.cancel_ring_timer()
        self.playback.clear()
        reason = end_reason(status, self.answered, self.timed_out)
        detail = f"{status} {reason_text}"
        if self.timed_out:
            detail = f"no answer within {self.line.config.ring_timeout_s:.0f} s"
        elif not self.answered and status in _HINTS:
            detail += f": {_HINTS[status]}"
        log.info("line %s: %s call ended: %s (%s)", self.line.line_id, self.direction, reason.value, detail)
        self.line._call_ended(self)
        self._notify("on_ended", reason, detail)

    @_guarded
    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                call_audio = self.getAudioMedia(index)
                if self.port is None:
                    self.port = self.line.engine.media_port(self._on_frame, self.playback, self._on_sent)
                self.port.connect(call_audio)  # every time: a re-INVITE may have recreated the stream
                self.media_up.set()
        self._maybe_answered()

    @_guarded
    def onDtmfDigit(self, prm: Any) -> None:  # noqa: N802
        self._notify("on_dtmf", prm.digit)

    @_guarded
    def onCallTransferRequest(self, prm: Any) -> None:  # noqa: N802
        """The far end asks the box to call someone else: refuse (no permit covers that number)."""
        log.warning("line %s: refused a transfer request (REFER) from the far end", self.line.line_id)
        prm.statusCode = 603

    @_guarded
    def onCallRedirected(self, prm: Any) -> int:  # noqa: N802
        """A 3xx points elsewhere: do not follow (the permit was for this number only)."""
        log.info("line %s: not following a redirect to %s", self.line.line_id, getattr(prm, "targetUri", "?"))
        return pj.PJSIP_REDIRECT_REJECT

    @_guarded
    def onCallTransferStatus(self, prm: Any) -> None:  # noqa: N802
        """Progress of our own blind transfer: hang up our leg once the staff phone took the call."""
        if prm.statusCode < 200 and not prm.finalNotify:
            return
        prm.cont = False
        if 200 <= prm.statusCode < 300:
            log.info("line %s: transfer succeeded (%s); hanging up the box's leg", self.line.line_id, prm.statusCode)
            self.line.engine.call(lambda: self._hangup_quietly(200), wait=False)
            self._notify("on_transfer_result", True, f"{prm.statusCode} {prm.reason}")
        else:
            log.warning("line %s: transfer failed (%s %s): check the staff extension on the PBX",
                        self.line.line_id, prm.statusCode, prm.reason)
            self._notify("on_transfer_result", False, f"{prm.statusCode} {prm.reason}")

    def release(self) -> None:
        """Break the call <-> port <-> listener cycles, on the engine thread, so pjsua2 frees these
        objects here and now; a cycle left to the garbage collector may be freed on another thread
        or after ``libDestroy``, which aborts the process. The media port goes back to the engine's
        pool for the next call (never freed while the library runs: PjEngine.release_port)."""
        port, self.port = self.port, None
        if port is not None:
            self.line.engine.release_port(port)
        self.listener = None
        self.cancel_ring_timer = _noop

    def _hangup_quietly(self, code: int) -> None:
        if self.ended:
            return
        try:
            self.hangup(_op(code))
        except Exception as exc:  # already gone
            log.debug("hangup: %s", exc)


class SipCallControl(CallControl):
    """Holds the call weakly: only the line keeps pjsua2 Call objects alive, so they are all gone
    before ``libDestroy`` (a Call freed after it aborts the process)."""

    can_transfer = True

    def __init__(self, engine: PjEngine, call: _SipCall) -> None:
        self._engine = engine
        self._ref = weakref.ref(call)
        self._playback = call.playback
        self._config = call.line.config

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
            if call is not None:
                call._hangup_quietly(200 if call.answered or call.direction == "out" else 603)

        self._engine.call(_hangup, wait=False)

    def transfer(self, target: str) -> bool:
        """Blind transfer (REFER) to an extension or SIP URI; True once the REFER is sent.

        The box's leg hangs up when the PBX reports success; on failure the call stays up and the
        listener hears ``on_transfer_result(False, detail)`` if it has that method.
        """
        uri = target if target.startswith(("sip:", "sips:")) else self._config.target_uri(target)

        def _xfer() -> bool:
            call = self._ref()
            if call is None or call.ended or not call.answered:
                return False
            call.xfer(uri, pj.CallOpParam(True))
            log.info("line: transferring the call to %s", uri)
            return True

        try:
            return bool(self._engine.call(_xfer, timeout=5.0))
        except Exception as exc:
            log.warning("transfer to %s failed: %s", uri, exc)
            return False


# -- the line ---------------------------------------------------------------------------------------


class _SipAccount(pj.Account if pj else object):  # type: ignore[misc]
    """Forwards registration and incoming-call events to the line (on the engine thread)."""

    def __init__(self, line: "SipLine") -> None:
        super().__init__()
        self._line = weakref.ref(line)

    @_guarded
    def onRegState(self, prm: Any) -> None:  # noqa: N802
        line = self._line()
        if line is not None:
            message = prm.rdata.wholeMsg if prm.rdata is not None else ""
            line._on_reg_state(int(prm.code), str(prm.reason), int(prm.expiration), message)

    @_guarded
    def onIncomingCall(self, prm: Any) -> None:  # noqa: N802
        line = self._line()
        if line is not None:
            line._on_incoming(self, prm.callId)


class SipLine(Line):
    kind = "sip"

    def __init__(
        self,
        line_id: str,
        authority: PermitAuthority,
        config: SipAccountConfig,
        log_level: int = 1,
        handler: SipHandler | None = None,
        timing: SipTiming | None = None,
        engines: SharedEngine | None = None,
    ) -> None:
        super().__init__(line_id, authority)
        problems = config.problems()
        if problems:
            raise ValueError(f"SIP line {line_id}: " + "; ".join(problems) + " (in lines.toml)")
        self.config = config
        self.handler = handler
        self.timing = timing or SipTiming()
        self.tls = TlsFiles(config.tls_ca_file, config.tls_cert_file, config.tls_key_file, config.tls_verify_server)
        self._engines = engines or SIP_ENGINE
        self._log_level = log_level
        # The process's pjsua2 engine, shared with the other SIP lines; set by start().
        self.engine: PjEngine = None  # type: ignore[assignment]
        self.port = 0  # the SIP port this line listens on, once started
        self._transport_id = -1
        self.registration = RegistrationStatus(configured=bool(config.registrar))
        self._active: set[_SipCall] = set()
        self._call: _SipCall | None = None
        self._started_at = 0.0
        self._cancel_retry: Callable[[], None] = lambda: None
        self._stopping = False
        self._shown_detail = ""

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._started_at = time.monotonic()
        cfg = self.config
        self.engine = self._engines.acquire(self._log_level)
        try:
            self._transport_id, self.port = self._engines.transport(self.engine, cfg.transport, cfg.bind, cfg.port, self.tls)
            if cfg.registrar:
                self._set_state(LineState.DISABLED, f"registering with {cfg.registrar} as {cfg.auth_user}")
            self.engine.objects[self._account_key] = self.engine.call(self._create_account)
        except Exception as exc:
            if self._transport_id >= 0:
                self._engines.release_transport(self.engine, self._transport_id)
            self._engines.release(self.engine)
            raise SipUnavailable(f"SIP line {self.line_id} could not start on {cfg.transport} "
                                 f"{cfg.bind or '*'}:{cfg.port}: {exc} (is another program using that port?)") from exc
        if not cfg.registrar:
            self._set_state(LineState.READY, self._ready_detail())

    @property
    def _account_key(self) -> str:
        """The engine owns every pjsua2 object (released on its thread before libDestroy, even if a line
        is never stopped); a line finds its account there."""
        return f"account:{self.line_id}"

    @property
    def _account(self) -> Any:
        return self.engine.objects.get(self._account_key) if self.engine is not None else None

    def _create_account(self) -> Any:
        account = _SipAccount(self)
        account.create(self._account_config())
        return account

    def _account_config(self) -> Any:
        """pjsua2 AccountConfig from lines.toml: identity, registration, proxy, NAT, SRTP."""
        cfg = self.config
        acfg = pj.AccountConfig()
        acfg.idUri = cfg.id_uri()
        acfg.sipConfig.transportId = self._transport_id
        if cfg.registrar:
            reg = acfg.regConfig
            reg.registrarUri = cfg.registrar_uri()
            reg.timeoutSec = cfg.register_expires_s
            # Refresh 5 s before expiry. Not more: pjsip computes (granted - delay) unsigned, so a
            # registrar granting less than the delay would silently never be refreshed.
            reg.delayBeforeRefreshSec = 5
            reg.retryIntervalSec = 0  # this module retries, honouring Retry-After and backing off
            reg.dropCallsOnFail = False
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", cfg.auth_user, 0, cfg.password))
        else:
            acfg.regConfig.registerOnAdd = False
        if cfg.outbound_proxy:
            acfg.sipConfig.proxies.append(cfg.proxy_uri())
        acfg.natConfig.udpKaIntervalSec = max(0, int(cfg.keepalive_s))
        if not is_wildcard(cfg.bind):
            # RTP on the same interface as SIP, and that address in the SDP (not whatever pjsip guesses).
            acfg.mediaConfig.transportConfig.boundAddress = cfg.bind
            acfg.mediaConfig.transportConfig.publicAddress = cfg.bind
        acfg.mediaConfig.srtpUse = {"off": pj.PJMEDIA_SRTP_DISABLED, "optional": pj.PJMEDIA_SRTP_OPTIONAL,
                                    "mandatory": pj.PJMEDIA_SRTP_MANDATORY}[cfg.srtp]
        # With TLS, SRTP keys travel encrypted; without it pjsua would refuse SRTP unless told otherwise.
        acfg.mediaConfig.srtpSecureSignaling = 1 if cfg.transport == "tls" else 0
        if cfg.srtp != "off" and cfg.transport != "tls":
            log.warning("line %s: srtp = %s over %s: media is encrypted but its keys cross the network in "
                        "clear SIP; use transport = \"tls\"", self.line_id, cfg.srtp, cfg.transport)
        return acfg

    def stop(self) -> None:
        """Hang up this line's calls, remove its account and give back its share of the engine (the
        other SIP lines go on; the last line to stop destroys the endpoint)."""
        self._stopping = True
        self._cancel_retry()
        engine = self.engine
        if engine is None:
            return

        def _shutdown() -> None:
            for call in list(self._active):
                call._hangup_quietly(200 if call.answered else 603)

        def _remove_account() -> None:
            account = engine.objects.pop(self._account_key, None)
            if account is not None:
                account.shutdown()

        try:
            engine.call(_shutdown)
            deadline = time.monotonic() + 3.0  # let the BYEs finish while the engine still runs
            while self._active and time.monotonic() < deadline:
                time.sleep(0.02)
            engine.call(_remove_account)
            self._engines.release_transport(engine, self._transport_id)
        except Exception as exc:  # the engine died under us: nothing left to remove
            log.debug("line %s: stop: %s", self.line_id, exc)
        self._engines.release(engine)
        self._set_state(LineState.DISABLED, "stopped")

    def wait_for_state(self, state: LineState, timeout: float) -> bool:
        """Block until the line is in ``state`` (tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while self.state != state:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    # -- registration (engine thread) ---------------------------------------------------------------
    def _ready_detail(self) -> str:
        cfg = self.config
        if not cfg.registrar:
            return f"SIP {cfg.user}@{cfg.domain} port {self.port} (no registrar)"
        return f"registered with {cfg.registrar} as {cfg.auth_user} (refresh every {self.registration.expires_s} s)"

    def _idle_state(self) -> tuple[LineState, str]:
        """READY only when calls can actually be placed and received."""
        if not self.config.registrar or self.registration.registered:
            return LineState.READY, self._ready_detail()
        return LineState.FAULT, self.registration.detail or "not registered"

    def _on_reg_state(self, code: int, reason: str, expiration: int, message: str) -> None:
        status = self.registration
        status.history = (status.history + [(time.monotonic(), code)])[-50:]
        if self._stopping or (200 <= code < 300 and expiration <= 0):
            return  # our own unregistration on shutdown
        status.code, status.reason = code, reason
        if 200 <= code < 300:
            self._registered(expiration)
        else:
            self._registration_failed(code, reason, retry_after_s(message))
        self._settle()

    def _settle(self) -> None:
        """Between calls, show what registration allows; a refresh that changes nothing stays quiet."""
        if self._call is not None or self._stopping:
            return
        state, detail = self._idle_state()
        if (state, detail) != (self.state, self._shown_detail):
            self._shown_detail = detail
            self._set_state(state, detail)

    def _registered(self, expiration: int) -> None:
        status = self.registration
        recovered = not status.registered
        status.registered, status.failures, status.expires_s, status.next_retry_s = True, 0, expiration, None
        status.successes += 1
        status.detail = self._ready_detail()
        self._cancel_retry()
        if status.first_registered_s is None:
            status.first_registered_s = time.monotonic() - self._started_at
        if recovered:
            log.info("line %s: %s", self.line_id, status.detail)
        else:
            log.debug("line %s: registration refreshed (expires %s s)", self.line_id, expiration)

    def _registration_failed(self, code: int, reason: str, retry_after: int | None) -> None:
        status = self.registration
        status.registered = False
        status.failures += 1
        outcome = registration_outcome(code, reason, status.failures, self.config, self.timing, retry_after)
        status.detail, status.next_retry_s = outcome.detail, outcome.retry_in_s
        log.warning("line %s: %s", self.line_id, outcome.detail)
        self._cancel_retry()
        self._cancel_retry = self.engine.call_later(outcome.retry_in_s or self.timing.retry_base_s, self._register_again)

    def _register_again(self) -> None:
        if self._stopping:
            return
        account = self._account
        if account is None:
            return
        try:
            account.setRegistration(True)
        except Exception as exc:  # e.g. the transport is gone: report and keep retrying
            self._registration_failed(503, f"could not send REGISTER: {exc} (transport error)", None)
            self._settle()

    # -- outbound calls ------------------------------------------------------------------------------
    def _place_call(self, number: str, listener: CallListener) -> CallControl:
        if self.state not in (LineState.READY,):
            raise RuntimeError(f"line {self.line_id} is {self.state.value}, not ready: {self.registration.detail}")
        self._set_state(LineState.DIALING, number)

        def _make() -> _SipCall:
            call = _SipCall(self, self._account, listener, "out")
            prm = pj.CallOpParam(True)
            call.makeCall(self.config.target_uri(number), prm)
            self._track(call)
            self._call = call
            # The timer holds the call weakly: an ended call's object must die on this thread as soon as
            # the line forgets it. Kept alive until the timer fired (60 s), its destructor ran then —
            # and pj::Call's destructor clears and hangs up *whichever call has its pjsua id by then*
            # (ids are reused round-robin), i.e. a later call of the campaign.
            ref = weakref.ref(call)
            call.cancel_ring_timer = self.engine.call_later(
                self.config.ring_timeout_s, lambda: (c := ref()) is not None and self._ring_timeout(c))
            return call

        try:
            call = self.engine.call(_make)
        except Exception as exc:
            self._set_state(*self._idle_state())
            log.warning("line %s: dial failed: %s", self.line_id, exc)
            raise
        return SipCallControl(self.engine, call)

    def _ring_timeout(self, call: _SipCall) -> None:
        if call.answered or call.ended:
            return
        call.timed_out = True
        log.info("line %s: no answer within %.0f s; cancelling", self.line_id, self.config.ring_timeout_s)
        call._hangup_quietly(487)

    def _track(self, call: _SipCall) -> None:
        self._active.add(call)
        self.engine.keep.add(call)

    def _call_ended(self, call: _SipCall) -> None:
        """On the engine thread: drop the call once pjsua2 has finished with it."""

        def _forget() -> None:
            call.release()
            self._active.discard(call)
            self.engine.keep.discard(call)

        self.engine.call(_forget, wait=False)
        if call is self._call:
            self._call = None
            self._shown_detail = ""
            self._settle()

    # -- inbound calls (engine thread) ------------------------------------------------------------------
    def _on_incoming(self, account: Any, call_id: int) -> None:
        call = _SipCall(self, account, None, "in", call_id)
        self._track(call)
        number = caller_number(call.getInfo().remoteUri)
        shown = number or "a withheld number"
        if self._call is not None or self.state != LineState.READY:
            log.info("line %s: busy (%s); refusing a call from %s with 486", self.line_id, self.state.value, shown)
            call._hangup_quietly(486)
            return
        listener = self._ask_handler(number, SipCallControl(self.engine, call))
        if listener is None:
            log.info("line %s: declining a call from %s with 603 (no handler accepted it)", self.line_id, shown)
            call._hangup_quietly(603)
            return
        call.listener = listener
        self._call = call
        self._set_state(LineState.RINGING, f"incoming call from {shown}")
        log.info("line %s: answering a call from %s", self.line_id, shown)
        call.answer(_op(200))

    def _ask_handler(self, number: str, control: CallControl) -> CallListener | None:
        accept = getattr(self.handler, "on_incoming_call", None)
        if accept is None:
            return None
        try:
            return accept(number, control)
        except Exception:
            log.exception("line %s: incoming-call handler failed; declining the call", self.line_id)
            return None
