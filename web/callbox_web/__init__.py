"""callbox_web: the panel clinic and shop staff use to run the box.

Shape: a Flask app factory (:func:`create_app`) with one blueprint per page family (``views/``), as in
the Flask tutorial. The panel never places calls: it writes to the same store the daemon reads
(campaign status, contacts, consent, do-not-call) and reads what the daemon writes (calls, decisions,
line states). :func:`serve` runs it under waitress, behind a small TLS front unless bound to loopback.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from flask import Flask

from callbox.clock import Clock, SystemClock
from callbox.store import models as m
from callbox.store.db import DB_FILENAME, Store, open_store

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "IDLE_TIMEOUT_MINUTES": 15,  # a shared front-desk PC must not stay logged in
    "LOCKOUT_THRESHOLD": 5,  # failed logins for one user name before it is locked
    "LOCKOUT_MINUTES": 15,
    "IP_LOCKOUT_THRESHOLD": 20,  # failed logins from one address (any user name)
    "MIN_PASSWORD_LENGTH": 10,
    "ARGON2": {},  # PasswordHasher(**ARGON2); tests pass cheaper parameters
    "SSE_POLL_SECONDS": 0.3,
    "SSE_MAX_SECONDS": 55,  # then the browser reconnects, so one tab never pins a worker thread for long
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "LANGUAGES": ("zh_CN", "en"),
    "TLS": False,  # set by serve(): True when the panel is reached over HTTPS
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session (which has its own idle limit)
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,  # a contacts CSV of a few ten thousand rows
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "SESSION_COOKIE_NAME": "callbox_session",
}


@dataclass
class Panel:
    """What the views need besides Flask: the data directory, the store, the clock, short-lived caches."""

    data_dir: Path
    store: Store
    clock: Clock
    stopping: threading.Event = field(default_factory=threading.Event)
    # token -> entry; in memory only (import previews, decrypted recordings). Never written to disk.
    cache: dict[str, dict] = field(default_factory=dict)
    cache_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def web_dir(self) -> Path:
        return self.data_dir / "web"

    def put(self, kind: str, owner: str, payload: Any, ttl_seconds: int) -> str:
        """Keep ``payload`` in memory for ``owner`` for a while; returns an unguessable token."""
        token = secrets.token_urlsafe(24)
        now = self.clock.now().timestamp()
        with self.cache_lock:
            for key in [k for k, v in self.cache.items() if v["expires"] < now]:
                del self.cache[key]
            self.cache[token] = {"kind": kind, "owner": owner, "payload": payload, "expires": now + ttl_seconds}
        return token

    def get(self, kind: str, owner: str, token: str) -> Any | None:
        with self.cache_lock:
            entry = self.cache.get(token)
        if not entry or entry["kind"] != kind or entry["owner"] != owner:
            return None
        if entry["expires"] < self.clock.now().timestamp():
            self.drop(token)
            return None
        return entry["payload"]

    def drop(self, token: str) -> None:
        with self.cache_lock:
            self.cache.pop(token, None)


def _store_for(data_dir: Path, clock: Clock) -> Store:
    """Open the store, or share the database object the daemon in this process already opened.

    Why: models are bound through one process-wide proxy, so a second ``open_store`` in the same
    process would re-point the daemon's models at another database object and split its transactions.
    Peewee gives every thread its own SQLite connection either way, and WAL lets the daemon write while
    the panel reads; from another process ``open_store`` is simply called.
    """
    path = (Path(data_dir) / DB_FILENAME).resolve()
    current = m.database_proxy.obj
    if current is not None and Path(str(current.database)).resolve() == path:
        return Store(db=current, path=path, clock=clock)
    return open_store(data_dir, clock)


def create_app(data_dir: Path | str, clock: Clock | None = None, config: Mapping[str, Any] | None = None) -> Flask:
    """Build the panel for the box whose data lives in ``data_dir``.

    Configuration, later wins: :data:`DEFAULTS`, ``<data>/web/panel.py`` (the instance config, for a
    technician), then ``config``.
    """
    from callbox_web import auth, i18n, security

    data_dir = Path(data_dir)
    clock = clock or SystemClock()
    web_dir = data_dir / "web"
    web_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    app = Flask(__name__, instance_path=str(web_dir.resolve()), instance_relative_config=True)
    app.config.update(DEFAULTS)
    app.config["SETUP_CODE_PATH"] = str(data_dir / "setup-code.txt")
    app.config.from_pyfile("panel.py", silent=True)
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = security.load_secret_key(web_dir)
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config["TLS"])

    store = _store_for(data_dir, clock)
    panel = Panel(data_dir=data_dir, store=store, clock=clock)
    app.extensions["callbox"] = panel

    security.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)

    from callbox_web.views import register_blueprints

    register_blueprints(app)
    auth.announce_setup_code(app)
    return app


def serve(
    data_dir: Path | str,
    host: str = "127.0.0.1",
    port: int = 8080,
    clock: Clock | None = None,
    in_thread: bool = False,
    config: Mapping[str, Any] | None = None,
    tls: bool | None = None,
) -> Callable[[], None] | None:
    """Serve the panel with waitress. HTTPS unless bound to loopback (then plain HTTP only).

    ``tls=None`` chooses by ``host``; plain HTTP on a non-loopback address is refused. With
    ``in_thread=True`` this returns at once with a ``stop()`` function; otherwise it blocks.
    """
    from callbox_web import server

    return server.serve(data_dir, host, port, clock=clock, in_thread=in_thread, config=config, tls=tls)


def panel_of(app: Flask) -> Panel:
    return app.extensions["callbox"]
