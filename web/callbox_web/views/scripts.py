"""Call scripts: write, check (lint inline), submit for review, approve or reject by a second person."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callbox.compliance.rulepack import load_pack
from callbox.store.models_panel import PanelScript
from callbox_web import services
from callbox_web.auth import ADMIN, EVERYONE, REVIEWER, STAFF, current_user, panel, roles_required
from callbox_web.forms import ActionForm, ReviewForm, ScriptForm

bp = Blueprint("scripts", __name__, url_prefix="/scripts")
WRITERS = (ADMIN, STAFF)
REVIEWERS = (REVIEWER,)

TEMPLATE = '''# 话术 / call script. The box adds who is calling, the AI notice, the recording question and
# "say stop to never be called again" before step 1; a script cannot change those.
id = "follow_up_visit"
name = "复诊回访 / Follow-up after a visit"
purpose = "follow_up"
languages = ["zh", "en"]

[[steps]]
id = "ask"
say.zh = "{name}，您好，想了解您就诊后恢复得怎么样。一切都好请按1或说“好”，需要医生回电请按2。"
say.en = "{name}, we would like to know how you are feeling after your visit. Press 1 or say yes if all is well, or press 2 for a call back from the doctor."

[steps.on.consent_yes]
say.zh = "很高兴听到您恢复良好，祝您健康。"
say.en = "We are glad to hear that. Take care."
outcome = "confirmed"

[steps.on.consent_no]
say.zh = "好的，医生会尽快给您回电。"
say.en = "All right, the doctor will call you back soon."
outcome = "handoff"
'''


def _pack():
    p = panel()
    org = p.store.organisation()
    return load_pack(org.rules, p.data_dir) if org else None


def _row(script_id: str) -> PanelScript:
    return PanelScript.get_or_none(PanelScript.script_id == script_id) or abort(404)


@bp.get("/")
@roles_required(*EVERYONE)
def index():
    rows = list(PanelScript.select().order_by(PanelScript.updated_at.desc()))
    return render_template("scripts/index.html", rows=rows, shipped=services.shipped_scripts(),
                           can_write=current_user.role in WRITERS)


@bp.get("/shipped/<script_id>")
@roles_required(*EVERYONE)
def shipped(script_id: str):
    for script in services.shipped_scripts():
        if script.id == script_id:
            return render_template("scripts/shipped.html", script=script)
    abort(404)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*WRITERS)
def new():
    form = ScriptForm()
    findings = []
    if request.method == "GET":
        form.text.data = TEMPLATE
    elif form.validate_on_submit():
        row, findings = services.save_draft(panel().store, current_user.username, form.text.data)
        if row is not None:
            flash(_("Script saved as a draft."), "ok")
            return redirect(url_for("scripts.view", script_id=row.script_id))
    return render_template("scripts/edit.html", form=form, findings=findings, row=None,
                           lint_full=services.lint_available())


@bp.route("/<script_id>/edit", methods=["GET", "POST"])
@roles_required(*WRITERS)
def edit(script_id: str):
    row = _row(script_id)
    form = ScriptForm()
    findings = []
    if request.method == "GET":
        form.text.data = row.text
        _script, findings = services.lint(row.text, _pack())
    elif form.validate_on_submit():
        saved, findings = services.save_draft(panel().store, current_user.username, form.text.data, existing=row)
        if saved is not None:
            flash(_("Script saved as a draft. Submit it for review when it is ready."), "ok")
            return redirect(url_for("scripts.view", script_id=row.script_id))
    return render_template("scripts/edit.html", form=form, findings=findings, row=row,
                           lint_full=services.lint_available())


@bp.get("/<script_id>")
@roles_required(*EVERYONE)
def view(script_id: str):
    row = _row(script_id)
    script, findings = services.lint(row.text, _pack())
    return render_template("scripts/view.html", row=row, script=script, findings=findings, action=ActionForm(),
                           review_form=ReviewForm(), can_write=current_user.role in WRITERS,
                           can_review=current_user.role in REVIEWERS and current_user.username != row.author,
                           lint_full=services.lint_available())


@bp.post("/<script_id>/submit")
@roles_required(*WRITERS)
def submit(script_id: str):
    row = _row(script_id)
    if row.status not in ("draft", "rejected"):
        flash(_("This script is not a draft."), "error")
    else:
        findings = services.submit(panel().store, panel().data_dir, current_user.username, row, _pack())
        if any(f.level == "error" for f in findings):
            flash(_("Fix the problems marked below before submitting."), "error")
        else:
            flash(_("Submitted. A reviewer (not you) must approve it before a campaign can use it."), "ok")
    return redirect(url_for("scripts.view", script_id=row.script_id))


@bp.post("/<script_id>/review")
@roles_required(*REVIEWERS)
def review(script_id: str):
    row = _row(script_id)
    form = ReviewForm()
    approve = request.form.get("decision") == "approve"
    if form.validate_on_submit():
        try:
            services.review(panel().store, panel().data_dir, current_user.username, row, approve, form.note.data or "")
        except services.ReviewRefused as exc:
            flash(str(exc), "error")
        else:
            flash(_("Script approved. Campaigns can use it now.") if approve
                  else _("Script rejected. The author sees your note."), "ok")
    return redirect(url_for("scripts.view", script_id=row.script_id))

