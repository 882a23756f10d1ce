"""First boot from a file: ``callbox.toml`` on the SD card's FAT boot partition sets the box up.

Why: a technician flashes the image on a laptop, drops one text file next to it and leaves the box at
the clinic. Nothing else should be needed (no keyboard, no SSH). So this module:

1. validates the file (:func:`parse_config`, pure) — every problem names the key and the fix;
2. applies it (:func:`apply`): organisation and rule pack (``provision.init_box``), ``<data>/lines.toml``
   (SIP accounts + GSM modem), Wi-Fi as a NetworkManager keyfile, time zone, panel setup code,
   recording-passphrase hint, UPS settings;
3. moves the secrets (Wi-Fi key, SIP passwords, SIM PIN, setup code) off the boot partition — which any
   laptop can read — into ``<data>/secrets/`` (mode 0600), and rewrites the boot file with
   ``"(moved to the data partition)"`` in their place, keeping the technician's comments.

It runs on every boot (``callbox-firstboot.service``) and is idempotent: an unchanged file is a no-op;
an edited file (new Wi-Fi, a new SIP account) is applied again, with moved secrets filled back in from
the data partition. The organisation is created once; later changes to ``[box]`` are reported, not
applied, because they change what callees hear and which rules bind the box.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

CONFIG_NAME = "callbox.toml"
MOVED = "(moved to the data partition)"
SECRETS_DIR = "secrets"
SECRETS_FILE = "boot-secrets.json"
STATE_FILE = "firstboot.json"
FIELD_FILE = "field.toml"
HINT_FILE = "recording-passphrase-hint.txt"
SETUP_CODE_FILE = "setup-code.txt"  # what the panel reads (callbox_web.auth)
NM_CONNECTION = "etc/NetworkManager/system-connections/callbox-wifi.nmconnection"
SECRET_KEYS = ("psk", "password", "sim_pin", "setup_code")

Runner = Callable[[list[str]], int]


class ConfigError(ValueError):
    """One problem in callbox.toml: which key, what is wrong, and how to fix it."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{CONFIG_NAME}: {key}: {problem}. Fix: {fix}")


# -- the validated configuration --------------------------------------------------------------------
@dataclass(frozen=True)
class BoxSettings:
    organisation: str
    callback_number: str
    organisation_en: str = ""
    rules: str = "cn"
    industry: str = "general"
    timezone: str | None = None


@dataclass(frozen=True)
class WifiSettings:
    ssid: str
    psk: str | None
    country: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class SipAccount:
    id: str
    user: str
    domain: str
    registrar: str = ""
    username: str = ""
    password: str = ""
    port: int = 5060
    bind: str = "0.0.0.0"


@dataclass(frozen=True)
class GsmSettings:
    id: str = "gsm1"
    model: str = "sim7600"
    at_port: str = "/dev/callbox-modem-at"
    audio_port: str | None = None
    sim_pin: str | None = None


@dataclass(frozen=True)
class UpsSettings:
    gpio: int = 26
    active_high: bool = True
    grace_s: float = 10.0
    command: str = "systemctl poweroff"


@dataclass(frozen=True)
class BootConfig:
    box: BoxSettings
    wifi: WifiSettings | None = None
    sip: tuple[SipAccount, ...] = ()
    gsm: GsmSettings | None = None
    passphrase_hint: str = ""
    setup_code: str | None = None
    ups: UpsSettings | None = None

    def secrets(self) -> dict[str, str]:
        """Every secret value by a stable name (what moves to the data partition)."""
        found: dict[str, str] = {}
        if self.wifi and self.wifi.psk:
            found["wifi.psk"] = self.wifi.psk
        for account in self.sip:
            if account.password:
                found[f"sip.{account.id}.password"] = account.password
        if self.gsm and self.gsm.sim_pin:
            found["gsm.sim_pin"] = self.gsm.sim_pin
        if self.setup_code:
            found["admin.setup_code"] = self.setup_code
        return found


# -- validation (pure) --------------------------------------------------------------------------------
_TABLES = {
    "box": {"organisation", "organisation_en", "callback_number", "rules", "industry", "timezone"},
    "wifi": {"ssid", "psk", "country", "hidden"},
    "sip": {"id", "user", "domain", "registrar", "username", "password", "port", "bind"},
    "gsm": {"enabled", "id", "model", "at_port", "audio_port", "sim_pin"},
    "recording": {"passphrase_hint"},
    "admin": {"setup_code"},
    "ups": {"enabled", "gpio", "active_high", "grace_s", "command"},
}
_LINE_ID = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")


