"""Callback tasks from the command line: ``callbox callbacks list|done``.

The same tasks as the panel's Callbacks page (see ``callbox.store.queries_callbacks``): people the box
promised a call back from staff. ``list`` shows the open ones, oldest first (``--all`` adds the done
and cancelled ones); ``done ID --by NAME`` marks one called back (``--cancel``: cancelled), records
who and when, and appends ``callback.done`` / ``callback.cancel`` to the audit log.
"""

from __future__ import annotations

import argparse
from contextlib import closing

from callbox.cli import EXIT_OK, UsageError
from callbox.cli.common import emit, group, list_command, open_box
from callbox.clock import SystemClock


def _clock(args: argparse.Namespace):
    """The clock for ``handled_at`` and the audit entry (tests patch this)."""
    return SystemClock()


def _box(args: argparse.Namespace) -> closing:
    return closing(open_box(args.data, _clock(args)))


def _line(r: dict) -> str:
    who = f"  {r['status']} by {r['handled_by']} at {r['handled_at']}" if r["status"] != "open" else ""
    name = f" ({r['name']})" if r["name"] else ""
    return (f"{r['id']:4} {r['status']:9} {r['requested_at']}  {r['phone']}{name}  "
            f"line {r['line'] or '-'}: {r['reason'] or '-'}{who}")


def cmd_list(args: argparse.Namespace) -> int:
    from callbox.store import queries_callbacks as cb

    with _box(args):
        rows = cb.tasks_json(include_closed=args.all)
    waiting = sum(1 for r in rows if r["status"] == "open")
    emit(rows, args.json, _line, footer=f"{waiting} person(s) waiting for a call back"
         + ("" if args.all else "; `callbox callbacks list --all` also shows handled ones"))
    return EXIT_OK


def cmd_done(args: argparse.Namespace) -> int:
    from callbox.store import queries_callbacks as cb

    if not args.by.strip():
        raise UsageError("--by must name who handled the task, e.g. --by alice")
    status = "cancelled" if args.cancel else "done"
    with _box(args) as store:
        try:
            task = cb.close_task(store, args.id, status, args.by, args.by)
        except cb.CallbackError as exc:
            fix = {"unknown": "; `callbox callbacks list --all` shows the ids",
                   "closed": "; nothing changed"}.get(exc.code, "")
            raise UsageError(f"{exc}{fix}") from exc
        print(f"callback task {task.id} ({task.phone}) {'cancelled' if args.cancel else 'marked called back'} "
              f"by {task.handled_by} at {task.handled_at.isoformat()}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    csub = group(sub, "callbacks", "people promised a call back from staff: list, done")
    q = list_command(csub, "list", "open callback tasks, oldest first", cmd_list)
    q.add_argument("--all", action="store_true", help="also show tasks already called back or cancelled")
    q = csub.add_parser("done", help="mark a callback task called back (or --cancel it); audited")
    q.add_argument("id", type=int, metavar="ID", help="the task id from `callbox callbacks list`")
    q.add_argument("--by", required=True, metavar="NAME", help="who called the person back (recorded in the audit log)")
    q.add_argument("--cancel", action="store_true", help="cancel the task instead: nobody will call back")
    q.set_defaults(func=cmd_done)
