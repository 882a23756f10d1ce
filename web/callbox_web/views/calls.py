"""Calls: a filterable list and one call's outcome, decision and transcript."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, render_template, request

from callbox.store import models as m
from callbox_web import stats, words
from callbox_web.auth import ADMIN, EVERYONE, REVIEWER, current_user, panel, roles_required
from callbox_web.paging import paginate

bp = Blueprint("calls", __name__, url_prefix="/calls")
LISTENERS = (ADMIN, REVIEWER)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.get("/")
@roles_required(*EVERYONE)
def index():
    p = panel()
    org = p.store.organisation()
    zone = org.timezone if org else "Asia/Shanghai"
    args = request.args
    query = m.Call.select(m.Call, m.Attempt).join(m.Attempt).order_by(m.Call.started_at.desc(), m.Call.id.desc())
    since, until = _date(args.get("from")), _date(args.get("to"))
    if since:
        query = query.where(m.Call.started_at >= stats.day_bounds(since, zone)[0])
    if until:
        query = query.where(m.Call.started_at < stats.day_bounds(until, zone)[1])
    if args.get("outcome"):
        query = query.where(m.Call.outcome == args["outcome"])
    if args.get("campaign", "").isdigit():
        query = query.where(m.Attempt.campaign == int(args["campaign"]))
    if args.get("line"):
        query = query.where(m.Call.line_id == args["line"])
    if args.get("phone"):
        query = query.where(m.Attempt.phone.contains(args["phone"].strip()))
    if args.get("opt_out"):
        query = query.where(m.Call.opt_out == True)  # noqa: E712 - peewee expression
    campaigns = list(m.Campaign.select().order_by(m.Campaign.name))
    lines = sorted({c.line_id for c in m.Call.select(m.Call.line_id).distinct()})
    outcomes = sorted({c.outcome for c in m.Call.select(m.Call.outcome).distinct() if c.outcome})
    return render_template("calls/index.html", page=paginate(query, args.get("page")), campaigns=campaigns,
                           lines=lines, outcomes=outcomes, args=args, OUTCOMES=words.OUTCOMES)


@bp.get("/<int:call_id>")
@roles_required(*EVERYONE)
def detail(call_id: int):
    call = m.Call.get_or_none(m.Call.id == call_id) or abort(404)
    attempt = call.attempt
    decision = m.Decision.get_or_none(m.Decision.attempt == attempt)
    contact = m.Contact.get_or_none(m.Contact.phone == attempt.phone)
    return render_template("calls/detail.html", call=call, attempt=attempt, decision=decision, contact=contact,
                           can_listen=current_user.role in LISTENERS)
