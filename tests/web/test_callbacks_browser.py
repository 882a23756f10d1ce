"""The Callbacks page in a real browser (Playwright driving Debian's /usr/bin/chromium; nothing downloaded).

A real SQLite box on a fixed clock, served by waitress in a thread as the demo serves it: two people
are waiting for a call back; a nurse logs in (Chinese by default), sees both, marks one called back,
and the row and the audit log say who did it and when (the panel's clock, not the wall clock).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package (pip install playwright)")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PASSWORD = "correct horse battery"
START = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def panel(tmp_path):
    from argon2 import PasswordHasher
    from web_support import FAST_ARGON2

    from callbox.clock import FixedClock
    from callbox.provision import init_box
    from callbox.store import audit, queries
    from callbox.store.models_lines import CallbackTask
    from callbox.store.models_panel import PanelUser
    from callbox_web import serve

    data = tmp_path / "box"
    clock = FixedClock(START)
    store = init_box(data, clock, "cn", "阳光口腔诊所", "+862112345678", "Asia/Shanghai", "medical", "Sunshine Dental")
    for name, role in (("nurse", "staff"), ("checker", "auditor")):
        PanelUser.create(username=name, role=role, password_hash=PasswordHasher(**FAST_ARGON2).hash(PASSWORD),
                         created_at=START, password_changed_at=START)
    queries.add_contact(store, "+8613800138000", "王芳")
    tasks = {}
    with store.atomic():
        for phone, line, reason, minutes_ago in (("+8613800138000", "gsm1", "callee asked for a person", 95),
                                                 ("+8613900139000", "sip1", "pressed 0 on an inbound call", 20)):
            task = CallbackTask.create(phone=phone, line_id=line, reason=reason,
                                       requested_at=START - timedelta(minutes=minutes_ago))
            audit.append(store, "callee", "callback.request", phone, {"task": task.id, "line": line})
            tasks[phone] = task.id
    stop = serve(data, "127.0.0.1", 0, clock=clock, in_thread=True, config={"ARGON2": FAST_ARGON2})
    yield {"url": f"http://127.0.0.1:{stop.port}", "data": data, "clock": clock, "store": store, "tasks": tasks}
    stop()


@pytest.fixture
def page():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(10000)
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield page
        context.close()
        browser.close()
    csp = [e for e in errors if "Content Security Policy" in e]
    assert not csp, f"CSP violations: {csp}"


def log_in(page, panel, username: str) -> None:
    from web_support import log_in_browser

    log_in_browser(page, panel["url"], username, PASSWORD)


def test_staff_sees_both_and_marks_one_called_back(page, panel):
    from callbox.store import models as m
    from callbox.store.models_lines import CallbackTask

    log_in(page, panel, "nurse")
    assert page.locator("#callbacks-waiting").inner_text().endswith("2"), "the overview says two people wait"
    page.click("nav.nav-wide >> text=回电任务")
    page.wait_for_url(panel["url"] + "/callbacks/")
    assert page.locator("h1").inner_text() == "回电任务"
    assert page.locator("#tab-open").inner_text() == "待回电（2）"
    rows = page.locator("#callbacks tbody tr")
    assert rows.count() == 2
    first, second = rows.nth(0), rows.nth(1)
    wang = panel["tasks"]["+8613800138000"]
    assert first.get_attribute("data-task") == str(wang), "the person waiting longest comes first"
    assert "王芳" in first.inner_text() and "+8613800138000" in first.inner_text()
    assert "08:25" in first.inner_text(), "requested at 00:25 UTC is shown as 08:25 in Shanghai"
    assert "gsm1" in first.inner_text() and "通话中要求与工作人员通话。" in first.inner_text()
    assert "+8613900139000" in second.inner_text() and "打进电话后按了 0" in second.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "20-callbacks.png"), full_page=True)

    panel["clock"].advance(minutes=9)  # the staff member called 王芳 back; the panel's clock moved on
    first.locator("button", has_text="已回电").click()
    page.wait_for_url(panel["url"] + "/callbacks/")
    assert "已标记为已回电" in page.locator(".flash-ok").inner_text()
    assert page.locator("#callbacks tbody tr").count() == 1
    assert page.locator("#tab-open").inner_text() == "待回电（1）"

    row = CallbackTask.get_by_id(wang)
    assert (row.status, row.handled_by, row.handled_at) == ("done", "nurse", START + timedelta(minutes=9))
    entry = m.AuditEntry.select().where(m.AuditEntry.action == "callback.done").get()
    assert (entry.actor, entry.subject, entry.at) == ("web:nurse", "+8613800138000", START + timedelta(minutes=9))
    assert entry.details["task"] == wang
    other = CallbackTask.get_by_id(panel["tasks"]["+8613900139000"])
    assert other.status == "open" and other.handled_at is None

    page.click("#tab-closed")
    page.wait_for_url(re.compile(r".*/callbacks/\?show=closed$"))
    handled = page.locator("#callbacks tbody tr")
    assert handled.count() == 1 and "nurse" in handled.inner_text() and "已回电" in handled.inner_text()
    assert "10:09" in handled.inner_text(), "handled at the panel clock's time, in Shanghai"


def test_post_without_csrf_is_refused(page, panel):
    from callbox.store import models as m
    from callbox.store.models_lines import CallbackTask

    log_in(page, panel, "nurse")
    task = panel["tasks"]["+8613900139000"]
    response = page.request.post(f"{panel['url']}/callbacks/{task}/done", form={"x": "1"}, max_redirects=0)
    assert response.status == 400
    assert CallbackTask.get_by_id(task).status == "open"
    assert not m.AuditEntry.select().where(m.AuditEntry.action == "callback.done").exists()


def test_cancel_asks_first_and_the_auditor_only_looks(page, panel):
    from callbox.store.models_lines import CallbackTask

    log_in(page, panel, "nurse")
    page.goto(panel["url"] + "/callbacks/")
    task = panel["tasks"]["+8613900139000"]
    row = page.locator(f"#callbacks tr[data-task='{task}']")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button", has_text="取消").click()
    page.wait_for_timeout(300)
    assert CallbackTask.get_by_id(task).status == "open", "dismissing the question changes nothing"
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="取消").click()
    page.wait_for_url(panel["url"] + "/callbacks/")
    assert CallbackTask.get_by_id(task).status == "cancelled"

    page.click("header form[action='/logout'] button")
    page.wait_for_url(re.compile(r".*/login$"))
    log_in(page, panel, "checker")
    page.goto(panel["url"] + "/callbacks/")
    assert page.locator("#callbacks tbody tr").count() == 1
    assert page.locator("#callbacks button").count() == 0, "the auditor sees no buttons"
