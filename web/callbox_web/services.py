"""The panel's one door to script checking and script approval.

Why an adapter: the compliance area is building ``callbox.compliance.lint`` (content rules) and its
script approval (``callbox.compliance.scripts``: four eyes, approval bound to the file's content hash,
checked by the gate before every call). Views call only the functions here. When those modules are
importable they are used; without them structure is checked with ``parse_script`` and approvals
live only in the panel's ``PanelScript`` table. Drafts (text being edited, review notes, rejections)
always live in ``PanelScript``; each submitted version is written to its own file under
``<data>/scripts/``.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l

from callbox.dialogs.script import Script, ScriptError, parse_script
from callbox.store import audit
from callbox.store.db import Store
from callbox.store.models_panel import PanelScript

SCRIPT_ID = re.compile(r"^[a-z][a-z0-9_]{1,47}$")


@dataclass(frozen=True)
class Finding:
    """One lint result: ``level`` is "error" (blocks submission) or "warning"."""

    level: str
    message: str
    where: str = ""


def _compliance(name: str) -> Any | None:
    """``callbox.compliance.<name>`` when that module exists in this firmware, else None."""
    try:
        return importlib.import_module(f"callbox.compliance.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"callbox.compliance.{name}":
            return None
        raise


def _normalise(item: Any) -> Finding:
    """Accept whatever shape the compliance linter returns (its Finding, dicts or strings)."""
    if isinstance(item, Finding):
        return item
    if isinstance(item, str):
        return Finding("error", item)
    get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
    level = str(get("level", None) or get("severity", None) or "error").lower()
    level = "warning" if level.startswith("warn") or level == "info" else "error"
    message = str(get("message", None) or get("detail", None) or item)
    rule, phrase = get("rule", None), get("phrase", None)
    if rule:
        message = f"{rule}" + (f" “{phrase}”" if phrase else "") + f": {message}"
    where = str(get("step", None) or get("where", None) or "")
    if get("language", None):
        where = f"{where} [{get('language', None)}]"
    return Finding(level, message, where)


def lint(text: str, pack: Any = None, purpose: str | None = None) -> tuple[Script | None, list[Finding]]:
    """Check a script. Structure first (nothing else can be judged without it), then content rules."""
    text = normalise_text(text)
    try:
        script = parse_script(text)
    except ScriptError as exc:
        return None, [Finding("error", str(exc))]
    findings: list[Finding] = []
    if not SCRIPT_ID.match(script.id):
        findings.append(Finding("error", str(_l("The id must be 2-48 lower-case letters, digits or _, starting with a letter."))))
    module = _compliance("lint")
    if module is not None and pack is not None:
        try:
            raw = module.lint_text(text, pack, purpose=purpose)
        except ScriptError as exc:
            return None, [Finding("error", str(exc))]
        findings.extend(_normalise(item) for item in raw)
    return script, findings


def normalise_text(text: str) -> str:
    """Browsers send textarea lines with CRLF; store LF so the approved bytes are what was reviewed."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def lint_available() -> bool:
    """True when content rules (absolute claims, sensitive words) are checked, not only structure."""
    return _compliance("lint") is not None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shipped_scripts() -> list[Script]:
    """Scripts that ship with the firmware (reviewed with the firmware; usable without approval)."""
    folder = resources.files("callbox.dialogs") / "scripts"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            try:
                found.append(parse_script(entry.read_text(encoding="utf-8")))
            except ScriptError:
                continue
    return found


def scripts_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "scripts"


def version_path(data_dir: Path, row: PanelScript) -> Path:
    """The file a submitted version lives in: one file per content, never overwritten, so a campaign
    running an approved version keeps it while the next version waits for review."""
    return (scripts_dir(data_dir) / f"{row.script_id}-{sha256(row.text)[:12]}.toml").resolve()


def save_draft(store: Store, user: str, text: str, existing: PanelScript | None = None) -> tuple[PanelScript | None, list[Finding]]:
    """Save a script as a draft (any edit withdraws an earlier submission). Refuses unparseable text."""
    text = normalise_text(text)
    script, findings = lint(text)
    if script is None or not SCRIPT_ID.match(script.id):
        return None, findings
    if existing is not None and script.id != existing.script_id:
        return None, [Finding("error", str(_l("The id of a saved script cannot change; write a new script instead.")))]
    if any(s.id == script.id for s in shipped_scripts()):
        return None, [Finding("error", str(_l("This id belongs to a script that ships with the box; choose another id.")))]
    now = store.clock.now()
    with store.atomic():
        row = existing or PanelScript.get_or_none(PanelScript.script_id == script.id)
        if row is None:
            row = PanelScript(script_id=script.id, author=user)
        changed = row.text != text if row.id else True
        row.name, row.purpose, row.text, row.updated_at = script.name, script.purpose, text, now
        if changed and row.status != "draft":
            row.status, row.approved_sha256, row.submitted_at = "draft", "", None
        row.save()
        audit.append(store, f"web:{user}", "script.save", script.id, {"sha256": sha256(text)})
    return row, findings


