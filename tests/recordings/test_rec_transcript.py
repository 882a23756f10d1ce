"""Sealed transcripts: consent decides the words, the crypto is the recording's, retention treats the pair
as one unit. Real keys (fast argon2id), real files, real AES-GCM."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from callbox.recordings import transcript
from callbox.recordings.keystore import KeyStore, UnlockedKeys, WrongPassphrase
from callbox.recordings.recorder import Recorder
from callbox.recordings.retention import RetentionRule, sweep
from callbox.recordings.stream import ChunkTampered, HeaderTampered, RecordingTruncated
from callbox.recordings.transcript import ConsentTimeline, stored_turns
from rec_support import PASSPHRASE

BOX_HELLO = "Hello, this is Sunshine Dental. This is an automated AI voice."
WORDS = "Yes, I will be there at three."
CREATED = "2026-03-02T10:00:00+08:00"


def _call(events: list[tuple[str, dict]], transcript_turns: list[dict]) -> list[dict]:
    timeline = ConsentTimeline()
    for kind, data in events:
        timeline.see(kind, data)
    return stored_turns(transcript_turns, timeline)


def test_consent_keeps_words_after_yes_and_labels_the_rest():
    stored = _call(
        [("dtmf", {"digit": "1"}), ("recording", {"on": True}), ("heard", {"text": WORDS, "intent": "confirm"})],
        [{"who": "box", "text": BOX_HELLO}, {"who": "callee", "text": "[DTMF 1]"}, {"who": "box", "text": "ok"},
         {"who": "callee", "text": WORDS}],
    )
    assert stored[0] == {"who": "box", "text": BOX_HELLO}
    assert stored[1] == {"who": "callee", "text": "[consent_yes]", "intent": "consent_yes", "words": False}
    assert stored[3] == {"who": "callee", "text": WORDS, "intent": "confirm", "words": True}


@pytest.mark.parametrize("answer", [("dtmf", {"digit": "2"}), ("heard", {"text": "no thanks", "intent": "consent_no"})])
def test_no_consent_keeps_only_intent_labels(answer):
    stored = _call(
        [answer, ("heard", {"text": "Stop calling me, please.", "intent": "opt_out"})],
        [{"who": "box", "text": BOX_HELLO}, {"who": "callee", "text": "x"}, {"who": "callee", "text": "Stop calling me, please."}],
    )
    callee = [t for t in stored if t["who"] == "callee"]
    assert [t["text"] for t in callee] == [f"[{callee[0]['intent']}]", "[opt_out]"]
    assert not any(t["words"] for t in callee)
    assert stored[0]["text"] == BOX_HELLO  # the box's own prompts are kept


@pytest.mark.parametrize("discard,kept", [(False, True), (True, False)])
def test_withdrawal_follows_the_packs_rule_for_words_before_it(discard, kept):
    stored = _call(
        [("recording", {"on": True}), ("heard", {"text": WORDS, "intent": "confirm"}),
         ("heard", {"text": "please stop recording", "intent": "stop_recording"}),
         ("recording", {"on": False, "discard": discard}), ("heard", {"text": "my secret", "intent": "unknown"})],
        [{"who": "callee", "text": WORDS}, {"who": "callee", "text": "please stop recording"},
         {"who": "callee", "text": "my secret"}],
    )
    assert (stored[0]["text"] == WORDS) is kept
    assert stored[2]["text"] == "[unknown]"  # after the withdrawal: never words


def test_unmatched_callee_turn_is_never_stored_with_words():
    stored = _call([("recording", {"on": True})], [{"who": "callee", "text": "words nobody reported"}])
    assert stored == [{"who": "callee", "text": "[unknown]", "intent": "unknown", "words": False}]


def _seal(data_dir: Path, name: str = "call-000001.cbt", turns=None, created: str = CREATED) -> Path:
    pub = KeyStore.for_data_dir(data_dir).public_key()
    path = data_dir / "recordings" / name
    turns = turns if turns is not None else [{"who": "box", "text": BOX_HELLO}, {"who": "callee", "text": WORDS}]
    transcript.write(path, turns, pub.key, pub.key_id, {"call_id": 1, "created_at": created, "industry": "medical"})
    return path


def test_sealed_transcript_round_trips_and_holds_no_plaintext(data_dir: Path, keys: UnlockedKeys):
    path = _seal(data_dir)
    raw = path.read_bytes()
    for secret in (WORDS, BOX_HELLO, "Sunshine", "there at three"):
        assert secret.encode() not in raw
    assert path.stat().st_mode & 0o777 == 0o600
    result = transcript.read(path, keys)
    assert result.complete and result.call_id == 1
    assert result.turns[1]["text"] == WORDS
    assert result.header.metadata["content"] == "transcript" and "sample_rate" not in result.header.metadata


def test_wrong_passphrase_is_a_clear_error(store: KeyStore, data_dir: Path):
    _seal(data_dir)
    with pytest.raises(WrongPassphrase, match="passphrase is wrong"):
        store.unlock("not the passphrase at all")


def test_tampered_transcript_is_detected(data_dir: Path, keys: UnlockedKeys):
    path = _seal(data_dir)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(ChunkTampered, match="fails authentication"):
        transcript.read(path, keys)


def test_truncated_or_shredded_transcript(data_dir: Path, keys: UnlockedKeys):
    path = _seal(data_dir)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(RecordingTruncated):
        transcript.read(path, keys)
    assert transcript.read(path, keys, salvage=True).problem is not None
    from callbox.recordings.stream import KEY_BLOCK_OFFSET

    raw = bytearray(path.read_bytes())
    raw[KEY_BLOCK_OFFSET + 40] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(HeaderTampered):
        transcript.read(path, keys)


def test_audio_is_not_read_as_a_transcript(data_dir: Path, keys: UnlockedKeys):
    pub = KeyStore.for_data_dir(data_dir).public_key()
    rec = Recorder(data_dir / "recordings" / "call-000001.cbr", pub.key, pub.key_id, {"call_id": 1, "created_at": CREATED})
    rec.feed(b"\0" * 320, b"\0" * 320)
    rec.stop()
    with pytest.raises(transcript.NotATranscript):
        transcript.read(data_dir / "recordings" / "call-000001.cbr", keys)


def _record(data_dir: Path, name: str, created: str) -> Path:
    pub = KeyStore.for_data_dir(data_dir).public_key()
    path = data_dir / "recordings" / name
    rec = Recorder(path, pub.key, pub.key_id, {"call_id": int(name[5:11]), "created_at": created})
    rec.feed(b"\0" * 320, b"\0" * 320)
    rec.stop()
    return path


def test_sweep_shreds_the_transcript_with_its_recording_and_holds_both(data_dir: Path, store: KeyStore):
    folder = data_dir / "recordings"
    _record(data_dir, "call-000001.cbr", "2025-01-01T00:00:00+00:00")
    _seal(data_dir, "call-000001.cbt", created="2025-01-01T00:00:00+00:00")
    _record(data_dir, "call-000002.cbr", "2025-01-01T00:00:00+00:00")
    _seal(data_dir, "call-000002.cbt", created="2025-01-01T00:00:00+00:00")
    _seal(data_dir, "call-000003.cbt", created="2025-01-01T00:00:00+00:00")  # not recorded: alone
    _seal(data_dir, "call-000004.cbt", created="2026-06-15T00:00:00+00:00")  # not recorded, young
    entries: list[tuple[str, str, dict]] = []
    report = sweep(folder, datetime(2026, 7, 1, tzinfo=timezone.utc), False, lambda *e: entries.append(e),
                   rules=RetentionRule(6), legal_holds={"call-000002.cbr"})
    assert sorted(report.shredded) == ["call-000001.cbr", "call-000001.cbt", "call-000003.cbt"]
    assert sorted(report.held) == ["call-000002.cbr", "call-000002.cbt"]
    assert report.kept == ["call-000004.cbt"]
    assert sorted(p.name for p in folder.iterdir()) == ["call-000002.cbr", "call-000002.cbt", "call-000004.cbt"]
    shredded = {subject: details for action, subject, details in entries if action == "recording.shredded"}
    assert shredded["call-000001.cbt"]["with"] == "call-000001.cbr"


def test_hold_on_a_transcript_name_holds_its_recording(data_dir: Path, store: KeyStore):
    folder = data_dir / "recordings"
    _record(data_dir, "call-000001.cbr", "2025-01-01T00:00:00+00:00")
    _seal(data_dir, "call-000001.cbt", created="2025-01-01T00:00:00+00:00")
    report = sweep(folder, datetime(2026, 7, 1, tzinfo=timezone.utc), False, lambda *e: None,
                   rules=RetentionRule(6), legal_holds={"call-000001.cbt"})
    assert sorted(report.held) == ["call-000001.cbr", "call-000001.cbt"] and not report.shredded


def test_plaintext_is_never_written_when_sealing_fails(data_dir: Path, store: KeyStore):
    pub = store.public_key()
    with pytest.raises(ValueError, match="created_at"):
        transcript.write(data_dir / "recordings" / "x.cbt", [{"who": "callee", "text": WORDS}], pub.key, pub.key_id, {})
    assert not (data_dir / "recordings" / "x.cbt").exists()
