"""`callbox callbacks list|done`: staff see who was promised a call back and close each task, audited."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from callbox.clock import FixedClock
from compliance_support import T0

LATER = T0 + timedelta(hours=3, minutes=7)  # when staff close the task: not the clock the tasks were written on


@pytest.fixture
def cb_cli(cli, monkeypatch: pytest.MonkeyPatch):
    """The compliance ``cli`` runner, with ``callbox callbacks`` on its own fixed clock (LATER)."""
    from callbox.cli import callbacks as cli_callbacks

    clock = FixedClock(LATER)
    monkeypatch.setattr(cli_callbacks, "_clock", lambda args: clock)
    return cli


@pytest.fixture
def data(tmp_path: Path, cb_cli) -> Path:
    """A box with one contact (王芳) and two open tasks: 王芳's (older) and an unknown caller's."""
    from callbox.store import audit, open_store, queries
    from callbox.store.models_lines import CallbackTask

    d = tmp_path / "box"
    assert cb_cli(d, "init", "--org-name", "Clinic", "--callback-number", "+862161234567")[0] == 0
    store = open_store(d, FixedClock(T0))
    try:
        queries.add_contact(store, "+8613800138000", "王芳")
        with store.atomic():
            for phone, line, reason, ago in (("+8613900139000", "gsm1", "pressed 0 on an inbound call", 5),
                                             ("+8613800138000", "sip1", "callee asked for a person", 30)):
                task = CallbackTask.create(phone=phone, line_id=line, reason=reason,
                                           requested_at=T0 - timedelta(minutes=ago))
                audit.append(store, "callee", "callback.request", phone, {"task": task.id, "line": line})
    finally:
        store.close()
    return d


def audit_entries(d: Path, action: str) -> list:
    from callbox.store import models as m
    from callbox.store import open_store

    store = open_store(d, FixedClock(T0))
    try:
        return list(m.AuditEntry.select().where(m.AuditEntry.action == action).order_by(m.AuditEntry.seq))
    finally:
        store.close()


def task_row(d: Path, task_id: int):
    from callbox.store import open_store
    from callbox.store.models_lines import CallbackTask

    store = open_store(d, FixedClock(T0))
    try:
        return CallbackTask.get_by_id(task_id)
    finally:
        store.close()


def test_list_json_open_tasks_oldest_first_with_contact_names(cb_cli, data):
    code, out, err = cb_cli(data, "callbacks", "list", "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [(r["id"], r["phone"], r["name"], r["line"], r["status"]) for r in rows] == [
        (2, "+8613800138000", "王芳", "sip1", "open"),
        (1, "+8613900139000", "", "gsm1", "open"),
    ]
    assert rows[0]["requested_at"] == (T0 - timedelta(minutes=30)).isoformat()
    assert rows[0]["handled_at"] is None and rows[0]["handled_by"] == ""


def test_list_as_text(cb_cli, data):
    code, out, _ = cb_cli(data, "callbacks", "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].startswith("   2 open      2026-03-02T01:30:00+00:00  +8613800138000 (王芳)  line sip1: ")
    assert lines[2].startswith("2 person(s) waiting for a call back")


def test_done_records_who_and_when_and_audits(cb_cli, data):
    code, out, err = cb_cli(data, "callbacks", "done", "2", "--by", "alice")
    assert (code, err) == (0, "")
    assert "callback task 2 (+8613800138000) marked called back by alice" in out
    row = task_row(data, 2)
    assert (row.status, row.handled_by, row.handled_at) == ("done", "alice", LATER)
    [entry] = audit_entries(data, "callback.done")
    assert (entry.actor, entry.subject, entry.at) == ("alice", "+8613800138000", LATER)
    assert entry.details["task"] == 2 and entry.details["handled_by"] == "alice"
    # the open list no longer has it; --all shows it after the open one
    rows = json.loads(cb_cli(data, "callbacks", "list", "--json")[1])
    assert [r["id"] for r in rows] == [1]
    rows = json.loads(cb_cli(data, "callbacks", "list", "--all", "--json")[1])
    assert [(r["id"], r["status"], r["handled_by"], r["handled_at"]) for r in rows] == [
        (1, "open", "", None), (2, "done", "alice", LATER.isoformat())]
    # the audit chain is still intact after the close
    assert cb_cli(data, "audit", "verify")[0] == 0


def test_cancel(cb_cli, data):
    code, out, _ = cb_cli(data, "callbacks", "done", "1", "--by", "bob", "--cancel")
    assert code == 0 and "cancelled by bob" in out
    assert task_row(data, 1).status == "cancelled"
    [entry] = audit_entries(data, "callback.cancel")
    assert entry.details["task"] == 1 and entry.actor == "bob"
    assert audit_entries(data, "callback.done") == []


def test_unknown_id_is_a_usage_error_naming_the_fix(cb_cli, data):
    code, out, err = cb_cli(data, "callbacks", "done", "99", "--by", "alice")
    assert (code, out) == (2, "")
    assert "callback task 99 does not exist" in err and "callbox callbacks list --all" in err
    assert "Traceback" not in err
    assert audit_entries(data, "callback.done") == []


def test_closing_twice_is_refused_and_keeps_the_first(cb_cli, data):
    assert cb_cli(data, "callbacks", "done", "1", "--by", "alice")[0] == 0
    code, out, err = cb_cli(data, "callbacks", "done", "1", "--by", "bob", "--cancel")
    assert code == 2 and out == ""
    assert "already done" in err and "alice" in err
    row = task_row(data, 1)
    assert (row.status, row.handled_by) == ("done", "alice")
    assert len(audit_entries(data, "callback.done")) == 1 and audit_entries(data, "callback.cancel") == []


@pytest.mark.parametrize("argv, needle", [
    (["callbacks", "done", "1"], "--by"),
    (["callbacks", "done", "x", "--by", "alice"], "invalid int value"),
])
def test_bad_arguments(cb_cli, data, capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        cb_cli(data, *argv)
    assert exc.value.code == 2 and needle in capsys.readouterr().err
    assert task_row(data, 1).status == "open"


def test_blank_by_is_refused(cb_cli, data):
    code, _, err = cb_cli(data, "callbacks", "done", "1", "--by", "  ")
    assert code == 2 and "--by" in err
    assert task_row(data, 1).status == "open"


def test_on_a_box_not_set_up(cb_cli, tmp_path):
    code, _, err = cb_cli(tmp_path / "nothing", "callbacks", "list")
    assert code == 2 and "init" in err
