"""Script approval (four eyes): submit, approve by someone else, and any edit voids the approval.

Approval belongs to a *content hash* (SHA-256 of the file's bytes), not to a file name: editing a
script after approval gives a new hash with no approval, so a campaign refuses it at creation and
the gate refuses its calls (``script_not_approved``) even if the file is edited while it runs.

Scripts shipped inside the firmware package (referenced by id, e.g. ``appointment_reminder``) are
reviewed and approved by the vendor before release, as the rule packs are; they count as approved.
A copy of a shipped script at a path of its own is a user script and needs approval like any other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from callbox.compliance.lint import Finding, lint_text
from callbox.compliance.rulepack import RulePack
from callbox.dialogs.script import ScriptError, parse_script
from callbox.store import audit
from callbox.store.db import Store
from callbox.store.models_compliance import ScriptRecord


class ApprovalError(ValueError):
    """A submit/approve request that cannot be honoured; the message says what to do."""


class LintFailed(ApprovalError):
    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(f"the script has {len(findings)} lint finding(s); fix them and submit again")
        self.findings = findings


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shipped_text(ref: str) -> str | None:
    """The text of shipped script ``ref`` (an id, not a path), or None if ``ref`` is not one."""
    if Path(ref).suffix == ".toml" or "/" in ref:
        return None
    resource = resources.files("callbox.dialogs") / "scripts" / f"{ref}.toml"
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def resolve(ref: str) -> tuple[str, bytes | None]:
    """(kind, bytes): kind 'shipped' or 'file'; bytes None when a file reference does not exist."""
    text = shipped_text(ref)
    if text is not None:
        return "shipped", text.encode()
    path = Path(ref)
    return "file", path.read_bytes() if path.is_file() else None


def approval_for(ref: str) -> ScriptRecord | None:
    kind, data = resolve(ref)
    if kind != "file" or data is None:
        return None
    return (
        ScriptRecord.select()
        .where((ScriptRecord.content_hash == content_hash(data)) & ScriptRecord.approved_at.is_null(False))
        .first()
    )


def is_approved(ref: str) -> bool:
    """True for shipped scripts and for files whose *current* content was approved."""
    kind, data = resolve(ref)
    if kind == "shipped":
        return True
    return data is not None and approval_for(ref) is not None


@dataclass(frozen=True)
class Submitted:
    record: ScriptRecord
    new: bool


def submit(store: Store, path: Path, by: str, pack: RulePack, medical: bool = False) -> Submitted:
    """Record ``path``'s current content for approval after it lints clean."""
    by = by.strip()
    if not by:
        raise ApprovalError("--by is empty: name the person submitting the script")
    data = path.read_bytes()
    text = data.decode("utf-8")
    findings = lint_text(text, pack, medical=medical)  # raises ScriptError on a malformed script
    if findings:
        raise LintFailed(findings)
    script = parse_script(text)
    digest = content_hash(data)
    existing = ScriptRecord.get_or_none(ScriptRecord.content_hash == digest)
    if existing is not None:
        return Submitted(existing, False)
    with store.atomic():
        record = ScriptRecord.create(
            script_id=script.id, path=str(path.resolve()), content_hash=digest, text=text, purpose=script.purpose,
            submitted_by=by, submitted_at=store.clock.now(),
        )
        audit.append(store, by, "script.submit", script.id, {"record": record.id, "sha256": digest,
                                                               "path": str(path.resolve())})
    return Submitted(record, True)


def approve(store: Store, record_id: int, by: str) -> ScriptRecord:
    """Approve submission ``record_id``: the reviewer must differ from the submitter, and the file
    must still hold the submitted content (otherwise the reviewer would approve something else)."""
    by = by.strip()
    record = ScriptRecord.get_or_none(ScriptRecord.id == record_id)
    if record is None:
        raise ApprovalError(f"no submitted script with id {record_id}; see `callbox script list`")
    if not by:
        raise ApprovalError("--by is empty: name the reviewer")
    if by.casefold() == record.submitted_by.casefold():
        raise ApprovalError(f"{by} submitted this script; a different person must approve it (four eyes)")
    if record.approved_at is not None:
        raise ApprovalError(f"script {record_id} was already approved by {record.approved_by}")
    path = Path(record.path)
    current = path.read_bytes() if path.is_file() else None
    if current is None or content_hash(current) != record.content_hash:
        raise ApprovalError(
            f"{record.path} changed (or is gone) since it was submitted as {record_id}; submit the current version"
        )
    with store.atomic():
        record.approved_by, record.approved_at = by, store.clock.now()
        record.save()
        audit.append(store, by, "script.approve", record.script_id, {"record": record.id, "sha256": record.content_hash,
                                                                     "submitted_by": record.submitted_by})
    return record


def records() -> list[dict]:
    out = []
    for r in ScriptRecord.select().order_by(ScriptRecord.id):
        status = "approved" if r.approved_at else "submitted"
        path = Path(r.path)
        if path.is_file() and content_hash(path.read_bytes()) != r.content_hash:
            status += " (file edited since: approval does not apply)"
        out.append({"id": r.id, "script": r.script_id, "path": r.path, "sha256": r.content_hash[:12],
                    "submitted_by": r.submitted_by, "approved_by": r.approved_by, "status": status})
    return out


__all__ = ["ApprovalError", "LintFailed", "ScriptError", "approve", "approval_for", "content_hash", "is_approved",
           "records", "resolve", "shipped_text", "submit"]
