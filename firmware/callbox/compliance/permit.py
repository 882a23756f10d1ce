"""Permits: the only key that opens a line.

A :class:`Permit` is issued by the compliance gate for one number and one attempt, lives for a short
time, and can be redeemed exactly once. It is signed with an HMAC key that exists only inside the
:class:`PermitAuthority` object of the running daemon, so code that did not go through the gate cannot
forge one (there is no key on disk to steal, and a permit from a previous run is worthless).

Lines receive the authority when they are built and call :meth:`PermitAuthority.redeem` as the first
thing in ``dial``; the number they dial is the one *returned by redeem*, never one passed alongside.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callbox.clock import Clock

DEFAULT_TTL = timedelta(seconds=60)


class PermitError(Exception):
    """Raised when a permit is forged, expired, already used or presented to the wrong line."""


@dataclass(frozen=True)
class Permit:
    """Permission to dial ``number`` once, for ``attempt_id``, on a line of ``line_kind``."""

    number: str
    attempt_id: int
    line_kind: str
    expires_at: datetime
    nonce: str
    signature: str = field(repr=False)

    def payload(self) -> bytes:
        return "|".join(
            [self.number, str(self.attempt_id), self.line_kind, self.expires_at.isoformat(), self.nonce]
        ).encode()


class PermitAuthority:
    """Issues and redeems permits. One per daemon process; the key never leaves memory."""

    def __init__(self, clock: Clock, ttl: timedelta = DEFAULT_TTL) -> None:
        self._key = os.urandom(32)
        self._clock = clock
        self._ttl = ttl
        self._redeemed: set[str] = set()
        self._lock = threading.Lock()

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def issue(self, number: str, attempt_id: int, line_kind: str) -> Permit:
        """Create a permit. Only :class:`callbox.compliance.gate.Gate` should call this."""
        unsigned = Permit(
            number=number,
            attempt_id=attempt_id,
            line_kind=line_kind,
            expires_at=self._clock.now() + self._ttl,
            nonce=os.urandom(12).hex(),
            signature="",
        )
        return Permit(**{**unsigned.__dict__, "signature": self._sign(unsigned.payload())})

    def redeem(self, permit: Permit, line_kind: str) -> str:
        """Check and consume ``permit``; return the number the line may dial.

        Raises :class:`PermitError` naming what is wrong. A permit is consumed even if the dial that
        follows fails: a failed dial is a new attempt and needs a new decision.
        """
        if not isinstance(permit, Permit):
            raise PermitError("a line dials only with a Permit from the compliance gate")
        if not hmac.compare_digest(self._sign(permit.payload()), permit.signature):
            raise PermitError("permit signature does not verify: it was not issued by this gate")
        if permit.line_kind != line_kind:
            raise PermitError(f"permit is for a {permit.line_kind} line, not {line_kind}")
        if self._clock.now() > permit.expires_at:
            raise PermitError("permit expired; ask the gate again (rules may have changed)")
        with self._lock:
            if permit.nonce in self._redeemed:
                raise PermitError("permit already used; every attempt needs its own permit")
            self._redeemed.add(permit.nonce)
        return permit.number
