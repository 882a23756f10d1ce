"""Script lint (话术审核): what a script may not say, checked against the rule pack's phrase library.

Pure: text in, findings out. A finding names the step, the language and the phrase, so staff can fix
the script line by line. What is refused:

- ``prohibited``: absolute or false claims (最好, 第一, 国家级, 100%, 保证治愈, "the best", ...);
- ``guarantee``: guaranteed-return wording (保本, 稳赚, "guaranteed returns", ...);
- ``medical_claim``: cure/efficacy claims, on sensitive (medical) purposes or medical organisations;
- ``opt_out_denial``: telling callees they cannot opt out, must not hang up, must "stay on the line"
  (the box always offers opt-out; a script contradicting it misleads);
- ``ai_denial``: claiming a human voice (the prologue discloses the AI voice);
- ``prologue_override``: any key, anywhere in the file, that tries to define or switch off the
  prologue, the disclosure, the recording question or the opt-out (``dialogs.script.parse_script``
  refuses the obvious ones; lint walks the whole file);
- ``purpose_mismatch``: the script's purpose differs from the campaign's.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from callbox.compliance.rulepack import RulePack
from callbox.dialogs.script import Script, ScriptError, parse_script

OVERRIDE_WORDS = ("prologue", "disclos", "identity", "opt_out", "optout", "opt-out", "recording_question",
                  "skip_", "disable", "no_recording_question", "callback_number", "caller_id", "callerid")


@dataclass(frozen=True)
class Finding:
    step: str
    language: str
    phrase: str
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"step {self.step}" + (f" [{self.language}]" if self.language else "")
        quoted = f" {self.phrase!r}" if self.phrase else ""
        return f"{where}: {self.rule}{quoted}: {self.message}"

    def as_json(self) -> dict:
        return {"step": self.step, "language": self.language, "phrase": self.phrase, "rule": self.rule,
                "message": self.message}


FIXES = {
    "prohibited": "absolute or unprovable claims are not allowed (广告法 art. 9, 28); state plain facts",
    "guarantee": "returns or outcomes cannot be guaranteed (广告法 art. 25); remove the promise",
    "medical_claim": "medical efficacy claims are not allowed in calls (广告法 art. 16); describe the appointment only",
    "opt_out_denial": "callees may always refuse or hang up; the box offers opt-out on every call, remove this",
    "ai_denial": "the voice is automated and the prologue says so; do not claim otherwise",
}


@lru_cache(maxsize=4096)
def _pattern(phrase: str) -> re.Pattern[str]:
    escaped = re.escape(phrase.lower())
    if re.search(r"[a-z0-9]", phrase.lower()):
        # Latin words match whole words only ("cure" is not in "secure").
        return re.compile(rf"(?<![a-z0-9]){escaped}(?![a-z0-9])")
    return re.compile(escaped)


def find_phrases(text: str, phrases: tuple[str, ...], exceptions: tuple[str, ...] = ()) -> list[str]:
    """Which of ``phrases`` occur in ``text`` (case-insensitive), ignoring ``exceptions``."""
    lowered = text.lower()
    for allowed in exceptions:
        lowered = lowered.replace(allowed.lower(), " ")
    return [p for p in phrases if _pattern(p).search(lowered)]


def _texts(script: Script) -> Iterator[tuple[str, str, str]]:
    """(step, language, text) for everything the script makes the box say."""
    for step in script.steps:
        for lang, text in step.say.items():
            yield step.id, lang, text
        for intent, branch in step.on.items():
            for lang, text in branch.say.items():
                yield f"{step.id}.on.{intent}", lang, text


def _override_keys(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            lowered = str(key).lower()
            # `on.<intent>` tables are the script's own branches; parse_script validates the intent.
            if any(word in lowered for word in OVERRIDE_WORDS) and not path.endswith(".on"):
                yield here
            yield from _override_keys(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node, start=1):
            label = item.get("id", index) if isinstance(item, dict) else index
            yield from _override_keys(item, f"{path}[{label}]")


def lint_text(text: str, pack: RulePack, purpose: str | None = None, medical: bool = False) -> list[Finding]:
    """Lint a script file's text. Raises :class:`ScriptError` if it is not a valid script at all."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError(f"not valid TOML: {exc}") from exc
    findings = [
        Finding(path, "", path.rsplit(".", 1)[-1], "prologue_override",
                "the prologue (identity, AI disclosure, recording question) and opt-out are added by the box "
                "and cannot be defined, changed or switched off by a script; remove this key")
        for path in _override_keys(raw)
    ]
    if findings:
        return findings
    script = parse_script(text)
    return findings + lint_script(script, pack, purpose, medical)


def lint_script(script: Script, pack: RulePack, purpose: str | None = None, medical: bool = False) -> list[Finding]:
    """Content findings for a parsed script (empty list = clean)."""
    lib = pack.lint
    findings: list[Finding] = []
    if purpose is not None and script.purpose != purpose:
        findings.append(Finding("-", "", script.purpose, "purpose_mismatch",
                                f"the script is for {script.purpose!r} but the campaign is for {purpose!r}"))
    check_medical = medical or script.purpose in pack.sensitive_purposes
    groups = [("prohibited", lib.prohibited), ("guarantee", lib.guarantees), ("opt_out_denial", lib.opt_out_denial),
              ("ai_denial", lib.ai_denial)]
    if check_medical:
        groups.append(("medical_claim", lib.medical_claims))
    for step, lang, text in _texts(script):
        exceptions = lib.exceptions.get(lang, ())
        for rule, library in groups:
            # A phrase is checked in every language's text: an English claim inside Chinese text counts.
            phrases = tuple(dict.fromkeys(p for lang_phrases in library.values() for p in lang_phrases))
            for phrase in find_phrases(text, phrases, exceptions):
                findings.append(Finding(step, lang, phrase, rule, FIXES[rule]))
    return findings
