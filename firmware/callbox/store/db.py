"""Opening the store: SQLite pragmas for durability, versioned migrations run on start."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from peewee import SqliteDatabase

from callbox.clock import Clock, SystemClock
from callbox.store import models as m

log = logging.getLogger(__name__)

# WAL + synchronous=FULL: a committed consent or opt-out survives a power cut (WAL alone with NORMAL
# may lose the last transactions). foreign_keys keeps consents tied to contacts.
PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,  # FULL
    "foreign_keys": 1,
    "busy_timeout": 10000,
}

DB_FILENAME = "callbox.sqlite3"


class StoreDatabase(SqliteDatabase):
    """SQLite whose transactions take the write lock when they begin (``BEGIN IMMEDIATE``).

    Why: most writes here read first (is the number already on the do-not-call list? the audit chain's
    last hash), and a deferred transaction that read and then writes fails at once with "database is
    locked" if another connection committed in between — WAL cannot upgrade a stale snapshot, and the
    busy timeout does not apply. Another connection is the panel process, an inbound call, or a
    second line's call: an opt-out was lost that way (tests/integration/test_two_lines_campaign.py).
    Taken at BEGIN, the lock waits its turn (``busy_timeout``) instead. Nested ``atomic()`` blocks are
    savepoints inside it. Pass ``lock_type="DEFERRED"`` for a read-only snapshot that need not block writers.
    """

    def atomic(self, lock_type: str | None = "IMMEDIATE"):  # type: ignore[override]
        return super().atomic(lock_type=lock_type)


# Areas of the firmware that own tables of their own keep them in their own module, each exporting
# ``MODELS`` (a list of peewee models bound to ``models.database_proxy``). Schema v1 is not released
# yet, so they are part of migration 1; after the first release, changes go in new migrations.
EXTRA_MODEL_MODULES = ("callbox.store.models_compliance", "callbox.store.models_panel", "callbox.store.models_recordings",
                       "callbox.store.models_lines")


def extra_models() -> list:
    import importlib

    found = []
    for name in EXTRA_MODEL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.extend(module.MODELS)
    return found


def _migration_1(db: SqliteDatabase) -> None:
    db.create_tables(m.ALL_MODELS + extra_models())


# Append only. Each function moves the schema from version N-1 to N; never edit a shipped one.
MIGRATIONS: list[Callable[[SqliteDatabase], None]] = [_migration_1]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass
class Store:
    """An open store: the database plus the clock used to timestamp what is written."""

    db: SqliteDatabase
    path: Path
    clock: Clock

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    def atomic(self):
        return self.db.atomic()

    def organisation(self) -> m.Organisation | None:
        return m.Organisation.select().first()


def current_version(db: SqliteDatabase) -> int:
    if not db.table_exists("schemaversion"):
        return 0
    row = m.SchemaVersion.select().order_by(m.SchemaVersion.version.desc()).first()
    return row.version if row else 0


def migrate(db: SqliteDatabase, clock: Clock) -> int:
    """Bring the schema up to date; returns the version now in force."""
    version = current_version(db)
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"store schema version {version} is newer than this firmware knows ({SCHEMA_VERSION}); "
            "install the newer firmware or restore a matching backup"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with db.atomic():
            MIGRATIONS[target - 1](db)
            m.SchemaVersion.create(version=target, applied_at=clock.now())
        log.info("store migrated", extra={"schema_version": target})
    return SCHEMA_VERSION


def open_store(data_dir: Path, clock: Clock | None = None) -> Store:
    """Open (creating if needed) the store in ``data_dir`` and run pending migrations."""
    clock = clock or SystemClock()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DB_FILENAME
    db = StoreDatabase(str(path), pragmas=PRAGMAS, check_same_thread=False)
    m.database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    migrate(db, clock)
    return Store(db=db, path=path, clock=clock)
