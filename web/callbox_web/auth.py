"""Who may use the panel, and what each role may do.

* No default password: until the first admin exists, every page leads to /setup, which needs the
  one-time code the box prints at start and writes to ``SETUP_CODE_PATH`` (the boot partition on a
  real box). The code file is deleted as soon as the first admin is created.
* Passwords are argon2id hashes (argon2-cffi). Sessions are Flask-Login sessions that end after
  ``IDLE_TIMEOUT_MINUTES`` without a request.
* Failed logins are counted in the store per user name and per address, so a restart does not reset
  a lockout (5 failures -> 15 minutes by default).
* Every view states its roles with :func:`roles_required`; the check is on the server, always.
"""

from __future__ import annotations

import hmac
import os
import secrets
import sys
from datetime import datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user, logout_user

from callbox.store import audit
from callbox.store.models_panel import ROLES, PanelLoginThrottle, PanelUser

login_manager = LoginManager()

ADMIN, REVIEWER, STAFF, AUDITOR = ROLES
EVERYONE = ROLES
# A dummy hash to verify against when the user name is unknown, so timing does not reveal names.
_DUMMY_PASSWORD = "callbox-no-such-user"


class User(UserMixin):
    """The logged-in person. The session id includes a piece of the password hash, so changing the
    password (or deactivating the account) ends every other session of that user."""

    def __init__(self, row: PanelUser) -> None:
        self.row = row

    @property
    def username(self) -> str:
        return self.row.username

    @property
    def role(self) -> str:
        return self.row.role

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return bool(self.row.active)

    def get_id(self) -> str:
        return f"{self.row.id}:{self.row.password_hash[-12:]}"

    def has(self, *roles: str) -> bool:
        return self.row.role in roles


class Anonymous(AnonymousUserMixin):
    username = ""
    role = ""

    def has(self, *roles: str) -> bool:
        return False


def panel():
    from callbox_web import panel_of

    return panel_of(current_app)


def hasher() -> PasswordHasher:
    return PasswordHasher(**current_app.config["ARGON2"])


def hash_password(password: str) -> str:
    return hasher().hash(password)


def check_password(row: PanelUser | None, password: str) -> bool:
    ph = hasher()
    if row is None:
        try:
            ph.verify(ph.hash(_DUMMY_PASSWORD), password)
        except VerificationError:
            pass
        return False
    try:
        ph.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if ph.check_needs_rehash(row.password_hash):
        row.password_hash = ph.hash(password)
        row.save()
    return True


def password_problem(password: str, username: str = "") -> str:
    """A plain-words reason the password is refused, or ''."""
    from flask_babel import gettext as _

    minimum = current_app.config["MIN_PASSWORD_LENGTH"]
    if len(password) < minimum:
        return _("The password must be at least %(n)d characters long.", n=minimum)
    if username and username.lower() in password.lower():
        return _("The password must not contain the user name.")
    if len(set(password)) < 4:
        return _("The password is too simple.")
    return ""


def has_users() -> bool:
    return PanelUser.select().exists()


