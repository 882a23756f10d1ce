"""``callbox keys ...`` and ``callbox recordings ...``: the admin's handles on recording keys and audio.

Why this shape: every handler is a plain function ``(args) -> int`` set with ``set_defaults(func=...)``
so the main parser only has to call ``args.func(args)``; ``args.data`` (a Path) is the data directory.
Exit codes: 0 ok, 2 bad input or a refused/failed operation, always with one message naming the fix.

Passphrases never appear on the command line (they would land in shell history and ``ps``). They come
from ``--passphrase-file``, then ``$CALLBOX_RECORDING_PASSPHRASE``, then an interactive prompt. New
passphrases (``init``, ``change-passphrase``) come from ``--new-passphrase-file``, then
``$CALLBOX_NEW_RECORDING_PASSPHRASE``, then a prompt asked twice (``keys init`` also takes the ordinary
sources). Unlocked keys live only in the memory
of one command: nothing stays unlocked between commands, so ``keys lock`` has nothing to undo.

Every access to audio or a transcript (``play``, ``transcript``, ``export``) and every shred is
written through :func:`callbox.recordings.audit_hook` with who, why (``--purpose``) and which
recording, before any plaintext is released. Audio is streamed chunk by chunk (never a whole
recording in memory). ``export --all|--campaign|--since`` (bulk) is for admins only: on a box with
panel users, ``--by`` must name an active panel admin whose panel password is given; on a box
without panel users, the recording passphrase (held by the admin) is the proof and ``--by`` is
recorded. Bulk export writes one audit entry per call plus one summary entry.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from callbox.clock import parse_instant
from callbox.recordings import audit_hook, export, transcript
from callbox.recordings.names import call_stem
from callbox.recordings.keystore import KeyStore, KeyStoreError, UnlockedKeys, WrongPassphrase
from callbox.recordings.retention import RetentionError, RetentionRule, sweep
from callbox.recordings.stream import RecordingError, open_decrypt, scan

ENV_PASSPHRASE = "CALLBOX_RECORDING_PASSPHRASE"
ENV_NEW_PASSPHRASE = "CALLBOX_NEW_RECORDING_PASSPHRASE"
ENV_PANEL_PASSWORD = "CALLBOX_PANEL_PASSWORD"
EXIT_OK = 0
EXIT_BAD = 2


class UsageError(Exception):
    """Bad input; the message names the fix."""


# ------------------------------------------------------------------------------------------ registration
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``keys`` and ``recordings`` commands to the main parser's subparsers."""
    keys = subparsers.add_parser("keys", help="recording key pair: init, unlock, lock, rotate, change-passphrase")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")

    p = ksub.add_parser("init", help="create the box key pair, protected by a new recording passphrase")
    _passphrase_args(p)
    _new_passphrase_args(p)
    p.set_defaults(func=cmd_keys_init)

    p = ksub.add_parser("unlock", help="check the recording passphrase (keys stay unlocked only in memory)")
    _passphrase_args(p)
    p.set_defaults(func=cmd_keys_unlock)

    p = ksub.add_parser("lock", help="forget unlocked keys (nothing is kept unlocked between commands)")
    p.set_defaults(func=cmd_keys_lock)

    p = ksub.add_parser("rotate", help="new key pair for new recordings; old recordings stay playable")
    _passphrase_args(p)
    p.set_defaults(func=cmd_keys_rotate)

    p = ksub.add_parser("change-passphrase", help="re-encrypt the private keys under a new passphrase")
    _passphrase_args(p)
    _new_passphrase_args(p)
    p.set_defaults(func=cmd_keys_change_passphrase)

    recs = subparsers.add_parser("recordings", help="list, play, export or sweep encrypted call recordings")
    rsub = recs.add_subparsers(dest="recordings_command", required=True, metavar="COMMAND")

    p = rsub.add_parser("list", help="list recordings (no passphrase needed; metadata only)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_list)

    p = rsub.add_parser("play", help="decrypt one recording to a WAV (to --out, or to aplay)")
    _access_args(p)
    p.add_argument("--out", help="write the WAV here ('-' for stdout); without it, play through aplay")
    p.set_defaults(func=cmd_play)

    p = rsub.add_parser("transcript", help="decrypt and show one call's transcript (purpose required, audited)")
    _access_args(p, what="call id, recording or transcript name (12, call-000012, call-000012.cbt)")
    p.add_argument("--json", action="store_true", help="print the turns as JSON")
    p.set_defaults(func=cmd_transcript)

    p = rsub.add_parser(
        "export",
        help="decrypt one recording (WAV + transcript + manifest), or many (admin only) into a folder",
    )
    _access_args(p, optional=True)
    p.add_argument("--out", required=True, type=Path,
                   help="one recording: a .wav path outside the data dir; bulk: a new folder (e.g. on a USB stick)")
    bulk = p.add_argument_group("bulk export (admin only)")
    bulk.add_argument("--all", action="store_true", help="every call with a recording or transcript")
    bulk.add_argument("--campaign", help="the calls of this campaign (name or id)")
    bulk.add_argument("--since", help="calls recorded on or after this date (YYYY-MM-DD, box time zone) or instant")
    bulk.add_argument("--by", help="the admin doing the export (a panel admin's user name, if the box has users)")
    bulk.add_argument("--password-file", type=Path,
                      help=f"file holding that admin's panel password (else ${ENV_PANEL_PASSWORD}, else a prompt)")
    p.set_defaults(func=cmd_export)

    p = rsub.add_parser("sweep", help="crypto-shred recordings whose retention period has ended")
    p.add_argument("--dry-run", action="store_true", help="only report what would be shredded")
    p.add_argument("--months", type=int, help="retention period in months (default: the box's rule pack)")
    p.add_argument("--min-months", type=int, default=0, help="pack minimum (campaign overrides cannot go below)")
    p.add_argument("--max-months", type=int, help="pack maximum (campaign overrides cannot exceed; default --months)")
    p.add_argument(
        "--industry", action="append", default=[], metavar="NAME=MONTHS", help="a different period for one industry"
    )
    p.add_argument("--hold", action="append", default=[], metavar="CALL_ID", help="legal hold: never shred this call")
    p.add_argument("--now", help="ISO instant to judge expiry at (default: the system clock)")
    p.set_defaults(func=cmd_sweep)

    p = rsub.add_parser("hold", help="put a recording under legal hold (the sweeper never shreds it)")
    p.add_argument("name", help="recording file name (call-000012.cbr) or call id")
    p.add_argument("--reason", required=True, help="e.g. the court order or complaint reference")
    p.add_argument("--by", help="who decided (default: the logged-in user)")
    p.set_defaults(func=cmd_hold)

    p = rsub.add_parser("release", help="end a legal hold")
    p.add_argument("name")
    p.add_argument("--reason", required=True)
    p.add_argument("--by")
    p.set_defaults(func=cmd_release)


def _passphrase_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--passphrase-file", type=Path, help=f"file holding the passphrase (else ${ENV_PASSPHRASE}, else a prompt)"
    )


