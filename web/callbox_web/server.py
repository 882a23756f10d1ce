"""Running the panel: waitress for HTTP, and a small TLS front for HTTPS.

Why a TLS front: waitress speaks plain HTTP only, and a call box has no reverse proxy in front of it.
So on a LAN address the panel listens with TLS here (the box's self-signed certificate), and each
decrypted connection is relayed to waitress listening on 127.0.0.1 on a free port. The relay
remembers which client each relayed connection belongs to, so the panel still sees the real client
address (login throttling by address needs it). Plain HTTP is allowed only on loopback.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import ssl
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

from callbox.clock import Clock

log = logging.getLogger(__name__)
THREADS = 16  # each open overview tab holds one for up to a minute (server-sent events)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PeerMap:
    """Relay-side port -> real client address, for connections the TLS front relays to waitress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._peers: dict[int, str] = {}

    def add(self, port: int, address: str) -> None:
        with self._lock:
            self._peers[port] = address

    def remove(self, port: int) -> None:
        with self._lock:
            self._peers.pop(port, None)

    def get(self, port: int) -> str | None:
        with self._lock:
            return self._peers.get(port)


def with_client_address(app: Any, peers: PeerMap) -> Callable:
    """WSGI middleware: put the real client address in ``environ['callbox.client_addr']``."""

    def wrapped(environ: dict, start_response: Callable) -> Any:
        try:
            real = peers.get(int(environ.get("REMOTE_PORT") or 0))
        except ValueError:
            real = None
        if real:
            environ["callbox.client_addr"] = real
            environ["REMOTE_ADDR"] = real
            environ["wsgi.url_scheme"] = "https"
        return app(environ, start_response)

    return wrapped


class TlsFront:
    """Accept TLS on (host, port) and relay each connection to waitress on 127.0.0.1:upstream_port."""

    def __init__(self, host: str, port: int, upstream_port: int, cert: Path, key: Path, peers: PeerMap) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(str(cert), str(key))
        self.upstream_port = upstream_port
        self.peers = peers
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, reuse_port=False)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                raise
            threading.Thread(target=self._relay, args=(conn, addr[0]), daemon=True, name="tls-relay").start()
        self.sock.close()

    def stop(self) -> None:
        self._stop.set()

    def _relay(self, raw: socket.socket, address: str) -> None:
        raw.settimeout(10)
        try:
            tls = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # e.g. someone typed http:// — nothing to relay
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        except OSError:
            tls.close()
            return
        local_port = upstream.getsockname()[1]
        self.peers.add(local_port, address)
        tls.settimeout(None)
        upstream.settimeout(None)
        try:
            self._pump(tls, upstream)
        finally:
            self.peers.remove(local_port)
            for s in (tls, upstream):
                try:
                    s.close()
                except OSError:
                    pass

    def _pump(self, tls: ssl.SSLSocket, upstream: socket.socket) -> None:
        """One thread per connection moves bytes both ways (an SSL socket is not shared between threads)."""
        while not self._stop.is_set():
            readable, _, _ = select.select([tls, upstream], [], [], 1.0) if not tls.pending() else ([tls], [], [])
            for s in readable:
                try:
                    data = s.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                try:
                    (upstream if s is tls else tls).sendall(data)
                except OSError:
                    return


def serve(
    data_dir: Path | str,
    host: str,
    port: int,
    clock: Clock | None = None,
    in_thread: bool = False,
    config: Mapping[str, Any] | None = None,
    tls: bool | None = None,
) -> Callable[[], None] | None:
    """See :func:`callbox_web.serve`."""
    from waitress.server import create_server

    from callbox_web import create_app, panel_of, security

    use_tls = (not is_loopback(host)) if tls is None else tls
    if not use_tls and not is_loopback(host):
        raise ValueError(f"plain HTTP is allowed only on 127.0.0.1, not {host}: drop --no-tls or bind 127.0.0.1")
    settings = dict(config or {})
    settings["TLS"] = use_tls
    app = create_app(data_dir, clock=clock, config=settings)
    panel = panel_of(app)
    peers = PeerMap()
    wsgi = with_client_address(app, peers) if use_tls else app
    # send_bytes=1: hand every write to the socket at once, or server-sent events wait for 18 kB.
    common = {"threads": THREADS, "send_bytes": 1, "ident": "callbox", "clear_untrusted_proxy_headers": True,
              "channel_timeout": 120}
    import warnings

    warnings.filterwarnings("ignore", message="send_bytes will be removed", category=DeprecationWarning)
    if use_tls:
        cert, key = security.ensure_certificate(panel.web_dir)
        server = create_server(wsgi, host="127.0.0.1", port=0, **common)
        upstream_port = server.effective_port
        front = TlsFront(host, port, upstream_port, cert, key, peers)
        url = f"https://{host}:{front.port}/"
        print(f"callbox panel: {url}  certificate SHA-256 {security.fingerprint(panel.web_dir)}", flush=True)
    else:
        server = create_server(wsgi, host=host, port=port, **common)
        front = None
        print(f"callbox panel: http://{host}:{server.effective_port}/", flush=True)

    def stop() -> None:
        """Close every socket from inside waitress's own loop thread, then let the workers finish."""
        panel.stopping.set()
        if front is not None:
            front.stop()
        closed = threading.Event()

        def close_all() -> None:
            for channel in list(server._map.values()):
                if channel is server or channel is server.trigger:
                    continue
                try:
                    channel.handle_close()
                except OSError:  # a client that already went away
                    pass
            try:
                # The listening socket and the trigger: close() directly, as their handle_close() is
                # asyncore's default, which logs "unhandled close event" (a warning in every demo log).
                server.close()
            except OSError:
                pass
            closed.set()

        try:
            server.trigger.pull_trigger(close_all)
        except OSError:
            close_all()
        closed.wait(5)
        threads[0].join(5)
        server.task_dispatcher.shutdown(timeout=3)

    threads = [threading.Thread(target=server.run, name="panel-http", daemon=True)]
    if front is not None:
        threads.append(threading.Thread(target=front.serve_forever, name="panel-tls", daemon=True))
    for thread in threads:
        thread.start()
    stop.port = front.port if front else server.effective_port  # type: ignore[attr-defined]
    stop.app = app  # type: ignore[attr-defined]
    if in_thread:
        return stop
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return None
