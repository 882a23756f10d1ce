"""The do-not-call list: anyone who adds a number says why; only an admin removes one, with new consent."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callbox.clock import parse_instant
from callbox.store import audit, queries
from callbox.store import models as m
from callbox_web.auth import ADMIN, EVERYONE, REVIEWER, STAFF, actor, current_user, panel, roles_required
from callbox_web.forms import DncAddForm, DncRemoveForm
from callbox_web.paging import paginate
from callbox_web.views.contacts import normalise_or_none

bp = Blueprint("dnc", __name__, url_prefix="/dnc")
ADDERS = (ADMIN, STAFF, REVIEWER)


@bp.get("/")
@roles_required(*EVERYONE)
def index():
    q = request.args.get("q", "").strip()
    query = m.DoNotCall.select().order_by(m.DoNotCall.added_at.desc(), m.DoNotCall.id.desc())
    if q:
        query = query.where(m.DoNotCall.phone.contains(q) | m.DoNotCall.reason.contains(q))
    return render_template("dnc/index.html", page=paginate(query, request.args.get("page")), q=q,
                           form=DncAddForm(), can_add=current_user.role in ADDERS,
                           can_remove=current_user.role == ADMIN)


@bp.post("/add")
@roles_required(*ADDERS)
def add():
    form = DncAddForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("dnc.index"))
    number = normalise_or_none(form.phone.data)
    if number is None:
        flash(_("%(phone)s is not a valid phone number.", phone=form.phone.data), "error")
    elif queries.add_dnc(panel().store, number, "staff", form.reason.data.strip(), actor=actor()):
        flash(_("%(phone)s will never be called again.", phone=number), "ok")
    else:
        flash(_("%(phone)s was already on the list.", phone=number), "info")
    return redirect(url_for("dnc.index"))


@bp.route("/<int:entry_id>/remove", methods=["GET", "POST"])
@roles_required(ADMIN)
def remove(entry_id: int):
    """Take a number off the list only with new, written consent from the person; audited."""
    entry = m.DoNotCall.get_or_none(m.DoNotCall.id == entry_id) or abort(404)
    form = DncRemoveForm()
    p = panel()
    if entry.phone is None:
        flash(_("This entry was purged to a fingerprint and cannot be removed."), "error")
        return redirect(url_for("dnc.index"))
    if form.validate_on_submit():
        try:
            given = parse_instant(form.given_at.data)
        except ValueError:
            flash(_("The date must look like 2026-03-01T09:30+08:00 (with the time zone)."), "error")
            return render_template("dnc/remove.html", entry=entry, form=form)
        if given <= entry.added_at or given > p.clock.now():
            flash(_("The new consent must be given after the number was put on the list, and not in the future."),
                  "error")
            return render_template("dnc/remove.html", entry=entry, form=form)
        with p.store.atomic():
            contact = queries.get_contact(entry.phone) or queries.add_contact(p.store, entry.phone)
            queries.add_consent(p.store, contact, form.purpose.data, given, form.method.data,
                                evidence=form.evidence.data, collected_by=current_user.username, actor=actor())
            audit.append(p.store, actor(), "dnc.remove", entry.phone,
                         {"note": form.note.data, "evidence": form.evidence.data, "method": form.method.data,
                          "purpose": form.purpose.data, "was_added_at": entry.added_at, "source": entry.source,
                          "reason": entry.reason})
            entry.delete_instance()
        flash(_("%(phone)s was removed from the do-not-call list. The new consent is recorded.", phone=entry.phone),
              "ok")
        return redirect(url_for("dnc.index"))
    return render_template("dnc/remove.html", entry=entry, form=form)