def _new_passphrase_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--new-passphrase-file",
        type=Path,
        help=f"file holding the new passphrase (else ${ENV_NEW_PASSPHRASE}, else a prompt)",
    )


def _access_args(p: argparse.ArgumentParser, what: str = "", optional: bool = False) -> None:
    help_ = what or "recording file name in <data>/recordings/ (with or without .cbr)"
    if optional:
        p.add_argument("name", nargs="?", help=help_)
    else:
        p.add_argument("name", help=help_)
    p.add_argument("--purpose", required=True, help="why you are listening (goes to the access log)")
    p.add_argument("--operator", help="who is listening (default: the login name)")
    p.add_argument("--salvage", action="store_true", help="read a crashed recording up to its last complete chunk")
    _passphrase_args(p)


# ------------------------------------------------------------------------------------------ plumbing
def _handler(fn):  # type: ignore[no-untyped-def]
    """Turn the expected failures into one message on stderr and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (UsageError, KeyStoreError, RecordingError, RetentionError) as exc:
            print(f"callbox: {exc}", file=sys.stderr)
            return EXIT_BAD
        except OSError as exc:
            print(f"callbox: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return EXIT_BAD

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _read_secret_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    return text[:-1] if text.endswith("\n") else text


def _passphrase(args: argparse.Namespace) -> str:
    if getattr(args, "passphrase_file", None):
        return _read_secret_file(args.passphrase_file)
    if os.environ.get(ENV_PASSPHRASE):
        return os.environ[ENV_PASSPHRASE]
    if sys.stdin.isatty():
        return getpass.getpass("Recording passphrase: ")
    raise UsageError(f"no recording passphrase: give --passphrase-file FILE or set ${ENV_PASSPHRASE}")


def _new_passphrase(args: argparse.Namespace, also_current: bool = False) -> str:
    """The new passphrase; for ``init`` (``also_current``) the ordinary sources count too."""
    if getattr(args, "new_passphrase_file", None):
        return _read_secret_file(args.new_passphrase_file)
    if os.environ.get(ENV_NEW_PASSPHRASE):
        return os.environ[ENV_NEW_PASSPHRASE]
    if also_current and (getattr(args, "passphrase_file", None) or os.environ.get(ENV_PASSPHRASE)):
        return _passphrase(args)
    if sys.stdin.isatty():
        first = getpass.getpass("New recording passphrase: ")
        if getpass.getpass("Repeat it: ") != first:
            raise UsageError("the two passphrases differ; nothing was changed. Run the command again")
        return first
    raise UsageError(f"no new passphrase: give --new-passphrase-file FILE or set ${ENV_NEW_PASSPHRASE}")


def _store(args: argparse.Namespace) -> KeyStore:
    return KeyStore.for_data_dir(args.data)


def _recordings_dir(args: argparse.Namespace) -> Path:
    return Path(args.data) / "recordings"


def _recording_path(args: argparse.Namespace) -> Path:
    name = args.name if args.name.endswith(".cbr") else f"{args.name}.cbr"
    if "/" in name or "\\" in name or name.startswith("."):
        raise UsageError(f"give a recording name from `callbox recordings list`, not a path: {args.name!r}")
    path = _recordings_dir(args) / name
    if not path.is_file():
        raise UsageError(f"no recording {name} in {path.parent}: see `callbox recordings list`")
    return path


def _operator(args: argparse.Namespace) -> str:
    if getattr(args, "operator", None):
        return args.operator
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _outside_data(args: argparse.Namespace, out: Path) -> Path:
    """Plaintext must never land on the box's data partition."""
    resolved = out.expanduser().resolve()
    if resolved.is_relative_to(Path(args.data).resolve()):
        raise UsageError(
            f"{out} is inside the data dir {args.data}: write decrypted audio outside it (e.g. a USB stick)"
        )
    return resolved


