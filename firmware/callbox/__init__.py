"""callbox: firmware for an on-prem AI call box that can only place calls the rules allow.

The package is organised as a pure core (compliance rules, dialog state machines, intents) with thin
I/O edges (SIP/GSM lines, audio, SQLite, files). See ``../shared/DESIGN.md`` and README.md.
"""

__version__ = "0.1.0"
