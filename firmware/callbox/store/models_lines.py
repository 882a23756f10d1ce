"""Tables the phone lines' inbound side owns.

A caller who rings the box and presses 0 wants a person. The box cannot always put them through (GSM
has no transfer; a PBX may have no staff extension), so it writes a :class:`CallbackTask` that staff
see and close. The request is also in the audit log, written in the same transaction.
"""

from __future__ import annotations

from peewee import CharField, TextField

from callbox.store.models import BaseModel, UTCDateTimeField

CALLBACK_STATUSES = ("open", "done", "cancelled")


class CallbackTask(BaseModel):
    """A caller asked for a person to call them back."""

    phone = CharField(index=True)  # as the line reported it (E.164 when the network gave one)
    line_id = CharField(default="")
    reason = TextField(default="")
    requested_at = UTCDateTimeField()
    status = CharField(default="open")  # one of CALLBACK_STATUSES
    handled_at = UTCDateTimeField(null=True)
    handled_by = CharField(default="")


MODELS = [CallbackTask]
