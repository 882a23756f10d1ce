"""Tables owned by the compliance core (picked up by ``store.db.EXTRA_MODEL_MODULES``).

The shared tables in :mod:`callbox.store.models` already hold contacts, consents (with method,
evidence, collector and expiry), do-not-call entries, campaigns, attempts, decisions and the audit
log. These add what the compliance core needs on top:

- :class:`AuditHead`: the audit chain's head (last seq and hash), updated in the same transaction
  as every append, so deleting the *last* entries is detected (a chain walk alone cannot see that).
- :class:`ConsentWithdrawal`: who withdrew which consent, when and how (the Consent row only keeps
  the instant). Survives a purge as a hash.
- :class:`ScriptRecord`: scripts submitted for approval, by content hash; an edit is a new hash and
  so a new, unapproved record.
- :class:`CallStat`: one row per placed call of a campaign (answered, duration, opt-out, complaint,
  abandoned) from which :mod:`callbox.compliance.risk` computes the campaign's rates.
"""

from __future__ import annotations

from peewee import BooleanField, CharField, FloatField, ForeignKeyField, IntegerField, TextField

from callbox.store.models import BaseModel, Campaign, UTCDateTimeField


class AuditHead(BaseModel):
    """A single row (id 1): seq and hash of the newest audit entry."""

    seq = IntegerField()
    hash = CharField()
    updated_at = UTCDateTimeField()


class ConsentWithdrawal(BaseModel):
    phone = CharField(null=True, index=True)  # E.164; NULL after a purge
    phone_hash = CharField(index=True)
    purpose = CharField()  # a purpose, or "*" for every purpose
    source = CharField()  # staff | spoken_opt_out | dtmf | sms | web_form | erasure
    actor = CharField()
    at = UTCDateTimeField()


class ScriptRecord(BaseModel):
    """A script version submitted for approval. ``content_hash`` is SHA-256 of the file's bytes."""

    script_id = CharField(index=True)
    path = TextField()
    content_hash = CharField(index=True)
    text = TextField()
    purpose = CharField()
    submitted_by = CharField()
    submitted_at = UTCDateTimeField()
    approved_by = CharField(null=True)
    approved_at = UTCDateTimeField(null=True)


class CallStat(BaseModel):
    campaign = ForeignKeyField(Campaign, backref="call_stats", on_delete="CASCADE")
    at = UTCDateTimeField(index=True)
    answered = BooleanField()
    duration_s = FloatField()
    opt_out = BooleanField(default=False)
    complaint = BooleanField(default=False)
    abandoned = BooleanField(default=False)


MODELS = [AuditHead, ConsentWithdrawal, ScriptRecord, CallStat]