def _unknown(table: str, keys: set[str], allowed: set[str]) -> None:
    for key in sorted(keys - allowed):
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys are {', '.join(sorted(allowed))}"
        raise ConfigError(f"{table}.{key}" if table else key, "unknown key", f"remove it or correct its name ({hint})")


def _get(table: dict, path: str, key: str, kind: type | tuple, required: bool = False, default: Any = None,
         example: str = "") -> Any:
    if key not in table:
        if required:
            raise ConfigError(f"{path}.{key}", "is missing", f"add a line like  {key} = {example}")
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        value = object()  # TOML true/false is not a number here
    if not isinstance(value, kinds):
        names = " or ".join({str: "text in quotes", int: "a whole number", float: "a number",
                             bool: "true or false"}[k] for k in kinds)
        raise ConfigError(f"{path}.{key}", f"must be {names}", f"write it like  {key} = {example}")
    if isinstance(value, str) and required and not value.strip():
        raise ConfigError(f"{path}.{key}", "is empty", f"fill it in, e.g.  {key} = {example}")
    return value


def parse_config(text: str) -> BootConfig:
    """Validate callbox.toml. Raises :class:`ConfigError` naming the first bad key and its fix."""
    text = text.lstrip("\ufeff")  # Windows Notepad writes a byte-order mark
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(file)", f"is not valid TOML ({exc})",
                          "compare the line with scripts/callbox.example.toml; text values need \"quotes\"") from None
    _unknown("", set(data), set(_TABLES))
    for name, value in data.items():
        if name == "sip":
            if not isinstance(value, list):
                raise ConfigError("sip", "must be one or more [[sip]] tables", "write each account as [[sip]] (two brackets)")
        elif not isinstance(value, dict):
            raise ConfigError(name, "must be a table", f"put the settings under a line [{name}]")

    box_t = data.get("box")
    if box_t is None:
        raise ConfigError("box", "is missing", "add a [box] table with organisation and callback_number")
    _unknown("box", set(box_t), _TABLES["box"])
    from callbox.provision import INDUSTRIES

    rules = _get(box_t, "box", "rules", str, default="cn", example='"cn"')
    if rules not in ("cn", "us", "eu"):
        raise ConfigError("box.rules", f"{rules!r} is not a rule pack", 'use "cn", "us" or "eu"')
    industry = _get(box_t, "box", "industry", str, default="general", example='"medical"')
    if industry not in INDUSTRIES:
        raise ConfigError("box.industry", f"{industry!r} is not known", f"use one of {', '.join(INDUSTRIES)}")
    timezone = _get(box_t, "box", "timezone", str, example='"Asia/Shanghai"')
    if timezone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("box.timezone", f"{timezone!r} is not a time zone name",
                              'use an IANA name such as "Asia/Shanghai" or "Europe/Berlin"') from None
    box = BoxSettings(
        organisation=_get(box_t, "box", "organisation", str, True, example='"阳光口腔诊所"').strip(),
        callback_number=_get(box_t, "box", "callback_number", str, True, example='"+86 10 8888 6666"').strip(),
        organisation_en=_get(box_t, "box", "organisation_en", str, default="", example='"Sunshine Dental"').strip(),
        rules=rules, industry=industry, timezone=timezone,
    )

    wifi = None
    if "wifi" in data:
        w = data["wifi"]
        _unknown("wifi", set(w), _TABLES["wifi"])
        ssid = _get(w, "wifi", "ssid", str, True, example='"ClinicWiFi"')
        if len(ssid.encode()) > 32 or any(ord(c) < 32 for c in ssid):
            raise ConfigError("wifi.ssid", "is longer than 32 bytes or has control characters",
                              "copy the network name exactly as phones show it")
        psk = _get(w, "wifi", "psk", str, example='"the wifi password"')
        if psk is not None and psk != MOVED and not (8 <= len(psk) <= 63 or re.fullmatch(r"[0-9a-fA-F]{64}", psk)):
            raise ConfigError("wifi.psk", f"is {len(psk)} characters; a WPA2 password has 8 to 63",
                              "copy the Wi-Fi password exactly, or remove the psk line for an open network")
        country = _get(w, "wifi", "country", str, example='"CN"')
        if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
            raise ConfigError("wifi.country", f"{country!r} is not a two-letter country code", 'e.g.  country = "CN"')
        wifi = WifiSettings(ssid, psk or None, country, _get(w, "wifi", "hidden", bool, default=False, example="false"))

    sip: list[SipAccount] = []
    for index, s in enumerate(data.get("sip", []), start=1):
        path = f"sip[{index}]"
        if not isinstance(s, dict):
            raise ConfigError(path, "must be a table", "write each account as [[sip]] followed by its keys")
        _unknown(path, set(s), _TABLES["sip"])
        line_id = _get(s, path, "id", str, default=f"sip{index}", example='"sip1"')
        if not _LINE_ID.match(line_id):
            raise ConfigError(f"{path}.id", f"{line_id!r} is not a usable line id",
                              'use lower-case letters and digits, e.g. "sip1"')
        port = _get(s, path, "port", int, default=5060, example="5060")
        if not 1 <= port <= 65535:
            raise ConfigError(f"{path}.port", f"{port} is not a UDP port", "use 5060 unless the PBX says otherwise")
        sip.append(SipAccount(
            id=line_id,
            user=_get(s, path, "user", str, True, example='"1001"'),
            domain=_get(s, path, "domain", str, True, example='"pbx.clinic.lan"'),
            registrar=_get(s, path, "registrar", str, default="", example='"pbx.clinic.lan"'),
            username=_get(s, path, "username", str, default="", example='"1001"'),
            password=_get(s, path, "password", str, default="", example='"secret"'),
            port=port,
            bind=_get(s, path, "bind", str, default="0.0.0.0", example='"0.0.0.0"'),
        ))

    gsm = None
    if "gsm" in data and data["gsm"].get("enabled", True) is not False:
        g = data["gsm"]
        _unknown("gsm", set(g), _TABLES["gsm"])
        model = _get(g, "gsm", "model", str, default="sim7600", example='"sim7600"')
        if model not in ("sim7600", "ec25"):
            raise ConfigError("gsm.model", f"{model!r} is not a supported modem", 'use "sim7600" or "ec25"')
        pin = _get(g, "gsm", "sim_pin", (str, int), example='"1234"')
        pin = None if pin is None or pin == "" else str(pin)
        if pin is not None and pin != MOVED and not re.fullmatch(r"\d{4,8}", pin):
            raise ConfigError("gsm.sim_pin", "a SIM PIN is 4 to 8 digits", 'write it in quotes, e.g.  sim_pin = "1234"')
        gsm = GsmSettings(
            id=_get(g, "gsm", "id", str, default="gsm1", example='"gsm1"'),
            model=model,
            at_port=_get(g, "gsm", "at_port", str, default="/dev/callbox-modem-at", example='"/dev/callbox-modem-at"'),
            audio_port=_get(g, "gsm", "audio_port", str, example='"/dev/callbox-modem-audio"'),
            sim_pin=pin,
        )
    ids = [a.id for a in sip] + ([gsm.id] if gsm else [])
    for line_id in ids:
        if ids.count(line_id) > 1:
            raise ConfigError("sip.id", f"line id {line_id!r} is used twice", "give every line its own id")
    hint = ""
    if "recording" in data:
        _unknown("recording", set(data["recording"]), _TABLES["recording"])
        hint = _get(data["recording"], "recording", "passphrase_hint", str, default="", example='"the card in the safe"')
        if len(hint) > 200:
            raise ConfigError("recording.passphrase_hint", "is longer than 200 characters",
                              "a hint reminds, it must not contain the passphrase itself")

    setup_code = None
    if "admin" in data:
        _unknown("admin", set(data["admin"]), _TABLES["admin"])
        setup_code = _get(data["admin"], "admin", "setup_code", str, example='"4821-0937-5562"') or None
        if setup_code and setup_code != MOVED and len(re.sub(r"\D", "", setup_code)) < 8:
            raise ConfigError("admin.setup_code", "needs at least 8 digits",
                              'use 12 digits, e.g.  setup_code = "4821-0937-5562"')

    ups = None
    if "ups" in data and data["ups"].get("enabled", True) is not False:
        u = data["ups"]
        _unknown("ups", set(u), _TABLES["ups"])
        gpio = _get(u, "ups", "gpio", int, default=26, example="26")
        if not 0 <= gpio <= 27:
            raise ConfigError("ups.gpio", f"GPIO {gpio} does not exist on the 40-pin header", "use a BCM number 0..27")
        grace = float(_get(u, "ups", "grace_s", (int, float), default=10.0, example="10"))
        if not 0 <= grace <= 600:
            raise ConfigError("ups.grace_s", "must be between 0 and 600 seconds", "10 suits most UPS HATs")
        ups = UpsSettings(gpio, _get(u, "ups", "active_high", bool, default=True, example="true"), grace,
                          _get(u, "ups", "command", str, default="systemctl poweroff", example='"systemctl poweroff"'))
    return BootConfig(box, wifi, tuple(sip), gsm, hint, setup_code, ups)


