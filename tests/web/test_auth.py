"""First boot, login, lockout, idle timeout, CSRF, security headers."""

from __future__ import annotations

from datetime import timedelta

from web_support import PASSWORD, csrf, login, make_user, post

from callbox.store import models as m
from callbox.store.models_panel import PanelLoginThrottle, PanelUser


def test_first_visit_needs_the_setup_code(app, box):
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/setup")
    assert client.get("/contacts/").location.endswith("/setup")
    code_file = box / "setup-code.txt"
    code = code_file.read_text().strip()
    assert len(code.replace("-", "")) == 12
    bad = post(client, "/setup", {"code": "0000-0000-0000", "username": "boss", "password": PASSWORD, "confirm": PASSWORD})
    assert "setup code is not right" in bad.get_data(as_text=True) or "设置码不正确" in bad.get_data(as_text=True)
    assert not PanelUser.select().exists()
    weak = post(client, "/setup", {"code": code, "username": "boss", "password": "short", "confirm": "short"})
    assert weak.status_code == 200 and not PanelUser.select().exists()
    ok = post(client, "/setup", {"code": code.replace("-", " "), "username": "boss", "password": PASSWORD,
                                 "confirm": PASSWORD})
    assert ok.status_code == 302
    user = PanelUser.get(PanelUser.username == "boss")
    assert user.role == "admin" and user.password_hash.startswith("$argon2id$")
    assert not code_file.exists(), "the one-time code must be gone after use"
    assert client.get("/").status_code == 200
    assert app.test_client().get("/setup").location.endswith("/login")
    assert m.AuditEntry.select().where(m.AuditEntry.action == "panel.setup").exists()


def test_setup_code_path_is_configurable(box, clock, tmp_path):
    from web_support import FAST_ARGON2

    from callbox_web import create_app

    target = tmp_path / "boot" / "callbox-setup.txt"
    create_app(box, clock=clock, config={"SETUP_CODE_PATH": str(target), "ARGON2": FAST_ARGON2})
    assert target.exists() and not (box / "setup-code.txt").exists()
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_setup_code_wrong_five_times_locks_setup(app, box):
    client = app.test_client()
    code = (box / "setup-code.txt").read_text().strip()
    for _ in range(5):
        post(client, "/setup", {"code": "1111-1111-1111", "username": "x1", "password": PASSWORD, "confirm": PASSWORD})
    blocked = post(client, "/setup", {"code": code, "username": "x1", "password": PASSWORD, "confirm": PASSWORD})
    assert not PanelUser.select().exists()
    assert blocked.status_code == 200


def test_login_and_logout(app, users):
    client = app.test_client()
    assert client.get("/").location.startswith("/login")
    assert login(client, "staff", "wrong password").status_code == 200
    response = login(client, "staff")
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    post(client, "/logout")
    assert client.get("/").status_code == 302


def test_five_failures_lock_the_user_for_15_minutes(app, users, clock):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "staff", "not the password").status_code == 200
    locked = login(client, "staff")  # right password, still locked
    assert locked.status_code == 200
    row = PanelLoginThrottle.get(PanelLoginThrottle.key == "user:staff")
    assert row.locked_until == clock.now() + timedelta(minutes=15)
    # The lock is in the store: a new panel process (a new app) still refuses.
    from web_support import FAST_ARGON2

    from callbox_web import create_app, panel_of

    again = create_app(panel_of(app).data_dir, clock=clock, config={"ARGON2": FAST_ARGON2})
    assert login(again.test_client(), "staff").status_code == 200
    clock.advance(minutes=16)
    assert login(app.test_client(), "staff").status_code == 302
    assert not PanelLoginThrottle.select().where(PanelLoginThrottle.key == "user:staff").exists()
    assert m.AuditEntry.select().where(m.AuditEntry.action == "panel.login_failed").count() == 5


def test_unknown_user_is_counted_too(app, users):
    client = app.test_client()
    for _ in range(5):
        login(client, "nobody", "x")
    assert PanelLoginThrottle.get(PanelLoginThrottle.key == "user:nobody").locked_until is not None


def test_deactivated_user_cannot_log_in(app, users):
    users["staff"].active = False
    users["staff"].save()
    assert login(app.test_client(), "staff").status_code == 200


def test_idle_session_ends(app, users, clock):
    client = app.test_client()
    login(client, "staff")
    clock.advance(minutes=10)
    assert client.get("/").status_code == 200
    clock.advance(minutes=14)  # 14 < 15 since the last request
    assert client.get("/").status_code == 200
    clock.advance(minutes=16)
    response = client.get("/calls/")
    assert response.status_code == 302 and "/login" in response.location
    assert client.get("/").status_code == 302


def test_post_without_csrf_token_is_rejected(app, users):
    client = app.test_client()
    login(client, "staff")
    response = client.post("/dnc/add", data={"phone": "13800138000", "reason": "asked at desk"})
    assert response.status_code == 400
    assert not m.DoNotCall.select().exists()
    forged = client.post("/dnc/add", data={"phone": "13800138000", "reason": "asked", "csrf_token": "forged"})
    assert forged.status_code == 400
    anonymous = app.test_client().post("/login", data={"username": "staff", "password": PASSWORD})
    assert anonymous.status_code == 400


def test_security_headers(app, users):
    client = app.test_client()
    for response in (client.get("/login"), client.get("/static/panel.css")):
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookies = client.get("/login").headers.getlist("Set-Cookie")
    cookie = next(c for c in cookies if c.startswith("callbox_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_templates_have_no_inline_script_or_style(app):
    from pathlib import Path

    import callbox_web

    for path in (Path(callbox_web.__file__).parent / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "style=" not in text and "<style" not in text, path
        assert "<script>" not in text and "onclick" not in text and "onsubmit" not in text, path


def test_password_change_ends_other_sessions(app, users):
    first, second = app.test_client(), app.test_client()
    login(first, "staff")
    login(second, "staff")
    response = post(first, "/account", {"current": PASSWORD, "password": "a much better secret", "confirm": "a much better secret"})
    assert response.status_code == 302
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 302
    assert login(app.test_client(), "staff", "a much better secret").status_code == 302


def test_login_redirects_only_to_local_paths(app, users):
    client = app.test_client()
    token = csrf(client)
    response = client.post("/login?next=https://evil.example/", data={"username": "staff", "password": PASSWORD,
                                                                    "csrf_token": token})
    assert response.location == "/"
    assert make_user  # imported for other modules' use
