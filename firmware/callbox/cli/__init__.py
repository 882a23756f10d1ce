"""The ``callbox`` command.

Each area of the firmware registers its own subcommands (``register(subparsers)`` in a module of
this package); handlers are plain functions ``(args) -> int``. Exit status: 0 success/allowed,
3 call denied or deferred, 2 bad input or usage (one message naming the field and the fix).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from callbox import __version__

EXIT_OK, EXIT_BAD_INPUT, EXIT_DENIED = 0, 2, 3
COMMAND_MODULES = ("callbox.cli.core", "callbox.cli.compliance", "callbox.cli.recordings", "callbox.cli.web", "callbox.cli.field", "callbox.cli.voice", "callbox.cli.callbacks")


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


def default_data_dir() -> Path:
    return Path(os.environ.get("CALLBOX_DATA", "./var/box"))


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="callbox",
        description="callbox: an on-prem AI call box that places only the calls the rules allow.",
    )
    parser.add_argument("--version", action="version", version=f"callbox {__version__}")
    parser.add_argument(
        "--data", type=Path, default=None,
        help="data directory (default: $CALLBOX_DATA, else ./var/box; the demo uses ./var/demo)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    if args.data is None:
        env = os.environ.get("CALLBOX_DATA")
        args.data = Path(env) if env else getattr(args, "default_data", None) or default_data_dir()
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"callbox: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
