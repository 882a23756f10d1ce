"""Users and roles (admins only). An admin cannot lock the last admin out."""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callbox.store import audit
from callbox.store.models_panel import PanelUser
from callbox_web import auth
from callbox_web.auth import ADMIN, actor, current_user, panel, roles_required
from callbox_web.forms import UserEditForm, UserForm

bp = Blueprint("users", __name__, url_prefix="/users")
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,40}$")


def _active_admins() -> int:
    return PanelUser.select().where((PanelUser.role == ADMIN) & (PanelUser.active == True)).count()  # noqa: E712


@bp.route("/", methods=["GET", "POST"])
@roles_required(ADMIN)
def index():
    form = UserForm()
    p = panel()
    if form.validate_on_submit():
        username = form.username.data.strip()
        if not USERNAME.match(username):
            flash(_("User names use letters, digits, dot, dash and underscore (2-40)."), "error")
        elif PanelUser.select().where(PanelUser.username == username).exists():
            flash(_("This user name is taken."), "error")
        elif problem := auth.password_problem(form.password.data, username):
            flash(problem, "error")
        else:
            now = p.clock.now()
            with p.store.atomic():
                PanelUser.create(username=username, display_name=form.display_name.data or "",
                                 password_hash=auth.hash_password(form.password.data), role=form.role.data,
                                 created_at=now, created_by=current_user.username, password_changed_at=now)
                audit.append(p.store, actor(), "panel.user_create", username, {"role": form.role.data})
            flash(_("User %(name)s created.", name=username), "ok")
            return redirect(url_for("users.index"))
    users = list(PanelUser.select().order_by(PanelUser.username))
    return render_template("users/index.html", users=users, form=form)


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@roles_required(ADMIN)
def edit(user_id: int):
    row = PanelUser.get_or_none(PanelUser.id == user_id) or abort(404)
    form = UserEditForm(obj=row if request.method == "GET" else None)
    p = panel()
    if form.validate_on_submit():
        demoting = row.role == ADMIN and row.active and (form.role.data != ADMIN or not form.active.data)
        if demoting and _active_admins() <= 1:
            flash(_("This is the last administrator; make someone else an administrator first."), "error")
        elif form.password.data and (problem := auth.password_problem(form.password.data, row.username)):
            flash(problem, "error")
        else:
            changes = {}
            if form.role.data != row.role:
                changes["role"] = [row.role, form.role.data]
            if bool(form.active.data) != bool(row.active):
                changes["active"] = [row.active, bool(form.active.data)]
            with p.store.atomic():
                row.role, row.active = form.role.data, bool(form.active.data)
                if form.password.data:
                    row.password_hash = auth.hash_password(form.password.data)
                    row.password_changed_at = p.clock.now()
                    changes["password"] = "reset"
                row.save()
                audit.append(p.store, actor(), "panel.user_change", row.username, changes)
            if row.id == current_user.row.id and (not row.active or row.role != ADMIN or form.password.data):
                return redirect(url_for("auth.login"))
            flash(_("Saved."), "ok")
            return redirect(url_for("users.index"))
    return render_template("users/edit.html", row=row, form=form)
