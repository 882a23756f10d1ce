"""A thin, thread-safe wrapper around the process's one pjsua2 Endpoint.

pjsua2 facts this module is built around (measured):
- one ``Endpoint`` per process (a second aborts), so the phone bank is a separate process;
- all pjsua2 calls here run on one dedicated thread (``PjEngine.call``), which polls
  ``libHandleEvents``; other threads hand it work through a queue, so nothing else needs
  ``libRegisterThread``;
- no sound card: the null audio device clocks the conference bridge, and call audio goes in and out
  through :class:`PcmPort` (an ``AudioMediaPort``) at 8 kHz, 20 ms frames;
- media ports are pooled and reused, never destroyed while the library runs: 2.15's bridge removes
  ports asynchronously and ``~AudioMediaPort`` frees the port under it (``PjEngine.release_port``);
- every ``Call`` object is kept referenced until it is disconnected, and all are dropped before
  ``libDestroy``;
- timers (registration retries, ring timeouts) run on the same thread (``PjEngine.call_later``), so a
  retry can never race a callback.
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import itertools
import logging
import os
import queue
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable

try:
    import pjsua2 as pj
except ImportError as exc:  # pragma: no cover - exercised on machines without the wheel
    pj = None
    _IMPORT_ERROR = exc
else:
    _IMPORT_ERROR = None

from callbox.lines.base import FRAME_BYTES, SAMPLE_RATE, PlaybackBuffer

log = logging.getLogger(__name__)


class SipUnavailable(RuntimeError):
    pass


def require_pjsua2() -> None:
    if pj is None:
        raise SipUnavailable(
            "pjsua2 is not installed. On x86_64 with Python 3.11/3.12 run ./setup.sh (wheel pjsua2-python); "
            "on a Raspberry Pi (aarch64) pjproject must be built from source: use the SD image "
            f"(scripts/build-image.sh). ({_IMPORT_ERROR})"
        )


@dataclass(frozen=True)
class _PortBinding:
    """Where one call's audio goes: swapped in one attribute write, read once per media callback."""

    on_frame: Callable[[bytes], None]
    playback: PlaybackBuffer
    on_sent: Callable[[bytes], None] | None


_SILENT_FRAME = bytes(FRAME_BYTES)


