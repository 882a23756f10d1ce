"""Fixtures for the panel tests: a provisioned box on a fixed clock, users of every role, CSRF-aware posts.

The clock is fixed at Monday 2 March 2026, 10:00 in Shanghai, so nothing depends on today's date.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from callbox.clock import FixedClock
from callbox.provision import init_box

START = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 Asia/Shanghai, a Monday
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
PASSWORD = "correct horse battery"
ROLES = ("admin", "reviewer", "staff", "auditor")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def box(tmp_path: Path, clock: FixedClock) -> Path:
    data = tmp_path / "box"
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862112345678", "Asia/Shanghai", "medical", "Sunshine Dental")
    (data / "lines.toml").write_text(
        '[[lines]]\nid = "sip1"\nkind = "sip"\nuser = "1001"\ndomain = "pbx.lan"\npassword = "topsecret"\n\n'
        '[[lines]]\nid = "gsm1"\nkind = "gsm"\nat_port = "/dev/ttyUSB2"\n',
        encoding="utf-8",
    )
    del store
    return data


@pytest.fixture
def app(box: Path, clock: FixedClock):
    from callbox_web import create_app

    return create_app(box, clock=clock, config={"ARGON2": FAST_ARGON2, "TESTING": True, "SSE_MAX_SECONDS": 1})


@pytest.fixture
def store(app):
    from callbox_web import panel_of

    return panel_of(app).store


def make_user(app, username: str, role: str, password: str = PASSWORD):
    from argon2 import PasswordHasher

    from callbox.store.models_panel import PanelUser
    from callbox_web import panel_of

    now = panel_of(app).clock.now()
    return PanelUser.create(username=username, role=role, password_hash=PasswordHasher(**FAST_ARGON2).hash(password),
                            created_at=now, password_changed_at=now, created_by="test")


@pytest.fixture
def users(app):
    """One user per role, named after the role (plus a second staff member)."""
    made = {role: make_user(app, role, role) for role in ROLES}
    made["staff2"] = make_user(app, "staff2", "staff")
    return made


def csrf(client) -> str:
    """The CSRF token of the client's session, read from any page's <meta name=csrf-token>."""
    for url in ("/account", "/login", "/setup"):
        response = client.get(url)
        found = re.search(r'name="csrf-token" content="([^"]+)"', response.get_data(as_text=True))
        if found:
            return found.group(1)
    raise AssertionError("no page carried a CSRF token")


def post(client, url: str, data: dict | None = None, **kwargs):
    data = dict(data or {})
    data.setdefault("csrf_token", csrf(client))
    return client.post(url, data=data, **kwargs)


def login(client, username: str, password: str = PASSWORD):
    return post(client, "/login", {"username": username, "password": password})


def log_in_browser(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the real login form in a Playwright page; returns on the overview page."""
    page.goto(base_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button.primary")
    page.wait_for_url(base_url + "/")


@pytest.fixture
def client_as(app, users):
    """``client_as("staff")``: a test client logged in as that user."""

    def make(username: str):
        client = app.test_client()
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return make


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Debian's chromium (/usr/bin/chromium) with Playwright")