# -- rendering (pure) ------------------------------------------------------------------------------
def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings are valid TOML basic strings


def render_lines_toml(config: BootConfig) -> str:
    out = ["# Written by `callbox firstboot` from callbox.toml on the boot partition.",
           "# Edit callbox.toml there (and reboot) rather than this file: firstboot rewrites it.", ""]
    for a in config.sip:
        out += ["[[lines]]", f"id = {_toml_str(a.id)}", 'kind = "sip"', f"user = {_toml_str(a.user)}",
                f"domain = {_toml_str(a.domain)}"]
        if a.registrar:
            out.append(f"registrar = {_toml_str(a.registrar)}")
        out += [f"username = {_toml_str(a.username or a.user)}", f"password = {_toml_str(a.password)}",
                f"bind = {_toml_str(a.bind)}", f"port = {a.port}", ""]
    if config.gsm:
        g = config.gsm
        out += ["[[lines]]", f"id = {_toml_str(g.id)}", 'kind = "gsm"', f"model = {_toml_str(g.model)}",
                f"at_port = {_toml_str(g.at_port)}"]
        if g.audio_port:
            out.append(f"audio_port = {_toml_str(g.audio_port)}")
        if g.sim_pin:
            out.append(f"sim_pin = {_toml_str(g.sim_pin)}")
        out.append("")
    return "\n".join(out)


