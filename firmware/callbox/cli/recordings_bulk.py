"""``callbox recordings export --all|--campaign X|--since DATE --out DIR``: bulk export, admins only.

Why this shape: a bulk export takes many people's voices and words off the box at once, so it asks
for more than a single export does.

* **Who.** ``--by`` is required. On a box with panel users it must name an *active panel admin*, and
  that admin's panel password must be given (``--password-file``, ``$CALLBOX_PANEL_PASSWORD`` or a
  prompt): the CLI has no roles of its own, the panel's are the box's. On a box without panel users
  the recording passphrase (which only the admin holds) is the proof, and ``--by`` is recorded.
  Every refusal is audited (``recording.bulk_export_denied``).
* **What.** Each call exported is one ``recording.exported`` audit entry, written before its
  plaintext; the run ends with one ``recording.bulk_exported`` summary entry holding the sha256 of
  ``manifest.json``, which lists every file with its sha256 (so the chain vouches for the manifest,
  and the manifest for the files).
* **Where.** ``--out`` is a new (or empty) folder outside the data directory. A call that fails
  verification is left out (its partial files removed), named in the manifest with the reason, and
  the command exits 2 after finishing the others.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from callbox.clock import parse_instant
from callbox.cli.recordings import (
    ENV_PANEL_PASSWORD,
    EXIT_BAD,
    EXIT_OK,
    UsageError,
    _operator,
    _outside_data,
    _read_secret_file,
    _recordings_dir,
    _unlock,
)
from callbox.recordings import audit_hook, export, transcript
from callbox.recordings.names import call_stem
from callbox.recordings.stream import RecordingError, read_header

if TYPE_CHECKING:
    from callbox.store.db import Store

MANIFEST = "manifest.json"


@contextmanager
def _box_store(args: argparse.Namespace) -> Iterator[Store | None]:
    """The box's store, or None where the data dir has none (recordings and keys on a bare directory)."""
    from callbox.store.db import DB_FILENAME, open_store

    if not (Path(args.data) / DB_FILENAME).exists():
        yield None
        return
    store = open_store(args.data)
    try:
        yield store
    finally:
        store.close()


def _panel_password(args: argparse.Namespace) -> str:
    if args.password_file:
        return _read_secret_file(args.password_file)
    if os.environ.get(ENV_PANEL_PASSWORD):
        return os.environ[ENV_PANEL_PASSWORD]
    if sys.stdin.isatty():
        return getpass.getpass(f"Panel password of {args.by}: ")
    raise UsageError(f"bulk export needs the panel password of admin {args.by}: give --password-file FILE "
                     f"or set ${ENV_PANEL_PASSWORD}")


def check_admin(args: argparse.Namespace, audit) -> str:  # noqa: ANN001
    """Who is exporting; raises :class:`UsageError` (audited) unless it is an admin (module doc)."""
    if not args.by:
        raise UsageError("bulk export is admin-only: give --by with your admin user name")
    from callbox.store.models_panel import PanelUser

    with _box_store(args) as store:
        if store is None or PanelUser.select().count() == 0:
            return args.by  # no panel users yet: the recording passphrase is the admin's proof
        user = PanelUser.get_or_none(PanelUser.username == args.by)
        if user is None or not user.active or user.role != "admin":
            audit("recording.bulk_export_denied", args.by, {"by": args.by, "reason": "not an active panel admin"})
            raise UsageError(f"bulk export is admin-only and {args.by!r} is not an active panel admin: "
                             "ask an admin, or have one give you the admin role in the panel (Users)")
        password = _panel_password(args)
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            PasswordHasher().verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            audit("recording.bulk_export_denied", args.by, {"by": args.by, "reason": "wrong panel password"})
            raise UsageError(f"the panel password of {args.by} is wrong; nothing was exported") from None
        return args.by


def _since(args: argparse.Namespace) -> datetime | None:
    """``--since`` as an instant: a bare date is midnight in the box's time zone."""
    if not args.since:
        return None
    text = args.since.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            return datetime.combine(day, time(0), ZoneInfo(_zone(args)))
        return parse_instant(text)
    except ValueError as exc:
        raise UsageError(f"--since takes a date (2026-03-01) or an ISO instant with an offset ({exc})") from None


