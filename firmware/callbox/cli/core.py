"""Core commands: init, demo, run, check-call, contacts, dnc, consent, audit."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from callbox.cli import EXIT_BAD_INPUT, EXIT_DENIED, EXIT_OK, UsageError
from callbox.clock import SystemClock, parse_instant


def _clock(args: argparse.Namespace):
    return SystemClock()


def _open(args: argparse.Namespace):
    from callbox.store import open_store

    store = open_store(args.data, _clock(args))
    if store.organisation() is None:
        store.close()
        raise UsageError(f"{args.data} is not set up: run `callbox --data {args.data} init ...` first")
    return store


# -- init ----------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from callbox.provision import ProvisionError, init_box

    try:
        store = init_box(args.data, _clock(args), args.rules, args.org_name, args.callback_number, args.timezone,
                         args.industry, args.org_name_en or "")
    except ProvisionError as exc:
        raise UsageError(str(exc)) from exc
    org = store.organisation()
    print(f"initialised {args.data}: {org.name}, rules {org.rules}, callback {org.callback_number}, zone {org.timezone}")
    print(f"next: `callbox --data {args.data} keys init` (recording key), edit {args.data}/lines.toml, "
          f"`callbox --data {args.data} contacts import FILE.csv`")
    store.close()
    return EXIT_OK


# -- demo ----------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from callbox.demo import run_demo

    start = parse_instant(args.at) if args.at else None
    run_demo(args.data, start, args.summary_json)
    return EXIT_OK


# -- run -----------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    """The daemon: start the configured lines and work through running campaigns until stopped."""
    import logging

    from callbox.daemon import CallBox
    from callbox.provision import ProvisionError, read_lines
    from callbox.store import models as m

    from callbox.clock import OffsetClock
    from callbox.store import open_store

    log = logging.getLogger("callbox.run")
    logging.getLogger().setLevel(logging.INFO)
    clock = OffsetClock(parse_instant(args.at)) if args.at else SystemClock()
    store = open_store(args.data, clock)
    if store.organisation() is None:
        store.close()
        raise UsageError(f"{args.data} is not set up: run `callbox --data {args.data} init ...` first")
    try:
        lines_cfg = read_lines(args.data)
    except ProvisionError as exc:
        raise UsageError(str(exc)) from exc
    if not lines_cfg:
        raise UsageError(f"no lines configured: add a [[lines]] table to {args.data}/lines.toml (see the examples there)")
    box = CallBox(args.data, clock, store)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for cfg in lines_cfg:
            if cfg["kind"] == "sip":
                from callbox.lines.sip import SipAccountConfig, SipLine

                fields = {k: v for k, v in cfg.items() if k in SipAccountConfig.__dataclass_fields__}
                line = SipLine(cfg["id"], box.authority, SipAccountConfig(**fields))
            else:
                from callbox.lines.gsm import GsmLine  # provided by the GSM line module

                line = GsmLine.from_config(cfg, box.authority, box.clock)
            box.add_line(line)
            line.start()
            log.info("line started", extra={"line": cfg["id"]})
        box.load_voice()
        print(f"callbox running with {len(box.lines)} line(s); Ctrl-C or SIGTERM stops it", flush=True)
        while not stop.is_set():
            for campaign in m.Campaign.select().where(m.Campaign.status == "running"):
                box.run_campaign(campaign)
            stop.wait(args.poll)
            if args.once:
                break
    except KeyboardInterrupt:
        pass
    finally:
        box.close()
    return EXIT_OK


# -- check-call ----------------------------------------------------------------------------------
def cmd_check_call(args: argparse.Namespace) -> int:
    from callbox.compliance.gate import Gate
    from callbox.compliance.permit import PermitAuthority
    from callbox.compliance.rulepack import PURPOSES, load_pack

    if args.purpose not in PURPOSES:
        raise UsageError(f"--purpose must be one of {', '.join(PURPOSES)}")
    store = _open(args)
    org = store.organisation()
    at = None
    if args.at:
        try:
            at = parse_instant(args.at)
        except ValueError as exc:
            raise UsageError(f"--at {args.at!r}: {exc}; use ISO 8601 with a zone, e.g. 2026-03-02T10:00:00+08:00") from exc
    gate = Gate(store, load_pack(org.rules, args.data), org, store.clock, PermitAuthority(store.clock))
    verdict = gate.check(args.number, args.purpose, at, args.line)
    if args.json:
        print(json.dumps(verdict.as_json()))
    else:
        print(f"{verdict.decision}: {', '.join(verdict.reasons) or 'every rule passed'}"
              + (f"; next allowed at {verdict.next_allowed_at.isoformat()}" if verdict.next_allowed_at else ""))
        for check in verdict.checks:
            print(f"  {'ok ' if check.passed else 'NO '} {check.rule:16} {check.detail}")
    store.close()
    return EXIT_OK if verdict.allowed else EXIT_DENIED


# -- contacts / dnc / consent ----------------------------------------------------------------------
def cmd_contacts_import(args: argparse.Namespace) -> int:
    from callbox.contacts_import import import_contacts

    if not args.file.exists():
        raise UsageError(f"{args.file}: no such file")
    store = _open(args)
    result = import_contacts(store, args.file)
    store.close()
    if not result.ok:
        print(f"callbox: {args.file} rejected, nothing imported ({len(result.errors)} bad row(s)):", file=sys.stderr)
        for error in result.errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"imported {len(result.rows)} contact(s) from {args.file}")
    return EXIT_OK


def _number(args: argparse.Namespace, store) -> str:
    from callbox.compliance import numbers

    try:
        return numbers.normalise(args.number, store.organisation().region)
    except numbers.InvalidNumber as exc:
        raise UsageError(str(exc)) from exc


def cmd_dnc_add(args: argparse.Namespace) -> int:
    from callbox.store import queries

    store = _open(args)
    number = _number(args, store)
    added = queries.add_dnc(store, number, "staff", args.reason or "", actor="staff")
    print(f"{number} {'added to' if added else 'was already on'} the do-not-call list")
    store.close()
    return EXIT_OK


def cmd_dnc_list(args: argparse.Namespace) -> int:
    from callbox.store import models as m

    store = _open(args)
    rows = [
        {"phone": r.phone, "source": r.source, "reason": r.reason, "added_at": r.added_at.isoformat()}
        for r in m.DoNotCall.select().order_by(m.DoNotCall.added_at)
    ]
    store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r['phone'] or '(purged)':16} {r['source']:15} {r['added_at']}  {r['reason']}")
    return EXIT_OK


def cmd_consent_withdraw(args: argparse.Namespace) -> int:
    from callbox.store import queries

    store = _open(args)
    number = _number(args, store)
    count = queries.withdraw_consent(store, number, actor="staff")
    store.close()
    if count == 0:
        raise UsageError(f"{number} has no active consent to withdraw")
    print(f"withdrew {count} consent(s) of {number}")
    return EXIT_OK


# -- audit ---------------------------------------------------------------------------------------
def cmd_audit_verify(args: argparse.Namespace) -> int:
    from callbox.store import audit

    store = _open(args)
    report = audit.verify(store)
    store.close()
    if report.ok:
        print(f"audit chain intact: {report.entries} entries")
        return EXIT_OK
    print(f"audit chain BROKEN at entry {report.first_bad_seq}: {report.problem}", file=sys.stderr)
    return 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    from callbox.store import models as m

    store = _open(args)
    query = m.AuditEntry.select().order_by(m.AuditEntry.seq)
    if args.since:
        query = query.where(m.AuditEntry.at >= parse_instant(args.since))
    for e in query:
        print(json.dumps({"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                          "subject": e.subject, "details": e.details, "hash": e.hash}, ensure_ascii=False))
    store.close()
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="set up a new box: organisation, rule pack, time zone")
    p.add_argument("--rules", choices=["cn", "us", "eu"], default="cn")
    p.add_argument("--org-name", required=True)
    p.add_argument("--org-name-en", help="the name English-speaking callees hear (default: --org-name)")
    p.add_argument("--callback-number", required=True)
    p.add_argument("--timezone")
    p.add_argument("--industry", default="general", choices=["general", "medical", "finance", "retail"])
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("demo", help="run the whole box against a virtual phone bank (no hardware needed)")
    p.add_argument("--summary-json", type=Path, help="write one JSON object per contact to this file")
    p.add_argument("--at", help="the demo clock's start (ISO 8601 with zone); default today 10:00 Asia/Shanghai")
    p.set_defaults(func=cmd_demo, default_data=Path("./var/demo"))

    p = sub.add_parser("run", help="the daemon: start the configured lines and place due campaign calls")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between campaign passes")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--at", help="start the box clock at this ISO 8601 instant (rehearsals and tests)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-call", help="would this call be allowed now? (changes nothing)")
    p.add_argument("number")
    p.add_argument("--purpose", required=True)
    p.add_argument("--at", help="ISO 8601 instant to evaluate at (default now)")
    p.add_argument("--line", choices=["sip", "gsm"], default="sip")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check_call)

    p = sub.add_parser("contacts", help="consented contacts: import")
    csub = p.add_subparsers(dest="contacts_command", required=True, metavar="COMMAND")
    q = csub.add_parser("import", help="import a CSV of consented contacts (all rows or none)")
    q.add_argument("file", type=Path)
    q.set_defaults(func=cmd_contacts_import)

    p = sub.add_parser("dnc", help="do-not-call list: add, list")
    dsub = p.add_subparsers(dest="dnc_command", required=True, metavar="COMMAND")
    q = dsub.add_parser("add", help="put a number on the do-not-call list for good")
    q.add_argument("number")
    q.add_argument("--reason")
    q.set_defaults(func=cmd_dnc_add)
    q = dsub.add_parser("list", help="show the do-not-call list")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_dnc_list)

    p = sub.add_parser("consent", help="consent records: withdraw")
    ssub = p.add_subparsers(dest="consent_command", required=True, metavar="COMMAND")
    q = ssub.add_parser("withdraw", help="withdraw every consent of a number")
    q.add_argument("number")
    q.set_defaults(func=cmd_consent_withdraw)

    p = sub.add_parser("audit", help="hash-chained audit log: verify, export")
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    q = asub.add_parser("verify", help="check that no audit entry was edited or deleted")
    q.set_defaults(func=cmd_audit_verify)
    q = asub.add_parser("export", help="print audit entries as JSON lines")
    q.add_argument("--since")
    q.set_defaults(func=cmd_audit_export)
