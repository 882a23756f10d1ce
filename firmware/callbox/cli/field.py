"""Field commands for technicians: ``firstboot``, ``doctor``, ``backup``, ``update``, ``sweep``, ``ups``.

Why a module of its own: these run on a box in a clinic (often from systemd units, see
``scripts/systemd/``), not during day-to-day use, and each is a thin shell over one module with the
logic (:mod:`callbox.firstboot`, :mod:`callbox.doctor`, :mod:`callbox.backup`, :mod:`callbox.update`,
:mod:`callbox.ups`). Every subcommand also accepts ``--data`` after its name
(``callbox backup restore FILE --data DIR``). Exit status: 0 ok, 1 something needs attention (doctor
found problems, an update was rolled back), 2 bad input or a refused operation, with the fix named.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

from contextlib import closing

from callbox.cli import EXIT_OK, UsageError
from callbox.cli.common import group, refused

ENV_BACKUP_PASSPHRASE = "CALLBOX_BACKUP_PASSPHRASE"


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=argparse.SUPPRESS, help="data directory (same as callbox --data)")


# -- firstboot -------------------------------------------------------------------------------------
def cmd_firstboot(args: argparse.Namespace) -> int:
    from callbox import firstboot

    boot = args.boot
    if not (boot / firstboot.CONFIG_NAME).exists():
        print(f"no {boot / firstboot.CONFIG_NAME}: nothing to set up (copy scripts/callbox.example.toml there "
              "as callbox.toml to configure the box)")
        return EXIT_OK
    run = None
    if args.root == Path("/"):
        run = lambda argv: subprocess.run(argv, check=False, capture_output=True).returncode  # noqa: E731
    with refused(firstboot.ConfigError):
        result = firstboot.apply(boot, args.data, args.root, run=run)
    for action in result.actions:
        print(f"firstboot: {action}")
    for note in result.notes:
        print(f"firstboot: note: {note}")
    return EXIT_OK


# -- doctor ----------------------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    from callbox.doctor import DoctorInputs, run_doctor

    report = run_doctor(args.data, DoctorInputs(boot_file=args.boot_file))
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        for finding in report.problems:
            print(finding.line())
        if args.all:
            for finding in report.findings:
                if finding.ok:
                    print(finding.line())
        if report.ok:
            print(f"all {len(report.findings)} checks passed")
        else:
            print(f"{len(report.problems)} problem(s) need attention (of {len(report.findings)} checks)")
    return EXIT_OK if report.ok else 1


# -- backup ----------------------------------------------------------------------------------------
def _backup_passphrase(args: argparse.Namespace, confirm: bool) -> str:
    if args.passphrase_file:
        try:
            return args.passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"--passphrase-file {args.passphrase_file}: {exc.strerror}") from exc
    if os.environ.get(ENV_BACKUP_PASSPHRASE):
        return os.environ[ENV_BACKUP_PASSPHRASE]
    if not sys.stdin.isatty():
        raise UsageError("no backup passphrase: pass --passphrase-file F (or set $CALLBOX_BACKUP_PASSPHRASE)")
    first = getpass.getpass("backup passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise UsageError("the two passphrases differ; nothing was written")
    return first


def cmd_backup_create(args: argparse.Namespace) -> int:
    from callbox.backup import BackupError, create_backup

    with refused(BackupError):
        report = create_backup(args.data, args.out, _backup_passphrase(args, confirm=True))
    counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
    print(f"backup written to {args.out}: {report.files} files, {report.recordings} recordings, {counts}; "
          f"{report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s. Keep the passphrase apart from the file.")
    return EXIT_OK


def cmd_backup_restore(args: argparse.Namespace) -> int:
    from callbox.backup import BackupError, restore_backup

    with refused(BackupError):
        report = restore_backup(args.file, args.data, _backup_passphrase(args, confirm=False), force=args.force)
    counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
    print(f"restored {report.files} files into {args.data} ({counts}) in {report.seconds:.1f} s")
    if report.moved_aside:
        print(f"the data that was there is kept in {report.moved_aside}; delete it once the box works")
    print("next: `callbox doctor`, then restart the services (`sudo systemctl restart callbox callbox-web`)")
    return EXIT_OK


# -- update ----------------------------------------------------------------------------------------
def cmd_update_apply(args: argparse.Namespace) -> int:
    from callbox.update import UpdateError, apply_bundle

    with refused(UpdateError):
        report = apply_bundle(args.bundle, args.public_key, args.root, args.health_cmd, args.allow_downgrade,
                              after_rollback=args.after_rollback_cmd)
    if report.rolled_back:
        for note in report.notes:
            print(note, file=sys.stderr)
        print(f"update to {report.version} FAILED its health check and was rolled back to "
              f"{report.previous or '(none)'}:\n  {report.health_output[-500:]}\n"
              "send this output to the vendor; the box keeps running the old version", file=sys.stderr)
        return 1
    for note in report.notes:
        print(note)
    if report.installed:
        print(f"updated {report.previous or '(none)'} -> {report.version}; health check passed")
    return EXIT_OK


def cmd_update_make(args: argparse.Namespace) -> int:
    from callbox.update import UpdateError, make_bundle

    with refused(UpdateError):
        header = make_bundle(args.source, args.version, args.key, args.out)
    print(f"wrote {args.out}: version {header['version']}, {header['payload_bytes'] / 1e6:.1f} MB, "
          f"sha256 {header['payload_sha256'][:16]}…")
    return EXIT_OK


def cmd_update_keygen(args: argparse.Namespace) -> int:
    from callbox.update import keygen

    try:
        keygen(args.private, args.public)
    except FileExistsError as exc:
        raise UsageError(f"{args.private} exists; refusing to overwrite a signing key") from exc
    print(f"private key {args.private} (keep it offline), public key {args.public} (goes into the SD image)")
    return EXIT_OK


def cmd_update_status(args: argparse.Namespace) -> int:
    from callbox.update import current_version

    releases = sorted(p.name for p in (args.root / "releases").glob("*") if p.is_dir() and not p.name.startswith("."))
    print(json.dumps({"current": current_version(args.root), "installed": releases}))
    return EXIT_OK


# -- retention sweep --------------------------------------------------------------------------------
def cmd_sweep(args: argparse.Namespace) -> int:
    """What ``callbox-sweep.timer`` runs: the recordings sweep with the periods of the box's own rule pack."""
    from datetime import datetime, timezone

    from callbox.recordings import audit_hook
    from callbox.recordings.retention import sweep
    from callbox.store.db import open_store
    from callbox.timesync import clock_status

    status = clock_status()
    if not status.trusted and not args.ignore_clock:
        # A clock running ahead would shred recordings the law says to keep: wait for a trusted clock.
        print(f"sweep postponed: {status.detail}")
        return EXIT_OK
    from callbox.recordings import policy

    with closing(open_store(args.data)) as store:
        org = store.organisation()
        if org is None:
            raise UsageError(f"{args.data} is not set up yet; nothing to sweep")
        rules = policy.pack_rules(args.data, store)
        holds = policy.active_holds(store)
    directory = args.data / "recordings"
    if not directory.is_dir():
        print("no recordings yet")
        return EXIT_OK
    report = sweep(directory, datetime.now(timezone.utc), args.dry_run, audit_hook(args.data), rules=rules,
                   legal_holds=holds)
    print(f"{'would shred' if args.dry_run else 'shredded'} {len(report.shredded)}, kept {len(report.kept)}, "
          f"on hold {len(report.held)}, skipped {len(report.skipped)} (rule pack {org.rules})")
    return EXIT_OK