def wav_bytes(audio: bytes, sample_rate: int, channels: int) -> bytes:
    """A 16-bit PCM WAV file in memory (for small callers; play and export stream instead)."""
    return export.wav_header(len(audio), sample_rate, channels) + audio


def _unlock(args: argparse.Namespace, action: str, subject: str, who: dict) -> UnlockedKeys:
    """Unlock the box keys; a wrong passphrase is audited as ``<action>_denied`` and re-raised."""
    try:
        return _store(args).unlock(_passphrase(args))
    except WrongPassphrase:
        audit_hook(args.data)(f"{action}_denied", subject, {**who, "reason": "wrong passphrase"})
        raise


def _play_recording(args: argparse.Namespace, path: Path, sink: Path | None, write=None) -> None:  # noqa: ANN001
    """Unlock, authenticate the header, audit, then stream the verified audio to ``sink`` or ``write``."""
    audit = audit_hook(args.data)
    who = {"operator": _operator(args), "purpose": args.purpose}
    with _unlock(args, "recording.played", path.name, who) as keys, \
            open_decrypt(path, keys, salvage=args.salvage) as stream:
        if stream.header.metadata.get("content", "audio") != "audio":
            raise UsageError(f"{path.name} is not audio: read it with `callbox recordings transcript`")
        audit("recording.played", path.name, {
            **who,
            "call_id": stream.header.metadata.get("call_id"),
            "seconds": round(stream.expected_bytes / stream.header.bytes_per_second, 2),
            "out": str(getattr(args, "out", None) or "aplay"),
        })
        try:
            if sink is not None:
                export.write_wav(stream, sink)
            else:
                export.stream_wav(stream, write)
        except RecordingError as exc:
            audit("recording.played_failed", path.name, {**who, "error": str(exc)})
            raise
    if stream.problem is not None:
        print(f"callbox: salvaged {stream.chunks} chunks: {stream.problem}", file=sys.stderr)
    if sink is not None:
        print(f"wrote {sink} ({stream.seconds:.1f} s)", file=sys.stderr)