def _keyfile_escape(value: str) -> str:
    """GKeyFile string escaping (NetworkManager keyfiles)."""
    value = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return "\\s" + value[1:] if value.startswith(" ") else value


def render_nm_keyfile(wifi: WifiSettings) -> str:
    """A NetworkManager keyfile for the clinic Wi-Fi (Bookworm uses NetworkManager, not wpa_supplicant.conf)."""
    conn_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"callbox-wifi:{wifi.ssid}")
    out = ["[connection]", "id=callbox-wifi", f"uuid={conn_uuid}", "type=wifi", "autoconnect=true",
           "autoconnect-retries=0", "", "[wifi]", "mode=infrastructure", f"ssid={_keyfile_escape(wifi.ssid)}"]
    if wifi.hidden:
        out.append("hidden=true")
    if wifi.psk:
        out += ["", "[wifi-security]", "key-mgmt=wpa-psk", f"psk={_keyfile_escape(wifi.psk)}"]
    out += ["", "[ipv4]", "method=auto", "", "[ipv6]", "method=auto", "addr-gen-mode=default", ""]
    return "\n".join(out)


def render_field_toml(config: BootConfig) -> str:
    """Non-secret settings other services read (``callbox ups watch``)."""
    out = ["# Written by `callbox firstboot`; edit callbox.toml on the boot partition instead.", ""]
    if config.ups:
        u = config.ups
        out += ["[ups]", f"gpio = {u.gpio}", f"active_high = {'true' if u.active_high else 'false'}",
                f"grace_s = {u.grace_s}", f"command = {_toml_str(u.command)}", ""]
    return "\n".join(out)


_SECRET_LINE = re.compile(
    r"""^(?P<lead>\s*(?P<key>psk|password|sim_pin|setup_code)\s*=\s*)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|\d+)(?P<tail>\s*(?:\#.*)?)$"""
)


