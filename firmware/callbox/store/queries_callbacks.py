"""Callback tasks as staff see and close them (the panel's Callbacks page and ``callbox callbacks``).

The daemon writes a :class:`~callbox.store.models_lines.CallbackTask` (:func:`request`) when a callee
was promised a call back; this module also lists the tasks and closes one. Closing is one conditional UPDATE (``WHERE
status = 'open'``) in the same transaction as its audit entry, so two people pressing "called back"
at once close the task once and the second is told who did.
"""

from __future__ import annotations

from callbox.store import audit
from callbox.store import models as m
from callbox.store.db import Store
from callbox.store.models_lines import CALLBACK_STATUSES, CallbackTask

CLOSED_STATUSES = tuple(s for s in CALLBACK_STATUSES if s != "open")  # ("done", "cancelled")
AUDIT_ACTIONS = {"done": "callback.done", "cancelled": "callback.cancel"}


class CallbackError(Exception):
    """A task that cannot be closed. ``code``: ``unknown`` (no such id), ``closed`` (``task`` is the
    row as someone else closed it), ``invalid`` (bad status or no name)."""

    def __init__(self, message: str, code: str, task: CallbackTask | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.task = task


def request(store: Store, phone: str, line_id: str, reason: str, details: dict | None = None) -> CallbackTask:
    """A callee was promised a call back: the task staff will see, and its ``callback.request`` audit
    entry, in one transaction (joins the caller's transaction if there is one)."""
    with store.atomic():
        task = CallbackTask.create(phone=phone, line_id=line_id, reason=reason, requested_at=store.clock.now())
        audit.append(store, "callee", "callback.request", phone, {"task": task.id, "line": line_id, **(details or {})})
    return task


def open_tasks():
    """Open tasks, oldest request first (the person waiting longest is called first)."""
    return (CallbackTask.select().where(CallbackTask.status == "open")
            .order_by(CallbackTask.requested_at, CallbackTask.id))


def closed_tasks():
    """Done and cancelled tasks, most recently handled first."""
    return (CallbackTask.select().where(CallbackTask.status != "open")
            .order_by(CallbackTask.handled_at.desc(), CallbackTask.id.desc()))


def open_count() -> int:
    return CallbackTask.select().where(CallbackTask.status == "open").count()


def contact_names(phones) -> dict[str, str]:
    """``{phone: name}`` for the numbers that are in the contact list with a name."""
    phones = sorted({p for p in phones if p})
    if not phones:
        return {}
    return {c.phone: c.name for c in m.Contact.select(m.Contact.phone, m.Contact.name)
            .where(m.Contact.phone.in_(phones)) if c.name}


def task_json(task: CallbackTask, names: dict[str, str]) -> dict:
    return {
        "id": task.id, "phone": task.phone, "name": names.get(task.phone, ""), "line": task.line_id,
        "reason": task.reason, "requested_at": task.requested_at.isoformat(), "status": task.status,
        "handled_at": task.handled_at.isoformat() if task.handled_at else None, "handled_by": task.handled_by,
    }


def tasks_json(include_closed: bool = False) -> list[dict]:
    """Open tasks oldest first, then (with ``include_closed``) closed ones most recently handled first."""
    tasks = list(open_tasks()) + (list(closed_tasks()) if include_closed else [])
    names = contact_names(t.phone for t in tasks)
    return [task_json(t, names) for t in tasks]


def close_task(store: Store, task_id: int, status: str, handled_by: str, actor: str) -> CallbackTask:
    """Mark an open task ``done`` (called back) or ``cancelled``; record who and when (the store's
    clock) and append ``callback.done`` / ``callback.cancel`` to the audit log in the same transaction.

    Raises :class:`CallbackError` for an unknown id, a task already closed, or a bad status / name.
    """
    if status not in CLOSED_STATUSES:
        raise CallbackError(f"status {status!r} must be one of {', '.join(CLOSED_STATUSES)}", "invalid")
    handled_by = (handled_by or "").strip()
    if not handled_by:
        raise CallbackError("say who handled the task (a name)", "invalid")
    now = store.clock.now()
    with store.atomic():
        task = CallbackTask.get_or_none(CallbackTask.id == task_id)
        if task is None:
            raise CallbackError(f"callback task {task_id} does not exist", "unknown")
        changed = (CallbackTask.update(status=status, handled_at=now, handled_by=handled_by)
                   .where((CallbackTask.id == task_id) & (CallbackTask.status == "open")).execute())
        if not changed:
            task = CallbackTask.get_by_id(task_id)  # as whoever closed it left it
            when = task.handled_at.isoformat() if task.handled_at else "an unknown time"
            raise CallbackError(f"callback task {task_id} was already {task.status} "
                                f"(by {task.handled_by or 'someone'} at {when})", "closed", task)
        audit.append(store, actor, AUDIT_ACTIONS[status], task.phone,
                     {"task": task.id, "line": task.line_id, "requested_at": task.requested_at,
                      "handled_by": handled_by})
    return CallbackTask.get_by_id(task_id)