def _write_new_file(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists: choose another --out or remove it first") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------ keys
@_handler
def cmd_keys_init(args: argparse.Namespace) -> int:
    """Create the first key pair."""
    store = _store(args)
    if store.exists():
        raise UsageError(f"recording keys already exist in {store.dir}: use `callbox keys rotate` for a new key pair")
    key_id = store.init(_new_passphrase(args, also_current=True))
    print(f"created recording key {key_id} in {store.dir}; back up {store.dir} and keep the passphrase safe: "
          "without both, recordings cannot be played")  # fmt: skip
    return EXIT_OK


@_handler
def cmd_keys_unlock(args: argparse.Namespace) -> int:
    """Verify the passphrase and the published public key."""
    store = _store(args)
    with store.unlock(_passphrase(args)) as keys:
        store.check_public(keys)
        ids = ", ".join(f"{k}{' (current)' if k == keys.current_key_id else ''}" for k in keys)
    print(f"passphrase ok; keys {ids}. Keys are held only in memory, so nothing stays unlocked after this command")
    return EXIT_OK


@_handler
def cmd_keys_lock(args: argparse.Namespace) -> int:
    """Nothing to do: no command keeps keys unlocked after it exits."""
    print("nothing to lock: recording keys are unlocked only inside a single command and forgotten when it ends")
    return EXIT_OK


@_handler
def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """New key pair for new recordings."""
    store = _store(args)
    key_id = store.rotate(_passphrase(args))
    print(f"new recording key {key_id} is current; older recordings stay playable with the same passphrase. "
          f"Back up {store.dir} again")  # fmt: skip
    return EXIT_OK


@_handler
def cmd_keys_change_passphrase(args: argparse.Namespace) -> int:
    """Re-encrypt the private keys under a new passphrase."""
    store = _store(args)
    old = _passphrase(args)
    store.change_passphrase(old, _new_passphrase(args))
    print(f"recording passphrase changed (audio files untouched). Back up {store.dir} again")
    return EXIT_OK


# ------------------------------------------------------------------------------------------ recordings
def _listing(path: Path) -> dict[str, Any]:
    try:
        header, layout = scan(path)
    except RecordingError as exc:
        return {"name": path.name, "status": "unreadable", "problem": str(exc)}
    frames = layout.frames
    audio = sum(f.ct_len - 16 for f in frames)
    meta = header.metadata
    return {
        "name": path.name,
        "call_id": meta.get("call_id"),
        "created_at": meta.get("created_at"),
        "seconds": round(audio / header.bytes_per_second, 2),
        "status": "complete" if layout.looks_complete else "incomplete",
        "key_id": header.key_id,
        "transcript": path.with_suffix(transcript.SUFFIX).is_file(),
    }


def _transcript_listing(path: Path) -> dict[str, Any]:
    row = _listing(path)
    row.pop("seconds", None)
    row["kind"] = "transcript"
    row["transcript"] = True
    return row


@_handler
def cmd_list(args: argparse.Namespace) -> int:
    """List recordings from their headers (unverified metadata; no passphrase needed)."""
    folder = _recordings_dir(args)
    rows = [_listing(p) for p in sorted(folder.glob("*.cbr"))]
    rows += [_transcript_listing(p) for p in sorted(folder.glob(f"*{transcript.SUFFIX}"))
             if not p.with_suffix(".cbr").exists()]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, sort_keys=True))
        return EXIT_OK
    if not rows:
        print(f"no recordings in {_recordings_dir(args)}")
    for r in rows:
        if r["status"] == "unreadable":
            print(f"{r['name']}  UNREADABLE  {r['problem']}")
        elif r.get("kind") == "transcript":
            print(f"{r['name']}  call={r['call_id']}  {r['created_at']}  transcript only (not recorded)  "
                  f"key={r['key_id']}")
        else:
            print(
                f"{r['name']}  call={r['call_id']}  {r['created_at']}  {r['seconds']:.1f}s  "
                f"{r['status']}  key={r['key_id']}{'  +transcript' if r['transcript'] else ''}"
            )
    return EXIT_OK


