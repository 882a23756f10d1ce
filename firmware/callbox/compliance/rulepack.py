"""Rule packs: the legal rules as data, loaded into a typed, immutable object.

A pack is a TOML file under ``compliance/packs/`` (shipped) or in the data directory (installed from
a signed pack by the pack-update path). The code never hard-codes an hour, a cap or a phrase.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Any

PURPOSES = ("reminder", "follow_up", "service", "marketing")
PROLOGUE_KEYS = (
    "identity",
    "ai_disclosure",
    "opt_out_hint",
    "recording_question",
    "recording_on",
    "recording_off",
    "opt_out_confirm",
    "opt_out_ask",
    "goodbye",
    "reprompt",
)


class RulePackError(ValueError):
    """A pack file is missing a value or has one of the wrong shape; the message names the key."""


Window = tuple[time, time]


@dataclass(frozen=True)
class FrequencyCap:
    per_day: int | None = None
    per_30_days: int | None = None


@dataclass(frozen=True)
class RulePack:
    id: str
    name: str
    version: str
    default_region: str
    default_language: str
    windows: tuple[Window, ...]
    country_windows: dict[str, tuple[Window, ...]]
    no_sundays: bool
    caps: dict[str, FrequencyCap]
    consent_required: dict[str, str]
    sensitive_purposes: frozenset[str]
    minor_age: int
    line_purposes: dict[str, frozenset[str]]
    retention_months: dict[str, int]
    recording_on_withdrawal: str
    prologue: dict[str, dict[str, str]]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def windows_for(self, region: str) -> tuple[Window, ...]:
        return self.country_windows.get(region, self.windows)

    def prologue_text(self, language: str) -> dict[str, str]:
        """Prologue phrases in ``language``, falling back to the pack's default language."""
        return self.prologue.get(language) or self.prologue[self.default_language]


def _time(text: str, key: str) -> time:
    try:
        hour, minute = text.split(":")
        return time(int(hour), int(minute))
    except (ValueError, AttributeError) as exc:
        raise RulePackError(f"{key}: {text!r} is not HH:MM") from exc


def _windows(raw: list, key: str) -> tuple[Window, ...]:
    result = []
    for pair in raw:
        start, end = _time(pair[0], key), _time(pair[1], key)
        if end <= start:
            raise RulePackError(f"{key}: window {pair} ends before it starts")
        result.append((start, end))
    return tuple(sorted(result))


def _need(data: dict, dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise RulePackError(f"rule pack is missing [{dotted}]")
        node = node[part]
    return node


def parse_pack(data: dict[str, Any]) -> RulePack:
    """Validate and type a pack's parsed TOML."""
    prologue = {}
    for lang, phrases in _need(data, "prologue").items():
        missing = [k for k in PROLOGUE_KEYS if not phrases.get(k)]
        if missing:
            raise RulePackError(f"[prologue.{lang}] is missing {', '.join(missing)}")
        prologue[lang] = {k: str(phrases[k]) for k in PROLOGUE_KEYS}
    default_language = _need(data, "default_language")
    if default_language not in prologue:
        raise RulePackError(f"default_language {default_language!r} has no [prologue.{default_language}]")
    caps = {
        purpose: FrequencyCap(values.get("per_day"), values.get("per_30_days"))
        for purpose, values in _need(data, "frequency.caps").items()
    }
    lines = _need(data, "lines")
    return RulePack(
        id=_need(data, "id"),
        name=_need(data, "name"),
        version=str(_need(data, "version")),
        default_region=_need(data, "default_region"),
        default_language=default_language,
        windows=_windows(_need(data, "quiet_hours.windows"), "quiet_hours.windows"),
        country_windows={
            region: _windows(w, f"quiet_hours.countries.{region}")
            for region, w in data["quiet_hours"].get("countries", {}).items()
        },
        no_sundays=bool(data["quiet_hours"].get("no_sundays", False)),
        caps=caps,
        consent_required=dict(_need(data, "consent.required")),
        sensitive_purposes=frozenset(data["consent"].get("sensitive_purposes", [])),
        minor_age=int(_need(data, "minors.age")),
        line_purposes={
            "gsm": frozenset(_need(data, "lines.gsm_purposes")),
            "sip": frozenset(_need(data, "lines.sip_purposes")),
        },
        retention_months=dict(_need(data, "retention.months")),
        recording_on_withdrawal=data.get("recording", {}).get("on_withdrawal", "keep_before"),
        prologue=prologue,
        raw=data,
    )


def shipped_pack_ids() -> list[str]:
    folder = resources.files("callbox.compliance") / "packs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_pack(pack_id: str, data_dir: Path | None = None) -> RulePack:
    """Load pack ``pack_id``: an installed (verified) copy in the data dir wins over the shipped one."""
    if data_dir is not None:
        installed = Path(data_dir) / "rules" / f"{pack_id}.toml"
        if installed.exists():
            return parse_pack(tomllib.loads(installed.read_text(encoding="utf-8")))
    resource = resources.files("callbox.compliance") / "packs" / f"{pack_id}.toml"
    if not resource.is_file():
        raise RulePackError(f"no rule pack {pack_id!r}; shipped packs: {', '.join(shipped_pack_ids())}")
    return parse_pack(tomllib.loads(resource.read_text(encoding="utf-8")))
