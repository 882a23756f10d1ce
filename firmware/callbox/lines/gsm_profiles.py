"""What differs between the supported modem families (see hardware/modems.md), as data.

A :class:`ModemProfile` names the DTMF and SIM-removal URCs of one family (for
:func:`callbox.lines.gsm_urc.interpret_urc`), the commands that switch its call-status and DTMF
reports on, and whether call audio comes as PCM on a second serial port (for
:class:`callbox.lines.gsm_audio.Sim7600PcmAudio`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModemProfile:
    """What differs between supported modem families (see hardware/modems.md)."""

    name: str
    dtmf_urc: str  # URC prefix for a key the far end pressed
    dtmf_ascii_code: bool  # EC25 reports the key's ASCII code ("+QTONEDET: 49" = "1")
    setup_commands: tuple[str, ...]  # best effort after the common init; ERROR is logged, not fatal
    sim_removal_urcs: tuple[str, ...]
    has_pcm_port: bool


PROFILES: dict[str, ModemProfile] = {
    "sim7600": ModemProfile(
        name="sim7600",
        dtmf_urc="+RXDTMF:",
        dtmf_ascii_code=False,
        # call-status URCs; DTMF detection on; PCM at 8 kHz
        setup_commands=("AT+CLCC=1", "AT+DDET=1", "AT+CPCMFRM=0"),
        sim_removal_urcs=("+SIMCARD: REMOVAL", "+CPIN: NOT INSERTED"),
        has_pcm_port=True,
    ),
    "ec25": ModemProfile(
        name="ec25",
        dtmf_urc="+QTONEDET:",
        dtmf_ascii_code=True,
        setup_commands=("AT^DSCI=1", "AT+QTONEDET=1"),  # call status URCs; DTMF detection
        sim_removal_urcs=("+CPIN: NOT INSERTED", "+QSIMSTAT: 1,0"),
        has_pcm_port=False,
    ),
}
