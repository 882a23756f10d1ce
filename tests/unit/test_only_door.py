"""The gate is the only door: no code path reaches a dial except Line.dial after a permit redeem.

Static checks over the source tree (so a future shortcut fails CI), plus a behavioural check that a
Line subclass cannot be made to dial without a valid permit.
"""

import ast
from datetime import datetime, timezone
from pathlib import Path

import pytest

from callbox.clock import FixedClock
from callbox.compliance.permit import PermitAuthority, PermitError
from callbox.lines.base import CallControl, Line

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware" / "callbox"
# Raw dial primitives of each technology, and the one function allowed to use each.
DIAL_PRIMITIVES = {"makeCall": {"lines/sip.py"}, "_place_call": {"lines/base.py"}}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield name, node


def _sources():
    for path in FIRMWARE.rglob("*.py"):
        yield path.relative_to(FIRMWARE).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def test_dial_primitives_are_called_only_behind_the_permit_check():
    offenders = []
    for rel, tree in _sources():
        for name, node in _calls(tree):
            if name in DIAL_PRIMITIVES and rel not in DIAL_PRIMITIVES[name]:
                offenders.append(f"{rel}:{node.lineno} calls {name}")
    assert offenders == []


def test_place_call_is_invoked_only_from_line_dial_after_redeem():
    tree = ast.parse((FIRMWARE / "lines" / "base.py").read_text(encoding="utf-8"))
    dial = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "dial")
    names = [name for name, _ in _calls(dial)]
    assert names.index("redeem") < names.index("_place_call")
    callers = [
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and any(name == "_place_call" for name, _ in _calls(n))
    ]
    assert callers == ["dial"]


def test_sip_makecall_lives_inside_place_call():
    tree = ast.parse((FIRMWARE / "lines" / "sip.py").read_text(encoding="utf-8"))
    owners = [
        n.name
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and any(name == "makeCall" for name, _ in _calls(n))
    ]
    # makeCall is in a closure defined inside SipLine._place_call.
    assert set(owners) <= {"_place_call", "_make"}
    place = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_place_call")
    assert any(isinstance(n, ast.FunctionDef) and n.name == "_make" for n in ast.walk(place))


def test_gsm_atd_is_sent_only_from_place_call():
    gsm = FIRMWARE / "lines" / "gsm.py"
    if not gsm.exists():
        pytest.skip("GSM line not present")
    tree = ast.parse(gsm.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("ATD"):
            owner = [
                f.name
                for f in ast.walk(tree)
                if isinstance(f, ast.FunctionDef) and f.lineno <= node.lineno <= (f.end_lineno or 0)
            ]
            assert owner and ("_place_call" in owner or "_dial" in owner[-1]), f"ATD at line {node.lineno} in {owner}"


def test_permits_are_issued_only_by_the_gate():
    issuers = []
    for rel, tree in _sources():
        for name, node in _calls(tree):
            if name == "issue" and isinstance(node.func, ast.Attribute) and "authority" in ast.unparse(node.func.value):
                issuers.append(rel)
    assert set(issuers) == {"compliance/gate.py"}


class RecordingLine(Line):
    kind = "sip"

    def __init__(self, authority):
        super().__init__("test", authority)
        self.dialed: list[str] = []

    def _place_call(self, number, listener) -> CallControl:
        self.dialed.append(number)
        return None  # type: ignore[return-value]

    def start(self):
        pass

    def stop(self):
        pass


def test_a_line_without_a_valid_permit_never_reaches_its_dial():
    clock = FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc))
    gate_authority = PermitAuthority(clock)
    line = RecordingLine(gate_authority)
    rogue = PermitAuthority(clock).issue("+8613800138001", 1, "sip")
    for bad in ("+8613800138001", None, rogue):
        with pytest.raises(PermitError):
            line.dial(bad, listener=None)  # type: ignore[arg-type]
    assert line.dialed == []
    good = gate_authority.issue("+8613800138001", 2, "sip")
    line.dial(good, listener=None)  # type: ignore[arg-type]
    assert line.dialed == ["+8613800138001"]
