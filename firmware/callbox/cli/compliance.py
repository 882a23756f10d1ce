"""Compliance commands: check-call, contacts, history, dnc, consent, campaign, script, rules, audit.

Exit status (see ``callbox.cli``): 0 success or allowed; 3 denied, deferred or refused by a rule
(the reason codes are printed); 2 bad input, with every bad row/field named and the fix; 1 only from
``audit verify`` when the log was tampered with.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack, closing
from pathlib import Path

from callbox.cli import EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK, UsageError
from callbox.cli.common import emit, group, instant, list_command, open_box, refused
from callbox.clock import SystemClock

EXIT_TAMPERED = 1


def _clock(args: argparse.Namespace):
    """The clock for audit timestamps and 'in the future' checks (tests patch this)."""
    return SystemClock()


def _box(args: argparse.Namespace) -> closing:
    """``with _box(args) as store:`` the box's store for one command, closed when the block ends."""
    return closing(open_box(args.data, _clock(args)))


def _pack(args: argparse.Namespace, store):
    from callbox.compliance.rulepack import RulePackError, load_pack

    with refused(RulePackError):
        return load_pack(store.organisation().rules, args.data)


def _number(args: argparse.Namespace, store, text: str | None = None) -> str:
    from callbox.compliance import numbers

    try:
        return numbers.normalise(text if text is not None else args.number, store.organisation().region)
    except numbers.InvalidNumber as exc:
        raise UsageError(f"NUMBER: {exc}") from exc


def _purpose(value: str) -> str:
    from callbox.compliance.rulepack import PURPOSES

    if value not in PURPOSES:
        raise UsageError(f"--purpose {value!r} must be one of {', '.join(PURPOSES)}")
    return value


def _medical(store, pack, purpose: str | None) -> bool:
    return store.organisation().industry == "medical" or (purpose in pack.sensitive_purposes if purpose else False)


def _complain(headline: str, details) -> None:
    """On stderr: ``callbox: headline``, then each detail indented."""
    print(f"callbox: {headline}", file=sys.stderr)
    for detail in details:
        print(f"  {detail}", file=sys.stderr)


def _rejected(path: Path, errors, what: str = "imported") -> int:
    _complain(f"{path} rejected, nothing {what} ({len(errors)} bad row(s)):", errors)
    return EXIT_BAD_INPUT


# -- check-call ----------------------------------------------------------------------------------
def cmd_check_call(args: argparse.Namespace) -> int:
    from callbox.compliance.gate import Gate
    from callbox.compliance.permit import PermitAuthority
    from callbox.compliance.rules import evaluate

    purpose = _purpose(args.purpose)
    at = instant(args.at, "--at") if args.at else None
    with _box(args) as store:
        org = store.organisation()
        gate = Gate(store, _pack(args, store), org, store.clock, PermitAuthority(store.clock))
        campaign = None
        if args.campaign:
            from callbox.compliance import campaigns

            with refused(campaigns.CampaignError):
                campaign = campaigns.get(args.campaign)
        verdict = evaluate(gate.facts(args.number, purpose, at, args.line, campaign), gate.pack)
    if args.json:
        print(json.dumps(verdict.as_json()))
    else:
        print(f"{verdict.decision}: {', '.join(verdict.reasons) or 'every rule passed'}"
              + (f"; next allowed at {verdict.next_allowed_at.isoformat()}" if verdict.next_allowed_at else ""))
        for check in verdict.checks:
            print(f"  {'ok ' if check.passed else 'NO '} {check.rule:16} {check.detail}")
    return EXIT_OK if verdict.allowed else EXIT_DENIED


# -- contacts / history --------------------------------------------------------------------------
def _import_file(args: argparse.Namespace, importer, done: str) -> int:
    """Run one all-or-nothing CSV importer; print every bad row, or what was imported."""
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    with _box(args) as store:
        result = importer(store, args.file)
    if not result.ok:
        return _rejected(args.file, result.errors)
    print(f"imported {len(result.rows)} {done} from {args.file}")
    for note in result.notes:
        print(f"note: {note}")
    return EXIT_OK


