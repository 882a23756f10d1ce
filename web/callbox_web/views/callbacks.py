"""Callbacks: people the box promised a call back from staff, and staff marking each one handled.

The daemon writes a ``CallbackTask`` when it cannot put a caller through to a person (a GSM line, a
failed transfer, a script that promises a call back, an inbound caller pressing 0). This page lists
the open ones, oldest first, with the contact's name when the number is in the contact list; staff
press "Called back" or "Cancel", which records who and when (the panel's clock) and appends
``callback.done`` / ``callback.cancel`` to the audit log (see ``callbox.store.queries_callbacks``).
Everyone may look; the auditor, who changes nothing, sees no buttons and is refused on the server.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callbox.store import queries_callbacks as cb
from callbox_web import words
from callbox_web.auth import ADMIN, EVERYONE, REVIEWER, STAFF, actor, current_user, panel, roles_required
from callbox_web.forms import ActionForm
from callbox_web.i18n import fmt_dt
from callbox_web.paging import paginate

bp = Blueprint("callbacks", __name__, url_prefix="/callbacks")
HANDLERS = (ADMIN, STAFF, REVIEWER)


@bp.get("/")
@roles_required(*EVERYONE)
def index():
    show = request.args.get("show", "open")
    if show not in ("open", "closed"):
        show = "open"
    query = cb.open_tasks() if show == "open" else cb.closed_tasks()
    page = paginate(query, request.args.get("page"))
    return render_template("callbacks/index.html", page=page, show=show, open_count=cb.open_count(),
                           names=cb.contact_names(t.phone for t in page.items), action=ActionForm(),
                           can_handle=current_user.role in HANDLERS, CALLBACK_STATUS=words.CALLBACK_STATUS)


def _close(task_id: int, status: str):
    ActionForm().validate_on_submit() or abort(400)
    try:
        task = cb.close_task(panel().store, task_id, status, current_user.username, actor())
    except cb.CallbackError as exc:
        if exc.code == "unknown":
            abort(404)
        if exc.code == "closed" and exc.task is not None:
            flash(_("%(phone)s was already handled by %(who)s at %(at)s.", phone=exc.task.phone,
                    who=exc.task.handled_by or "?", at=fmt_dt(exc.task.handled_at, "short")), "info")
        else:
            flash(str(exc), "error")
        return redirect(url_for("callbacks.index"))
    if status == "done":
        flash(_("%(phone)s: marked as called back.", phone=task.phone), "ok")
    else:
        flash(_("%(phone)s: callback cancelled.", phone=task.phone), "ok")
    return redirect(url_for("callbacks.index"))


@bp.post("/<int:task_id>/done")
@roles_required(*HANDLERS)
def done(task_id: int):
    return _close(task_id, "done")


@bp.post("/<int:task_id>/cancel")
@roles_required(*HANDLERS)
def cancel(task_id: int):
    return _close(task_id, "cancelled")
