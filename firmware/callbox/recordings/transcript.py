"""Encrypted call transcripts (``.cbt``): what was said on a call, sealed like its recording.

Why this shape
--------------
* **Same container, same crypto.** A transcript is written with :class:`~callbox.recordings.stream.
  RecordingWriter` (fresh random data key, AES-256-GCM chunks with counter nonces and a final flag,
  data key wrapped to the box's X25519 public key) with ``content = "transcript"`` in the
  authenticated metadata. There is no second crypto implementation to get wrong; tamper detection,
  salvage and crypto-shredding (:func:`~callbox.recordings.stream.shred`) are the recording's. The
  plaintext is UTF-8 JSON ``{"format": 1, "turns": [{"who", "text", "intent"?, "words"?}, ...]}``.
* **Beside its recording, same retention.** ``call-000012.cbt`` sits next to ``call-000012.cbr`` in
  ``<data>/recordings/`` with the same ``call_id`` and ``industry`` in its metadata. The retention
  sweep treats the pair as one unit (the transcript goes when its recording goes; a legal hold on
  either name or on the call id holds both), and a transcript without a recording (the callee did not
  agree) is judged by its own ``created_at``.
* **Nothing in SQLite.** The call row keeps only the file name (``Call.transcript_file``) and the
  non-sensitive outcome (outcome, intents, consent evidence). Risk control reads the in-memory
  transcript before it is sealed.

Consent decides the words (product decision, see docs/recordings.md)
--------------------------------------------------------------------
The transcript holds the callee's *words* exactly where the audio recording holds their *voice*:

* A callee turn heard while recording consent was in force (after "yes"/DTMF 1 started the
  recording, before any "stop recording") keeps its words.
* Every other callee turn is stored as its intent label only, e.g. ``[opt_out]``, ``[consent_no]``,
  ``[unknown]``: turns before the consent answer (including the answer itself, which is kept
  separately as consent evidence), every turn of a callee who said no, stayed silent or pressed 2,
  and every turn after a mid-call withdrawal.
* A mid-call withdrawal follows the rule pack's ``recording.on_withdrawal`` like the audio does:
  ``keep_before`` keeps the words said before it, ``discard`` reduces them to labels too.
* The box's own prompts are always kept (they are the evidence of what the box said: identity, AI
  notice, recording question). They can contain the callee's name, which is one reason the whole
  transcript is encrypted, labels included.

Callee turns are matched to what the session reported (``heard`` with its intent, ``dtmf``) in
order: the dialog appends exactly one callee turn per such event. A turn that cannot be matched is
stored as ``[unknown]``, never with words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from callbox.clock import parse_instant
from callbox.dialogs.intents import DTMF_INTENTS
from callbox.recordings.names import TRANSCRIPT_SUFFIX
from callbox.recordings.stream import (
    RecordingError,
    RecordingHeader,
    RecordingWriter,
    WriteSummary,
    open_decrypt,
    shred,
)

SUFFIX = TRANSCRIPT_SUFFIX
CONTENT = "transcript"
FORMAT = 1
CHUNK_SIZE = 16 * 1024


class NotATranscript(RecordingError):
    """The file is a sealed artefact but not a transcript (e.g. audio given where a transcript was asked)."""


# ---------------------------------------------------------------------------------------- consent
@dataclass
class CalleeTurn:
    """What the session reported about one callee turn, and whether its words may be kept."""

    intent: str
    words: bool


@dataclass
class ConsentTimeline:
    """Watches the call session's events (``on_event(kind, data)``) in order.

    For each callee turn it notes the intent and whether recording consent was in force when it was
    heard; a withdrawal whose rule says ``discard`` takes the words back from earlier turns too.
    """

    turns: list[CalleeTurn] = field(default_factory=list)
    consent: bool = False
    withdrawn: bool = False

    def see(self, kind: str, data: Mapping[str, Any]) -> None:
        if kind == "heard":
            self.turns.append(CalleeTurn(str(data.get("intent") or "unknown"), self.consent))
        elif kind == "dtmf":
            self.turns.append(CalleeTurn(DTMF_INTENTS.get(str(data.get("digit", "")), "dtmf"), self.consent))
        elif kind == "recording":
            if data.get("on"):
                self.consent = not self.withdrawn
            elif self.consent:
                self.consent = False
                self.withdrawn = True
                if data.get("discard"):
                    for turn in self.turns:
                        turn.words = False


def stored_turns(transcript: Sequence[Mapping[str, Any]], timeline: ConsentTimeline) -> list[dict]:
    """The transcript as it may be stored: box prompts as said, callee turns per consent (module doc)."""
    callee = iter(timeline.turns)
    out: list[dict] = []
    for turn in transcript:
        who = str(turn.get("who", ""))
        text = str(turn.get("text", ""))
        if who != "callee":
            out.append({"who": who, "text": text})
            continue
        info = next(callee, None)
        if info is None:
            out.append({"who": "callee", "text": "[unknown]", "intent": "unknown", "words": False})
        elif info.words:
            out.append({"who": "callee", "text": text, "intent": info.intent, "words": True})
        else:
            out.append({"who": "callee", "text": f"[{info.intent}]", "intent": info.intent, "words": False})
    return out


# ---------------------------------------------------------------------------------------- files
def write(
    path: Path,
    turns: Sequence[Mapping[str, Any]],
    public_key: X25519PublicKey | bytes,
    key_id: str,
    metadata: Mapping[str, Any],
) -> WriteSummary:
    """Seal ``turns`` into a new ``.cbt`` file (mode 0600, fsynced). Plaintext exists only in memory.

    ``metadata`` needs ``created_at`` (for retention) and should carry ``call_id`` and ``industry``
    exactly as the call's recording does; it is readable without the passphrase, so no names or
    numbers. A failed write leaves no file behind.
    """
    try:
        parse_instant(str(metadata["created_at"]))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"transcript metadata needs created_at as an ISO instant with an offset ({exc})") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    meta = {**metadata, "content": CONTENT, "format": FORMAT}
    payload = bytearray(json.dumps({"format": FORMAT, "turns": list(turns)}, ensure_ascii=False).encode("utf-8"))
    writer = RecordingWriter(path, public_key, key_id, meta, chunk_size=CHUNK_SIZE)
    try:
        writer.write(payload)
        return writer.finish()
    except BaseException:
        writer.abandon()
        if path.exists():
            shred(path)
        raise
    finally:
        payload[:] = bytes(len(payload))


@dataclass(frozen=True)
class Transcript:
    """A decrypted transcript. ``problem`` is set only when read with ``salvage=True`` and incomplete."""

    header: RecordingHeader
    turns: list[dict]
    complete: bool
    problem: RecordingError | None = None

    @property
    def call_id(self) -> Any:
        return self.header.metadata.get("call_id")


def read(path: Path, private_keys: Mapping[str, X25519PrivateKey], *, salvage: bool = False) -> Transcript:
    """Decrypt and verify a ``.cbt``. Raises the stream's :class:`RecordingError` subclasses on tampering."""
    name = Path(path).name
    with open_decrypt(path, private_keys, salvage=salvage) as stream:
        if stream.header.metadata.get("content") != CONTENT:
            raise NotATranscript(f"{name} is not a transcript (content {stream.header.metadata.get('content', 'audio')!r})")
        data = b"".join(stream)
    if stream.problem is not None:
        return Transcript(stream.header, [], False, stream.problem)
    try:
        turns = json.loads(data.decode("utf-8"))["turns"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise RecordingError(f"{name}: the transcript decrypted but is not valid JSON ({exc})") from None
    return Transcript(stream.header, list(turns), True, None)


def as_text(turns: Sequence[Mapping[str, Any]]) -> str:
    """One line per turn, for a terminal (``box: ...`` / ``callee: ...``)."""
    return "".join(f"{t.get('who', '?')}: {t.get('text', '')}\n" for t in turns)
