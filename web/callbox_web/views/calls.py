"""Calls: a filterable list and one call's outcome, decision and transcript.

The transcript is sealed on disk like the recording (``.cbt``, see callbox.recordings.transcript), so
the call page shows it locked. Reading it follows the listening flow of the recordings page: the same
roles (admin, reviewer), a purpose and the recording passphrase in a CSRF-protected form, the keys
unlocked in memory for this one request, the access appended to the audit chain *before* the words
are rendered, and nothing decrypted kept after the response.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, render_template, request
from flask_babel import gettext as _

from callbox.store import models as m
from callbox_web import stats, words
from callbox.recordings import transcript as sealed
from callbox.recordings.keystore import KeyStore, KeyStoreError, WrongPassphrase
from callbox.recordings.stream import RecordingError
from callbox.store import audit
from callbox_web.auth import ADMIN, EVERYONE, REVIEWER, actor, current_user, panel, roles_required
from callbox_web.forms import RecordingAccessForm
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


@bp.route("/<int:call_id>", methods=["GET", "POST"])
@roles_required(*EVERYONE)
def detail(call_id: int):
    call = m.Call.get_or_none(m.Call.id == call_id) or abort(404)
    attempt = call.attempt
    decision = m.Decision.get_or_none(m.Decision.attempt == attempt)
    contact = m.Contact.get_or_none(m.Contact.phone == attempt.phone)
    can_listen = current_user.role in LISTENERS
    form = RecordingAccessForm() if can_listen and call.transcript_file else None
    turns = None
    if request.method == "POST":
        if form is None:
            abort(403)
        if form.validate_on_submit():
            turns = _read_transcript(call, form.purpose.data.strip(), form.passphrase.data)
    return render_template("calls/detail.html", call=call, attempt=attempt, decision=decision, contact=contact,
                           can_listen=can_listen, form=form, turns=turns)


def _read_transcript(call: m.Call, purpose: str, passphrase: str) -> list[dict] | None:
    """Unlock, decrypt, audit; the turns live only in this response. ``None`` (with a message) if refused."""
    p = panel()
    name = call.transcript_file
    path = p.data_dir / "recordings" / name
    if "/" in name or not path.is_file():
        flash(_("The transcript cannot be opened: %(why)s", why=name), "error")
        return None
    try:
        with KeyStore.for_data_dir(p.data_dir).unlock(passphrase) as keys:
            result = sealed.read(path, keys)
    except WrongPassphrase:
        audit.append(p.store, actor(), "recording.access_refused", name, {"purpose": purpose, "why": "wrong passphrase"})
        flash(_("The recording passphrase is wrong."), "error")
        return None
    except (KeyStoreError, RecordingError) as exc:
        flash(_("The transcript cannot be opened: %(why)s", why=str(exc)), "error")
        return None
    audit.append(p.store, actor(), "recording.transcript_read", name,
                 {"purpose": purpose, "operator": current_user.username, "call_id": call.id,
                  "turns": len(result.turns)})
    return result.turns
