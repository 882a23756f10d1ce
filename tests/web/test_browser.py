"""The panel in a real browser (Playwright driving Debian's /usr/bin/chromium; nothing is downloaded).

One panel is served for the module (waitress in a thread, plain HTTP on 127.0.0.1, as the demo runs
it); each test logs in as the person it plays. Screenshots of the main pages, desktop and phone width,
go to test-artifacts/screenshots/ for a reviewer to look at.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package (pip install playwright)")

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PASSWORD = "correct horse battery"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    from web_support import FAST_ARGON2

    from callbox.clock import FixedClock
    from callbox.provision import init_box
    from callbox_web import serve

    data = tmp_path_factory.mktemp("browser") / "box"
    clock = FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc))
    init_box(data, clock, "cn", "阳光口腔诊所", "+862112345678", "Asia/Shanghai", "medical", "Sunshine Dental")
    (data / "lines.toml").write_text('[[lines]]\nid = "sip1"\nkind = "sip"\nuser = "1001"\n\n'
                                     '[[lines]]\nid = "gsm1"\nkind = "gsm"\nat_port = "/dev/ttyUSB2"\n', encoding="utf-8")
    stop = serve(data, "127.0.0.1", 0, clock=clock, in_thread=True, config={"ARGON2": FAST_ARGON2})
    yield {"url": f"http://127.0.0.1:{stop.port}", "data": data, "clock": clock, "app": stop.app}
    stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()
    csp = [e for e in errors if "Content Security Policy" in e]
    assert not csp, f"CSP violations: {csp}"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def ensure_user(panel, username: str, role: str) -> None:
    from argon2 import PasswordHasher
    from web_support import FAST_ARGON2

    from callbox.store.models_panel import PanelUser

    if not PanelUser.select().where(PanelUser.username == username).exists():
        now = panel["clock"].now()
        PanelUser.create(username=username, role=role, password_hash=PasswordHasher(**FAST_ARGON2).hash(PASSWORD),
                         created_at=now, password_changed_at=now)


def ensure_admin(panel) -> None:
    from callbox.store.models_panel import PanelUser

    if not PanelUser.select().exists():
        ensure_user(panel, "boss", "admin")


def log_in(page, panel, username: str) -> None:
    from web_support import log_in_browser

    log_in_browser(page, panel["url"], username, PASSWORD)


def test_first_boot_setup_then_login(page, panel):
    from callbox.store.models_panel import PanelUser

    assert not PanelUser.select().exists(), "this test must run first: it creates the first admin"
    page.goto(panel["url"] + "/")
    assert page.url.endswith("/setup")
    shot(page, "01-setup")
    code = (panel["data"] / "setup-code.txt").read_text().strip()
    page.fill("input[name=code]", code)
    page.fill("input[name=username]", "boss")
    page.fill("input[name=display_name]", "王院长")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(panel["url"] + "/")
    assert page.locator("h1").inner_text() == "阳光口腔诊所"
    assert not (panel["data"] / "setup-code.txt").exists()
    page.click("header form[action='/logout'] button")
    page.wait_for_url(re.compile(r".*/login$"))
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "wrong password!")
    page.click("button.primary")
    assert page.locator(".flash-error").is_visible()
    shot(page, "02-login-failed")
    log_in(page, panel, "boss")
    shot(page, "03-dashboard-admin")


def test_import_csv_with_a_bad_row_names_it(page, panel):
    ensure_admin(panel)
    ensure_user(panel, "nurse", "staff")
    log_in(page, panel, "nurse")
    page.goto(panel["url"] + "/contacts/import")
    shot(page, "04-import")
    csv = ("phone,name,purposes,consent_at,consent_method,consent_evidence,language\n"
           "13800138000,张三,reminder,2026-03-01T09:30:00+08:00,paper_form,FORM-0001,zh\n"
           "13900139000,李四,reminder,2026-03-01T09:30:00+08:00,carrier_pigeon,FORM-0002,zh\n"
           "13700137000,王五,reminder,2026-02-27T09:30:00+08:00,paper_form,FORM-0003,zh\n")
    page.set_input_files("input[name=file]", files=[{"name": "patients.csv", "mimeType": "text/csv",
                                                      "buffer": csv.encode("utf-8")}])
    page.click("button.primary")
    errors = page.locator("#import-errors")
    errors.wait_for()
    row = errors.locator("tr.row-error")
    assert row.count() == 1
    assert row.locator("td").first.inner_text() == "3"
    assert "carrier_pigeon" in row.inner_text()
    shot(page, "05-import-rejected")
    from callbox.store import models as m

    assert not m.Contact.select().exists()
    # fix the row and import the whole file
    good = csv.replace("carrier_pigeon", "paper_form")
    page.goto(panel["url"] + "/contacts/import")
    page.set_input_files("input[name=file]", files=[{"name": "patients.csv", "mimeType": "text/csv",
                                                      "buffer": good.encode("utf-8")}])
    page.click("button.primary")
    page.click("form[action='/contacts/import/confirm'] button")
    page.wait_for_url(panel["url"] + "/contacts/")
    assert m.Contact.select().count() == 3
    shot(page, "06-contacts")


SCRIPT = '''id = "follow_up_visit"
name = "复诊回访 / Follow-up"
purpose = "follow_up"
languages = ["zh", "en"]

[[steps]]
id = "ask"
say.zh = "{name}，您好，想了解您就诊后恢复得怎么样。一切都好请按1，需要医生回电请按2。"
say.en = "{name}, how are you feeling after your visit? Press 1 if all is well, or 2 for a call back."

[steps.on.consent_yes]
say.zh = "很高兴听到您恢复良好。"
say.en = "We are glad to hear that."
outcome = "confirmed"
'''


def test_reviewer_approves_a_script_written_by_someone_else(browser, panel):
    ensure_admin(panel)
    ensure_user(panel, "nurse", "staff")
    ensure_user(panel, "dr_li", "reviewer")
    writer = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    log_in(writer, panel, "nurse")
    writer.goto(panel["url"] + "/scripts/new")
    writer.fill("textarea[name=text]", SCRIPT)
    writer.click("form button.primary")
    writer.wait_for_url(re.compile(r".*/scripts/follow_up_visit$"))
    shot(writer, "07-script-draft")
    writer.click("form[action$='/submit'] button")
    assert writer.locator("#script-status").inner_text() == "等待审核"
    assert writer.locator("form[action$='/review']").count() == 0, "the author sees no approve button"
    reviewer = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    log_in(reviewer, panel, "dr_li")
    reviewer.goto(panel["url"] + "/scripts/follow_up_visit")
    shot(reviewer, "08-script-review")
    reviewer.fill("textarea[name=note]", "内容合规")
    reviewer.click("button[value=approve]")
    assert reviewer.locator("#script-status").inner_text() == "已批准"
    from callbox.store.models_panel import PanelScript

    row = PanelScript.get(PanelScript.script_id == "follow_up_visit")
    assert row.status == "approved" and row.author == "nurse" and row.reviewer == "dr_li"
    writer.context.close()
    reviewer.context.close()


def test_start_a_campaign_and_watch_the_line_live(browser, panel):
    from callbox.store import models as m
    from callbox_web.linestate import write_state
    from callbox_web import panel_of

    ensure_admin(panel)
    ensure_user(panel, "nurse", "staff")
    store = panel_of(panel["app"]).store
    if not m.Contact.select().where(m.Contact.phone == "+8613600136000").exists():
        from callbox.store import queries

        contact = queries.add_contact(store, "+8613600136000", "赵六")
        queries.add_consent(store, contact, "reminder", store.clock.now(), "paper_form", "F-66")
    write_state(store, "sip1", "ready")
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    page.on("console", lambda msg: print("console:", msg.text))
    log_in(page, panel, "nurse")
    page.goto(panel["url"] + "/campaigns/new")
    page.fill("input[name=name]", "三月预约提醒")
    page.select_option("select[name=purpose]", "reminder")
    page.select_option("select[name=script]", "appointment_reminder")
    page.check("input[name=records]")
    page.fill("textarea[name=members]", "phone,appointment\n13600136000,3月5日上午10点\n")
    page.click("form button.primary")
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    page.click("#start-campaign")
    assert page.locator("#campaign-status").inner_text() == "进行中"
    shot(page, "09-campaign-running")
    assert m.Campaign.get(m.Campaign.name == "三月预约提醒").status == "running"

    page.goto(panel["url"] + "/")
    line = page.locator("li[data-line=sip1]")
    assert "line-ready" in line.get_attribute("class")
    page.locator("#live-note").filter(has_text="实时").wait_for()
    write_state(store, "sip1", "dialing", "+86136…6000")  # what the daemon's listener writes
    page.wait_for_selector("li[data-line=sip1].line-dialing", timeout=5000)
    write_state(store, "sip1", "in_call", "+86136…6000")
    page.wait_for_selector("li[data-line=sip1].line-in_call", timeout=5000)
    assert "通话中" in page.locator("li[data-line=sip1]").inner_text()
    shot(page, "10-dashboard-live-in-call")
    page.context.close()


def test_recording_opens_only_after_a_purpose(browser, panel):
    from callbox.recordings.keystore import KdfParams, KeyStore
    from callbox.recordings.recorder import Recorder
    from callbox.store import models as m

    ensure_admin(panel)
    ensure_user(panel, "dr_li", "reviewer")
    data = panel["data"]
    keys = KeyStore.for_data_dir(data, KdfParams(time_cost=1, memory_cost_kib=8 * 1024, parallelism=1))
    if not keys.exists():
        keys.init("four random words here")
    public = keys.public_key()
    name = "call-000042.cbr"
    recorder = Recorder(data / "recordings" / name, public.key, public.key_id,
                        {"call_id": 42, "created_at": panel["clock"].now().isoformat()}, fsync=False)
    for i in range(100):
        recorder.feed(bytes([i % 256, 0]) * 160, bytes(320))
    recorder.stop()
    attempt = m.Attempt.create(phone="+8613800138000", purpose="reminder", at=panel["clock"].now())
    m.Call.create(attempt=attempt, line_id="sip1", started_at=panel["clock"].now(), recording="on",
                  recording_file=name, outcome="confirmed")
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    log_in(page, panel, "dr_li")
    page.goto(panel["url"] + "/recordings/")
    shot(page, "11-recordings")
    page.click(f"a[href='/recordings/{name}']")
    assert page.locator("audio").count() == 0
    page.fill("input[name=passphrase]", "four random words here")
    page.click("button.primary")  # no purpose: the browser's own check stops it, and so would the server
    assert page.locator("audio").count() == 0
    page.fill("textarea[name=purpose]", "复核 3 月 2 日的投诉，案件 12 号")
    page.fill("input[name=passphrase]", "four random words here")
    page.click("button.primary")
    player = page.locator("audio#player")
    player.wait_for()
    ready = page.evaluate("""async () => {
        const a = document.getElementById('player');
        if (a.readyState < 1) { await new Promise(r => { a.onloadedmetadata = r; a.onerror = r; }); }
        return {duration: a.duration, error: a.error ? a.error.code : null};
    }""")
    assert ready["error"] is None and abs(ready["duration"] - 2.0) < 0.1
    shot(page, "12-recording-player")
    entry = m.AuditEntry.select().where(m.AuditEntry.action == "recording.play").get()
    assert entry.actor == "web:dr_li" and entry.details["purpose"] == "复核 3 月 2 日的投诉，案件 12 号"
    page.context.close()


def test_transcript_is_locked_until_purpose_and_passphrase(browser, panel):
    from callbox.recordings import names, transcript
    from callbox.recordings.keystore import KdfParams, KeyStore
    from callbox.store import models as m

    ensure_admin(panel)
    ensure_user(panel, "dr_wu", "reviewer")
    ensure_user(panel, "auditor_zhao", "auditor")
    data = panel["data"]
    keys = KeyStore.for_data_dir(data, KdfParams(time_cost=1, memory_cost_kib=8 * 1024, parallelism=1))
    if not keys.exists():
        keys.init("four random words here")
    public = keys.public_key()
    now = panel["clock"].now()
    attempt = m.Attempt.create(phone="+8613800138077", purpose="reminder", at=now)
    call = m.Call.create(attempt=attempt, line_id="sip1", started_at=now, answered_at=now, recording="on",
                         outcome="confirmed")
    said = "好的，我明天下午三点准时到"
    call.transcript_file = names.transcript_name(call.id)
    call.save()
    transcript.write(data / "recordings" / call.transcript_file,
                     [{"who": "box", "text": "您好，这里是阳光口腔诊所"},
                      {"who": "callee", "text": said, "intent": "confirm", "words": True}],
                     public.key, public.key_id, {"call_id": call.id, "created_at": now.isoformat()})
    page = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN").new_page()
    log_in(page, panel, "dr_wu")
    page.goto(f"{panel['url']}/calls/{call.id}")
    card = page.locator("#transcript")
    assert "文字记录已加密" in card.inner_text() and said not in page.content()
    shot(page, "13-transcript-locked")
    page.fill("#transcript input[name=passphrase]", "not the passphrase")
    page.fill("#transcript textarea[name=purpose]", "投诉复核，案件 31 号")
    page.click("#transcript button.primary")
    assert said not in page.content() and "录音密码错误" in page.content()
    page.fill("#transcript textarea[name=purpose]", "投诉复核，案件 31 号")
    page.fill("#transcript input[name=passphrase]", "four random words here")
    page.click("#transcript button.primary")
    page.locator("#transcript ol.transcript").wait_for()
    assert said in card.inner_text() and "阳光口腔诊所" in card.inner_text()
    shot(page, "14-transcript-open")
    page.goto(f"{panel['url']}/calls/{call.id}")  # a new visit is locked again
    assert said not in page.content()
    page.context.close()
    page = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN").new_page()
    log_in(page, panel, "auditor_zhao")
    page.goto(f"{panel['url']}/audit/?action=recording.transcript_read")
    row = page.locator("tr", has_text=call.transcript_file).first
    assert "recording.transcript_read" in row.inner_text() and "web:dr_wu" in row.inner_text()
    assert "recording.access_refused" in page.goto(f"{panel['url']}/audit/?subject={call.transcript_file}").text()
    page.context.close()


def test_screenshots_of_the_main_pages(browser, panel):
    """Desktop and phone screenshots of every main page (as admin, who sees them all)."""
    ensure_admin(panel)
    pages = ["/", "/contacts/", "/dnc/", "/scripts/", "/campaigns/", "/calls/", "/recordings/", "/complaints/",
             "/audit/?verify=1", "/settings/", "/users/", "/system/"]
    for label, options in (("desktop", {"viewport": {"width": 1280, "height": 860}}), ("phone", PHONE)):
        context = browser.new_context(**options)
        page = context.new_page()
        log_in(page, panel, "boss")
        for path in pages:
            response = page.goto(panel["url"] + path)
            assert response.status == 200, path
            slug = path.strip("/").split("?")[0].replace("/", "-") or "dashboard"
            shot(page, f"main-{label}-{slug}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= options["viewport"]["width"] + 1, f"{path} scrolls sideways at {label} width ({width}px)"
        context.close()
