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
class RiskLimits:
    """Per-campaign thresholds that pause a campaign (see :mod:`callbox.compliance.risk`).

    Rates are judged only once ``min_answered`` answered calls (``min_dialed`` dials for the answer
    rate) exist in the window, so one early complaint does not stop a campaign of thousands.
    """

    window_days: int = 30
    min_answered: int = 20
    min_dialed: int = 50
    max_complaint_rate: float | None = None  # (opt-outs + complaints) / answered
    short_hangup_s: float = 5.0
    max_short_hangup_rate: float | None = None  # answered calls hung up within short_hangup_s / answered
    min_answer_rate: float | None = None  # answered / dialed
    max_abandon_rate: float | None = None  # abandoned / answered (US: 3 %, 47 CFR 64.1200(a)(7))
    connect_within_s: float = 2.0  # an answered call the box does not speak on within this is abandoned


@dataclass(frozen=True)
class LintLibrary:
    """Phrases a script may not say, per language (case-insensitive substring match).

    ``prohibited``: absolute or false claims (广告法 art. 9, 28); ``guarantees``: guaranteed-return
    wording; ``medical_claims``: cure/efficacy claims, refused on sensitive (medical) purposes
    (广告法 art. 16); ``opt_out_denial``: wording that tells callees they cannot refuse or must stay.
    """

    prohibited: dict[str, tuple[str, ...]] = field(default_factory=dict)
    guarantees: dict[str, tuple[str, ...]] = field(default_factory=dict)
    medical_claims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    opt_out_denial: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ai_denial: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exceptions: dict[str, tuple[str, ...]] = field(default_factory=dict)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))


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
    # Added with the complete packs; defaults keep older pack files loadable.
    days: frozenset[int] = ALL_DAYS  # weekdays (0 = Monday) on which calls are allowed at all
    country_days: dict[str, frozenset[int]] = field(default_factory=dict)
    written_consent_for: frozenset[str] = frozenset()  # purposes needing prior express *written* consent
    written_methods: frozenset[str] = frozenset({"paper_form", "web_form"})
    erasure_on_request: bool = False
    dnc_forever: bool = True
    blind_dialing_run: int = 5  # this many consecutive numbers in a campaign list = number-range dialing
    risk: RiskLimits = field(default_factory=RiskLimits)
    lint: LintLibrary = field(default_factory=LintLibrary)

    def windows_for(self, region: str) -> tuple[Window, ...]:
        return self.country_windows.get(region, self.windows)

    def days_for(self, region: str) -> frozenset[int]:
        """Weekdays (0 = Monday) on which calls to ``region`` are allowed at all."""
        return self.country_days.get(region, self.days)

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


def _days(raw: Any, key: str) -> frozenset[int]:
    if not isinstance(raw, list) or not raw:
        raise RulePackError(f"{key}: give a list of weekdays, e.g. [\"mon\", \"tue\"]")
    bad = [d for d in raw if d not in WEEKDAYS]
    if bad:
        raise RulePackError(f"{key}: {', '.join(map(str, bad))} not a weekday ({', '.join(WEEKDAYS)})")
    return frozenset(WEEKDAYS.index(d) for d in raw)


def _country_hours(quiet: dict, default_days: frozenset[int]) -> tuple[dict, dict]:
    """``[quiet_hours.countries]``: ``XX = [[..]]`` (windows only) or a table {windows, days}."""
    windows: dict[str, tuple[Window, ...]] = {}
    days: dict[str, frozenset[int]] = {}
    for region, value in quiet.get("countries", {}).items():
        key = f"quiet_hours.countries.{region}"
        if isinstance(value, dict):
            windows[region] = _windows(value.get("windows", []), f"{key}.windows")
            days[region] = _days(value["days"], f"{key}.days") if "days" in value else default_days
        else:
            windows[region] = _windows(value, key)
    return windows, days


