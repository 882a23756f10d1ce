"""Every string of the panel is marked and translated; Chinese is the default; dates follow the locale."""

from __future__ import annotations

from pathlib import Path

import callbox_web
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

PACKAGE = Path(callbox_web.__file__).parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def extracted() -> set[str]:
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
    return {m[2] if isinstance(m[2], str) else m[2][0]
            for m in extract_from_dir(str(PACKAGE), METHODS, keywords=keywords)}


def test_every_marked_string_has_a_chinese_translation():
    with open(PACKAGE / "translations/zh/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {m.id: m.string for m in catalog if m.id and m.string and "fuzzy" not in m.flags}
    missing = sorted(extracted() - set(translated))
    assert not missing, f"add these to translations/zh (pybabel update + compile): {missing[:20]}"


def test_compiled_catalogues_match_the_po_files():
    for locale in ("zh", "en"):
        with open(PACKAGE / f"translations/{locale}/LC_MESSAGES/messages.po", "rb") as f:
            po = {m.id: m.string for m in read_po(f) if m.id}
        with open(PACKAGE / f"translations/{locale}/LC_MESSAGES/messages.mo", "rb") as f:
            mo = {m.id: m.string for m in read_mo(f) if m.id}
        assert po == mo, f"run `pybabel compile -d web/callbox_web/translations` ({locale})"


def test_chinese_is_the_default(client_as):
    html = client_as("staff").get("/").get_data(as_text=True)
    assert "今日通话" in html and "退出登录" in html
    login_page = client_as("staff").get("/calls/").get_data(as_text=True)
    assert "通话" in login_page


def test_dates_in_the_organisation_zone(client_as, store):
    from datetime import timedelta

    from callbox.store import models as m

    at = store.clock.now() - timedelta(hours=1)  # 09:00 in Shanghai
    attempt = m.Attempt.create(phone="+8613800138000", purpose="reminder", at=at)
    m.Call.create(attempt=attempt, line_id="sip1", started_at=at, outcome="confirmed")
    html = client_as("staff").get("/calls/").get_data(as_text=True)
    assert "09:00" in html and "01:00" not in html
