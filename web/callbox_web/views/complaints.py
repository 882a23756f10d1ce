"""Complaints from called people: staff record them, a reviewer reviews each one.

The complaint rate on the overview and the campaign pages is counted from this list, so a campaign
that upsets people shows it within a day.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callbox.store import audit
from callbox.store import models as m
from callbox.store.models_panel import PanelComplaint
from callbox_web.auth import ADMIN, EVERYONE, REVIEWER, STAFF, actor, current_user, panel, roles_required
from callbox_web.forms import ComplaintForm, ReviewForm
from callbox_web.paging import paginate
from callbox_web.views.contacts import normalise_or_none

bp = Blueprint("complaints", __name__, url_prefix="/complaints")
RECORDERS = (ADMIN, STAFF, REVIEWER)


def _form() -> ComplaintForm:
    form = ComplaintForm()
    form.campaign_id.choices = [("", _("Not about a campaign"))] + [
        (str(c.id), c.name) for c in m.Campaign.select().order_by(m.Campaign.name)]
    return form


@bp.get("/")
@roles_required(*EVERYONE)
def index():
    status = request.args.get("status", "")
    query = PanelComplaint.select().order_by(PanelComplaint.received_at.desc(), PanelComplaint.id.desc())
    if status in ("open", "reviewed"):
        query = query.where(PanelComplaint.status == status)
    campaigns = {c.id: c.name for c in m.Campaign.select()}
    return render_template("complaints/index.html", page=paginate(query, request.args.get("page")), status=status,
                           campaigns=campaigns, form=_form(), can_record=current_user.role in RECORDERS)


@bp.post("/new")
@roles_required(*RECORDERS)
def new():
    form = _form()
    p = panel()
    if not form.validate_on_submit():
        flash(_("Fill in the phone number and what the person said."), "error")
        return redirect(url_for("complaints.index"))
    phone = normalise_or_none(form.phone.data)
    if phone is None:
        flash(_("%(phone)s is not a valid phone number.", phone=form.phone.data), "error")
        return redirect(url_for("complaints.index"))
    campaign_id = int(form.campaign_id.data) if (form.campaign_id.data or "").isdigit() else None
    with p.store.atomic():
        row = PanelComplaint.create(phone=phone, campaign_id=campaign_id, received_at=p.clock.now(),
                                    channel=form.channel.data, summary=form.summary.data.strip(),
                                    recorded_by=current_user.username)
        audit.append(p.store, actor(), "complaint.record", phone, {"complaint": row.id, "campaign": campaign_id})
    flash(_("Complaint recorded. A reviewer will look at it."), "ok")
    return redirect(url_for("complaints.detail", complaint_id=row.id))


@bp.get("/<int:complaint_id>")
@roles_required(*EVERYONE)
def detail(complaint_id: int):
    row = PanelComplaint.get_or_none(PanelComplaint.id == complaint_id) or abort(404)
    campaign = m.Campaign.get_or_none(m.Campaign.id == row.campaign_id) if row.campaign_id else None
    return render_template("complaints/detail.html", row=row, campaign=campaign, form=ReviewForm(),
                           can_review=current_user.role == REVIEWER and row.status == "open")


@bp.post("/<int:complaint_id>/review")
@roles_required(REVIEWER)
def review(complaint_id: int):
    row = PanelComplaint.get_or_none(PanelComplaint.id == complaint_id) or abort(404)
    form = ReviewForm()
    p = panel()
    if not form.validate_on_submit() or not (form.note.data or "").strip():
        flash(_("Write what was found and done."), "error")
    elif row.status != "open":
        flash(_("This complaint was already reviewed."), "info")
    else:
        with p.store.atomic():
            row.status, row.reviewer, row.reviewed_at = "reviewed", current_user.username, p.clock.now()
            row.review_note = form.note.data.strip()
            row.save()
            audit.append(p.store, actor(), "complaint.review", row.phone, {"complaint": row.id})
        flash(_("Review saved."), "ok")
    return redirect(url_for("complaints.detail", complaint_id=row.id))