class PcmPort(pj.AudioMediaPort if pj else object):  # type: ignore[misc]
    """Bridges one call's audio to Python: received frames to a callback, sent frames from a buffer.

    A port is made once and then serves call after call (:meth:`PjEngine.media_port`,
    :meth:`PjEngine.release_port`); between calls it is unbound and its callbacks return silence.
    Why it is never destroyed while the library runs: see :meth:`PjEngine.release_port`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._binding: _PortBinding | None = None

    @property
    def closed(self) -> bool:
        return self._binding is None

    @property
    def playback(self) -> PlaybackBuffer | None:
        binding = self._binding
        return binding.playback if binding is not None else None

    def bind(
        self,
        on_frame: Callable[[bytes], None],
        playback: PlaybackBuffer,
        on_sent: Callable[[bytes], None] | None = None,
    ) -> None:
        self._binding = _PortBinding(on_frame, playback, on_sent)

    def close(self) -> None:
        """The call is over: callbacks that still arrive (the conference bridge disconnects ports
        asynchronously, on its own media thread) send silence and deliver nothing."""
        self._binding = None

    def connect(self, call_audio: Any) -> None:
        """Audio both ways between this port and a call's stream. Call it on *every* media update that
        leaves the stream active, not only the first: a re-INVITE that recreates the stream (new RTP
        ports, a codec change; PBXs and phones that change networks send them) gives it a new bridge
        slot with no connections, and the call would go silent both ways."""
        call_audio.startTransmit(self)
        self.startTransmit(call_audio)

    def create(self, name: str) -> None:
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, SAMPLE_RATE, 1, 20000, 16)
        self.createPort(name, fmt)

    def onFrameRequested(self, frame: Any) -> None:  # noqa: N802 (pjsua2 name)
        binding = self._binding  # one read: close() or bind() may swap it from another thread
        data = binding.playback.pop_frame() if binding is not None else _SILENT_FRAME
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(data)
        frame.size = len(data)
        if binding is not None and binding.on_sent is not None:
            try:
                binding.on_sent(data)
            except Exception:
                log.exception("on_sent callback failed")

    def onFrameReceived(self, frame: Any) -> None:  # noqa: N802
        binding = self._binding
        if binding is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or frame.size == 0:
            return
        data = bytes(frame.buf)
        if len(data) != FRAME_BYTES:
            data = (data + bytes(FRAME_BYTES))[:FRAME_BYTES]
        try:
            binding.on_frame(data)
        except Exception:
            log.exception("on_frame callback failed")


@contextlib.contextmanager
def _quiet_stdout():
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


TRANSPORTS = {"udp": "PJSIP_TRANSPORT_UDP", "tcp": "PJSIP_TRANSPORT_TCP", "tls": "PJSIP_TRANSPORT_TLS"}


@dataclass(frozen=True)
class TlsFiles:
    """TLS settings for the SIP transport. Empty paths = pjsip defaults (no client certificate).

    ``ca_file`` is the PBX's CA (or its self-signed certificate); with ``verify_server`` the box refuses
    a PBX whose certificate does not chain to it, which is what stops a man in the middle.
    """

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify_server: bool = True


def is_wildcard(address: str) -> bool:
    return address in ("", "0.0.0.0", "::")


def _transport_config(transport: str, bind: str, port: int, tls_files: TlsFiles) -> Any:
    """Bind where the config says. A wildcard bind leaves the public address to pjsip (and to the
    registrar's received/rport), so a box behind NAT advertises what the PBX can reach."""
    tcfg = pj.TransportConfig()
    tcfg.port = port
    if not is_wildcard(bind):
        tcfg.boundAddress = bind
        tcfg.publicAddress = bind
    if transport == "tls":
        tls = tcfg.tlsConfig
        tls.method = pj.PJSIP_TLSV1_2_METHOD
        tls.CaListFile = tls_files.ca_file
        tls.certFile = tls_files.cert_file
        tls.privKeyFile = tls_files.key_file
        tls.verifyServer = bool(tls_files.verify_server and tls_files.ca_file)
    return tcfg


def _create_transport(ep: Any, transport: str, bind: str, port: int, tls_files: TlsFiles) -> tuple[int, int]:
    if transport not in TRANSPORTS:
        raise ValueError(f"SIP transport {transport!r} is not supported: use one of {', '.join(TRANSPORTS)}")
    tid = ep.transportCreate(getattr(pj, TRANSPORTS[transport]), _transport_config(transport, bind, port, tls_files))
    return tid, int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1])