# ------------------------------------------------------------------------------------------ roles
def roles_required(*roles: str) -> Callable:
    """Allow the view only to logged-in users with one of ``roles``; others get the 403 page."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorate


def actor() -> str:
    """The name written to the audit log for what the current user does."""
    return f"web:{current_user.username}" if current_user.is_authenticated else "web:anonymous"


# ------------------------------------------------------------------------------------------ throttle
def client_address() -> str:
    return request.environ.get("callbox.client_addr") or request.remote_addr or "unknown"


def _throttle_keys(username: str) -> list[tuple[str, int]]:
    cfg = current_app.config
    return [(f"user:{username.lower()}", cfg["LOCKOUT_THRESHOLD"]), (f"ip:{client_address()}", cfg["IP_LOCKOUT_THRESHOLD"])]


def locked_until(username: str) -> datetime | None:
    """When the lock on this user name (or this address) ends, or None if login may be tried."""
    now = panel().clock.now()
    latest = None
    for key, _limit in _throttle_keys(username):
        row = PanelLoginThrottle.get_or_none(PanelLoginThrottle.key == key)
        if row and row.locked_until and row.locked_until > now:
            latest = max(latest, row.locked_until) if latest else row.locked_until
    return latest


def record_failure(username: str) -> datetime | None:
    """Count one failed login; returns the lock end if this failure locked the name or address."""
    p = panel()
    now = p.clock.now()
    window = timedelta(minutes=current_app.config["LOCKOUT_MINUTES"])
    locked = None
    with p.store.atomic():
        for key, limit in _throttle_keys(username):
            row = PanelLoginThrottle.get_or_none(PanelLoginThrottle.key == key)
            if row is None:
                row = PanelLoginThrottle(key=key, failures=0, window_start=now)
            if now - row.window_start > window and not (row.locked_until and row.locked_until > now):
                row.failures, row.window_start, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= limit:
                row.locked_until = now + window
                locked = row.locked_until
            row.save()
        audit.append(p.store, f"web:{username or '?'}", "panel.login_failed", username,
                     {"address": client_address(), "locked_until": locked})
    return locked


def clear_failures(username: str) -> None:
    PanelLoginThrottle.delete().where(PanelLoginThrottle.key == f"user:{username.lower()}").execute()


# ------------------------------------------------------------------------------------------ setup code
def setup_code_path() -> Path:
    return Path(current_app.config["SETUP_CODE_PATH"])


def _new_code() -> str:
    """Twelve digits in groups of four: easy to read off a console and type on a phone."""
    digits = "".join(secrets.choice("0123456789") for _ in range(12))
    return "-".join(digits[i : i + 4] for i in range(0, 12, 4))


def current_setup_code(app: Flask) -> str | None:
    path = Path(app.config["SETUP_CODE_PATH"])
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def announce_setup_code(app: Flask) -> None:
    """While no user exists: make sure a setup code exists, and print it to the console."""
    with app.app_context():
        if has_users():
            return
        path = Path(app.config["SETUP_CODE_PATH"])
        code = current_setup_code(app)
        if code is None:
            code = _new_code()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, (code + "\n").encode())
            finally:
                os.close(fd)
        print(f"callbox panel: first-time setup code {code} (also in {path}); "
              "open the panel and enter it to create the first admin", file=sys.stderr, flush=True)


def setup_code_matches(given: str) -> bool:
    expected = current_setup_code(current_app)
    if not expected:
        return False
    clean = lambda s: "".join(ch for ch in s if ch.isdigit())  # noqa: E731 - spaces and dashes are optional
    return hmac.compare_digest(clean(given).encode(), clean(expected).encode())


def consume_setup_code() -> None:
    setup_code_path().unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ wiring
def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.anonymous_user = Anonymous
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.login_message = None  # flashed by our own view, in the user's language

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        try:
            pk, tail = user_id.split(":", 1)
            row = PanelUser.get_or_none(PanelUser.id == int(pk))
        except ValueError:
            return None
        if row is None or not row.active or row.password_hash[-12:] != tail:
            return None
        return User(row)

    @app.before_request
    def first_boot_and_idle():
        """Send everyone to /setup until an admin exists; end sessions idle for too long."""
        endpoint = request.endpoint or ""
        if endpoint in ("static", "healthz", "favicon", "i18n.set_language") or endpoint.startswith("auth.setup"):
            return None
        if not has_users():
            return redirect(url_for("auth.setup"))
        if current_user.is_authenticated:
            now = panel().clock.now().timestamp()
            last = session.get("seen")
            limit = current_app.config["IDLE_TIMEOUT_MINUTES"] * 60
            if last is not None and now - last > limit:
                logout_user()
                session.clear()
                session["idle_logout"] = True
                return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
            if endpoint != "dashboard.events":  # the live view's reconnects must not keep a session alive
                session["seen"] = now
        return None
