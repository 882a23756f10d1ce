"""First-boot setup, login, logout and changing one's own password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from callbox.store import audit
from callbox.store.models_panel import PanelUser
from callbox_web import auth
from callbox_web.auth import EVERYONE, roles_required
from callbox_web.forms import LoginForm, PasswordForm, SetupForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("dashboard.index")


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first admin with the one-time code; gone for good once any user exists."""
    if auth.has_users():
        return redirect(url_for("auth.login"))
    form = SetupForm()
    locked = auth.locked_until("__setup__")
    if form.validate_on_submit():
        if locked:
            flash(_("Too many wrong codes. Try again after %(at)s.", at=format_datetime(locked, "short")), "error")
        elif not auth.setup_code_matches(form.code.data):
            auth.record_failure("__setup__")
            flash(_("The setup code is not right. Read it again from the box's screen or its setup-code.txt file."),
                  "error")
        elif problem := auth.password_problem(form.password.data, form.username.data):
            flash(problem, "error")
        else:
            p = auth.panel()
            now = p.clock.now()
            with p.store.atomic():
                if auth.has_users():  # two browsers racing through setup: only the first wins
                    return redirect(url_for("auth.login"))
                row = PanelUser.create(username=form.username.data.strip(), display_name=form.display_name.data or "",
                                       password_hash=auth.hash_password(form.password.data), role=auth.ADMIN,
                                       created_at=now, created_by="setup-code", password_changed_at=now)
                audit.append(p.store, f"web:{row.username}", "panel.setup", row.username, {"role": auth.ADMIN})
            auth.consume_setup_code()
            session.clear()
            login_user(auth.User(row))
            session["seen"] = now.timestamp()
            flash(_("Welcome. You are the first administrator of this box."), "ok")
            return redirect(url_for("dashboard.index"))
    return render_template("auth/setup.html", form=form, code_path=current_app.config["SETUP_CODE_PATH"])


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if session.pop("idle_logout", False):
        flash(_("You were logged out after a while without activity. Please log in again."), "info")
    if form.validate_on_submit():
        username = form.username.data.strip()
        locked = auth.locked_until(username)
        row = PanelUser.get_or_none(PanelUser.username == username)
        if locked:
            flash(_("Too many failed attempts. Logging in is blocked until %(at)s.",
                    at=format_datetime(locked, "short")), "error")
        elif auth.check_password(row, form.password.data) and row is not None and row.active:
            p = auth.panel()
            auth.clear_failures(username)
            row.last_login_at = p.clock.now()
            row.save()
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            login_user(auth.User(row))
            session["seen"] = p.clock.now().timestamp()
            audit.append(p.store, f"web:{username}", "panel.login", username, {"address": auth.client_address()})
            return redirect(_safe_next(request.args.get("next")))
        else:
            until = auth.record_failure(username)
            if until:
                flash(_("Too many failed attempts. Logging in is blocked until %(at)s.",
                        at=format_datetime(until, "short")), "error")
            else:
                flash(_("User name or password is wrong."), "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@roles_required(*EVERYONE)
def account():
    form = PasswordForm()
    if form.validate_on_submit():
        row = current_user.row
        if not auth.check_password(row, form.current.data):
            flash(_("The current password is wrong."), "error")
        elif problem := auth.password_problem(form.password.data, row.username):
            flash(problem, "error")
        else:
            p = auth.panel()
            row.password_hash = auth.hash_password(form.password.data)
            row.password_changed_at = p.clock.now()
            row.save()
            audit.append(p.store, auth.actor(), "panel.password_change", row.username, {})
            login_user(auth.User(row))  # the session id carries the hash; renew it
            flash(_("Your password was changed."), "ok")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form)