def submit(store: Store, data_dir: Path, user: str, row: PanelScript, pack: Any) -> list[Finding]:
    """Ask for review: write the version file and register it. Refused while lint reports errors."""
    _, findings = lint(row.text, pack)
    if any(f.level == "error" for f in findings):
        return findings
    path = version_path(data_dir, row)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(row.text, encoding="utf-8")
    module = _compliance("scripts")
    with store.atomic():
        if module is not None:
            try:
                module.submit(store, path, f"web:{user}", pack)
            except module.LintFailed as exc:
                return [_normalise(f) for f in exc.findings]
        else:
            audit.append(store, f"web:{user}", "script.submit", row.script_id, {"sha256": sha256(row.text)})
        row.status, row.submitted_at = "submitted", store.clock.now()
        row.reviewer, row.review_note = "", ""
        row.save()
    return findings


class ReviewRefused(ValueError):
    """The review cannot be recorded; the message is shown to the reviewer."""


def review(store: Store, data_dir: Path, reviewer: str, row: PanelScript, approve: bool, note: str) -> None:
    """Approve or reject a submitted script. The author can never review their own script.

    Approval goes through ``callbox.compliance.scripts`` when present (it ties the approval to the
    version file's content hash, which the gate checks before every call).
    """
    if row.status != "submitted":
        raise ReviewRefused(_l("Only a script waiting for review can be approved or rejected."))
    if reviewer.casefold() == row.author.casefold():
        raise ReviewRefused(_l("A second person must review: the author cannot approve or reject their own script."))
    if not approve and not note.strip():
        raise ReviewRefused(_l("Say why the script is rejected, so the author can fix it."))
    module = _compliance("scripts")
    path = version_path(data_dir, row)
    with store.atomic():
        if approve and module is not None:
            from callbox.store.models_compliance import ScriptRecord

            record = (ScriptRecord.select().where(ScriptRecord.content_hash == sha256(row.text))
                      .order_by(ScriptRecord.id.desc()).first())
            if record is None:
                raise ReviewRefused(_l("This version was never submitted; ask the author to submit it again."))
            try:
                module.approve(store, record.id, f"web:{reviewer}")
            except module.ApprovalError as exc:
                raise ReviewRefused(str(exc)) from exc
        else:
            audit.append(store, f"web:{reviewer}", "script.approve" if approve else "script.reject", row.script_id,
                         {"sha256": sha256(row.text), "note": note.strip(), "author": row.author})
        row.status = "approved" if approve else "rejected"
        row.reviewer, row.reviewed_at, row.review_note = reviewer, store.clock.now(), note.strip()
        row.approved_sha256 = sha256(row.text) if approve else ""
        row.save()
    if approve and not path.exists():
        path.write_text(row.text, encoding="utf-8")


def script_is_usable(data_dir: Path, value: str) -> bool:
    """May a campaign run this script now? (shipped, or a file whose current content was approved)"""
    module = _compliance("scripts")
    if module is not None:
        return bool(module.is_approved(value))
    if any(value == s.id for s in shipped_scripts()):
        return True
    path = Path(value)
    if not path.is_file():
        return False
    digest = sha256(path.read_text(encoding="utf-8"))
    return PanelScript.select().where((PanelScript.approved_sha256 == digest) & (PanelScript.status == "approved")).exists()


def usable_scripts(data_dir: Path) -> list[tuple[str, str, str]]:
    """(value for Campaign.script, label, purpose) of every script a campaign may use right now."""
    options = [(s.id, f"{s.name} ({s.id})", s.purpose) for s in shipped_scripts()]
    for row in PanelScript.select().where(PanelScript.status == "approved").order_by(PanelScript.script_id):
        path = version_path(data_dir, row)
        if script_is_usable(data_dir, str(path)):
            options.append((str(path), f"{row.name} ({row.script_id})", row.purpose))
    return options
