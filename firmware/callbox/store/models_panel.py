"""Tables the staff panel (``callbox_web``) owns.

Why here and not in web/: the store runs every migration in one place (``store.db``), so the daemon,
the CLI and the panel all see the same schema whether or not the web package is installed. The
daemon writes only :class:`LineStatus`; every other table is written by the panel alone.
"""

from __future__ import annotations

from peewee import BooleanField, CharField, IntegerField, TextField

from callbox.store.models import BaseModel, JSONField, UTCDateTimeField

ROLES = ("admin", "reviewer", "staff", "auditor")


class PanelUser(BaseModel):
    """A person who logs in to the panel. No default user exists: the first admin needs the setup code."""

    username = CharField(unique=True)
    display_name = CharField(default="")
    password_hash = CharField()  # argon2id, as produced by argon2-cffi's PasswordHasher
    role = CharField()  # one of ROLES
    active = BooleanField(default=True)
    language = CharField(default="")  # "" = use the panel default (zh_CN)
    created_at = UTCDateTimeField()
    created_by = CharField(default="")
    password_changed_at = UTCDateTimeField()
    last_login_at = UTCDateTimeField(null=True)


class PanelLoginThrottle(BaseModel):
    """Failed logins per key ("user:<name>" or "ip:<addr>"); stored so a restart does not reset a lockout."""

    key = CharField(unique=True)
    failures = IntegerField(default=0)
    window_start = UTCDateTimeField()
    locked_until = UTCDateTimeField(null=True)


class LineStatus(BaseModel):
    """The last state each phone line reported. Written by the daemon, read by the panel's live view."""

    line_id = CharField(unique=True)
    state = CharField()
    detail = TextField(default="")
    updated_at = UTCDateTimeField()


class PanelSetting(BaseModel):
    """Small panel-side settings (e.g. a retention period shorter than the rule pack's)."""

    key = CharField(unique=True)
    value = JSONField(null=True)
    updated_at = UTCDateTimeField()
    updated_by = CharField(default="")


class PanelScript(BaseModel):
    """A call script written in the panel, with its review state.

    Fallback store used until the compliance area's own script-approval tables exist; the panel reaches
    it only through ``callbox_web.services``. ``approved_sha256`` ties an approval to the exact text.
    """

    script_id = CharField(unique=True)
    name = CharField(default="")
    purpose = CharField(default="")
    text = TextField()
    status = CharField(default="draft")  # draft | submitted | approved | rejected
    author = CharField()
    updated_at = UTCDateTimeField()
    submitted_at = UTCDateTimeField(null=True)
    reviewer = CharField(default="")
    reviewed_at = UTCDateTimeField(null=True)
    review_note = TextField(default="")
    approved_sha256 = CharField(default="")


class PanelComplaint(BaseModel):
    """A complaint from a called person (by phone, in person, via a regulator), reviewed by a reviewer."""

    phone = CharField(index=True)
    campaign_id = IntegerField(null=True, index=True)
    call_id = IntegerField(null=True)
    received_at = UTCDateTimeField(index=True)
    channel = CharField(default="phone")  # phone | in_person | regulator | other
    summary = TextField()
    recorded_by = CharField()
    status = CharField(default="open")  # open | reviewed
    reviewer = CharField(default="")
    reviewed_at = UTCDateTimeField(null=True)
    review_note = TextField(default="")


MODELS = [PanelUser, PanelLoginThrottle, LineStatus, PanelSetting, PanelScript, PanelComplaint]


def panel_line_listeners(store) -> list:  # type: ignore[no-untyped-def]
    """Line-state listeners the panel wants on every line; none when the web package is not installed.

    Lives here (not in the daemon) so the daemon keeps no knowledge of the panel beyond one call.
    """
    try:
        from callbox_web.linestate import persist_listener
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "callbox_web":
            return []
        raise
    return [persist_listener(store)]
