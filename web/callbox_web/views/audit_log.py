"""The audit log: search it, and check that nobody changed or removed an entry (hash chain)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from callbox.store import audit
from callbox.store import models as m
from callbox_web.auth import ADMIN, AUDITOR, panel, roles_required
from callbox_web.paging import paginate

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
@roles_required(ADMIN, AUDITOR)
def index():
    args = request.args
    query = m.AuditEntry.select().order_by(m.AuditEntry.seq.desc())
    for field, column in (("actor", m.AuditEntry.actor), ("action", m.AuditEntry.action),
                          ("subject", m.AuditEntry.subject)):
        if args.get(field, "").strip():
            query = query.where(column.contains(args[field].strip()))
    if args.get("q", "").strip():
        query = query.where(m.AuditEntry.details.contains(args["q"].strip()))
    report = audit.verify(panel().store) if args.get("verify") else None  # read-only: a GET is enough
    return render_template("audit/index.html", page=paginate(query, args.get("page")), args=args, report=report)
