"""Bringing a GSM modem up, and reading its radio status: the AT dialogue before any call.

:class:`ModemSetup` runs on the line's worker thread through the line's ``cmd`` function (one AT
command; raises :class:`~callbox.lines.at.AtError`, :class:`~callbox.lines.at.AtTimeout` or
:class:`~callbox.lines.at.PortGone`). It syncs with a modem that may still print boot noise, checks the
SIM and enters its PIN (never twice: three wrong PINs lock the SIM), switches on SMS and call
reports, waits for network registration and reads signal and operator. Anything a technician must
fix raises :class:`LineFault` with the fix in its message.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from callbox.lines.at import AtError, AtTimeout, Response, csq_to_dbm, split_fields, ucs2_decode
from callbox.lines.gsm_profiles import ModemProfile
from callbox.lines.gsm_sms import cmgl_indexes

if TYPE_CHECKING:
    from callbox.lines.gsm import GsmTiming

log = logging.getLogger(__name__)


def registration_stat(response: Response, prefix: str) -> int:
    """``+CREG: 0,1`` (query form n,stat) → 1; 0 if the modem printed nothing useful."""
    payload = response.first(prefix)
    if payload is None:
        return 0
    fields = split_fields(payload)
    try:
        return int(fields[1] if len(fields) >= 2 else fields[0])
    except ValueError:
        return 0


@dataclass(frozen=True)
class ModemStatus:
    """Last known radio state, for the panel and the logs."""

    registered: bool = False
    reg_stat: int = 0
    csq: int = 99
    rssi_dbm: int | None = None
    operator: str = ""
    model: str = ""


class LineFault(Exception):
    """A condition a technician must fix; the message says how."""


class ModemSetup:
    """The AT dialogue that makes one modem ready for calls; see the module docstring."""

    def __init__(
        self,
        line_id: str,
        profile: ModemProfile,
        timing: "GsmTiming",
        cmd: Callable[..., Response],
        sim_pin: str | None,
        stopping: threading.Event,
    ) -> None:
        self.line_id = line_id
        self.profile = profile
        self.timing = timing
        self._cmd = cmd
        self._sim_pin = sim_pin
        self._pin_rejected = False  # kept across re-inits: a rejected PIN is never sent again
        self._stopping = stopping

    def configure(self) -> list[int]:
        """Echo off, verbose errors, SIM ready (PIN entered), SMS and call URCs on.

        Returns the storage indexes of SMS already on the SIM, for the line to read once ready.
        """
        self._sync()
        self._cmd("ATE0")
        self._cmd("AT+CMEE=2")
        self._check_sim()
        for command in ("AT+CLIP=1", "AT+CMGF=1", 'AT+CSCS="IRA"'):
            self._cmd(command)
        stored_sms = self._stored_sms_indexes()
        for command in ('AT+CSCS="UCS2"', "AT+CNMI=2,1,0,0,0"):
            self._cmd(command)
        for command in self.profile.setup_commands:
            try:
                self._cmd(command)
            except AtError as exc:
                log.warning("line %s: %s refused (%s); firmware may be older than expected",
                            self.line_id, command, exc.response.final)
        return stored_sms

    def _stored_sms_indexes(self) -> list[int]:
        try:
            response = self._cmd('AT+CMGL="ALL"', timeout=self.timing.sms_timeout_s)
        except AtError as exc:
            log.warning("line %s: could not list stored SMS (%s)", self.line_id, exc.response.final)
            return []
        return cmgl_indexes(response.lines)

    def _sync(self) -> None:
        """Send AT until the modem answers (it may still be printing boot noise)."""
        deadline = time.monotonic() + max(3.0, self.timing.command_timeout_s)
        while True:
            try:
                self._cmd("AT", timeout=1.0)
                return
            except AtError:
                pass  # "ERROR" to a bare AT: half a command was in its buffer; try again
            except AtTimeout:
                if time.monotonic() >= deadline:
                    raise

    def _check_sim(self) -> None:
        for _ in range(10):
            try:
                state = self._cmd("AT+CPIN?").first("+CPIN:") or ""
            except AtError as exc:
                final = exc.response.final
                if "not inserted" in final.lower() or final.endswith(": 10"):
                    raise LineFault(
                        "no SIM card detected: power the box off, insert the SIM (contacts down, notch as "
                        "printed on the modem board) and power on"
                    ) from exc
                if "busy" in final.lower() or "not ready" in final.lower():
                    time.sleep(0.5)
                    continue
                raise LineFault(f"SIM check failed ({final}): reseat the SIM card") from exc
            if state == "READY":
                return
            if state == "SIM PIN":
                self._enter_pin()
                continue
            if state == "SIM PUK":
                raise LineFault(
                    "SIM is PUK-locked after wrong PIN attempts: unlock it in a phone with the PUK from "
                    "the carrier, then set its PIN in the line config"
                )
            raise LineFault(f"SIM not usable (+CPIN: {state}); try the SIM in a phone")
        raise LineFault("SIM stayed busy for 5 s after power-up; reseat the SIM card")

    def _enter_pin(self) -> None:
        if not self._sim_pin:
            raise LineFault("SIM asks for a PIN: set sim_pin for this line, or remove the PIN lock in a phone")
        if self._pin_rejected:
            raise LineFault("SIM rejected the configured PIN earlier; fix sim_pin (not retried, to avoid PUK lock)")
        try:
            self._cmd(f'AT+CPIN="{self._sim_pin}"')
        except AtError as exc:
            self._pin_rejected = True
            raise LineFault(
                "SIM rejected the configured PIN; fix sim_pin and restart. Not retried: three wrong PINs "
                "lock the SIM (PUK)"
            ) from exc
        time.sleep(0.2)

    def wait_registered(self) -> None:
        """Until the modem is registered (home or roaming); LineFault if denied or after the timeout."""
        deadline = time.monotonic() + self.timing.register_timeout_s
        while True:
            creg, cereg = self._registration()
            stats = {creg, cereg}
            if stats & {1, 5}:
                return
            if 3 in stats:
                raise LineFault("the network denied registration: the SIM may be inactive, out of credit or barred; "
                                "call the carrier")
            if time.monotonic() >= deadline or self._stopping.is_set():
                raise LineFault(
                    f"not registered on a network after {self.timing.register_timeout_s:.0f} s (CREG {creg}, "
                    f"CEREG {cereg}): check the antenna is on the MAIN connector and the SIM works in a phone"
                )
            time.sleep(min(1.0, max(0.05, self.timing.retry_interval_s / 4)))

    def read_status(self) -> ModemStatus:
        """Signal, operator and registration now (the line refreshes it every status interval)."""
        csq_payload = self._cmd("AT+CSQ").first("+CSQ:") or "99,99"
        try:
            csq = int(split_fields(csq_payload)[0])
        except ValueError:
            csq = 99
        cops = split_fields(self._cmd("AT+COPS?").first("+COPS:") or "")
        operator = ucs2_decode(cops[2]) if len(cops) > 2 else ""
        creg, cereg = self._registration()
        stat = creg if creg in (1, 5) else cereg
        if csq == 99 or csq < 5:
            log.warning("line %s: weak or no signal (CSQ %s); move the antenna or the box", self.line_id, csq)
        return ModemStatus(
            registered=stat in (1, 5), reg_stat=stat, csq=csq, rssi_dbm=csq_to_dbm(csq),
            operator=operator, model=self.profile.name,
        )

    def _registration(self) -> tuple[int, int]:
        """(CREG stat, CEREG stat): circuit-switched and LTE registration; CEREG is 0 on 2G/3G-only firmware."""
        creg = registration_stat(self._cmd("AT+CREG?"), "+CREG:")
        try:
            cereg = registration_stat(self._cmd("AT+CEREG?"), "+CEREG:")
        except AtError:
            cereg = 0
        return creg, cereg
