"""How a call's sealed files are named, in one place.

A call's recording and transcript are siblings: ``call-000012.cbr`` and ``call-000012.cbt`` in
``<data>/recordings/``. The retention sweep, legal holds, erasure, export and the daemon all derive
names from here, so a hold placed on any of the names (or on the call id) covers both files.
"""

from __future__ import annotations

from pathlib import PurePath

AUDIO_SUFFIX = ".cbr"
TRANSCRIPT_SUFFIX = ".cbt"


def call_stem(call_id: int | str) -> str:
    """``12`` -> ``call-000012``."""
    return f"call-{int(call_id):06d}"


def recording_name(call_id: int | str) -> str:
    """``call-000012.cbr``: the call's encrypted audio."""
    return call_stem(call_id) + AUDIO_SUFFIX


def transcript_name(call_id: int | str) -> str:
    """``call-000012.cbt``: the sibling of the call's recording."""
    return call_stem(call_id) + TRANSCRIPT_SUFFIX


def hold_ids(name: str, call_id: int | str | None) -> set[str]:
    """Every name under which a legal hold covers the file ``name``: either file of its call, the call id."""
    stem = PurePath(name).stem
    ids = {name, stem + AUDIO_SUFFIX, stem + TRANSCRIPT_SUFFIX}
    return ids | ({str(call_id)} if call_id is not None else set())
