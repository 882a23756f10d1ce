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


# Where a string starting an AT dial command ("ATD...", any case) may stand anywhere in the firmware:
# the one place that sends it, and the AT parser that recognises a dial in flight (to wait for its
# call-progress codes). Anywhere else (another gsm_* module, a helper, a script runner) fails.
ATD_ALLOWED = {("lines/gsm.py", "GsmLine._dial"), ("lines/at.py", "AtParser.begin")}


def _with_owner(tree: ast.AST):
    """(qualified name of the innermost enclosing def/class, or "" at module level, node) for every node."""

    def walk(node: ast.AST, owner: str):
        for child in ast.iter_child_nodes(node):
            yield owner, child
            named = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            yield from walk(child, (f"{owner}.{child.name}" if owner else child.name) if named else owner)

    yield from walk(tree, "")


def test_gsm_atd_is_sent_only_from_the_dial_path():
    found, offenders = set(), []
    for rel, tree in _sources():
        for owner, node in _with_owner(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lstrip().upper().startswith("ATD"):
                found.add((rel, owner))
                if (rel, owner) not in ATD_ALLOWED:
                    offenders.append(f"{rel}:{node.lineno} in {owner or 'module level'}")
    assert offenders == []
    if not (FIRMWARE / "lines" / "gsm.py").exists():
        pytest.skip("GSM line not present")
    assert ("lines/gsm.py", "GsmLine._dial") in found  # the dial command is where this test looks for it


def test_gsm_dial_is_reached_only_through_place_call():
    """GsmLine._place_call (called only by Line.dial after redeem) queues the dial; only _handle runs it."""
    gsm = FIRMWARE / "lines" / "gsm.py"
    if not gsm.exists():
        pytest.skip("GSM line not present")
    queued, dialers = [], []
    for owner, node in _with_owner(ast.parse(gsm.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        first = node.args[0] if node.args else None
        tag = first.elts[0] if isinstance(first, ast.Tuple) and first.elts else None
        if name == "put" and isinstance(tag, ast.Constant) and tag.value == "dial":
            queued.append(owner)
        if name == "_dial":
            dialers.append(owner)
    assert queued == ["GsmLine._place_call"]
    assert dialers == ["GsmLine._handle"]


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
