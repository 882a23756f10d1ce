"""Every route checks the role on the server; a forbidden page is a 403."""

from __future__ import annotations

import pytest
from web_support import ROLES, post

# GET pages and the roles that may open them.
ALL = set(ROLES)
PAGES = {
    "/": ALL,
    "/contacts/": {"admin", "staff", "reviewer", "auditor"},
    "/contacts/import": {"admin", "staff"},
    "/dnc/": ALL,
    "/scripts/": ALL,
    "/scripts/new": {"admin", "staff"},
    "/scripts/shipped/appointment_reminder": ALL,
    "/campaigns/": ALL,
    "/campaigns/new": {"admin", "staff"},
    "/calls/": ALL,
    "/recordings/": {"admin", "reviewer", "auditor"},
    "/complaints/": ALL,
    "/audit/": {"admin", "auditor"},
    "/settings/": {"admin", "auditor"},
    "/users/": {"admin"},
    "/system/": {"admin", "auditor"},
    "/system/backup": {"admin"},
    "/account": ALL,
}

# POST actions and the roles that may do them (a wrong role gets 403 before anything happens).
ACTIONS = {
    "/contacts/import/confirm": {"admin", "staff"},
    "/dnc/add": {"admin", "staff", "reviewer"},
    "/campaigns/1/start": {"admin", "staff"},
    "/campaigns/1/pause": {"admin", "staff"},
    "/scripts/x/submit": {"admin", "staff"},
    "/scripts/x/review": {"reviewer"},
    "/complaints/new": {"admin", "staff", "reviewer"},
    "/complaints/1/review": {"reviewer"},
    "/settings/organisation": {"admin"},
    "/settings/retention": {"admin"},
    "/settings/keys": {"admin"},
    "/users/": {"admin"},
    "/recordings/play/x/close": {"admin", "reviewer"},
}


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(client_as, role):
    client = client_as(role)
    for url, allowed in PAGES.items():
        status = client.get(url).status_code
        if role in allowed:
            assert status == 200, f"{role} should open {url}, got {status}"
        else:
            assert status == 403, f"{role} must not open {url}, got {status}"


@pytest.mark.parametrize("role", ROLES)
def test_actions_by_role(client_as, role):
    client = client_as(role)
    for url, allowed in ACTIONS.items():
        status = post(client, url, {}).status_code
        if role in allowed:
            assert status != 403, f"{role} should be allowed {url}"
        else:
            assert status == 403, f"{role} must not POST {url}, got {status}"


def test_forbidden_page_is_friendly(client_as):
    response = client_as("staff").get("/users/")
    assert response.status_code == 403
    assert "<h1>" in response.get_data(as_text=True)


def test_anonymous_is_sent_to_login(app, users):
    client = app.test_client()
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location, url


def test_every_route_declares_its_roles(app):
    """A new view without @roles_required fails here, so no page is left open by accident."""
    public = {"static", "auth.setup", "auth.login", "auth.logout", "i18n.set_language", "healthz", "favicon"}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in public:
            continue
        assert getattr(view, "allowed_roles", None), f"{rule.rule} ({rule.endpoint}) has no @roles_required"


def test_nav_shows_only_allowed_pages(client_as):
    html = client_as("staff").get("/").get_data(as_text=True)
    assert 'href="/users/"' not in html and 'href="/audit/"' not in html
    assert 'href="/contacts/"' in html
    html = client_as("auditor").get("/").get_data(as_text=True)
    assert 'href="/audit/"' in html and 'href="/users/"' not in html
