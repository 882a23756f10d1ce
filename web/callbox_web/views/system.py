"""System: is the box healthy (store, disk, clock, lines), the HTTPS fingerprint, encrypted backups."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import tempfile

from flask import Blueprint, after_this_request, render_template, send_file

from callbox import __version__
from callbox.store import audit
from callbox.store.db import current_version
from callbox_web import security
from callbox_web import auth
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


@bp.route("/backup", methods=["GET", "POST"])
@roles_required(ADMIN)
def backup():
    """Download an encrypted backup of the whole box (store, keys, config, recordings).

    The archive is made with :func:`callbox.backup.create_backup` (online SQLite backup, AES-256-GCM
    under an argon2id key from the passphrase typed here) into a temporary file that is removed once
    sent; it is encrypted, so nothing readable lands on disk. Every download is audited.
    """
    from callbox.backup import BackupError, create_backup
    from callbox_web.forms import BackupForm

    form = BackupForm()
    error = ""
    if form.validate_on_submit():
        p = panel()
        tmp = Path(tempfile.mkdtemp(prefix="callbox-backup-"))
        name = f"callbox-backup-{p.clock.now().strftime('%Y%m%d-%H%M')}.cbbak"
        out = tmp / name
        try:
            report = create_backup(p.data_dir, out, form.passphrase.data)
        except BackupError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            error = str(exc)
        else:
            audit.append(p.store, auth.actor(), "backup.download", name, {"bytes": out.stat().st_size,
                                                                          "counts": getattr(report, "counts", {})})

            @after_this_request
            def _cleanup(response):
                response.call_on_close(lambda: shutil.rmtree(tmp, ignore_errors=True))
                return response

            return send_file(out, mimetype="application/octet-stream", as_attachment=True, download_name=name)
    return render_template("system/backup.html", form=form, error=error)