def _phrases(raw: Any, key: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise RulePackError(f"{key} must be a table of language = [phrases]")
    return {lang: tuple(str(p) for p in phrases) for lang, phrases in raw.items()}


def _rate(raw: dict, name: str) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise RulePackError(f"risk.{name}: {value!r} must be a fraction between 0 and 1")
    return float(value)


def _risk(raw: dict, abandonment: dict) -> RiskLimits:
    return RiskLimits(
        window_days=int(raw.get("window_days", 30)),
        min_answered=int(raw.get("min_answered", 20)),
        min_dialed=int(raw.get("min_dialed", 50)),
        max_complaint_rate=_rate(raw, "max_complaint_rate"),
        short_hangup_s=float(raw.get("short_hangup_s", 5.0)),
        max_short_hangup_rate=_rate(raw, "max_short_hangup_rate"),
        min_answer_rate=_rate(raw, "min_answer_rate"),
        max_abandon_rate=_rate(abandonment, "max_rate"),
        connect_within_s=float(abandonment.get("connect_within_s", 2.0)),
    )


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
    quiet = _need(data, "quiet_hours")
    no_sundays = bool(quiet.get("no_sundays", False))
    days = _days(quiet["days"], "quiet_hours.days") if "days" in quiet else (ALL_DAYS - {6} if no_sundays else ALL_DAYS)
    country_windows, country_days = _country_hours(quiet, days)
    consent = _need(data, "consent")
    lint = data.get("script_lint", {})
    campaigns = data.get("campaigns", {})
    run = int(campaigns.get("blind_dialing_run", 5))
    if run < 2:
        raise RulePackError("campaigns.blind_dialing_run must be at least 2")
    return RulePack(
        id=_need(data, "id"),
        name=_need(data, "name"),
        version=str(_need(data, "version")),
        default_region=_need(data, "default_region"),
        default_language=default_language,
        windows=_windows(_need(data, "quiet_hours.windows"), "quiet_hours.windows"),
        country_windows=country_windows,
        no_sundays=no_sundays,
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
        days=days,
        country_days=country_days,
        written_consent_for=frozenset(consent.get("written_for", [])),
        written_methods=frozenset(consent.get("written_methods", ["paper_form", "web_form"])),
        erasure_on_request=bool(consent.get("erasure_on_request", False)),
        dnc_forever=bool(data.get("dnc", {}).get("forever", True)),
        blind_dialing_run=run,
        risk=_risk(data.get("risk", {}), data.get("abandonment", {})),
        lint=LintLibrary(
            prohibited=_phrases(lint.get("prohibited", {}), "script_lint.prohibited"),
            guarantees=_phrases(lint.get("guarantees", {}), "script_lint.guarantees"),
            medical_claims=_phrases(lint.get("medical_claims", {}), "script_lint.medical_claims"),
            opt_out_denial=_phrases(lint.get("opt_out_denial", {}), "script_lint.opt_out_denial"),
            ai_denial=_phrases(lint.get("ai_denial", {}), "script_lint.ai_denial"),
            exceptions=_phrases(lint.get("exceptions", {}), "script_lint.exceptions"),
        ),
    )


def shipped_pack_ids() -> list[str]:
    folder = resources.files("callbox.compliance") / "packs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def parse_pack_text(text: str, where: str = "rule pack") -> RulePack:
    """Parse TOML text into a pack; TOML errors become :class:`RulePackError` naming ``where``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulePackError(f"{where} is not valid TOML: {exc}") from exc
    return parse_pack(data)


def load_pack(pack_id: str, data_dir: Path | None = None) -> RulePack:
    """Load pack ``pack_id``: an installed (verified) copy in the data dir wins over the shipped one.

    Only ``callbox rules install`` writes ``<data>/rules/``, and only after the pack's Ed25519
    signature verified against the vendor key (:mod:`callbox.compliance.signing`).
    """
    if data_dir is not None:
        installed = Path(data_dir) / "rules" / f"{pack_id}.toml"
        if installed.exists():
            from callbox.compliance import signing

            try:
                signing.check_installed(installed)
            except signing.SignatureError as exc:
                raise RulePackError(
                    f"installed pack {installed} fails its signature check ({exc}); reinstall it with "
                    f"`callbox rules install`, or delete it to fall back to the shipped pack"
                ) from exc
            return parse_pack_text(installed.read_text(encoding="utf-8"), str(installed))
    resource = resources.files("callbox.compliance") / "packs" / f"{pack_id}.toml"
    if not resource.is_file():
        raise RulePackError(f"no rule pack {pack_id!r}; shipped packs: {', '.join(shipped_pack_ids())}")
    return parse_pack(tomllib.loads(resource.read_text(encoding="utf-8")))
