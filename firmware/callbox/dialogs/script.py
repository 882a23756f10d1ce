"""Call scripts (话术) as data files, and their structural validation.

A script is a TOML file: a list of steps, each with something to say per language and then one of:
- ``on.<intent>`` branches: an *ask* (reprompted once on silence or an unexpected answer, then a polite
  goodbye); a branch may say something, set the outcome, go ``next`` or ``transfer = true``;
- ``collect = { digits = 4, var = "choice" }``: collect DTMF digits (``#`` ends early) into a variable;
  9 and 0 keep their meaning everywhere (opt-out, a person), so menus use 1–8;
- ``transfer = "staff"``: hand the call to a person (SIP REFER to the staff extension; on GSM a callback
  task for staff);
- ``hangup = true``: end the call after saying the step;
- otherwise ``next`` (default ``end``: goodbye and hang up). Scripts cannot touch the prologue (identity, AI disclosure, recording
question) or the opt-out listener: those are added by the dialog around every script, and a script
that tries to define them is refused (see also ``callbox script lint`` for content rules).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from callbox.dialogs.intents import INTENTS

FORBIDDEN_KEYS = {"prologue", "identity", "ai_disclosure", "disclosure", "opt_out", "recording_question", "skip_prologue"}


class ScriptError(ValueError):
    """The script file is not valid; the message names the step and key."""


@dataclass(frozen=True)
class Branch:
    say: dict[str, str]
    outcome: str
    next: str
    transfer: bool = False


@dataclass(frozen=True)
class Collect:
    digits: int
    var: str


@dataclass(frozen=True)
class Step:
    id: str
    say: dict[str, str]
    on: dict[str, Branch] = field(default_factory=dict)
    next: str = "end"
    collect: Collect | None = None
    transfer: str = ""
    hangup: bool = False

    @property
    def is_question(self) -> bool:
        return bool(self.on)


@dataclass(frozen=True)
class Script:
    id: str
    name: str
    purpose: str
    languages: tuple[str, ...]
    steps: tuple[Step, ...]
    source_text: str = field(default="", repr=False, compare=False)
    transfer_to: str = ""  # staff extension or SIP URI for handoffs; empty = the box's configured staff line

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


def _say(raw: Any, where: str, languages: tuple[str, ...]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}.say must be a table of language = text")
    missing = [lang for lang in languages if not raw.get(lang)]
    if missing:
        raise ScriptError(f"{where}.say has no text for {', '.join(missing)}")
    return {str(k): str(v) for k, v in raw.items()}


def parse_script(text: str) -> Script:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError(f"not valid TOML: {exc}") from exc
    overrides = FORBIDDEN_KEYS & set(data)
    if overrides:
        raise ScriptError(
            f"script tries to define {', '.join(sorted(overrides))}: the prologue and opt-out are added by "
            "the box to every call and cannot be changed by a script"
        )
    for key in ("id", "purpose", "steps"):
        if key not in data:
            raise ScriptError(f"script is missing {key!r}")
    languages = tuple(data.get("languages", ["zh", "en"]))
    steps: list[Step] = []
    ids: set[str] = set()
    for index, raw in enumerate(data["steps"], start=1):
        where = f"step {index} ({raw.get('id', '?')})"
        if FORBIDDEN_KEYS & set(raw):
            raise ScriptError(f"{where} tries to override the prologue or opt-out, which scripts cannot do")
        if "id" not in raw:
            raise ScriptError(f"{where} has no id")
        branches = {}
        for intent, branch in (raw.get("on") or {}).items():
            if intent not in INTENTS or intent == "opt_out":
                raise ScriptError(f"{where}.on.{intent}: not a known intent (opt_out is always handled by the box)")
            branches[intent] = Branch(
                say=_say(branch.get("say"), f"{where}.on.{intent}", languages),
                outcome=str(branch.get("outcome", intent)),
                next=str(branch.get("next", "end")),
                transfer=bool(branch.get("transfer", False)),
            )
        collect = None
        if "collect" in raw:
            spec = raw["collect"]
            if not isinstance(spec, dict) or int(spec.get("digits", 0)) < 1 or not spec.get("var"):
                raise ScriptError(f"{where}.collect needs digits (≥ 1) and var")
            collect = Collect(int(spec["digits"]), str(spec["var"]))
        transfer = raw.get("transfer", "")
        steps.append(
            Step(
                raw["id"], _say(raw.get("say"), where, languages), branches, str(raw.get("next", "end")), collect,
                "staff" if transfer is True else str(transfer or ""), bool(raw.get("hangup", False)),
            )
        )
        ids.add(raw["id"])
    for step in steps:
        targets = [step.next] + [b.next for b in step.on.values()]
        for target in targets:
            if target != "end" and target not in ids:
                raise ScriptError(f"step {step.id} goes to unknown step {target!r}")
    return Script(data["id"], data.get("name", data["id"]), data["purpose"], languages, tuple(steps), text,
                  str(data.get("transfer_to", "")))


def load_script(name_or_path: str | Path) -> Script:
    """Load a shipped script by id (``appointment_reminder``) or any script file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return parse_script(path.read_text(encoding="utf-8"))
    resource = resources.files("callbox.dialogs") / "scripts" / f"{name_or_path}.toml"
    if not resource.is_file():
        raise ScriptError(f"no script {name_or_path!r}: give a path to a .toml file or a shipped script id")
    return parse_script(resource.read_text(encoding="utf-8"))
