"""Tables owned by the recordings area: legal holds decided after a recording was made."""

from __future__ import annotations

from peewee import CharField, TextField

from callbox.store.models import BaseModel, UTCDateTimeField


class LegalHold(BaseModel):
    """While a hold is active (``released_at`` empty) the sweeper never shreds the recording."""

    recording = CharField(index=True)  # file name (call-000012.cbr) or call id ("12")
    reason = TextField()
    placed_by = CharField()
    placed_at = UTCDateTimeField()
    released_by = CharField(null=True)
    released_at = UTCDateTimeField(null=True)


MODELS = [LegalHold]
