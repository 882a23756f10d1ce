"""Child process for the power-cut test: consent and DNC writes in a loop until it is killed with SIGKILL.

Prints ``<kind> <phone>`` on stdout only after the transaction committed (``synchronous=FULL``), so every
line the parent read is a write the store promised to keep.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from callbox.clock import SystemClock
from callbox.store import queries
from callbox.store.db import open_store


def main(data: str, run: int) -> None:
    store = open_store(Path(data), SystemClock())
    print("ready", flush=True)
    i = 0
    while True:
        phone = f"+86139{run:03d}{i:05d}"
        if i % 2 == 0:
            with store.atomic():
                contact = queries.add_contact(store, phone, name=f"run{run}")
                queries.add_consent(store, contact, "appointment_reminder",
                                    store.clock.now() - timedelta(days=1), "paper_form")
            sys.stdout.write(f"consent {phone}\n")
        else:
            queries.add_dnc(store, phone, "dtmf", "pressed 9", actor="callee")
            sys.stdout.write(f"dnc {phone}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
