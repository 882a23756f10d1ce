"""Shared fixtures for compliance tests: a fresh box on a FixedClock and an in-process CLI.

No test depends on today's date: the box clock is fixed and check-call gets --at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callbox.clock import FixedClock
from compliance_support import T0, Box


@pytest.fixture
def box(tmp_path: Path):
    b = Box(tmp_path / "box")
    yield b
    b.store.close()


@pytest.fixture
def make_box(tmp_path: Path):
    boxes = []

    def make(rules: str = "cn", timezone_name: str | None = None) -> Box:
        b = Box(tmp_path / f"box-{len(boxes)}", rules, timezone_name)
        boxes.append(b)
        return b

    yield make
    for b in boxes:
        b.store.close()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run ``callbox --data DIR ...`` in process on a FixedClock; returns (exit code, stdout, stderr)."""
    from callbox import cli as cli_pkg
    from callbox.cli import compliance as cli_compliance

    clock = FixedClock(T0)
    monkeypatch.setattr(cli_compliance, "_clock", lambda args: clock)

    def run(data: Path, *argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli_pkg.main(["--data", str(data), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    run.clock = clock  # type: ignore[attr-defined]
    return run