class PjEngine:
    """Owns the Endpoint; runs it and every pjsua2 call on a single thread."""

    def __init__(
        self,
        bind: str = "127.0.0.1",
        port: int = 0,
        log_level: int = 1,
        name: str = "callbox",
        transport: str | None = "udp",
        tls: TlsFiles | None = None,
    ) -> None:
        """``transport`` None: no transport at start; lines add theirs (:meth:`add_transport`)."""
        require_pjsua2()
        if transport is not None and transport not in TRANSPORTS:
            raise ValueError(f"SIP transport {transport!r} is not supported: use one of {', '.join(TRANSPORTS)}")
        self.bind = bind
        self.port = port
        self.log_level = log_level
        self.name = name
        self.transport = transport
        self.tls = tls or TlsFiles()
        self.transport_id: int = -1
        self._timers: list[tuple[float, int, Callable[[], Any]]] = []
        self._timer_seq = itertools.count()
        self._queue: "queue.Queue[tuple[Callable[[], Any], Future]]" = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.ep: Any = None
        # Every pjsua2 object (accounts, calls) is owned here, so all are released on this thread
        # before libDestroy, whatever happens to the code that created them.
        self.keep: set[Any] = set()
        self.objects: dict[str, Any] = {}
        # Media ports: made on demand, reused, never destroyed while the library runs (release_port).
        self._ports: list[PcmPort] = []
        self._free_ports: list[PcmPort] = []

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name=f"pjsua-{self.name}", daemon=True)
        self._thread.start()
        atexit.register(self.stop)  # even if the owner forgets (or crashes), shut down on our thread
        if not self._ready.wait(timeout):
            raise SipUnavailable("pjsua2 did not start within 10 s")
        if self._error is not None:
            raise SipUnavailable(f"pjsua2 failed to start: {self._error}")

    def _init(self) -> None:
        ep = pj.Endpoint()
        # libCreate logs to stdout before any log config applies; keep a technician's console clean.
        with _quiet_stdout():
            ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.userAgent = f"callbox/{self.name}"
        cfg.logConfig.level = self.log_level
        cfg.logConfig.consoleLevel = self.log_level
        cfg.medConfig.clockRate = SAMPLE_RATE
        cfg.medConfig.sndClockRate = SAMPLE_RATE
        cfg.medConfig.channelCount = 1
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        if self.transport is not None:
            self.transport_id, self.port = _create_transport(ep, self.transport, self.bind, self.port, self.tls)
        ep.libStart()
        # Telephone codecs first: G.711 is what PBXs and trunks speak; no transcoding surprises.
        for codec, prio in (("PCMA/8000", 255), ("PCMU/8000", 254)):
            try:
                ep.codecSetPriority(codec, prio)
            except Exception:
                pass
        self.ep = ep

    def add_transport(self, transport: str, bind: str, port: int, tls: TlsFiles | None = None) -> tuple[int, int]:
        """Another SIP transport on the running endpoint (pjsua thread): returns (transport id, port)."""
        self._require_engine_thread("add_transport")
        return _create_transport(self.ep, transport, bind, port, tls or TlsFiles())

    def close_transport(self, transport_id: int) -> None:
        self._require_engine_thread("close_transport")
        try:
            self.ep.transportClose(transport_id)
        except Exception as exc:  # already gone with its last call: nothing to free
            log.debug("closing SIP transport %s: %s", transport_id, exc)

    def _run(self) -> None:
        try:
            self._init()
        except BaseException as exc:  # report to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        while not self._stop.is_set():
            self._drain()
            self._fire_timers()
            self.ep.libHandleEvents(10)
        self._timers.clear()
        self._drain()
        try:
            self.ep.hangupAllCalls()
            for _ in range(20):
                self.ep.libHandleEvents(10)
        except Exception:
            pass
        self.keep.clear()
        self.objects.clear()
        self._abandon_ports()
        import gc

        gc.collect()
        self.ep.libDestroy()
        self.ep = None

    def _drain(self) -> None:
        while True:
            try:
                fn, fut = self._queue.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as exc:
                    fut.set_exception(exc)

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            try:
                fn()
            except Exception:
                log.exception("SIP engine %s: scheduled task failed", self.name)

    def media_port(
        self,
        on_frame: Callable[[bytes], None],
        playback: PlaybackBuffer,
        on_sent: Callable[[bytes], None] | None = None,
    ) -> PcmPort:
        """A conference-bridge port for one call's audio (on the pjsua thread): a free one from an
        earlier call, else a new one. Give it back with :meth:`release_port` when the call ends."""
        self._require_engine_thread("media_port")
        if self._free_ports:
            port = self._free_ports.pop()
        else:
            port = PcmPort()
            port.create(f"pcm{len(self._ports)}")
            self._ports.append(port)
        port.bind(on_frame, playback, on_sent)
        return port

    def release_port(self, port: PcmPort) -> None:
        """The call of ``port`` ended (on the pjsua thread): unbind it and keep it for the next call.

        Why ports are reused and never destroyed while the library runs: pjsua2 2.15's conference
        bridge removes a port *asynchronously*, on its media clock, but ``~AudioMediaPort`` releases
        the port's memory right after asking for the removal (fixed upstream after 2.15.1, pjproject
        PR #4200). The clock later reads the freed port: heap corruption that crashed the daemon
        seconds later in unrelated code (CI: ``callbox demo`` SIGSEGV in the main thread). And with
        the null sound device closed between calls (no clock), removals queued up and the bridge ran
        out of its 254 slots after ~250 calls. A pool needs as many ports as calls at once."""
        self._require_engine_thread("release_port")
        port.close()
        if port in self._ports and port not in self._free_ports:
            self._free_ports.append(port)

    @property
    def port_count(self) -> int:
        """How many media ports exist (in use + free): bounded by the most calls at once."""
        return len(self._ports)

    @property
    def ports_in_use(self) -> int:
        """Media ports bound to a call right now (0 once every call has ended)."""
        return len(self._ports) - len(self._free_ports)

    def _abandon_ports(self) -> None:
        """At shutdown: leave the ports to the process instead of destroying them. Their destructor
        would queue a removal on a bridge that ``libDestroy`` is about to tear down (the same
        use-after-free, or an abort after it); ``__disown__`` hands each to its C++ side for good,
        a few kilobytes per port for the rest of the process."""
        for port in self._ports:
            port.close()
            port.__disown__()
        self._ports.clear()
        self._free_ports.clear()

    def _require_engine_thread(self, what: str) -> None:
        if threading.current_thread() is not self._thread:
            raise RuntimeError(f"PjEngine.{what} must run on the pjsua thread (use engine.call)")

    def call_later(self, delay_s: float, fn: Callable[[], Any]) -> Callable[[], None]:
        """Run ``fn`` on the pjsua thread after ``delay_s`` seconds; returns a cancel function.

        Retries and ring timeouts use this rather than ``threading.Timer`` so they run in order with
        pjsua2 callbacks and never need locks. Safe to call from any thread.
        """
        cancelled = threading.Event()

        def guarded() -> None:
            if not cancelled.is_set():
                fn()

        def schedule() -> None:
            heapq.heappush(self._timers, (time.monotonic() + max(0.0, delay_s), next(self._timer_seq), guarded))

        self.call(schedule, wait=False)
        return cancelled.set

    def call(self, fn: Callable[[], Any], wait: bool = True, timeout: float = 10.0) -> Any:
        """Run ``fn`` on the pjsua thread.

        With ``wait`` from the pjsua thread itself it runs at once; without ``wait`` it is always
        queued, so a callback can safely schedule work that drops the object it runs in.
        """
        if wait and threading.current_thread() is self._thread:
            return fn()
        fut: Future = Future()
        self._queue.put((fn, fut))
        if not wait:
            return fut
        return fut.result(timeout)

    def stop(self) -> None:
        """Hang up, release every pjsua2 object and destroy the library. Idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(15)

    @property
    def on_engine_thread(self) -> bool:
        return threading.current_thread() is self._thread


class SharedEngine:
    """The process's one pjsua2 endpoint, shared by every SIP line.

    pjsua2 allows one ``Endpoint`` per process (a second aborts), so a line does not own an engine: it
    holds a share. The first line starts the engine, the last one to stop destroys it; each line adds
    its own account, on a transport it shares with lines that bind the same address and port (the PBX
    tells their calls apart by account), or on its own. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: PjEngine | None = None
        self._users = 0
        self._transports: dict[Any, list[int]] = {}  # key -> [transport id, port, users]

    def acquire(self, log_level: int = 1) -> PjEngine:
        """A share of the running engine, started here if no line holds one (its log level wins)."""
        with self._lock:
            if self._engine is None:
                engine = PjEngine(log_level=log_level, name="sip", transport=None)
                engine.start()  # raises SipUnavailable with the reason; nothing is counted then
                self._engine = engine
            self._users += 1
            return self._engine

    def release(self, engine: PjEngine) -> None:
        """Give a share back; the last one stops the engine (hang-ups, libDestroy on its thread)."""
        with self._lock:
            if engine is not self._engine:
                return
            self._users -= 1
            if self._users > 0:
                return
            self._engine = None
            self._transports.clear()
        engine.stop()

    def transport(self, engine: PjEngine, kind: str, bind: str, port: int, tls: TlsFiles) -> tuple[int, int]:
        """(transport id, port) for a line: the one already bound to this address and port, else a new
        one (port 0: always new, on a free port)."""
        key: Any = (kind, bind, port, tls)
        with self._lock:
            entry = self._transports.get(key) if port else None
            if entry is None:
                tid, actual = engine.call(lambda: engine.add_transport(kind, bind, port, tls))
                entry = [tid, actual, 0]
                self._transports[key if port else (key, tid)] = entry
            entry[2] += 1
            return entry[0], entry[1]

    def release_transport(self, engine: PjEngine, transport_id: int) -> None:
        """A line is done with its transport: closed when no other line uses it."""
        with self._lock:
            if engine is not self._engine:
                return  # the engine is gone, and its transports with it
            key = next((k for k, e in self._transports.items() if e[0] == transport_id), None)
            if key is None:
                return
            entry = self._transports[key]
            entry[2] -= 1
            if entry[2] > 0:
                return
            del self._transports[key]
        engine.call(lambda: engine.close_transport(transport_id))


SIP_ENGINE = SharedEngine()
