"""Callee behaviour as data, and the pure logic that decides when a callee acts.

A callee runs a list of :class:`Act` in order. Each act waits for a trigger about the *box's* audio:
- ``box_spoke_ms``: the box has been speaking for this many ms in total (used to interrupt);
- ``box_pause_ms``: the box spoke after the callee's previous phrase had finished playing, and has
  now been silent for this long (its turn ended; its pause while listening to the callee is not);
then says a phrase, presses DTMF digits, renegotiates the media (``reinvite``: a re-INVITE with new RTP
ports, as a PBX or a phone that changes network does), or hangs up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SPEECH_RMS = 200  # int16 RMS above which a received frame counts as the box speaking


@dataclass(frozen=True)
class Act:
    box_spoke_ms: int = 0
    box_pause_ms: int = 0
    say: str = ""
    dtmf: str = ""
    reinvite: bool = False
    hangup: bool = False


@dataclass(frozen=True)
class Callee:
    number: str
    language: str
    label: str = ""
    answer_after_ms: int = 500
    acts: tuple[Act, ...] = ()
    give_up_after_s: float = 45.0

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(data: dict) -> "Callee":
        return Callee(**{**data, "acts": tuple(Act(**a) for a in data.get("acts", ()))})


@dataclass
class EarState:
    """Tracks the box's speech on the received audio, frame by frame (pure)."""

    spoke_ms: int = 0
    silent_ms: int = 0
    spoke_since_last_act: bool = False
    speech_onsets_ms: list[int] = field(default_factory=list)
    t_ms: int = 0
    _speaking: bool = False

    def feed(self, rms: float, frame_ms: int = 20) -> None:
        self.t_ms += frame_ms
        if rms >= SPEECH_RMS:
            if not self._speaking:
                self.speech_onsets_ms.append(self.t_ms - frame_ms)
            self._speaking = True
            self.spoke_ms += frame_ms
            self.silent_ms = 0
            self.spoke_since_last_act = True
        else:
            self._speaking = False
            self.silent_ms += frame_ms

    def ready_for(self, act: Act) -> bool:
        if act.box_spoke_ms and self.spoke_ms < act.box_spoke_ms:
            return False
        if act.box_pause_ms and not (self.spoke_since_last_act and self.silent_ms >= act.box_pause_ms):
            return False
        return True

    def acted(self) -> None:
        self.spoke_since_last_act = False
