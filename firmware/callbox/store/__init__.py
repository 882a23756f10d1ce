"""The on-device store: peewee models over one SQLite file in the data directory.

Consent, opt-outs and the audit log are the records the box must never lose, so the database runs in
WAL mode with ``synchronous=FULL``: a transaction that returned has reached the disk.
"""

from callbox.store.db import open_store, Store

__all__ = ["open_store", "Store"]