def _zone(args: argparse.Namespace) -> str:
    with _box_store(args) as store:
        org = store.organisation() if store is not None else None
        return org.timezone if org else "UTC"


def _campaign_stems(args: argparse.Namespace) -> set[str]:
    from callbox.store import models as m

    with _box_store(args) as store:
        if store is None:
            raise UsageError(f"{args.data} has no store, so --campaign cannot be resolved: use --all or --since")
        key = args.campaign.strip()
        campaign = m.Campaign.get_or_none(m.Campaign.name == key)
        if campaign is None and key.isdigit():
            campaign = m.Campaign.get_or_none(m.Campaign.id == int(key))
        if campaign is None:
            raise UsageError(f"no campaign {key!r}: give its name or id as the panel shows it")
        calls = m.Call.select(m.Call.id).join(m.Attempt).where(m.Attempt.campaign == campaign)
        return {call_stem(c.id) for c in calls}


def select_calls(args: argparse.Namespace) -> list[str]:
    """Stems (``call-000012``) of the calls to export, oldest file name first."""
    folder = _recordings_dir(args)
    stems = sorted({p.stem for p in folder.glob("*.cbr")} | {p.stem for p in folder.glob(f"*{transcript.SUFFIX}")}) \
        if folder.is_dir() else []
    if args.campaign:
        wanted = _campaign_stems(args)
        stems = [s for s in stems if s in wanted]
    since = _since(args)
    if since is not None:
        kept = []
        for stem in stems:
            audio, text = export.call_files(folder, stem)
            try:
                created = parse_instant(str(read_header(audio or text).metadata.get("created_at")))  # type: ignore[arg-type]
            except (RecordingError, ValueError, OSError):
                kept.append(stem)  # cannot judge: export it, the manifest will say if it is unreadable
                continue
            if created >= since:
                kept.append(stem)
        stems = kept
    return stems


def _out_dir(args: argparse.Namespace) -> Path:
    out = _outside_data(args, args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty folder: give a new folder for the export")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    return out


def bulk_export(args: argparse.Namespace) -> int:
    audit = audit_hook(args.data)
    by = check_admin(args, audit)
    selection = {"all": bool(args.all), "campaign": args.campaign, "since": args.since}
    stems = select_calls(args)
    if not stems:
        raise UsageError(f"nothing to export for {selection}: see `callbox recordings list`")
    out = _out_dir(args)
    who = {"by": by, "operator": _operator(args) if args.operator else by, "purpose": args.purpose}
    items: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    with _unlock(args, "recording.bulk_export", f"{len(stems)} call(s)", who) as keys:
        folder = _recordings_dir(args)
        for stem in stems:
            try:
                items.append(export.export_call(
                    folder, stem, keys, out / f"{stem}.wav", out / f"{stem}.transcript.json", audit,
                    {**who, "bulk": True, "out": str(out)}, salvage=args.salvage,
                ))
            except RecordingError as exc:
                failed[stem] = str(exc)
    files = export.manifest_files(items)
    manifest = {
        "format": 1,
        "exported_at": datetime.now(timezone.utc).isoformat(),
        **who,
        "selection": selection,
        "calls": items,
        "failed": failed,
        "files": files,
    }
    info = export.write_json(out / MANIFEST, manifest)
    audit("recording.bulk_exported", f"{len(items)} call(s)", {
        **who, "selection": selection, "calls": [i["call"] for i in items], "failed": sorted(failed),
        "files": len(files), "manifest_sha256": info.sha256, "out": str(out),
    })
    print(f"exported {len(items)} call(s), {len(files)} file(s) to {out} (manifest {MANIFEST}, sha256 "
          f"{info.sha256[:16]}…): unencrypted, keep it on controlled media", file=sys.stderr)
    for stem, why in failed.items():
        print(f"callbox: {stem} not exported: {why}", file=sys.stderr)
    return EXIT_BAD if failed else EXIT_OK
