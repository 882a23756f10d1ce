"""The Callbacks page: who was promised a call back, and staff closing each task (roles, CSRF, audit)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from web_support import ROLES, START, post

from callbox.store import audit, queries
from callbox.store import models as m
from callbox.store.models_lines import CallbackTask

HANDLERS = {"admin", "staff", "reviewer"}  # the auditor reads everything and changes nothing


def seed(store):
    """Two open tasks (王芳's is older, she is a contact) and one already handled."""
    queries.add_contact(store, "+8613800138000", "王芳")
    made = []
    with store.atomic():
        for phone, line, reason, minutes_ago in (("+8613900139000", "gsm1", "pressed 0 on an inbound call", 5),
                                                 ("+8613800138000", "sip1", "callee asked for a person", 90)):
            task = CallbackTask.create(phone=phone, line_id=line, reason=reason,
                                       requested_at=START - timedelta(minutes=minutes_ago))
            audit.append(store, "callee", "callback.request", phone, {"task": task.id, "line": line})
            made.append(task)
        made.append(CallbackTask.create(phone="+8613700137000", line_id="sip1", reason="something new",
                                        requested_at=START - timedelta(days=1), status="done",
                                        handled_at=START - timedelta(hours=20), handled_by="staff2"))
    return made


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-task="(\d+)"', html)


def test_open_tasks_oldest_first_with_name_local_time_and_plain_reason(client_as, store):
    newer, older, handled = seed(store)
    html = client_as("staff").get("/callbacks/").get_data(as_text=True)
    assert rows(html) == [str(older.id), str(newer.id)], "oldest open task first; the handled one is not listed"
    assert "王芳" in html and 'href="tel:+8613800138000"' in html
    assert "08:30" in html and "00:30" not in html, "requested_at in the box's zone (Asia/Shanghai)"
    assert "打进电话后按了 0，要求与工作人员通话。" in html and "通话中要求与工作人员通话。" in html
    assert "回电任务" in html and "待回电（2）" in html
    assert html.count('action="/callbacks/') == 4  # called back + cancel for each open task


def test_handled_tab_shows_who_and_unknown_reasons_as_written(client_as, store):
    _newer, _older, handled = seed(store)
    html = client_as("auditor").get("/callbacks/?show=closed").get_data(as_text=True)
    assert rows(html) == [str(handled.id)]
    assert "staff2" in html and "已回电" in html and "something new" in html


def test_nav_link_and_overview_count(client_as, store):
    client = client_as("auditor")
    assert 'href="/callbacks/"' in client.get("/").get_data(as_text=True)
    assert 'id="callbacks-waiting"' not in client.get("/").get_data(as_text=True), "no card when nobody waits"
    seed(store)
    html = client.get("/").get_data(as_text=True)
    assert 'id="callbacks-waiting"' in html and "等待工作人员回电的人数：2" in html


def test_called_back_records_who_when_and_audits(client_as, store, clock):
    _newer, older, _handled = seed(store)
    clock.advance(minutes=12)
    client = client_as("staff")
    response = post(client, f"/callbacks/{older.id}/done")
    assert response.status_code == 302 and response.headers["Location"].endswith("/callbacks/")
    row = CallbackTask.get_by_id(older.id)
    assert (row.status, row.handled_by, row.handled_at) == ("done", "staff", START + timedelta(minutes=12))
    entry = m.AuditEntry.select().where(m.AuditEntry.action == "callback.done").get()
    assert (entry.actor, entry.subject, entry.details["task"]) == ("web:staff", "+8613800138000", older.id)
    assert audit.verify(store).ok
    html = client.get("/callbacks/").get_data(as_text=True)
    assert "+8613800138000：已标记为已回电。" in html and str(older.id) not in rows(html)


def test_cancel(client_as, store):
    newer, _older, _handled = seed(store)
    assert post(client_as("reviewer"), f"/callbacks/{newer.id}/cancel").status_code == 302
    row = CallbackTask.get_by_id(newer.id)
    assert (row.status, row.handled_by) == ("cancelled", "reviewer")
    assert m.AuditEntry.select().where(m.AuditEntry.action == "callback.cancel").count() == 1


def test_a_task_is_closed_once(client_as, store):
    _newer, older, _handled = seed(store)
    assert post(client_as("staff"), f"/callbacks/{older.id}/done").status_code == 302
    second = client_as("staff2")
    response = post(second, f"/callbacks/{older.id}/cancel", follow_redirects=True)
    assert "已由 staff 于" in response.get_data(as_text=True)
    row = CallbackTask.get_by_id(older.id)
    assert (row.status, row.handled_by) == ("done", "staff")
    assert m.AuditEntry.select().where(m.AuditEntry.action.startswith("callback.") &
                                       (m.AuditEntry.action != "callback.request")).count() == 1


def test_post_without_csrf_token_is_refused(client_as, store):
    _newer, older, _handled = seed(store)
    client = client_as("staff")
    response = client.post(f"/callbacks/{older.id}/done", data={})
    assert response.status_code == 400
    response = client.post(f"/callbacks/{older.id}/done", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert CallbackTask.get_by_id(older.id).status == "open"
    assert not m.AuditEntry.select().where(m.AuditEntry.action == "callback.done").exists()


def test_unknown_task_is_404(client_as, store):
    assert post(client_as("staff"), "/callbacks/999/done").status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_roles(client_as, store, role):
    _newer, older, _handled = seed(store)
    client = client_as(role)
    html = client.get("/callbacks/").get_data(as_text=True)
    assert rows(html) == [str(older.id), str(_newer.id)], "every role sees the list"
    assert ('action="/callbacks/' in html) == (role in HANDLERS), "buttons only for those who may press them"
    status = post(client, f"/callbacks/{older.id}/done").status_code
    if role in HANDLERS:
        assert status == 302 and CallbackTask.get_by_id(older.id).status == "done"
    else:
        assert status == 403 and CallbackTask.get_by_id(older.id).status == "open"
        assert post(client, f"/callbacks/{older.id}/cancel").status_code == 403


def test_anonymous_is_sent_to_login(app, users):
    response = app.test_client().get("/callbacks/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_english(client_as, store):
    seed(store)
    client = client_as("staff")
    post(client, "/language", {"lang": "en", "next": "/callbacks/"})
    html = client.get("/callbacks/").get_data(as_text=True)
    assert "Callbacks" in html and "Waiting (2)" in html and "Called back" in html
    assert "Called the box and pressed 0 to speak to a person." in html


def test_outbound_reason_in_plain_words(client_as, store):
    CallbackTask.create(phone="+8613800138000", line_id="gsm1", requested_at=START,
                        reason="asked for a person during call 17 (campaign 复诊提醒)")
    html = client_as("staff").get("/callbacks/").get_data(as_text=True)
    assert "在外呼活动“复诊提醒”的通话中要求与工作人员通话（通话 17）。" in html
    assert "asked for a person during call" not in html