# -- ups -------------------------------------------------------------------------------------------
def cmd_ups_watch(args: argparse.Namespace) -> int:
    import signal
    import threading
    import tomllib

    from callbox.ups import UpsConfig, UpsMonitor

    path = args.data / "field.toml"
    settings = {}
    if path.exists():
        settings = tomllib.loads(path.read_text(encoding="utf-8")).get("ups", {})
    from callbox import sdnotify

    if not settings and args.gpio is None:
        print("no [ups] in callbox.toml: nothing to watch")
        sdnotify.ready("no UPS configured")  # a clean exit for the Type=notify unit
        return EXIT_OK
    config = UpsConfig(
        gpio=args.gpio if args.gpio is not None else int(settings.get("gpio", 26)),
        active_high=bool(settings.get("active_high", True)),
        grace_s=float(settings.get("grace_s", 10.0)),
        command=str(settings.get("command", "systemctl poweroff")),
    )
    monitor = UpsMonitor(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sdnotify.ready(f"watching GPIO {config.gpio}")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        monitor.close()
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("firstboot", help="set the box up from callbox.toml on the boot partition (idempotent)")
    p.add_argument("--boot", type=Path, default=Path("/boot/firmware"), help="the FAT boot partition")
    p.add_argument("--root", type=Path, default=Path("/"), help="root of the system files (Wi-Fi, time zone)")
    _data_arg(p)
    p.set_defaults(func=cmd_firstboot)

    p = sub.add_parser("doctor", help="check modem, lines, clock, disk, keys, database, audit; say what to fix")
    p.add_argument("--json", action="store_true", help="one JSON object (for the panel)")
    p.add_argument("--all", action="store_true", help="also list the checks that passed")
    p.add_argument("--boot-file", type=Path, default=Path("/boot/firmware/callbox.toml"))
    _data_arg(p)
    p.set_defaults(func=cmd_doctor)

    bsub = group(sub, "backup", "encrypted backup of the whole box: create, restore")
    q = bsub.add_parser("create", help="write one encrypted backup file (the box keeps running)")
    q.add_argument("--out", type=Path, required=True, help="backup file, e.g. /media/usb/box-2026-03-02.cbbackup")
    q.add_argument("--passphrase-file", type=Path, help=f"file holding the backup passphrase (or ${ENV_BACKUP_PASSPHRASE})")
    _data_arg(q)
    q.set_defaults(func=cmd_backup_create)
    q = bsub.add_parser("restore", help="restore a backup into an empty or freshly set-up data directory")
    q.add_argument("file", type=Path)
    q.add_argument("--passphrase-file", type=Path)
    q.add_argument("--force", action="store_true", help="replace existing data (it is moved aside, not deleted)")
    _data_arg(q)
    q.set_defaults(func=cmd_backup_restore)

    usub = group(sub, "update", "signed offline firmware updates: apply, make, keygen, status")
    q = usub.add_parser("apply", help="verify, install and switch to an update bundle; roll back if unhealthy")
    q.add_argument("bundle", type=Path)
    q.add_argument("--public-key", type=Path, default=Path("/etc/callbox/update-signing.pub"))
    q.add_argument("--root", type=Path, default=Path("/opt/callbox"), help="holds releases/ and the current link")
    q.add_argument("--health-cmd", default="{release}/venv/bin/callbox --version",
                   help="command that must succeed after the switch ({release}, {root} are filled in)")
    q.add_argument("--after-rollback-cmd", help="command run after a roll back, e.g. "
                   "\"systemctl restart callbox callbox-web\"")
    q.add_argument("--allow-downgrade", action="store_true")
    q.set_defaults(func=cmd_update_apply)
    q = usub.add_parser("make", help="(build machine) sign a release directory into a bundle")
    q.add_argument("--from", dest="source", type=Path, required=True, help="release directory (holds venv/)")
    q.add_argument("--version", required=True)
    q.add_argument("--key", type=Path, required=True, help="vendor Ed25519 private key (PEM)")
    q.add_argument("--out", type=Path, required=True)
    q.set_defaults(func=cmd_update_make)
    q = usub.add_parser("keygen", help="(build machine) new vendor signing key pair")
    q.add_argument("--private", type=Path, required=True)
    q.add_argument("--public", type=Path, required=True)
    q.set_defaults(func=cmd_update_keygen)
    q = usub.add_parser("status", help="installed releases and the current one")
    q.add_argument("--root", type=Path, default=Path("/opt/callbox"))
    q.set_defaults(func=cmd_update_status)

    p = sub.add_parser("sweep", help="shred recordings past the rule pack's retention period (run daily by a timer)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--ignore-clock", action="store_true", help="sweep even if the clock is not confirmed")
    _data_arg(p)
    p.set_defaults(func=cmd_sweep)

    usub = group(sub, "ups", "UPS HAT: shut down cleanly when mains power is lost")
    q = usub.add_parser("watch", help="watch the power-loss GPIO ([ups] in callbox.toml) until stopped")
    q.add_argument("--gpio", type=int, help="BCM pin (default from callbox.toml)")
    _data_arg(q)
    q.set_defaults(func=cmd_ups_watch)