def redact(text: str) -> str:
    """The boot file with every secret value replaced by :data:`MOVED`, comments and layout kept."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        match = _SECRET_LINE.match(body)
        if match and _scalar(match.group("value")) not in ("", MOVED):
            body = f"{match.group('lead')}{_toml_str(MOVED)}{match.group('tail')}"
        out.append(body + ending)
    return "".join(out)


def _scalar(token: str) -> str:
    return str(tomllib.loads(f"v = {token}")["v"])


def merge_secrets(config: BootConfig, stored: dict[str, str]) -> BootConfig:
    """Fill values the boot file shows as :data:`MOVED` from the secrets stored on the data partition."""
    from dataclasses import replace

    def take(name: str, value: str | None) -> str | None:
        if value != MOVED:
            return value
        if name not in stored:
            key = {"wifi.psk": "wifi.psk", "gsm.sim_pin": "gsm.sim_pin", "admin.setup_code": "admin.setup_code"}.get(
                name, "sip.password")
            raise ConfigError(key, f"says {MOVED!r} but this box has no stored value for it",
                              "write the real value in callbox.toml again; it will be moved on the next boot")
        return stored[name]

    wifi = replace(config.wifi, psk=take("wifi.psk", config.wifi.psk)) if config.wifi else None
    sip = tuple(replace(a, password=take(f"sip.{a.id}.password", a.password) or "") for a in config.sip)
    gsm = replace(config.gsm, sim_pin=take("gsm.sim_pin", config.gsm.sim_pin)) if config.gsm else None
    return replace(config, wifi=wifi, sip=sip, gsm=gsm, setup_code=take("admin.setup_code", config.setup_code))


# -- applying (I/O) ----------------------------------------------------------------------------------
@dataclass
class FirstbootResult:
    changed: bool
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_private(path: Path, text: str, mode: int = 0o600) -> bool:
    """Write atomically with ``mode``; returns False (and touches nothing) if the content is the same."""
    data = text.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # FAT directories cannot always be fsynced
    finally:
        os.close(fd)


def _set_regdomain(cmdline: Path, country: str) -> bool:
    """Persist the Wi-Fi country in the kernel command line (how Raspberry Pi OS Bookworm does it)."""
    if not cmdline.exists():
        return False
    text = cmdline.read_text(encoding="utf-8").strip()
    words = [w for w in text.split() if not w.startswith("cfg80211.ieee80211_regdom=")]
    new = " ".join(words + [f"cfg80211.ieee80211_regdom={country}"]) + "\n"
    if new == text + "\n":
        return False
    return write_private(cmdline, new, 0o755 if (cmdline.stat().st_mode & 0o111) else 0o644)


def _set_timezone(root: Path, zone: str, run: Runner | None) -> bool:
    """On the box ask timedated (``run`` given); in a plain tree (tests, image build) write the files."""
    etc = root / "etc"
    if run is not None:
        link = etc / "localtime"
        if link.is_symlink() and os.readlink(link).endswith(f"zoneinfo/{zone}"):
            return False
        return run(["timedatectl", "set-timezone", zone]) == 0
    etc.mkdir(parents=True, exist_ok=True)
    link, target = etc / "localtime", f"/usr/share/zoneinfo/{zone}"
    changed = False
    if not (link.is_symlink() and os.readlink(link) == target):
        tmp = etc / ".localtime.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
        changed = True
    return write_private(etc / "timezone", zone + "\n", 0o644) or changed


def apply(
    boot_dir: Path,
    data_dir: Path,
    root: Path = Path("/"),
    clock: Any = None,
    run: Runner | None = None,
) -> FirstbootResult:
    """Apply ``boot_dir/callbox.toml`` to the box. Raises :class:`ConfigError` on a bad file.

    ``root`` is where system files go (``/`` on the box, a temporary tree in tests); ``run`` executes
    system commands (NetworkManager reload) and is None in tests.
    """
    from callbox.clock import SystemClock
    from callbox.provision import ProvisionError, init_box
    from callbox.store.db import open_store

    boot_file = Path(boot_dir) / CONFIG_NAME
    data_dir = Path(data_dir)
    clock = clock or SystemClock()
    text = boot_file.read_text(encoding="utf-8-sig")
    config = parse_config(text)
    state_path = data_dir / STATE_FILE
    digest = hashlib.sha256(redact(text).encode()).hexdigest()
    try:
        state = json.loads(state_path.read_text())
    except (FileNotFoundError, ValueError):
        state = {}
    if state.get("config_sha256") == digest and text == redact(text):
        return FirstbootResult(False, notes=[f"{boot_file} unchanged since it was applied; nothing to do"])

    secrets_path = data_dir / SECRETS_DIR / SECRETS_FILE
    try:
        stored = json.loads(secrets_path.read_text())
    except (FileNotFoundError, ValueError):
        stored = {}
    config = merge_secrets(config, stored)
    result = FirstbootResult(True)

    # 1. organisation and rule pack (once)
    store = open_store(data_dir, clock)
    org = store.organisation()
    store.close()
    b = config.box
    if org is None:
        try:
            init_box(data_dir, clock, b.rules, b.organisation, b.callback_number, b.timezone, b.industry,
                     b.organisation_en).close()
        except ProvisionError as exc:
            key = {"--callback-number": "box.callback_number", "--org-name": "box.organisation",
                   "--timezone": "box.timezone"}.get(str(exc).split(":")[0].split(" ")[0], "box")
            raise ConfigError(key, str(exc).split(": ", 1)[-1], "correct the value in callbox.toml") from None
        result.actions.append(f"set up organisation {b.organisation!r} with rule pack {b.rules}")
    else:
        if (org.name, org.rules, org.industry) != (b.organisation, b.rules, b.industry) or (
            b.timezone and b.timezone != org.timezone
        ):
            result.notes.append(
                f"the box is already set up for {org.name!r} (rules {org.rules}, {org.industry}); changes to [box] "
                "are not applied. To set up a different organisation, back up and re-flash the SD card"
            )

    # 2. secrets to the data partition first, so nothing is lost if we stop half-way
    secrets_dir = data_dir / SECRETS_DIR
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    merged = {**stored, **config.secrets()}
    if write_private(secrets_path, json.dumps(merged, ensure_ascii=False, sort_keys=True, indent=1) + "\n"):
        result.actions.append(f"stored {len(merged)} secret(s) in {secrets_path} (mode 0600)")

    # 3. phone lines, panel setup code, hint, other settings
    if config.sip or config.gsm:
        if write_private(data_dir / "lines.toml", render_lines_toml(config)):
            result.actions.append(f"wrote {len(config.sip)} SIP and {1 if config.gsm else 0} GSM line(s) to lines.toml")
    if config.setup_code and config.setup_code != stored.get("admin.setup_code.applied"):
        write_private(data_dir / SETUP_CODE_FILE, config.setup_code + "\n")
        merged["admin.setup_code.applied"] = config.setup_code
        write_private(secrets_path, json.dumps(merged, ensure_ascii=False, sort_keys=True, indent=1) + "\n")
        result.actions.append("set the panel's first-time setup code")
    if config.passphrase_hint and write_private(data_dir / HINT_FILE, config.passphrase_hint + "\n", 0o640):
        result.actions.append("saved the recording passphrase hint")
    if write_private(data_dir / FIELD_FILE, render_field_toml(config), 0o644):
        result.actions.append(f"wrote {FIELD_FILE}")

    # 4. system: Wi-Fi, regulatory domain, time zone
    root = Path(root)
    if config.wifi:
        if write_private(root / NM_CONNECTION, render_nm_keyfile(config.wifi)):
            result.actions.append(f"configured Wi-Fi {config.wifi.ssid!r}")
            if run is not None:
                run(["nmcli", "connection", "reload"])  # fails harmlessly at boot: NM reads the file when it starts
        if config.wifi.country and _set_regdomain(Path(boot_dir) / "cmdline.txt", config.wifi.country):
            result.actions.append(f"set the Wi-Fi country to {config.wifi.country} (effective after reboot)")
    zone = b.timezone or (org.timezone if org is not None else None)
    if zone is None:
        store = open_store(data_dir, clock)
        zone = store.organisation().timezone
        store.close()
    if _set_timezone(root, zone, run):
        result.actions.append(f"set the system time zone to {zone}")

    # 5. only now take the secrets off the boot partition
    redacted = redact(text)
    if redacted != text:
        if parse_config(redacted) != _moved(parse_config(text)):
            raise ConfigError("(file)", "secrets could not be removed line by line",
                              "write each password on one line as  key = \"value\"")
        write_private(boot_file, redacted, boot_file.stat().st_mode & 0o777)
        result.actions.append(f"removed secrets from {boot_file}")
    write_private(state_path, json.dumps({"config_sha256": hashlib.sha256(redacted.encode()).hexdigest(),
                                          "applied_at": clock.now().isoformat()}) + "\n", 0o644)
    return result


def _moved(config: BootConfig) -> BootConfig:
    """What ``parse_config(redact(text))`` must equal: every secret shown as :data:`MOVED`."""
    from dataclasses import replace

    wifi = replace(config.wifi, psk=MOVED if config.wifi.psk else None) if config.wifi else None
    sip = tuple(replace(a, password=MOVED if a.password else "") for a in config.sip)
    gsm = replace(config.gsm, sim_pin=MOVED if config.gsm.sim_pin else None) if config.gsm else None
    return replace(config, wifi=wifi, sip=sip, gsm=gsm, setup_code=MOVED if config.setup_code else None)
