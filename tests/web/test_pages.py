"""What each page does: import, consent, do-not-call, scripts, campaigns, calls, settings, users."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from web_support import post

from callbox.store import audit, queries
from callbox.store import models as m
from callbox.store.models_panel import PanelComplaint, PanelScript, PanelSetting, PanelUser

GOOD_CSV = (
    "phone,name,purposes,consent_at,consent_method,consent_evidence,language\n"
    "13800138000,张三,reminder;follow_up,2026-03-01T09:30:00+08:00,paper_form,FORM-0001,zh\n"
    "13900139000,Li Si,reminder,2026-02-20T10:00:00+08:00,web_form,WEB-77,en\n"
)
BAD_CSV = GOOD_CSV + "12345,王五,reminder,2026-03-01T09:30:00+08:00,paper_form,FORM-0002,zh\n"


def upload(client, text: str, name: str = "patients.csv"):
    return post(client, "/contacts/import", {"file": (io.BytesIO(text.encode("utf-8")), name)},
                content_type="multipart/form-data")


def add_contact(store, phone="+8613800138000", name="张三", purposes=("reminder",)):
    contact = queries.add_contact(store, phone, name)
    for purpose in purposes:
        queries.add_consent(store, contact, purpose, store.clock.now() - timedelta(days=3), "paper_form", "F-1")
    return contact


def test_import_with_a_bad_row_rejects_the_whole_file(client_as):
    client = client_as("staff")
    response = upload(client, BAD_CSV)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="import-errors"' in html and ">4<" in html  # the bad row is named by its line number
    assert "12345" in html or "not a valid" in html.lower() or "无效" in html
    assert not m.Contact.select().exists()
    assert "token" not in re.findall(r'name="(token)"', html)


def test_import_preview_then_confirm(client_as):
    client = client_as("staff")
    html = upload(client, GOOD_CSV).get_data(as_text=True)
    assert "张三" in html and not m.Contact.select().exists(), "the preview writes nothing"
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    response = post(client, "/contacts/import/confirm", {"token": token})
    assert response.status_code == 302
    assert m.Contact.select().count() == 2 and m.Consent.select().count() == 3
    entry = m.AuditEntry.select().where(m.AuditEntry.action == "contacts.import").get()
    assert entry.actor == "web:staff" and entry.subject == "patients.csv"
    # the token is single-use and belongs to its user
    assert post(client, "/contacts/import/confirm", {"token": token}).status_code == 302
    assert m.Contact.select().count() == 2


def test_import_token_of_another_user_is_useless(client_as):
    html = upload(client_as("staff"), GOOD_CSV).get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    post(client_as("staff2"), "/contacts/import/confirm", {"token": token})
    assert not m.Contact.select().exists()


def test_import_refuses_non_utf8(client_as):
    client = client_as("staff")
    response = post(client, "/contacts/import", {"file": (io.BytesIO(GOOD_CSV.encode("gbk")), "x.csv")},
                    content_type="multipart/form-data")
    assert response.status_code == 200 and not m.Contact.select().exists()


def test_contact_detail_shows_evidence_and_withdraw(client_as, store):
    contact = add_contact(store)
    client = client_as("staff")
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "F-1" in html
    assert post(client, f"/contacts/{contact.id}/withdraw").status_code == 302
    assert m.Consent.get().withdrawn_at is not None
    response = post(client, f"/contacts/{contact.id}/consent", {"purpose": "follow_up", "method": "in_person",
                                                               "evidence": "DESK-9", "given_at": "2026-03-02T09:00+08:00"})
    assert response.status_code == 302
    assert m.Consent.select().where(m.Consent.evidence == "DESK-9").exists()
    future = post(client, f"/contacts/{contact.id}/consent", {"purpose": "follow_up", "method": "in_person",
                                                             "evidence": "DESK-10", "given_at": "2027-01-01T09:00+08:00"})
    assert future.status_code == 302 and not m.Consent.select().where(m.Consent.evidence == "DESK-10").exists()
    assert client_as("auditor").get(f"/contacts/{contact.id}").status_code == 200
    assert post(client_as("auditor"), f"/contacts/{contact.id}/withdraw").status_code == 403


def test_dnc_add_and_admin_only_removal_with_new_consent(client_as, store, clock):
    staff = client_as("staff")
    assert post(staff, "/dnc/add", {"phone": "13800138000", "reason": "asked at the desk"}).status_code == 302
    entry = m.DoNotCall.get()
    assert entry.phone == "+8613800138000" and entry.source == "staff"
    assert queries.is_dnc("+8613800138000")
    assert staff.get(f"/dnc/{entry.id}/remove").status_code == 403
    clock.advance(days=1)
    admin = client_as("admin")
    missing = post(admin, f"/dnc/{entry.id}/remove", {"purpose": "reminder", "method": "paper_form", "evidence": "",
                                                      "given_at": "2026-03-03T09:00+08:00", "note": "asked again"})
    assert missing.status_code == 200 and queries.is_dnc("+8613800138000")
    before = post(admin, f"/dnc/{entry.id}/remove", {"purpose": "reminder", "method": "paper_form", "evidence": "F-9",
                                                     "given_at": "2026-03-01T09:00+08:00", "note": "asked again"})
    assert before.status_code == 200 and queries.is_dnc("+8613800138000"), "consent older than the opt-out"
    ok = post(admin, f"/dnc/{entry.id}/remove", {"purpose": "reminder", "method": "paper_form", "evidence": "F-9",
                                                 "given_at": "2026-03-03T09:00+08:00", "note": "asked again in writing"})
    assert ok.status_code == 302 and not queries.is_dnc("+8613800138000")
    removal = m.AuditEntry.select().where(m.AuditEntry.action == "dnc.remove").get()
    assert removal.actor == "web:admin" and removal.details["evidence"] == "F-9"
    assert audit.verify(store).ok


def test_dnc_refuses_bad_numbers(client_as):
    post(client_as("staff"), "/dnc/add", {"phone": "12", "reason": "x y z"})
    assert not m.DoNotCall.select().exists()


SCRIPT = '''id = "follow_up_visit"
name = "复诊回访"
purpose = "follow_up"
languages = ["zh", "en"]

[[steps]]
id = "ask"
say.zh = "{name}，您好，想了解您的恢复情况。"
say.en = "{name}, we would like to know how you are."
'''


def approve_script(client_as, text: str = SCRIPT) -> PanelScript:
    staff, reviewer = client_as("staff"), client_as("reviewer")
    assert post(staff, "/scripts/new", {"text": text}).status_code == 302
    row = PanelScript.get()
    post(staff, f"/scripts/{row.script_id}/submit")
    assert PanelScript.get().status == "submitted"
    post(reviewer, f"/scripts/{row.script_id}/review", {"decision": "approve", "note": ""})
    return PanelScript.get()


def test_script_lint_inline_and_four_eyes(client_as, app):
    staff = client_as("staff")
    broken = post(staff, "/scripts/new", {"text": 'id = "x"\nprologue = "no"\n'})
    assert broken.status_code == 200 and "prologue" in broken.get_data(as_text=True)
    assert not PanelScript.select().exists()
    bad_words = SCRIPT.replace("想了解您的恢复情况", "我们是全市最好的诊所，保证治愈")
    post(staff, "/scripts/new", {"text": bad_words})
    row = PanelScript.get()
    html = staff.get(f"/scripts/{row.script_id}").get_data(as_text=True)
    from callbox_web import services

    if services.lint_available():
        assert "最好" in html
        post(staff, f"/scripts/{row.script_id}/submit")
        assert PanelScript.get().status == "draft", "lint errors block submission"
    post(staff, f"/scripts/{row.script_id}/edit", {"text": SCRIPT})
    post(staff, f"/scripts/{row.script_id}/submit")
    assert PanelScript.get().status == "submitted"
    # the author cannot review; a reviewer who is someone else can
    staff_as_reviewer = client_as("staff")
    assert post(staff_as_reviewer, f"/scripts/{row.script_id}/review", {"decision": "approve"}).status_code == 403
    reviewer = client_as("reviewer")
    no_note = post(reviewer, f"/scripts/{row.script_id}/review", {"decision": "reject", "note": ""})
    assert no_note.status_code == 302 and PanelScript.get().status == "submitted"
    post(reviewer, f"/scripts/{row.script_id}/review", {"decision": "approve", "note": "ok"})
    row = PanelScript.get()
    assert row.status == "approved" and row.reviewer == "reviewer"
    assert services.script_is_usable(app.extensions["callbox"].data_dir, str(services.version_path(
        app.extensions["callbox"].data_dir, row)))
    # editing withdraws the approval
    post(staff, f"/scripts/{row.script_id}/edit", {"text": SCRIPT.replace("您好", "你好")})
    assert PanelScript.get().status == "draft"


def test_reviewer_who_is_the_author_cannot_approve(app, client_as):
    from web_support import make_user

    make_user(app, "rita", "reviewer")
    rita = app.test_client()
    from web_support import login

    login(rita, "rita")
    # rita writes as a reviewer? reviewers cannot write scripts, so an admin writes and rita reviews
    admin = client_as("admin")
    post(admin, "/scripts/new", {"text": SCRIPT})
    post(admin, "/scripts/follow_up_visit/submit")
    post(rita, "/scripts/follow_up_visit/review", {"decision": "reject", "note": "too long"})
    row = PanelScript.get()
    assert row.status == "rejected" and row.review_note == "too long"


def test_campaign_create_start_pause_and_reasons(client_as, store, app):
    approve_script(client_as)
    add_contact(store, "+8613800138000", "张三", ("follow_up",))
    add_contact(store, "+8613900139000", "李四", ())
    staff = client_as("staff")
    from callbox_web import services

    data_dir = app.extensions["callbox"].data_dir
    value = [v for v, _, purpose in services.usable_scripts(data_dir) if purpose == "follow_up"][0]
    unknown = post(staff, "/campaigns/new", {"name": "回访", "purpose": "follow_up", "script": value,
                                             "members": "phone,appointment\n13700137000,x\n"})
    assert unknown.status_code == 200 and not m.Campaign.select().exists()
    assert "member-errors" in unknown.get_data(as_text=True)
    wrong_purpose = post(staff, "/campaigns/new", {"name": "回访", "purpose": "reminder", "script": value,
                                                   "members": "phone\n13800138000\n"})
    assert wrong_purpose.status_code == 200 and not m.Campaign.select().exists()
    created = post(staff, "/campaigns/new", {"name": "回访", "purpose": "follow_up", "script": value, "records": "y",
                                             "members": "phone,appointment\n13800138000,3月5日\n13900139000,3月6日\n"})
    assert created.status_code == 302
    campaign = m.Campaign.get()
    assert campaign.status == "draft" and campaign.records and campaign.members.count() == 2
    assert m.CampaignMember.get(m.CampaignMember.phone == "+8613800138000").variables == {"appointment": "3月5日"}
    post(staff, f"/campaigns/{campaign.id}/start")
    assert m.Campaign.get().status == "running"
    # the daemon's gate would refuse 李四 (no consent): show it in plain words
    member = m.CampaignMember.get(m.CampaignMember.phone == "+8613900139000")
    member.status, member.last_reasons = "denied", ["no_consent"]
    member.save()
    html = staff.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "no_consent" not in html
    assert ("no consent on record" in html) or ("没有" in html and "同意" in html)
    assert "<svg" in html
    assert post(staff, f"/campaigns/{campaign.id}/pause", {"reason": ""}).status_code == 302
    assert m.Campaign.get().status == "running", "a pause needs a reason"
    post(staff, f"/campaigns/{campaign.id}/pause", {"reason": "医生休假"})
    campaign = m.Campaign.get()
    assert campaign.status == "paused" and campaign.paused_reason == "医生休假"
    assert "医生休假" in staff.get("/").get_data(as_text=True), "the overview lists paused campaigns with the reason"
    post(staff, f"/campaigns/{campaign.id}/start")
    assert m.Campaign.get().status == "running"
    actions = [e.action for e in m.AuditEntry.select().where(m.AuditEntry.subject == "回访")]
    assert "campaign.create" in actions and "campaign.pause" in actions


TRANSCRIPT_PASSPHRASE = "four random words here"
TURNS = [{"who": "box", "text": "您好，这里是阳光口腔诊所"}, {"who": "callee", "text": "确认", "intent": "confirm", "words": True}]


def seal_transcript(store, call_id: int, turns=TURNS) -> str:
    """A real sealed transcript (.cbt) for ``call_id``, the way the daemon writes it at call end."""
    from callbox.recordings import names, transcript
    from callbox.recordings.keystore import KdfParams, KeyStore

    data_dir = store.path.parent
    keys = KeyStore.for_data_dir(data_dir, KdfParams(time_cost=1, memory_cost_kib=8 * 1024, parallelism=1))
    if not keys.exists():
        keys.init(TRANSCRIPT_PASSPHRASE)
    public = keys.public_key()
    name = names.transcript_name(call_id)
    transcript.write(data_dir / "recordings" / name, turns, public.key, public.key_id,
                     {"call_id": call_id, "created_at": store.clock.now().isoformat(), "industry": "medical"})
    return name


def make_call(store, phone="+8613800138000", outcome="confirmed", campaign=None, opt_out=False, recording_file=None,
              minutes_ago=30, sealed=False):
    at = store.clock.now() - timedelta(minutes=minutes_ago)
    attempt = m.Attempt.create(phone=phone, purpose="reminder", campaign=campaign, at=at, outcome=outcome)
    m.Decision.create(phone=phone, purpose="reminder", campaign=campaign, at=at, decision="allowed", reasons=[],
                      rules=[], attempt=attempt)
    call = m.Call.create(attempt=attempt, line_id="sip1", started_at=at, answered_at=at,
                         ended_at=at + timedelta(minutes=1), end_reason="completed", ai_disclosed=True,
                         recording="on" if recording_file else "none", recording_file=recording_file, opt_out=opt_out,
                         outcome=outcome)
    if sealed:
        call.transcript_file = seal_transcript(store, call.id)
        call.save()
    return call


def test_calls_list_filters_and_transcript(client_as, store):
    first = make_call(store, outcome="confirmed", sealed=True)
    make_call(store, phone="+8613900139000", outcome="opt_out", opt_out=True)
    client = client_as("staff")
    html = client.get("/calls/").get_data(as_text=True)
    assert "+8613800138000" in html and "+8613900139000" in html
    only = client.get("/calls/?outcome=opt_out").get_data(as_text=True)
    assert "+8613900139000" in only and "+8613800138000" not in only
    by_date = client.get("/calls/?from=2026-03-02&to=2026-03-02").get_data(as_text=True)
    assert "+8613800138000" in by_date
    assert "+8613800138000" not in client.get("/calls/?from=2026-03-03").get_data(as_text=True)
    detail = client.get(f"/calls/{first.id}").get_data(as_text=True)
    assert "文字记录已加密" in detail and "您好，这里是阳光口腔诊所" not in detail  # sealed; staff cannot unlock
    assert 'name="passphrase"' not in detail and "只有管理员和审核员" in detail
    assert post(client, f"/calls/{first.id}", {"purpose": "curious staff member", "passphrase": "x"}).status_code == 403


def test_transcript_needs_purpose_and_passphrase_and_is_audited(client_as, store):
    call = make_call(store, sealed=True)
    reviewer = client_as("reviewer")
    page = reviewer.get(f"/calls/{call.id}").get_data(as_text=True)
    assert "文字记录已加密" in page and 'name="purpose"' in page and "确认" not in page.split('id="transcript"')[1]
    no_purpose = post(reviewer, f"/calls/{call.id}", {"purpose": "", "passphrase": TRANSCRIPT_PASSPHRASE})
    assert "您好，这里是阳光口腔诊所" not in no_purpose.get_data(as_text=True)
    wrong = post(reviewer, f"/calls/{call.id}", {"purpose": "complaint review case 12", "passphrase": "not it at all"})
    assert "您好，这里是阳光口腔诊所" not in wrong.get_data(as_text=True)
    refused = m.AuditEntry.get(m.AuditEntry.action == "recording.access_refused")
    assert refused.actor == "web:reviewer" and refused.subject == call.transcript_file
    ok = post(reviewer, f"/calls/{call.id}", {"purpose": "complaint review case 12", "passphrase": TRANSCRIPT_PASSPHRASE})
    html = ok.get_data(as_text=True)
    assert "您好，这里是阳光口腔诊所" in html and "确认" in html and "审计日志" in html
    entry = m.AuditEntry.get(m.AuditEntry.action == "recording.transcript_read")
    assert entry.actor == "web:reviewer" and entry.subject == call.transcript_file
    assert entry.details["purpose"] == "complaint review case 12" and entry.details["call_id"] == call.id
    assert audit.verify(store).ok
    # Nothing stays unlocked: the next visit is locked again.
    assert "您好，这里是阳光口腔诊所" not in reviewer.get(f"/calls/{call.id}").get_data(as_text=True)


def test_dashboard_numbers_and_charts(client_as, store):
    make_call(store)
    make_call(store, phone="+8613900139000", outcome="opt_out", opt_out=True)
    PanelComplaint.create(phone="+8613900139000", received_at=store.clock.now(), summary="too many calls",
                          recorded_by="staff")
    html = client_as("staff").get("/").get_data(as_text=True)
    assert html.count("<svg") >= 2
    assert "50.0%" in html  # one complaint per two answered calls
    assert "sip1" in html and "gsm1" in html


def test_complaints_record_and_review(client_as):
    staff = client_as("staff")
    post(staff, "/complaints/new", {"phone": "13800138000", "campaign_id": "", "channel": "phone",
                                    "summary": "called during lunch"})
    row = PanelComplaint.get()
    assert row.phone == "+8613800138000" and row.status == "open"
    reviewer = client_as("reviewer")
    post(reviewer, f"/complaints/{row.id}/review", {"note": "checked: within hours; apologised"})
    assert PanelComplaint.get().status == "reviewed"


def test_audit_search_and_chain(client_as, store):
    queries.add_dnc(store, "+8613800138000", "staff", "x", actor="web:staff")
    client = client_as("auditor")
    html = client.get("/audit/?action=dnc").get_data(as_text=True)
    assert "dnc.add" in html and "box.init" not in html
    report = client.get("/audit/?verify=1").get_data(as_text=True)
    assert 'id="chain-report"' in report and "flash-ok" in report
    m.AuditEntry.update(subject="tampered").where(m.AuditEntry.seq == 1).execute()
    broken = client.get("/audit/?verify=1").get_data(as_text=True)
    assert "flash-error" in broken


def test_settings_organisation_retention_lines(client_as, store):
    admin = client_as("admin")
    html = admin.get("/settings/").get_data(as_text=True)
    assert "sip1" in html and "topsecret" not in html, "line passwords are never shown"
    response = post(admin, "/settings/organisation", {"name": "阳光口腔", "name_en": "Sunshine", "callback_number": "02112345678",
                                                      "timezone": "Asia/Shanghai", "industry": "medical", "rules": "cn"})
    assert response.status_code == 302 and store.organisation().name == "阳光口腔"
    bad_tz = post(admin, "/settings/organisation", {"name": "阳光口腔", "callback_number": "02112345678",
                                                    "timezone": "Mars/Base", "industry": "medical", "rules": "cn"})
    assert bad_tz.status_code == 302 and store.organisation().timezone == "Asia/Shanghai"
    post(admin, "/settings/retention", {"months": "999"})
    assert not PanelSetting.select().exists()
    post(admin, "/settings/retention", {"months": "3"})
    assert PanelSetting.get(PanelSetting.key == "retention_months").value == 3
    assert client_as("auditor").get("/settings/").status_code == 200


def test_users_create_and_last_admin_protected(client_as, app):
    admin = client_as("admin")
    post(admin, "/users/", {"username": "nurse.wang", "role": "staff", "password": "a long enough pw"})
    assert PanelUser.get(PanelUser.username == "nurse.wang").role == "staff"
    post(admin, "/users/", {"username": "weak", "role": "staff", "password": "short"})
    assert not PanelUser.select().where(PanelUser.username == "weak").exists()
    me = PanelUser.get(PanelUser.username == "admin")
    post(admin, f"/users/{me.id}", {"role": "staff", "active": "y"})
    assert PanelUser.get(PanelUser.username == "admin").role == "admin", "the last admin cannot be demoted"


def test_system_page_and_fingerprint(client_as, app):
    from callbox_web import panel_of, security

    security.ensure_certificate(panel_of(app).web_dir)
    html = client_as("admin").get("/system/").get_data(as_text=True)
    fingerprint = security.fingerprint(panel_of(app).web_dir)
    assert fingerprint and fingerprint in html and len(fingerprint.split(":")) == 32


def test_backup_download_restores_onto_a_new_box(client_as, app, tmp_path):
    from callbox.backup import restore_backup
    from callbox.store import models as m
    from callbox_web import panel_of

    admin = client_as("admin")
    assert admin.get("/system/backup").status_code == 200
    mismatch = post(admin, "/system/backup", {"passphrase": "twelve chars or more", "confirm": "something else!!"})
    assert mismatch.status_code == 200 and mismatch.mimetype == "text/html"
    response = post(admin, "/system/backup", {"passphrase": "twelve chars or more", "confirm": "twelve chars or more"})
    assert response.status_code == 200 and response.mimetype == "application/octet-stream"
    archive = tmp_path / "box.cbbak"
    archive.write_bytes(response.data)
    assert b"SQLite format" not in response.data  # encrypted
    assert m.AuditEntry.select().where(m.AuditEntry.action == "backup.download").exists()
    report = restore_backup(archive, tmp_path / "restored", "twelve chars or more")
    assert (tmp_path / "restored" / "callbox.sqlite3").exists()
    assert report is not None
    assert panel_of(app).data_dir != tmp_path / "restored"


def test_backup_is_admin_only(client_as):
    for role in ("staff", "reviewer", "auditor"):
        assert client_as(role).get("/system/backup").status_code == 403


def test_language_switch(client_as):
    client = client_as("staff")
    zh = client.get("/").get_data(as_text=True)
    assert 'lang="zh-CN"' in zh
    post(client, "/language", {"lang": "en", "next": "/calls/"})
    en = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in en and "Calls today" in en
    assert PanelUser.get(PanelUser.username == "staff").language == "en"


def test_line_states_stream(client_as, store):
    from callbox_web import linestate

    linestate.write_state(store, "sip1", "in_call", "calling +86138…")
    response = client_as("staff").get("/events/lines")
    assert response.mimetype == "text/event-stream"
    body = b"".join(response.response).decode()
    assert "event: lines" in body and '"in_call"' in body and "gsm1" in body
