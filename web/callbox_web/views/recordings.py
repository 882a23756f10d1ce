"""Recordings: nobody hears one without first saying why, and every access is in the audit log.

The recording passphrase unlocks the box keys in memory for one request; the audio is decrypted into
memory and handed to the browser from memory (a short-lived token, only to the same user). Nothing
decrypted is ever written to disk.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callbox.recordings.keystore import KeyStore, KeyStoreError, WrongPassphrase
from callbox.recordings.stream import RecordingError, decrypt, scan
from callbox.store import audit
from callbox.store import models as m
from callbox_web.auth import ADMIN, AUDITOR, REVIEWER, actor, current_user, panel, roles_required
from callbox_web.forms import RecordingAccessForm

bp = Blueprint("recordings", __name__, url_prefix="/recordings")
LISTENERS = (ADMIN, REVIEWER)
READERS = (ADMIN, REVIEWER, AUDITOR)
LISTEN_MINUTES = 10


def _folder() -> Path:
    return panel().data_dir / "recordings"


def _file(name: str) -> Path:
    """The recording called ``name`` inside the recordings folder, refusing anything else."""
    if "/" in name or "\\" in name or not name.endswith(".cbr") or name.startswith("."):
        abort(404)
    path = _folder() / name
    if not path.is_file():
        abort(404)
    return path


def wav_bytes(audio: bytes, sample_rate: int, channels: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(audio)
    return buffer.getvalue()


@bp.get("/")
@roles_required(*READERS)
def index():
    folder = _folder()
    calls = {c.recording_file: c for c in m.Call.select().where(m.Call.recording_file.is_null(False))}
    rows = []
    for path in sorted(folder.glob("*.cbr")) if folder.exists() else []:
        try:
            header, layout = scan(path)
            seconds = sum(f.ct_len - 16 for f in layout.frames) / header.bytes_per_second
            created = header.metadata.get("created_at", "")
        except (RecordingError, OSError):
            seconds, created = None, ""
        rows.append({"name": path.name, "call": calls.get(path.name), "seconds": seconds, "created": created})
    return render_template("recordings/index.html", rows=rows, can_listen=current_user.role in LISTENERS)


@bp.route("/<name>", methods=["GET", "POST"])
@roles_required(*LISTENERS)
def open_recording(name: str):
    """Ask why first; then unlock, decrypt into memory, audit, and show the player."""
    path = _file(name)
    p = panel()
    form = RecordingAccessForm()
    call = m.Call.get_or_none(m.Call.recording_file == name)
    if form.validate_on_submit():
        purpose = form.purpose.data.strip()
        try:
            with KeyStore.for_data_dir(p.data_dir).unlock(form.passphrase.data) as keys:
                result = decrypt(path, keys, salvage=True)
        except WrongPassphrase:
            audit.append(p.store, actor(), "recording.access_refused", name,
                         {"purpose": purpose, "why": "wrong passphrase"})
            flash(_("The recording passphrase is wrong."), "error")
            return render_template("recordings/open.html", form=form, name=name, call=call, token=None)
        except (KeyStoreError, RecordingError) as exc:
            flash(_("The recording cannot be opened: %(why)s", why=str(exc)), "error")
            return render_template("recordings/open.html", form=form, name=name, call=call, token=None)
        meta = result.header.metadata
        wav = wav_bytes(result.audio, int(meta.get("sample_rate", 8000)), int(meta.get("channels", 2)))
        audit.append(p.store, actor(), "recording.play", name,
                     {"purpose": purpose, "operator": current_user.username, "call_id": meta.get("call_id"),
                      "complete": result.complete, "seconds": round(result.seconds, 1)})
        token = p.put("recording", current_user.username, {"name": name, "wav": wav}, LISTEN_MINUTES * 60)
        return render_template("recordings/open.html", form=None, name=name, call=call, token=token,
                               seconds=result.seconds, complete=result.complete)
    return render_template("recordings/open.html", form=form, name=name, call=call, token=None)


@bp.get("/play/<token>.wav")
@roles_required(*LISTENERS)
def audio(token: str):
    """The decrypted audio, from memory, only to the user who unlocked it, for a few minutes."""
    held = panel().get("recording", current_user.username, token)
    if held is None:
        abort(404)
    response = Response(held["wav"], mimetype="audio/wav")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.post("/play/<token>/close")
@roles_required(*LISTENERS)
def close(token: str):
    panel().drop(token)
    return redirect(url_for("recordings.index"))



