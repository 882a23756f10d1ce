"""Compliance commands: check-call, contacts, history, dnc, consent, campaign, script, rules, audit.

Exit status (see ``callbox.cli``): 0 success or allowed; 3 denied, deferred or refused by a rule
(the reason codes are printed); 2 bad input, with every bad row/field named and the fix; 1 only from
``audit verify`` when the log was tampered with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from callbox.cli import EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK, UsageError
from callbox.clock import SystemClock, parse_instant

EXIT_TAMPERED = 1


def _clock(args: argparse.Namespace):
    """The clock for audit timestamps and 'in the future' checks (tests patch this)."""
    return SystemClock()


def _open(args: argparse.Namespace):
    from callbox.store import open_store

    store = open_store(args.data, _clock(args))
    if store.organisation() is None:
        store.close()
        raise UsageError(f"{args.data} is not set up: run `callbox --data {args.data} init ...` first")
    return store


def _pack(args: argparse.Namespace, store):
    from callbox.compliance.rulepack import RulePackError, load_pack

    try:
        return load_pack(store.organisation().rules, args.data)
    except RulePackError as exc:
        raise UsageError(str(exc)) from exc


def _number(args: argparse.Namespace, store, text: str | None = None) -> str:
    from callbox.compliance import numbers

    try:
        return numbers.normalise(text if text is not None else args.number, store.organisation().region)
    except numbers.InvalidNumber as exc:
        raise UsageError(f"NUMBER: {exc}") from exc


def _instant(value: str, option: str):
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise UsageError(f"{option} {value!r}: {exc}; use ISO 8601 with a zone, e.g. 2026-03-02T10:00:00+08:00") from exc


def _purpose(value: str) -> str:
    from callbox.compliance.rulepack import PURPOSES

    if value not in PURPOSES:
        raise UsageError(f"--purpose {value!r} must be one of {', '.join(PURPOSES)}")
    return value


def _medical(store, pack, purpose: str | None) -> bool:
    return store.organisation().industry == "medical" or (purpose in pack.sensitive_purposes if purpose else False)


def _rejected(path: Path, errors, what: str = "imported") -> int:
    print(f"callbox: {path} rejected, nothing {what} ({len(errors)} bad row(s)):", file=sys.stderr)
    for error in errors:
        print(f"  {error}", file=sys.stderr)
    return EXIT_BAD_INPUT


# -- check-call ----------------------------------------------------------------------------------
def cmd_check_call(args: argparse.Namespace) -> int:
    from callbox.compliance.gate import Gate
    from callbox.compliance.permit import PermitAuthority
    from callbox.compliance.rules import evaluate

    purpose = _purpose(args.purpose)
    at = _instant(args.at, "--at") if args.at else None
    store = _open(args)
    try:
        org = store.organisation()
        gate = Gate(store, _pack(args, store), org, store.clock, PermitAuthority(store.clock))
        campaign = None
        if args.campaign:
            from callbox.compliance import campaigns

            try:
                campaign = campaigns.get(args.campaign)
            except campaigns.CampaignError as exc:
                raise UsageError(str(exc)) from exc
        verdict = evaluate(gate.facts(args.number, purpose, at, args.line, campaign), gate.pack)
    finally:
        store.close()
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
    store = _open(args)
    try:
        result = importer(store, args.file)
    finally:
        store.close()
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

    store = _open(args)
    try:
        counts = campaigns.purge(store, args.campaign, actor=args.by)
    except campaigns.CampaignError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        store.close()
    print(f"purged campaign {args.campaign}: {counts['contacts']} contact(s) and {counts['consents']} consent(s) deleted, "
          f"{counts['attempts']} attempt(s) and {counts['decisions']} decision(s) pseudonymised, "
          f"{counts['dnc_hashed']} do-not-call entr(ies) kept as hash only, "
          f"{counts['kept_for_other_campaigns']} contact(s) kept for other unfinished campaigns")
    return EXIT_OK


def cmd_contacts_erase(args: argparse.Namespace) -> int:
    from callbox.store import queries

    store = _open(args)
    try:
        number = _number(args, store)
        counts = queries.erase_numbers(store, [number], args.by, args.reason or "erasure requested by the person",
                                       keep_dnc_hash=True)
    finally:
        store.close()
    print(f"erased {number}: {counts['contacts']} contact, {counts['consents']} consent(s) deleted; "
          "kept only a hash on the do-not-call list so the number is never called again")
    return EXIT_OK


# -- dnc / consent -------------------------------------------------------------------------------
def cmd_dnc_add(args: argparse.Namespace) -> int:
    from callbox.store import queries

    store = _open(args)
    try:
        number = _number(args, store)
        added = queries.add_dnc(store, number, args.source, args.reason or "", actor=args.by)
    finally:
        store.close()
    print(f"{number} {'added to' if added else 'was already on'} the do-not-call list")
    return EXIT_OK


def cmd_dnc_list(args: argparse.Namespace) -> int:
    from callbox.store import queries

    store = _open(args)
    try:
        rows = queries.dnc_entries()
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r['phone'] or '(purged: hash only)':20} {r['source']:15} {r['added_at']}  {r['reason']}")
        print(f"{len(rows)} number(s) on the do-not-call list")
    return EXIT_OK


def cmd_consent_withdraw(args: argparse.Namespace) -> int:
    from callbox.store import queries

    purpose = _purpose(args.purpose) if args.purpose else None
    store = _open(args)
    try:
        number = _number(args, store)
        count = queries.withdraw_consent(store, number, actor=args.by, purpose=purpose, source=args.source)
    finally:
        store.close()
    if count == 0:
        raise UsageError(f"{number} has no active {purpose + ' ' if purpose else ''}consent to withdraw")
    print(f"withdrew {count} consent(s) of {number}")
    return EXIT_OK


# -- campaigns -----------------------------------------------------------------------------------
def cmd_campaign_create(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns

    purpose = _purpose(args.purpose)
    store = _open(args)
    try:
        pack = _pack(args, store)
        try:
            campaign, refusal, errors = campaigns.create(
                store, pack, args.name, purpose, args.script, args.contacts, args.records, actor=args.by,
                medical=_medical(store, pack, purpose),
            )
        except campaigns.CampaignError as exc:
            raise UsageError(str(exc)) from exc
        if errors:
            return _rejected(args.contacts, errors, "created")
        if campaign is None:
            print(f"callbox: campaign {args.name} refused: {', '.join(refusal.reasons)}", file=sys.stderr)
            for detail in refusal.details:
                print(f"  {detail}", file=sys.stderr)
            return EXIT_DENIED
        count = campaign.members.count()
    finally:
        store.close()
    print(f"campaign {args.name} created with {count} member(s); `callbox run` places its calls")
    return EXIT_OK


def cmd_campaign_list(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns
    from callbox.store import models as m

    store = _open(args)
    try:
        rows = [campaigns.summary(c) for c in m.Campaign.select().order_by(m.Campaign.id)]
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return EXIT_OK
    for r in rows:
        members = ", ".join(f"{k} {v}" for k, v in sorted(r["members"].items())) or "no members"
        paused = f" ({r['paused_reason']})" if r["paused_reason"] else ""
        print(f"{r['name']:24} {r['purpose']:10} {r['status']}{paused}  [{members}]")
    return EXIT_OK


def cmd_campaign_pause(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns

    store = _open(args)
    try:
        campaigns.pause(store, args.name, args.by, args.reason or "paused by staff")
    except campaigns.CampaignError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        store.close()
    print(f"campaign {args.name} paused; the gate refuses its calls (campaign_paused) until resumed")
    return EXIT_OK


def cmd_campaign_resume(args: argparse.Namespace) -> int:
    from callbox.compliance import campaigns

    store = _open(args)
    try:
        _, requeued = campaigns.resume(store, args.name, args.by)
    except campaigns.CampaignError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        store.close()
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
    store = None
    try:
        medical = args.medical
        if (Path(args.data) / "callbox.sqlite3").exists():
            store = _open(args)
            pack = load_pack(args.rules, args.data) if args.rules else _pack(args, store)
            medical = medical or _medical(store, pack, purpose)
        else:  # linting works on a workstation without a box: the named (or default) pack
            pack = load_pack(args.rules or "cn")
        try:
            findings = lint_text(path.read_text(encoding="utf-8"), pack, purpose, medical)
        except (ScriptError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: {exc}") from exc
    finally:
        if store is not None:
            store.close()
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
    store = _open(args)
    try:
        pack = _pack(args, store)
        try:
            submitted = scripts.submit(store, path, args.by, pack, medical=_medical(store, pack, None))
        except scripts.LintFailed as exc:
            print(f"callbox: {path} refused: {exc}", file=sys.stderr)
            for finding in exc.findings:
                print(f"  {finding}", file=sys.stderr)
            return EXIT_DENIED
        except (ScriptError, UnicodeDecodeError, scripts.ApprovalError) as exc:
            raise UsageError(f"{path}: {exc}") from exc
        record = submitted.record
    finally:
        store.close()
    state = "submitted" if submitted.new else "was already submitted"
    print(f"script {record.script_id} {state} as {record.id} (sha256 {record.content_hash[:12]}); "
          f"a second person approves it with `callbox script approve {record.id} --by NAME`")
    return EXIT_OK


def cmd_script_approve(args: argparse.Namespace) -> int:
    from callbox.compliance import scripts

    store = _open(args)
    try:
        record = scripts.approve(store, args.id, args.by)
    except scripts.ApprovalError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        store.close()
    print(f"script {record.script_id} ({record.id}) approved by {record.approved_by}; "
          "any edit to the file voids this approval")
    return EXIT_OK


def cmd_script_list(args: argparse.Namespace) -> int:
    from callbox.compliance import scripts

    store = _open(args)
    try:
        rows = scripts.records()
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r['id']:4} {r['script']:24} {r['status']:10} by {r['submitted_by']}"
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
        store = _open(args)
        try:
            with store.atomic():
                audit.append(store, args.by, "rules.install", installed.pack.id,
                             {"version": installed.pack.version, "replaced": installed.replaced_version})
        finally:
            store.close()
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
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r['id']:4} {r['version'] or '-':12} {r['source']:9} {r['name']}")
    return EXIT_OK


# -- audit ---------------------------------------------------------------------------------------
def cmd_audit_verify(args: argparse.Namespace) -> int:
    from callbox.store import audit

    store = _open(args)
    try:
        report = audit.verify(store)
    finally:
        store.close()
    if report.ok:
        note = "" if report.file_checked else f" (no {audit.HEAD_FILE} checkpoint yet)"
        print(f"audit chain intact: {report.entries} entries, head {report.head_hash[:16]}{note}")
        return EXIT_OK
    where = f" at entry {report.first_bad_seq}" if report.first_bad_seq else ""
    print(f"audit chain BROKEN{where}: {report.problem}", file=sys.stderr)
    return EXIT_TAMPERED


def cmd_audit_export(args: argparse.Namespace) -> int:
    from callbox.store import models as m

    since = _instant(args.since, "--since") if args.since else None
    store = _open(args)
    try:
        query = m.AuditEntry.select().order_by(m.AuditEntry.seq)
        if since is not None:
            query = query.where(m.AuditEntry.at >= since)
        for e in query:
            print(json.dumps({"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                              "subject": e.subject, "details": e.details, "prev_hash": e.prev_hash, "hash": e.hash},
                             ensure_ascii=False))
    finally:
        store.close()
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

    p = sub.add_parser("contacts", help="consented contacts: import, purge, erase")
    csub = p.add_subparsers(dest="contacts_command", required=True, metavar="COMMAND")
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

    p = sub.add_parser("history", help="past call attempts: import (so caps hold from day one)")
    hsub = p.add_subparsers(dest="history_command", required=True, metavar="COMMAND")
    q = hsub.add_parser("import", help="import phone,at,outcome rows (all rows or none)")
    q.add_argument("file", type=Path)
    q.set_defaults(func=cmd_history_import)

    p = sub.add_parser("dnc", help="do-not-call list: add, list")
    dsub = p.add_subparsers(dest="dnc_command", required=True, metavar="COMMAND")
    q = dsub.add_parser("add", help="put a number on the do-not-call list for good")
    q.add_argument("number")
    q.add_argument("--reason")
    q.add_argument("--source", choices=["staff", "sms"], default="staff", help="how the request reached you")
    _by(q)
    q.set_defaults(func=cmd_dnc_add)
    q = dsub.add_parser("list", help="show the do-not-call list")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_dnc_list)

    p = sub.add_parser("consent", help="consent records: withdraw")
    ssub = p.add_subparsers(dest="consent_command", required=True, metavar="COMMAND")
    q = ssub.add_parser("withdraw", help="withdraw a number's consents (all, or one --purpose)")
    q.add_argument("number")
    q.add_argument("--purpose")
    q.add_argument("--source", choices=["staff", "sms", "web_form"], default="staff")
    _by(q)
    q.set_defaults(func=cmd_consent_withdraw)

    p = sub.add_parser("campaign", help="campaigns: create, list, pause, resume")
    gsub = p.add_subparsers(dest="campaign_command", required=True, metavar="COMMAND")
    q = gsub.add_parser("create", help="create a campaign from a CSV of consented contacts")
    q.add_argument("name")
    q.add_argument("--purpose", required=True)
    q.add_argument("--script", required=True, help="an approved script file, or a shipped script id")
    q.add_argument("--contacts", required=True, type=Path, help="CSV with a phone column; other columns are script variables")
    q.add_argument("--records", action="store_true", help="ask callees for recording consent")
    _by(q)
    q.set_defaults(func=cmd_campaign_create)
    q = gsub.add_parser("list", help="show campaigns and their members' states")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_campaign_list)
    q = gsub.add_parser("pause", help="pause a campaign (the gate refuses its calls)")
    q.add_argument("name")
    q.add_argument("--reason")
    _by(q)
    q.set_defaults(func=cmd_campaign_pause)
    q = gsub.add_parser("resume", help="resume a paused campaign")
    q.add_argument("name")
    _by(q)
    q.set_defaults(func=cmd_campaign_resume)

    p = sub.add_parser("script", help="call scripts: lint, submit, approve, list")
    tsub = p.add_subparsers(dest="script_command", required=True, metavar="COMMAND")
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
    q = tsub.add_parser("list", help="submitted scripts and their approval")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_script_list)

    p = sub.add_parser("rules", help="rule packs: install a signed pack, show packs in force")
    rsub = p.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    q = rsub.add_parser("install", help="install a vendor-signed rule pack")
    q.add_argument("file", type=Path)
    q.add_argument("--signature", required=True, type=Path, help="Ed25519 signature of FILE (raw or base64)")
    _by(q, "technician")
    q.set_defaults(func=cmd_rules_install)
    q = rsub.add_parser("show", help="list rule packs with version and origin")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_rules_show)

    p = sub.add_parser("audit", help="hash-chained audit log: verify, export")
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    q = asub.add_parser("verify", help="check that no audit entry was edited or deleted (exit 1 if so)")
    q.set_defaults(func=cmd_audit_verify)
    q = asub.add_parser("export", help="print audit entries as JSON lines")
    q.add_argument("--since", help="ISO 8601 instant")
    q.set_defaults(func=cmd_audit_export)