@_handler
def cmd_play(args: argparse.Namespace) -> int:
    """Decrypt to --out (a path or '-' for stdout), or play through aplay when no --out is given."""
    _recording_path(args)  # an unknown name is the first thing to report
    if args.out == "-" and sys.stdout.isatty():
        raise UsageError("stdout is a terminal: pipe it (`| aplay`) or give --out FILE.wav")
    player: str | None = None
    out: Path | None = None
    if args.out is None:
        player = shutil.which("aplay")
        if player is None:
            raise UsageError("no audio player (aplay) on this box: give --out FILE.wav, or --out - to pipe the WAV")
    elif args.out != "-":
        out = _outside_data(args, Path(args.out))
    path = _recording_path(args)
    if player:
        proc = subprocess.Popen([player, "-q", "-"], stdin=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            _play_recording(args, path, None, proc.stdin.write)
        finally:
            proc.stdin.close()
            proc.wait()
    elif out is None:
        _play_recording(args, path, None, sys.stdout.buffer.write)
        sys.stdout.buffer.flush()
    else:
        _play_recording(args, path, out)
    return EXIT_OK


@_handler
def cmd_export(args: argparse.Namespace) -> int:
    """One recording: WAV + transcript JSON + manifest next to it. Bulk: a folder, admin only."""
    if args.all or args.campaign or args.since:
        if args.name:
            raise UsageError("give either a recording name or --all/--campaign/--since, not both")
        from callbox.cli.recordings_bulk import bulk_export

        return bulk_export(args)
    if not args.name:
        raise UsageError("give the recording to export (see `callbox recordings list`), or --all/--campaign/--since")
    out = _outside_data(args, args.out)
    if out.suffix.lower() != ".wav":
        raise UsageError(f"--out must end in .wav, got {args.out}")
    manifest_path = out.with_suffix(".manifest.json")
    text_path = out.with_suffix(".transcript.json")
    for p in (out, manifest_path, text_path):
        if p.exists():
            raise UsageError(f"{p} already exists: choose another --out or remove it first")
    path = _recording_path(args)
    who = {"operator": _operator(args), "purpose": args.purpose}
    with _unlock(args, "recording.exported", path.name, who) as keys:
        item = export.export_call(path.parent, path.stem, keys, out, text_path, audit_hook(args.data),
                                  {**who, "out": str(out)}, salvage=args.salvage)
    files = item["files"]
    wav = next(f for f in files if f["name"] == out.name)
    text = next((f for f in files if f["name"] == text_path.name), None)
    manifest = {
        "recording": path.name,
        "metadata": item["metadata"],
        "key_id": item["key_id"],
        "complete": item["complete"],
        "problem": item["problem"],
        "chunks": item["chunks"],
        "seconds": item["seconds"],
        "wav": out.name,
        "wav_sha256": wav["sha256"],
        "wav_bytes": wav["bytes"],
        "transcript": text["name"] if text else None,
        "transcript_sha256": text["sha256"] if text else None,
        "files": {f["name"]: f["sha256"] for f in files},
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "operator": _operator(args),
        "purpose": args.purpose,
    }
    _write_new_file(manifest_path, (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode())
    if item["problem"]:
        print(f"callbox: salvaged {item['chunks']} chunks: {item['problem']}", file=sys.stderr)
    print(f"wrote {out}{' + ' + text_path.name if text else ''} and {manifest_path}: this is unencrypted, "
          "keep it on controlled media", file=sys.stderr)
    return EXIT_OK


def _call_stem(args: argparse.Namespace) -> str:
    """``12`` / ``call-000012`` / ``call-000012.cbr`` / ``call-000012.cbt`` -> ``call-000012``."""
    name = args.name.strip()
    if "/" in name or "\\" in name or name.startswith("."):
        raise UsageError(f"give a call id or a name from `callbox recordings list`, not a path: {args.name!r}")
    if name.isdigit():
        return call_stem(name)
    for suffix in (".cbr", transcript.SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@_handler
def cmd_transcript(args: argparse.Namespace) -> int:
    """Decrypt one call's transcript to the terminal (or --json); purpose required, audited first."""
    stem = _call_stem(args)
    path = _recordings_dir(args) / f"{stem}{transcript.SUFFIX}"
    if not path.is_file():
        raise UsageError(f"no transcript {path.name} in {path.parent}: see `callbox recordings list` "
                         "(calls before the keys existed, or erased, have none)")
    who = {"operator": _operator(args), "purpose": args.purpose}
    with _unlock(args, "recording.transcript_read", path.name, who) as keys:
        result = transcript.read(path, keys, salvage=args.salvage)
    audit_hook(args.data)("recording.transcript_read", path.name,
                          {**who, "call_id": result.call_id, "turns": len(result.turns), "complete": result.complete})
    if result.problem is not None:
        print(f"callbox: {result.problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.turns, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(transcript.as_text(result.turns))
    return EXIT_OK


def _rules(args: argparse.Namespace) -> dict[str, RetentionRule]:
    rules = {"default": RetentionRule(args.months, args.min_months, args.max_months)}
    for item in args.industry:
        name, sep, months = item.partition("=")
        if not sep or not months.strip().isdigit():
            raise UsageError(f"--industry takes NAME=MONTHS (e.g. finance=60), got {item!r}")
        m = int(months)
        rules[name.strip()] = RetentionRule(m, min(args.min_months, m), max(m, args.max_months or m))
    return rules


def _box_policy(args: argparse.Namespace) -> tuple[dict[str, RetentionRule], set[str]]:
    """Periods (from --months, else the rule pack) and the legal holds stored on the box."""
    from callbox.recordings import policy
    from callbox.store.db import DB_FILENAME

    if not (args.data / DB_FILENAME).exists():
        if args.months is None:
            raise UsageError(f"{args.data} has no store to read the rule pack from: give --months")
        return _rules(args), set()
    store = policy.open_for(args.data)
    try:
        rules = _rules(args) if args.months is not None else policy.pack_rules(args.data, store)
        return rules, policy.active_holds(store)
    finally:
        store.close()


def _hold_command(args: argparse.Namespace, place: bool) -> int:
    from callbox.recordings import policy

    store = policy.open_for(args.data)
    try:
        by = args.by or _operator(args)
        if place:
            policy.place_hold(store, args.name, args.reason, by)
        else:
            policy.release_hold(store, args.name, args.reason, by)
    except policy.HoldError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    print(f"{args.name}: legal hold {'placed' if place else 'released'}")
    return EXIT_OK


@_handler
def cmd_hold(args: argparse.Namespace) -> int:
    return _hold_command(args, place=True)


@_handler
def cmd_release(args: argparse.Namespace) -> int:
    return _hold_command(args, place=False)


@_handler
def cmd_sweep(args: argparse.Namespace) -> int:
    """Shred expired recordings (or list them with --dry-run)."""
    try:
        now = parse_instant(args.now) if args.now else datetime.now(timezone.utc)
    except ValueError as exc:
        raise UsageError(
            f"--now must be an ISO instant with an offset, e.g. 2026-03-02T10:00:00+08:00 ({exc})"
        ) from None
    directory = _recordings_dir(args)
    if not directory.is_dir():
        print(f"no recordings in {directory}")
        return EXIT_OK
    rules, holds = _box_policy(args)
    report = sweep(directory, now, args.dry_run, audit_hook(args.data), rules=rules, legal_holds=holds | set(args.hold))
    verb = "would shred" if args.dry_run else "shredded"
    for name in report.shredded:
        print(f"{verb} {name}")
    for name, why in report.skipped.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    counts = f"kept {len(report.kept)}, on hold {len(report.held)}, skipped {len(report.skipped)}"
    print(f"{verb} {len(report.shredded)}, {counts}")
    return EXIT_OK
