"""System: is the box healthy (store, disk, clock, lines), the HTTPS fingerprint, backups (later)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from flask import Blueprint, render_template

from callbox import __version__
from callbox.store import audit
from callbox.store.db import current_version
from callbox_web import security
from callbox_web.auth import ADMIN, AUDITOR, panel, roles_required
from callbox_web.views.dashboard import configured_lines

bp = Blueprint("system", __name__, url_prefix="/system")


def time_source() -> dict:
    """Whether the clock is synchronised: quiet hours are only as right as the clock."""
    info = {"synchronised": None, "detail": ""}
    if Path("/run/systemd/timesync/synchronized").exists():
        return {"synchronised": True, "detail": "systemd-timesyncd"}
    timedatectl = shutil.which("timedatectl")
    if timedatectl:
        try:
            out = subprocess.run([timedatectl, "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                                 text=True, timeout=2).stdout.strip()
            if out in ("yes", "no"):
                return {"synchronised": out == "yes", "detail": "timedatectl"}
        except (OSError, subprocess.SubprocessError):
            pass
    chronyc = shutil.which("chronyc")
    if chronyc:
        info["detail"] = "chrony"
    return info


@bp.get("/")
@roles_required(ADMIN, AUDITOR)
def index():
    p = panel()
    usage = shutil.disk_usage(p.data_dir)
    chain = audit.verify(p.store)
    return render_template("system/index.html", version=__version__, schema=current_version(p.store.db),
                           disk=usage, disk_free_share=usage.free / usage.total if usage.total else None,
                           time=time_source(), now=p.clock.now(), fingerprint=security.fingerprint(p.web_dir),
                           lines=configured_lines(), chain=chain, data_dir=p.data_dir)


@bp.get("/backup")
@roles_required(ADMIN)
def backup():
    """Placeholder page: backups arrive with the field-ready work; it says so plainly."""
    return render_template("system/backup.html")
