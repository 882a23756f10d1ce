"""The plumbing every command module shares, so each handler says only what is its own.

- :func:`open_box`: the store of a box that has been set up (else the usage error naming ``init``);
  wrap it in :func:`contextlib.closing` to have it closed at the end of a ``with`` block.
- :func:`refused`: a library's own error becomes a usage error (exit 2) with the same message.
- :func:`instant`: an ISO 8601 option value as an aware UTC instant, or a usage error naming the option.
- :func:`emit`: rows as one JSON array (``--json``) or one formatted line each.
- :func:`group`: register a command group (``callbox dnc add|list``) on the top-level subparsers;
  :func:`list_command`: register a command that lists rows with :func:`emit` (it takes ``--json``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from callbox.cli import UsageError


def open_box(data: Path, clock):
    """The store in ``data`` on ``clock``; a usage error if ``callbox init`` has not set the box up."""
    from callbox.store import open_store

    store = open_store(data, clock)
    if store.organisation() is None:
        store.close()
        raise UsageError(f"{data} is not set up: run `callbox --data {data} init ...` first")
    return store


@contextmanager
def refused(*errors: type[Exception]) -> Iterator[None]:
    """Re-raise any of ``errors`` raised in the block as a :class:`UsageError` with the same message."""
    try:
        yield
    except errors as exc:
        raise UsageError(str(exc)) from exc


def instant(value: str, option: str):
    """``value`` of ``option`` (e.g. ``--at``) as an aware UTC datetime; a usage error with an example if not."""
    from callbox.clock import parse_instant

    try:
        return parse_instant(value)
    except ValueError as exc:
        raise UsageError(f"{option} {value!r}: {exc}; use ISO 8601 with a zone, e.g. 2026-03-02T10:00:00+08:00") from exc


def emit(rows: list[dict], as_json: bool, line: Callable[[dict], str], footer: str | None = None) -> None:
    """Print ``rows`` as one JSON array, or ``line(row)`` for each row and then ``footer`` (if any)."""
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        print(line(row))
    if footer is not None:
        print(footer)


def group(sub: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """Add the command ``name`` whose subcommands are added to the returned subparsers."""
    parser = sub.add_parser(name, help=help)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def list_command(sub: argparse._SubParsersAction, name: str, help: str, func: Callable) -> argparse.ArgumentParser:
    """Add the command ``name`` that prints rows with :func:`emit`: it takes ``--json``."""
    parser = sub.add_parser(name, help=help)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=func)
    return parser
