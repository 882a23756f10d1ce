"""Creating a box's data directory: organisation, rule pack choice, line configuration file.

The data directory holds everything the box knows (store, keys, recordings, config). Lines live in
``<data>/lines.toml`` so a technician can read and edit them; everything else is in the store.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callbox.clock import Clock
from callbox.compliance import numbers
from callbox.compliance.rulepack import load_pack
from callbox.store import audit
from callbox.store import models as m
from callbox.store.db import Store, open_store

INDUSTRIES = ("general", "medical", "finance", "retail")
LINES_FILE = "lines.toml"


class ProvisionError(ValueError):
    """Bad provisioning input; the message names the option and the fix."""


def init_box(
    data_dir: Path,
    clock: Clock,
    rules: str,
    org_name: str,
    callback_number: str,
    timezone: str | None = None,
    industry: str = "general",
    org_name_en: str = "",
) -> Store:
    """Create (or refuse to overwrite) the organisation of a new box."""
    pack = load_pack(rules)
    if not org_name.strip():
        raise ProvisionError("--org-name is empty: give the name callees will hear, e.g. --org-name '阳光口腔诊所'")
    try:
        callback = numbers.normalise(callback_number, pack.default_region)
    except numbers.InvalidNumber as exc:
        raise ProvisionError(f"--callback-number: {exc}") from exc
    tz = timezone or {"cn": "Asia/Shanghai", "us": "America/New_York", "eu": "Europe/Berlin"}.get(rules, "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ProvisionError(f"--timezone {tz!r} is not an IANA zone name (e.g. Asia/Shanghai)") from exc
    if industry not in INDUSTRIES:
        raise ProvisionError(f"--industry must be one of {', '.join(INDUSTRIES)}")
    store = open_store(data_dir, clock)
    if store.organisation() is not None:
        store.close()
        raise ProvisionError(f"{data_dir} already has an organisation; use a new --data directory")
    with store.atomic():
        m.Organisation.create(
            name=org_name.strip(),
            name_en=org_name_en.strip(),
            callback_number=callback,
            timezone=tz,
            region=pack.default_region,
            industry=industry,
            rules=rules,
            created_at=clock.now(),
        )
        audit.append(store, "technician", "box.init", org_name, {"rules": rules, "industry": industry, "timezone": tz})
    lines = Path(data_dir) / LINES_FILE
    if not lines.exists():
        lines.write_text(LINES_TEMPLATE, encoding="utf-8")
    return store


LINES_TEMPLATE = """\
# Phone lines of this box. One [[lines]] table per line. Examples (uncomment and edit):
#
# [[lines]]
# id = "sip1"
# kind = "sip"
# user = "1001"                 # extension / account user on the PBX
# domain = "pbx.clinic.lan"     # SIP domain
# registrar = "pbx.clinic.lan"  # leave out for direct peer calls without registration
# username = "1001"
# password = "secret"
# bind = "0.0.0.0"
# port = 5060
#
# [[lines]]
# id = "gsm1"
# kind = "gsm"
# at_port = "/dev/callbox-modem-at"
# audio_port = "/dev/callbox-modem-audio"
# model = "sim7600"
"""


def read_lines(data_dir: Path) -> list[dict]:
    path = Path(data_dir) / LINES_FILE
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionError(f"{path}: {exc}") from exc
    lines = data.get("lines", [])
    for index, line in enumerate(lines, start=1):
        if line.get("kind") not in ("sip", "gsm"):
            raise ProvisionError(f"{path}: line {index} needs kind = \"sip\" or \"gsm\"")
        if not line.get("id"):
            raise ProvisionError(f"{path}: line {index} needs an id")
    ids = [line["id"] for line in lines]
    for line_id in sorted({i for i in ids if ids.count(i) > 1}):
        raise ProvisionError(f"{path}: two lines have the id {line_id!r}; give each [[lines]] table its own id")
    return lines
