"""Recordings only after a purpose, every access audited; serving over HTTP and HTTPS; the CLI."""

from __future__ import annotations

import json
import logging
import re
import ssl
import subprocess
import sys
import urllib.request

import pytest
from web_support import post

from callbox.recordings.keystore import KdfParams, KeyStore
from callbox.recordings.recorder import Recorder
from callbox.store import models as m

PASSPHRASE = "four random words here"
FAST_KDF = KdfParams(time_cost=1, memory_cost_kib=8 * 1024, parallelism=1)


def make_recording(data_dir, store, call_id: int = 1) -> str:
    """A real encrypted recording of one second, the way the daemon makes it."""
    keys = KeyStore.for_data_dir(data_dir, FAST_KDF)
    if not keys.exists():
        keys.init(PASSPHRASE)
    public = keys.public_key()
    name = f"call-{call_id:06d}.cbr"
    recorder = Recorder(data_dir / "recordings" / name, public.key, public.key_id,
                        {"call_id": call_id, "created_at": store.clock.now().isoformat()}, fsync=False)
    tone = bytes(range(0, 256, 2)) * 2 + bytes(64)
    for _ in range(50):
        recorder.feed(tone[:320], bytes(320))
    recorder.stop()
    attempt = m.Attempt.create(phone="+8613800138000", purpose="reminder", at=store.clock.now(), outcome="confirmed")
    m.Call.create(attempt=attempt, line_id="sip1", started_at=store.clock.now(), recording="on", recording_file=name,
                  outcome="confirmed")
    return name


def test_recording_needs_purpose_and_passphrase_and_is_audited(client_as, app, store):
    data_dir = app.extensions["callbox"].data_dir
    name = make_recording(data_dir, store)
    reviewer = client_as("reviewer")
    page = reviewer.get(f"/recordings/{name}").get_data(as_text=True)
    assert "<audio" not in page and 'name="purpose"' in page
    no_purpose = post(reviewer, f"/recordings/{name}", {"purpose": "", "passphrase": PASSPHRASE})
    assert "<audio" not in no_purpose.get_data(as_text=True)
    wrong = post(reviewer, f"/recordings/{name}", {"purpose": "complaint review case 12", "passphrase": "not it at all"})
    assert "<audio" not in wrong.get_data(as_text=True)
    refused = m.AuditEntry.get(m.AuditEntry.action == "recording.access_refused")
    assert refused.actor == "web:reviewer" and refused.subject == name
    ok = post(reviewer, f"/recordings/{name}", {"purpose": "complaint review case 12", "passphrase": PASSPHRASE})
    html = ok.get_data(as_text=True)
    src = re.search(r'<audio controls src="([^"]+)"', html).group(1)
    audio = reviewer.get(src)
    assert audio.status_code == 200 and audio.mimetype == "audio/wav" and audio.data[:4] == b"RIFF"
    assert audio.headers["Cache-Control"] == "no-store"
    entry = m.AuditEntry.get(m.AuditEntry.action == "recording.play")
    assert entry.actor == "web:reviewer" and entry.subject == name
    assert entry.details["purpose"] == "complaint review case 12" and entry.details["call_id"] == 1
    # the decrypted audio exists only in memory, for this user
    assert not any(p.suffix == ".wav" for p in data_dir.rglob("*"))
    assert client_as("admin").get(src).status_code == 404
    assert client_as("staff").get(src).status_code == 403
    assert client_as("staff").get(f"/recordings/{name}").status_code == 403
    assert client_as("auditor").get(f"/recordings/{name}").status_code == 403
    assert reviewer.get("/recordings/..%2Fcallbox.sqlite3").status_code == 404


def test_keys_can_be_created_once_from_settings(client_as, app):
    admin = client_as("admin")
    short = post(admin, "/settings/keys", {"passphrase": "short", "confirm": "short"})
    assert short.status_code == 302
    data_dir = app.extensions["callbox"].data_dir
    assert not KeyStore.for_data_dir(data_dir).exists()
    post(admin, "/settings/keys", {"passphrase": PASSPHRASE, "confirm": PASSPHRASE})
    assert KeyStore.for_data_dir(data_dir).exists()
    assert m.AuditEntry.select().where(m.AuditEntry.action == "keys.init").exists()


def test_persist_listener_writes_line_status(store):
    from callbox.lines.base import LineEvent, LineState
    from callbox.store.models_panel import LineStatus, panel_line_listeners

    (listener,) = panel_line_listeners(store)
    listener(LineEvent("sip1", LineState.READY))
    listener(LineEvent("sip1", LineState.DIALING, "+86138…"))
    listener.flush()
    row = LineStatus.get(LineStatus.line_id == "sip1")
    assert row.state == "dialing" and row.detail == "+86138…"


def test_serve_http_on_loopback_in_a_thread(box, clock, caplog):
    import threading

    from web_support import FAST_ARGON2

    from callbox_web import serve

    stop = serve(box, "127.0.0.1", 0, clock=clock, in_thread=True, config={"ARGON2": FAST_ARGON2})
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stop.port}/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"ok": True}
        with urllib.request.urlopen(f"http://127.0.0.1:{stop.port}/login", timeout=5) as response:
            assert response.url.endswith("/setup")
    finally:
        stop()
    # Stopped cleanly: the server thread is gone and nothing alarming reached the technician's log.
    assert "panel-http" not in [t.name for t in threading.enumerate()]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_serve_https_with_the_box_certificate(box, clock):
    from web_support import FAST_ARGON2

    from callbox_web import security, serve

    stop = serve(box, "127.0.0.1", 0, clock=clock, in_thread=True, config={"ARGON2": FAST_ARGON2}, tls=True)
    try:
        context = ssl.create_default_context(cafile=str(box / "web" / security.CERT_NAME))
        context.check_hostname = False
        with urllib.request.urlopen(f"https://127.0.0.1:{stop.port}/healthz", timeout=5, context=context) as response:
            assert response.status == 200
            assert "Strict-Transport-Security" in response.headers
        pem = ssl.get_server_certificate(("127.0.0.1", stop.port))
        der = ssl.PEM_cert_to_DER_cert(pem)
        import hashlib

        assert ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) == security.fingerprint(box / "web")
    finally:
        stop()


def test_plain_http_is_refused_off_loopback(box):
    from callbox_web import serve

    with pytest.raises(ValueError):
        serve(box, "0.0.0.0", 0, in_thread=True, tls=False)


def test_cli_fingerprint(box):
    result = subprocess.run([sys.executable, "-m", "callbox", "--data", str(box), "web", "fingerprint"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0 and "No module named callbox.__main__" in result.stderr:
        result = subprocess.run([sys.executable, "-c", "import sys; from callbox.cli import main; sys.exit(main(sys.argv[1:]))",
                                 "--data", str(box), "web", "fingerprint"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}\n", result.stdout)
