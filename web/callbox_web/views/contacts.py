"""Contacts and their consent: list, one person's evidence, CSV import (all rows or none), withdrawal."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callbox.clock import parse_instant
from callbox.compliance import numbers
from callbox.compliance.rulepack import load_pack
from callbox.contacts_import import import_contacts, parse_csv
from callbox.store import models as m
from callbox.store import queries
from callbox_web.auth import ADMIN, AUDITOR, REVIEWER, STAFF, actor, current_user, panel, roles_required
from callbox_web.forms import ActionForm, ConsentForm, ImportForm
from callbox_web.paging import paginate

bp = Blueprint("contacts", __name__, url_prefix="/contacts")
READERS = (ADMIN, STAFF, REVIEWER, AUDITOR)
WRITERS = (ADMIN, STAFF)
PREVIEW_MINUTES = 30
SAMPLE = ("phone,name,purposes,consent_at,consent_method,consent_evidence,language\n"
          "13800138000,张三,reminder;follow_up,2026-03-01T09:30:00+08:00,paper_form,FORM-2026-0001,zh\n")


@bp.get("/")
@roles_required(*READERS)
def index():
    q = request.args.get("q", "").strip()
    query = m.Contact.select().order_by(m.Contact.created_at.desc(), m.Contact.id.desc())
    if q:
        query = query.where(m.Contact.phone.contains(q) | m.Contact.name.contains(q))
    page = paginate(query, request.args.get("page"))
    phones = [c.phone for c in page.items]
    dnc = {d.phone for d in m.DoNotCall.select(m.DoNotCall.phone).where(m.DoNotCall.phone.in_(phones))}
    consents: dict[int, list[m.Consent]] = {}
    for consent in m.Consent.select().where(m.Consent.contact.in_([c.id for c in page.items])):
        consents.setdefault(consent.contact_id, []).append(consent)
    return render_template("contacts/index.html", page=page, q=q, dnc=dnc, consents=consents,
                           can_write=current_user.role in WRITERS)


@bp.get("/<int:contact_id>")
@roles_required(*READERS)
def detail(contact_id: int):
    contact = m.Contact.get_or_none(m.Contact.id == contact_id) or abort(404)
    consents = list(m.Consent.select().where(m.Consent.contact == contact).order_by(m.Consent.given_at.desc()))
    decisions = list(m.Decision.select().where(m.Decision.phone == contact.phone).order_by(m.Decision.at.desc()).limit(20))
    calls = list(m.Call.select().join(m.Attempt).where(m.Attempt.phone == contact.phone).order_by(m.Call.started_at.desc()).limit(20))
    return render_template("contacts/detail.html", contact=contact, consents=consents, decisions=decisions, calls=calls,
                           on_dnc=queries.is_dnc(contact.phone), can_write=current_user.role in WRITERS,
                           consent_form=ConsentForm(), action=ActionForm())


@bp.post("/<int:contact_id>/withdraw")
@roles_required(*WRITERS)
def withdraw(contact_id: int):
    contact = m.Contact.get_or_none(m.Contact.id == contact_id) or abort(404)
    count = queries.withdraw_consent(panel().store, contact.phone, actor=actor())
    flash(_("%(n)d consent(s) withdrawn. This person will not be called for those purposes.", n=count), "ok")
    return redirect(url_for("contacts.detail", contact_id=contact.id))


@bp.post("/<int:contact_id>/consent")
@roles_required(*WRITERS)
def add_consent(contact_id: int):
    contact = m.Contact.get_or_none(m.Contact.id == contact_id) or abort(404)
    form = ConsentForm()
    p = panel()
    if form.validate_on_submit():
        try:
            given = parse_instant(form.given_at.data)
        except ValueError:
            flash(_("The date must look like 2026-03-01T09:30+08:00 (with the time zone)."), "error")
        else:
            if given > p.clock.now():
                flash(_("Consent cannot be given in the future."), "error")
            else:
                queries.add_consent(p.store, contact, form.purpose.data, given, form.method.data,
                                    evidence=form.evidence.data, collected_by=current_user.username, actor=actor())
                flash(_("Consent recorded."), "ok")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
    return redirect(url_for("contacts.detail", contact_id=contact.id))


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*WRITERS)
def import_csv():
    """Step 1: upload and check. Nothing is written; the checked text waits in memory for step 2."""
    form = ImportForm()
    p = panel()
    if form.validate_on_submit():
        upload = form.file.data
        filename = _safe_name(upload.filename or "contacts.csv")
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            flash(_("The file is not UTF-8 text. In Excel choose “CSV UTF-8” when saving."), "error")
            return render_template("contacts/import.html", form=form, sample=SAMPLE)
        org = p.store.organisation()
        pack = load_pack(org.rules, p.data_dir)
        result = parse_csv(text, org.region, pack.default_language, p.clock.now())
        token = p.put("import", current_user.username, {"text": text, "filename": filename},
                      PREVIEW_MINUTES * 60) if result.ok else ""
        return render_template("contacts/preview.html", result=result, filename=filename, token=token,
                               action=ActionForm())
    return render_template("contacts/import.html", form=form, sample=SAMPLE)


@bp.post("/import/confirm")
@roles_required(*WRITERS)
def import_confirm():
    """Step 2: write the checked file, whole (``import_contacts`` checks it again in its transaction)."""
    ActionForm().validate_on_submit() or abort(400)
    p = panel()
    token = request.form.get("token", "")
    held = p.get("import", current_user.username, token)
    if held is None:
        flash(_("The preview has expired. Please upload the file again."), "error")
        return redirect(url_for("contacts.import_csv"))
    with tempfile.TemporaryDirectory(dir=p.web_dir) as folder:
        path = Path(folder) / held["filename"]
        path.write_text(held["text"], encoding="utf-8")
        result = import_contacts(p.store, path, actor=actor())
    p.drop(token)
    if not result.ok:
        return render_template("contacts/preview.html", result=result, filename=held["filename"], token="",
                               action=ActionForm())
    flash(_("%(n)d contacts imported.", n=len(result.rows)), "ok")
    return redirect(url_for("contacts.index"))


def _safe_name(name: str) -> str:
    base = re.sub(r"[^\w.\-]+", "_", Path(name).name)[:80] or "contacts.csv"
    return base if base.lower().endswith(".csv") else base + ".csv"


def normalise_or_none(raw: str) -> str | None:
    org = panel().store.organisation()
    try:
        return numbers.normalise(raw, org.region if org else "CN")
    except numbers.InvalidNumber:
        return None
