"""Run the phone bank: ``python -m callbox.phonebank --config callees.json --out DIR``.

Protocol (one JSON object per line on stdout): ``{"event": "ready", "port": N}`` once listening, then
``{"event": "call_done", ...}`` per finished call. Closing stdin (or SIGTERM) stops it.
"""

from callbox.phonebank.bank import main

if __name__ == "__main__":
    raise SystemExit(main())
