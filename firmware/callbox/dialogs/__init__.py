"""Dialogs: intents, the non-removable prologue, the script runner. Pure state machines over text and
DTMF; the call session (``callbox.dialogs.session``) connects them to audio and a line."""
