"""Tables of the store. Plain peewee models bound at runtime through ``database_proxy``."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from peewee import (
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

database_proxy = DatabaseProxy()


class UTCDateTimeField(DateTimeField):
    """Stores aware datetimes as ISO 8601 UTC text, returns aware UTC datetimes."""

    field_type = "TEXT"

    def db_value(self, value):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime; every instant in the store is UTC")
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def python_value(self, value):  # type: ignore[override]
        if value is None:
            return None
        return datetime.fromisoformat(value).astimezone(timezone.utc)


class JSONField(TextField):
    def db_value(self, value):  # type: ignore[override]
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value):  # type: ignore[override]
        return None if value is None else json.loads(value)


class BaseModel(Model):
    class Meta:
        database = database_proxy


class SchemaVersion(BaseModel):
    version = IntegerField()
    applied_at = UTCDateTimeField()


class Organisation(BaseModel):
    """The one organisation this box calls for (name and callback number go into every prologue)."""

    def name_for(self, language: str) -> str:
        return self.name_en if language == "en" and self.name_en else self.name

    name = CharField()
    name_en = CharField(default="")  # what English-speaking callees hear; falls back to ``name``
    callback_number = CharField()
    timezone = CharField(default="Asia/Shanghai")
    region = CharField(default="CN")  # default region for parsing local numbers
    industry = CharField(default="general")
    rules = CharField(default="cn")
    created_at = UTCDateTimeField()


class Contact(BaseModel):
    phone = CharField(unique=True)  # E.164
    name = CharField(default="")
    language = CharField(default="zh")
    birth_year = IntegerField(null=True)
    guardian_consent = BooleanField(default=False)
    created_at = UTCDateTimeField()


class Consent(BaseModel):
    """One consent for one purpose, with the evidence that proves it."""

    contact = ForeignKeyField(Contact, backref="consents", on_delete="CASCADE")
    purpose = CharField()
    given_at = UTCDateTimeField()
    method = CharField()  # paper_form | web_form | verbal_recorded | in_person
    evidence = TextField(default="")  # reference or file hash
    collected_by = CharField(default="")
    expires_at = UTCDateTimeField(null=True)
    withdrawn_at = UTCDateTimeField(null=True)


class DoNotCall(BaseModel):
    """Numbers that must never be called again. ``phone`` is E.164; ``phone_hash`` survives a purge."""

    phone = CharField(null=True, unique=True)
    phone_hash = CharField(unique=True)
    source = CharField()  # spoken_opt_out | dtmf | staff | import | sms
    reason = TextField(default="")
    added_at = UTCDateTimeField()


class Campaign(BaseModel):
    name = CharField(unique=True)
    purpose = CharField()
    script = CharField()
    records = BooleanField(default=False)
    status = CharField(default="draft")  # draft | running | paused | done
    paused_reason = TextField(default="")
    created_at = UTCDateTimeField()


class CampaignMember(BaseModel):
    """One contact in a campaign, with the script variables for that contact (e.g. appointment time)."""

    campaign = ForeignKeyField(Campaign, backref="members", on_delete="CASCADE")
    phone = CharField()
    variables = JSONField(default=dict)
    status = CharField(default="pending")  # pending | deferred | denied | called | failed
    next_try_at = UTCDateTimeField(null=True)
    last_reasons = JSONField(default=list)

    class Meta:
        indexes = ((("campaign", "phone"), True),)


class Attempt(BaseModel):
    """One dial the gate allowed (or a past attempt imported from a previous system)."""

    phone = CharField(index=True)
    purpose = CharField()
    campaign = ForeignKeyField(Campaign, null=True, backref="attempts")
    at = UTCDateTimeField(index=True)
    outcome = CharField(default="pending")


class Decision(BaseModel):
    """Every gate decision, allow or deny, with the reasons and the rules checked."""

    phone = CharField(index=True)
    purpose = CharField()
    campaign = ForeignKeyField(Campaign, null=True, backref="decisions")
    at = UTCDateTimeField()
    decision = CharField()  # allowed | denied | deferred
    reasons = JSONField()
    rules = JSONField()  # [{"rule": id, "result": "pass"|"fail", "detail": ...}]
    next_allowed_at = UTCDateTimeField(null=True)
    attempt = ForeignKeyField(Attempt, null=True)


class Call(BaseModel):
    attempt = ForeignKeyField(Attempt, backref="calls")
    line_id = CharField()
    started_at = UTCDateTimeField()
    answered_at = UTCDateTimeField(null=True)
    ended_at = UTCDateTimeField(null=True)
    end_reason = CharField(default="")
    ai_disclosed = BooleanField(default=False)
    recording = CharField(default="none")  # on | off | none
    recording_file = CharField(null=True)
    # Evidence of the callee's answer to the recording question: {"at", "how": dtmf|speech, "answer"}
    recording_consent = JSONField(null=True)
    opt_out = BooleanField(default=False)
    outcome = CharField(default="")  # confirmed | declined | opt_out | no_answer | ...
    # The transcript is never stored here: it is sealed in <data>/recordings/<transcript_file> (.cbt),
    # see callbox.recordings.transcript. None when no transcript was kept (no keys, or erased).
    transcript_file = CharField(null=True)


class AuditEntry(BaseModel):
    """Append-only, hash-chained: each entry's hash covers its content and the previous hash."""

    seq = IntegerField(unique=True)
    at = UTCDateTimeField()
    actor = CharField()
    action = CharField()
    subject = CharField(default="")
    details = JSONField(default=dict)
    prev_hash = CharField()
    hash = CharField()


ALL_MODELS = [
    SchemaVersion,
    Organisation,
    Contact,
    Consent,
    DoNotCall,
    Campaign,
    CampaignMember,
    Attempt,
    Decision,
    Call,
    AuditEntry,
]