def cmd_contacts_import(args: argparse.Namespace) -> int:
    from callbox.contacts_import import import_contacts

    return _import_file(args, import_contacts, "contact(s)")


def cmd_history_import(args: argparse.Namespace) -> int:
    from callbox.contacts_import import import_history

    return _import_file(args, import_history, "past attempt(s); frequency caps count them")


def cmd_contacts_purge(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns

    with _box(args) as store, refused(campaigns.CampaignError):
        counts = campaigns.purge(store, args.campaign, actor=args.by)
    print(f"purged campaign {args.campaign}: {counts['contacts']} contact(s) and {counts['consents']} consent(s) deleted, "
          f"{counts['attempts']} attempt(s) and {counts['decisions']} decision(s) pseudonymised, "
          f"{counts['dnc_hashed']} do-not-call entr(ies) kept as hash only, "
          f"{counts['kept_for_other_campaigns']} contact(s) kept for other unfinished campaigns")
    return EXIT_OK


def cmd_contacts_erase(args: argparse.Namespace) -> int:
    from callbox.store import queries

    with _box(args) as store:
        number = _number(args, store)
        counts = queries.erase_numbers(store, [number], args.by, args.reason or "erasure requested by the person",
                                       keep_dnc_hash=True)
    print(f"erased {number}: {counts['contacts']} contact, {counts['consents']} consent(s) deleted; "
          "kept only a hash on the do-not-call list so the number is never called again")
    return EXIT_OK


# -- dnc / consent -------------------------------------------------------------------------------
def cmd_dnc_add(args: argparse.Namespace) -> int:
    from callbox.store import queries

    with _box(args) as store:
        number = _number(args, store)
        added = queries.add_dnc(store, number, args.source, args.reason or "", actor=args.by)
    print(f"{number} {'added to' if added else 'was already on'} the do-not-call list")
    return EXIT_OK


def cmd_dnc_list(args: argparse.Namespace) -> int:
    from callbox.store import queries

    with _box(args):
        rows = queries.dnc_entries()
    emit(rows, args.json, lambda r: f"{r['phone'] or '(purged: hash only)':20} {r['source']:15} {r['added_at']}  {r['reason']}",
         footer=f"{len(rows)} number(s) on the do-not-call list")
    return EXIT_OK


def cmd_consent_withdraw(args: argparse.Namespace) -> int:
    from callbox.store import queries

    purpose = _purpose(args.purpose) if args.purpose else None
    with _box(args) as store:
        number = _number(args, store)
        count = queries.withdraw_consent(store, number, actor=args.by, purpose=purpose, source=args.source)
    if count == 0:
        raise UsageError(f"{number} has no active {purpose + ' ' if purpose else ''}consent to withdraw")
    print(f"withdrew {count} consent(s) of {number}")
    return EXIT_OK


# -- campaigns -----------------------------------------------------------------------------------
def cmd_campaign_create(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns

    purpose = _purpose(args.purpose)
    with _box(args) as store:
        pack = _pack(args, store)
        with refused(campaigns.CampaignError):
            campaign, refusal, errors = campaigns.create(
                store, pack, args.name, purpose, args.script, args.contacts, args.records, actor=args.by,
                medical=_medical(store, pack, purpose),
            )
        if errors:
            return _rejected(args.contacts, errors, "created")
        if campaign is None:
            _complain(f"campaign {args.name} refused: {', '.join(refusal.reasons)}", refusal.details)
            return EXIT_DENIED
        count = campaign.members.count()
    print(f"campaign {args.name} created with {count} member(s); `callbox run` places its calls")
    return EXIT_OK


def cmd_campaign_list(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns
    from callbox.store import models as m

    with _box(args):
        rows = [campaigns.summary(c) for c in m.Campaign.select().order_by(m.Campaign.id)]
    emit(rows, args.json, _campaign_line)
    return EXIT_OK


def _campaign_line(r: dict) -> str:
    members = ", ".join(f"{k} {v}" for k, v in sorted(r["members"].items())) or "no members"
    paused = f" ({r['paused_reason']})" if r["paused_reason"] else ""
    return f"{r['name']:24} {r['purpose']:10} {r['status']}{paused}  [{members}]"


def cmd_campaign_pause(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns

    with _box(args) as store, refused(campaigns.CampaignError):
        campaigns.pause(store, args.name, args.by, args.reason or "paused by staff")
    print(f"campaign {args.name} paused; the gate refuses its calls (campaign_paused) until resumed")
    return EXIT_OK


def cmd_campaign_resume(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns

    with _box(args) as store, refused(campaigns.CampaignError):
        _, requeued = campaigns.resume(store, args.name, args.by)
    print(f"campaign {args.name} running again; {requeued} member(s) queued again")
    return EXIT_OK


# -- scripts -------------------------------------------------------------------------------------
def _script_path(path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    return path


def cmd_script_lint(args: argparse.Namespace) -> int:
    from callbox.compliance.lint import lint_text
    from callbox.compliance.rulepack import load_pack
    from callbox.dialogs.script import ScriptError

    path = _script_path(args.file)
    purpose = _purpose(args.purpose) if args.purpose else None
    with ExitStack() as stack:
        medical = args.medical
        if (Path(args.data) / "callbox.sqlite3").exists():
            store = stack.enter_context(_box(args))
            pack = load_pack(args.rules, args.data) if args.rules else _pack(args, store)
            medical = medical or _medical(store, pack, purpose)
        else:  # linting works on a workstation without a box: the named (or default) pack
            pack = load_pack(args.rules or "cn")
        try:
            findings = lint_text(path.read_text(encoding="utf-8"), pack, purpose, medical)
        except (ScriptError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: {exc}") from exc
    if args.json:
        print(json.dumps({"ok": not findings, "findings": [f.as_json() for f in findings]}, ensure_ascii=False))
    elif findings:
        print(f"{path}: refused, {len(findings)} finding(s) (pack {pack.id}):")
        for finding in findings:
            print(f"  {finding}")
    else:
        print(f"{path}: clean (pack {pack.id})")
    return EXIT_DENIED if findings else EXIT_OK


def cmd_script_submit(args: argparse.Namespace) -> int:
    from callbox.compliance import scripts
    from callbox.dialogs.script import ScriptError

    path = _script_path(args.file)
    with _box(args) as store:
        pack = _pack(args, store)
        try:
            submitted = scripts.submit(store, path, args.by, pack, medical=_medical(store, pack, None))
        except scripts.LintFailed as exc:
            _complain(f"{path} refused: {exc}", exc.findings)
            return EXIT_DENIED
        except (ScriptError, UnicodeDecodeError, scripts.ApprovalError) as exc:
            raise UsageError(f"{path}: {exc}") from exc
        record = submitted.record
    state = "submitted" if submitted.new else "was already submitted"
    print(f"script {record.script_id} {state} as {record.id} (sha256 {record.content_hash[:12]}); "
          f"a second person approves it with `callbox script approve {record.id} --by NAME`")
    return EXIT_OK


def cmd_script_approve(args: argparse.Namespace) -> int:
    from callbox.compliance import scripts

    with _box(args) as store, refused(scripts.ApprovalError):
        record = scripts.approve(store, args.id, args.by)
    print(f"script {record.script_id} ({record.id}) approved by {record.approved_by}; "
          "any edit to the file voids this approval")
    return EXIT_OK


def cmd_script_list(args: argparse.Namespace) -> int:
    from callbox.compliance import scripts

    with _box(args):
        rows = scripts.records()
    emit(rows, args.json, lambda r: f"{r['id']:4} {r['script']:24} {r['status']:10} by {r['submitted_by']}"
                                    f"{' / ' + r['approved_by'] if r['approved_by'] else ''}  {r['path']}")
    return EXIT_OK


# -- rules ---------------------------------------------------------------------------------------
def cmd_rules_install(args: argparse.Namespace) -> int:
    from callbox.compliance import signing
    from callbox.store import audit

    for path, option in ((args.file, "FILE"), (args.signature, "--signature")):
        if not path.is_file():
            raise UsageError(f"{option} {path}: no such file")
    try:
        installed = signing.install(args.data, args.file.read_bytes(), args.signature.read_bytes())
    except signing.SignatureError as exc:
        raise UsageError(f"{args.file} refused: {exc}") from exc
    if (Path(args.data) / "callbox.sqlite3").exists():
        with _box(args) as store, store.atomic():
            audit.append(store, args.by, "rules.install", installed.pack.id,
                         {"version": installed.pack.version, "replaced": installed.replaced_version})
    print(f"installed rule pack {installed.pack.id} {installed.pack.version} "
          f"(was {installed.replaced_version or 'none'}) into {installed.path}; restart `callbox run` to apply it")
    return EXIT_OK


def cmd_rules_show(args: argparse.Namespace) -> int:
    from callbox.compliance.rulepack import RulePackError, load_pack, shipped_pack_ids

    rows = []
    for pack_id in shipped_pack_ids():
        installed = (Path(args.data) / "rules" / f"{pack_id}.toml").exists()
        try:
            pack = load_pack(pack_id, args.data)
            rows.append({"id": pack.id, "version": pack.version, "source": "installed" if installed else "shipped",
                         "name": pack.name})
        except RulePackError as exc:
            rows.append({"id": pack_id, "version": None, "source": "broken", "name": str(exc)})
    emit(rows, args.json, lambda r: f"{r['id']:4} {r['version'] or '-':12} {r['source']:9} {r['name']}")
    return EXIT_OK


# -- audit ---------------------------------------------------------------------------------------
def cmd_audit_verify(args: argparse.Namespace) -> int:
    from callbox.store import audit

    with _box(args) as store:
        report = audit.verify(store)
    if report.ok:
        note = "" if report.file_checked else f" (no {audit.HEAD_FILE} checkpoint yet)"
        print(f"audit chain intact: {report.entries} entries, head {report.head_hash[:16]}{note}")
        return EXIT_OK
    where = f" at entry {report.first_bad_seq}" if report.first_bad_seq else ""
    print(f"audit chain BROKEN{where}: {report.problem}", file=sys.stderr)
    return EXIT_TAMPERED


def cmd_audit_export(args: argparse.Namespace) -> int:
    from callbox.store import models as m

    since = instant(args.since, "--since") if args.since else None
    with _box(args):
        query = m.AuditEntry.select().order_by(m.AuditEntry.seq)
        if since is not None:
            query = query.where(m.AuditEntry.at >= since)
        for e in query:
            print(json.dumps({"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                              "subject": e.subject, "details": e.details, "prev_hash": e.prev_hash, "hash": e.hash},
                             ensure_ascii=False))
    return EXIT_OK


# -- registration --------------------------------------------------------------------------------
def _by(parser: argparse.ArgumentParser, default: str = "staff") -> None:
    parser.add_argument("--by", default=default, help=f"who does this (recorded in the audit log; default {default})")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-call", help="would this call be allowed? (changes nothing)")
    p.add_argument("number")
    p.add_argument("--purpose", required=True)
    p.add_argument("--at", help="ISO 8601 instant to evaluate at (default now)")
    p.add_argument("--line", choices=["sip", "gsm"], default="sip")
    p.add_argument("--campaign", help="also check the campaign's state (paused, script approval)")
    p.add_argument("--json", action="store_true", help='print {"allowed","decision","reasons","next_allowed_at"}')
    p.set_defaults(func=cmd_check_call)

    csub = group(sub, "contacts", "consented contacts: import, purge, erase")
    q = csub.add_parser("import", help="import a CSV of consented contacts (all rows or none)")
    q.add_argument("file", type=Path)
    q.set_defaults(func=cmd_contacts_import)
    q = csub.add_parser("purge", help="the task ended: delete the personal data of a campaign's contacts")
    q.add_argument("--campaign", required=True)
    _by(q)
    q.set_defaults(func=cmd_contacts_purge)
    q = csub.add_parser("erase", help="erase one person's data on request (keeps a do-not-call hash)")
    q.add_argument("number")
    q.add_argument("--reason")
    _by(q)
    q.set_defaults(func=cmd_contacts_erase)

    hsub = group(sub, "history", "past call attempts: import (so caps hold from day one)")
    q = hsub.add_parser("import", help="import phone,at,outcome rows (all rows or none)")
    q.add_argument("file", type=Path)
    q.set_defaults(func=cmd_history_import)

    dsub = group(sub, "dnc", "do-not-call list: add, list")
    q = dsub.add_parser("add", help="put a number on the do-not-call list for good")
    q.add_argument("number")
    q.add_argument("--reason")
    q.add_argument("--source", choices=["staff", "sms"], default="staff", help="how the request reached you")
    _by(q)
    q.set_defaults(func=cmd_dnc_add)
    list_command(dsub, "list", "show the do-not-call list", cmd_dnc_list)

    ssub = group(sub, "consent", "consent records: withdraw")
    q = ssub.add_parser("withdraw", help="withdraw a number's consents (all, or one --purpose)")
    q.add_argument("number")
    q.add_argument("--purpose")
    q.add_argument("--source", choices=["staff", "sms", "web_form"], default="staff")
    _by(q)
    q.set_defaults(func=cmd_consent_withdraw)

    gsub = group(sub, "campaign", "campaigns: create, list, pause, resume")
    q = gsub.add_parser("create", help="create a campaign from a CSV of consented contacts")
    q.add_argument("name")
    q.add_argument("--purpose", required=True)
    q.add_argument("--script", required=True, help="an approved script file, or a shipped script id")
    q.add_argument("--contacts", required=True, type=Path, help="CSV with a phone column; other columns are script variables")
    q.add_argument("--records", action="store_true", help="ask callees for recording consent")
    _by(q)
    q.set_defaults(func=cmd_campaign_create)
    list_command(gsub, "list", "show campaigns and their members' states", cmd_campaign_list)
    q = gsub.add_parser("pause", help="pause a campaign (the gate refuses its calls)")
    q.add_argument("name")
    q.add_argument("--reason")
    _by(q)
    q.set_defaults(func=cmd_campaign_pause)
    q = gsub.add_parser("resume", help="resume a paused campaign")
    q.add_argument("name")
    _by(q)
    q.set_defaults(func=cmd_campaign_resume)

    tsub = group(sub, "script", "call scripts: lint, submit, approve, list")
    q = tsub.add_parser("lint", help="check a script against the rule pack's phrase library")
    q.add_argument("file", type=Path)
    q.add_argument("--purpose", help="the campaign purpose the script is meant for")
    q.add_argument("--rules", choices=["cn", "us", "eu"], help="pack to lint against (default: the box's)")
    q.add_argument("--medical", action="store_true", help="also refuse medical claims")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_script_lint)
    q = tsub.add_parser("submit", help="submit a script for approval (it must lint clean)")
    q.add_argument("file", type=Path)
    q.add_argument("--by", required=True, help="who submits it")
    q.set_defaults(func=cmd_script_submit)
    q = tsub.add_parser("approve", help="approve a submitted script (not by its submitter)")
    q.add_argument("id", type=int)
    q.add_argument("--by", required=True, help="the reviewer (must differ from the submitter)")
    q.set_defaults(func=cmd_script_approve)
    list_command(tsub, "list", "submitted scripts and their approval", cmd_script_list)

    rsub = group(sub, "rules", "rule packs: install a signed pack, show packs in force")
    q = rsub.add_parser("install", help="install a vendor-signed rule pack")
    q.add_argument("file", type=Path)
    q.add_argument("--signature", required=True, type=Path, help="Ed25519 signature of FILE (raw or base64)")
    _by(q, "technician")
    q.set_defaults(func=cmd_rules_install)
    list_command(rsub, "show", "list rule packs with version and origin", cmd_rules_show)

    asub = group(sub, "audit", "hash-chained audit log: verify, export")
    q = asub.add_parser("verify", help="check that no audit entry was edited or deleted (exit 1 if so)")
    q.set_defaults(func=cmd_audit_verify)
    q = asub.add_parser("export", help="print audit entries as JSON lines")
    q.add_argument("--since", help="ISO 8601 instant")
    q.set_defaults(func=cmd_audit_export)
