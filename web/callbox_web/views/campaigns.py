"""Campaigns: create (as a draft), start, pause with a reason, watch progress and every decision.

The panel never dials: starting a campaign sets its status to ``running`` and the daemon, which
polls for running campaigns, asks the compliance gate about each member.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from callbox.compliance import numbers
from callbox.dialogs.script import ScriptError, load_script
from callbox.store import audit, queries
from callbox.store import models as m
from callbox_web import charts, services, stats, words
from callbox_web.auth import ADMIN, EVERYONE, STAFF, actor, current_user, panel, roles_required
from callbox_web.forms import ActionForm, CampaignForm, PauseForm

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")
RUNNERS = (ADMIN, STAFF)


def _campaign(campaign_id: int) -> m.Campaign:
    return m.Campaign.get_or_none(m.Campaign.id == campaign_id) or abort(404)


@bp.get("/")
@roles_required(*EVERYONE)
def index():
    campaigns = list(m.Campaign.select().order_by(m.Campaign.created_at.desc(), m.Campaign.id.desc()))
    progress = {c.id: stats.campaign_progress(c) for c in campaigns}
    return render_template("campaigns/index.html", campaigns=campaigns, progress=progress,
                           can_run=current_user.role in RUNNERS)


def parse_members(text: str, region: str) -> tuple[list[dict], list[tuple[int, str]]]:
    """Members from CSV text (``phone`` plus one column per script variable); errors by line number."""
    reader = csv.DictReader(io.StringIO(text.strip().lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "phone" not in header:
        return [], [(1, _("The first line must name the columns, starting with phone (e.g. phone,appointment)."))]
    members, errors, seen = [], [], {}
    for raw in reader:
        line = reader.line_num
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        try:
            phone = numbers.normalise(row.pop("phone", ""), region)
        except numbers.InvalidNumber:
            errors.append((line, _("not a valid phone number")))
            continue
        if phone in seen:
            errors.append((line, _("%(phone)s is already on line %(line)d", phone=phone, line=seen[phone])))
            continue
        if queries.get_contact(phone) is None:
            errors.append((line, _("%(phone)s is not in the contacts: import them with their consent first",
                                   phone=phone)))
            continue
        seen[phone] = line
        members.append({"phone": phone, "variables": {k: v for k, v in row.items() if k}})
    if not members and not errors:
        errors.append((1, _("The list has nobody to call.")))
    return members, errors


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*RUNNERS)
def new():
    p = panel()
    form = CampaignForm()
    options = services.usable_scripts(p.data_dir)
    form.script.choices = [(value, label) for value, label, _purpose in options]
    errors: list[tuple[int, str]] = []
    if request.method == "GET":
        form.members.data = "phone,appointment\n"
    elif form.validate_on_submit():
        org = p.store.organisation()
        purpose_of = {value: purpose for value, _label, purpose in options}
        members, errors = parse_members(form.members.data, org.region)
        name = form.name.data.strip()
        if purpose_of.get(form.script.data) != form.purpose.data:
            flash(_("The script is written for a different purpose than the campaign."), "error")
        elif m.Campaign.select().where(m.Campaign.name == name).exists():
            flash(_("A campaign with this name exists already."), "error")
        elif not errors and (refusal := _list_refusal(members, p)):
            errors = [(0, sentence) for sentence in refusal]
        elif not errors:
            with p.store.atomic():
                campaign = m.Campaign.create(name=name, purpose=form.purpose.data, script=form.script.data,
                                             records=form.records.data, status="draft", created_at=p.clock.now())
                for member in members:
                    m.CampaignMember.create(campaign=campaign, phone=member["phone"], variables=member["variables"])
                audit.append(p.store, actor(), "campaign.create", name,
                             {"purpose": form.purpose.data, "script": form.script.data, "members": len(members),
                              "records": form.records.data})
            flash(_("Campaign created as a draft. Start it when you are ready."), "ok")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return render_template("campaigns/new.html", form=form, errors=errors, has_scripts=bool(options))


def _rules():  # type: ignore[no-untyped-def]
    try:
        from callbox.compliance import campaigns as rules
    except ImportError:
        return None
    return rules


def _list_refusal(members: list[dict], p) -> list[str]:  # type: ignore[no-untyped-def]
    """Whole-list rules of the compliance area (e.g. no number-range dialing), when present."""
    rules = _rules()
    if rules is None:
        return []
    from callbox.compliance.rulepack import load_pack

    pack = load_pack(p.store.organisation().rules, p.data_dir)
    refusal = rules.check_list([rules.Member(i + 2, mb["phone"], mb["variables"]) for i, mb in enumerate(members)], pack)
    return [words.word(words.REASONS, code) for code in refusal.reasons] + list(refusal.details)


@bp.get("/<int:campaign_id>")
@roles_required(*EVERYONE)
def detail(campaign_id: int):
    p = panel()
    campaign = _campaign(campaign_id)
    org = p.store.organisation()
    zone = org.timezone if org else "Asia/Shanghai"
    now = p.clock.now()
    members = list(m.CampaignMember.select().where(m.CampaignMember.campaign == campaign).order_by(m.CampaignMember.id))
    names = {c.phone: c.name for c in m.Contact.select().where(m.Contact.phone.in_([x.phone for x in members]))}
    latest: dict[str, m.Decision] = {}
    for decision in m.Decision.select().where(m.Decision.campaign == campaign).order_by(m.Decision.at):
        latest[decision.phone] = decision
    trend = stats.campaign_trend(campaign, now, zone)
    labels = [format_date(d.day, "M/d") for d in trend]
    trend_chart = charts.line_chart(
        labels,
        [(_("Opt-out rate"), [d.opt_out_rate for d in trend]), (_("Complaint rate"), [d.complaint_rate for d in trend])],
        _("Opt-outs and complaints per answered call, last 14 days"), percent=True,
        empty_text=_("No answered calls in the last 14 days"), label_every=2,
    )
    day_start, day_end = stats.day_bounds(stats.local_day(now, zone), zone)
    outcome_rows = [(words.word(words.OUTCOMES, code), n)
                    for code, n in stats.outcomes(day_start - timedelta(days=365), day_end, campaign)]
    outcome_chart = charts.share_bars(outcome_rows, _("Call outcomes of this campaign"), _("No calls yet"))
    try:
        script_name = load_script(campaign.script).name
    except (ScriptError, OSError):
        script_name = campaign.script
    return render_template("campaigns/detail.html", campaign=campaign, members=members, names=names, latest=latest,
                           progress=stats.campaign_progress(campaign), trend_chart=trend_chart,
                           outcome_chart=outcome_chart, script_name=script_name, action=ActionForm(),
                           pause_form=PauseForm(), can_run=current_user.role in RUNNERS,
                           script_ok=services.script_is_usable(p.data_dir, campaign.script))


@bp.post("/<int:campaign_id>/start")
@roles_required(*RUNNERS)
def start(campaign_id: int):
    p = panel()
    campaign = _campaign(campaign_id)
    ActionForm().validate_on_submit() or abort(400)
    if campaign.status not in ("draft", "paused"):
        flash(_("Only a draft or paused campaign can be started."), "error")
    elif not services.script_is_usable(p.data_dir, campaign.script):
        flash(_("The script of this campaign is not approved (or was changed after approval)."), "error")
    elif campaign.status == "paused" and _rules() is not None:
        rules = _rules()
        try:  # the compliance area's resume also re-queues members turned away only by the pause
            rules.resume(p.store, campaign.name, actor())
        except rules.CampaignError as exc:
            flash(str(exc), "error")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
        flash(_("Campaign resumed."), "ok")
    else:
        with p.store.atomic():
            was = campaign.status
            campaign.status, campaign.paused_reason = "running", ""
            campaign.save()
            audit.append(p.store, actor(), "campaign.start", campaign.name, {"was": was})
        flash(_("Campaign started. The box calls only the people and hours the rules allow."), "ok")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id))


@bp.post("/<int:campaign_id>/pause")
@roles_required(*RUNNERS)
def pause(campaign_id: int):
    p = panel()
    campaign = _campaign(campaign_id)
    form = PauseForm()
    if not form.validate_on_submit():
        flash(_("Say why the campaign is paused."), "error")
    elif campaign.status != "running":
        flash(_("Only a running campaign can be paused."), "error")
    else:
        with p.store.atomic():
            campaign.status, campaign.paused_reason = "paused", form.reason.data.strip()
            campaign.save()
            audit.append(p.store, actor(), "campaign.pause", campaign.name, {"reason": campaign.paused_reason})
        flash(_("Campaign paused. Calls already in progress finish normally."), "ok")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
