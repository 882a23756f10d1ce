"""Constants shared by the recording tests (a uniquely named module: ``from conftest import`` would
pick up whichever conftest.py another test folder loaded first)."""

from __future__ import annotations

from pathlib import Path

from callbox.recordings.keystore import KdfParams

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
PASSPHRASE = "correct horse battery staple"
# argon2id at its cheapest: the production cost is measured by scripts/bench_recordings.py, not here.
FAST_KDF = KdfParams(time_cost=1, memory_cost_kib=8, parallelism=1)


def cli_parser():
    """The `callbox` argument parser with only the recordings/keys commands (as the CLI registers them)."""
    import argparse

    from callbox.cli import recordings as cli

    p = argparse.ArgumentParser(prog="callbox")
    p.add_argument("--data", type=Path, required=True)
    cli.register(p.add_subparsers(dest="command", required=True))
    return p


def run_cli(data: Path, *argv: str) -> int:
    """Run one recordings/keys command against the box in ``data``; returns its exit code."""
    args = cli_parser().parse_args(["--data", str(data), *argv])
    return args.func(args)
