"""Alembic migrations, run when a store is opened.

* a new, empty database gets ``upgrade head``;
* an older labelnb database is upgraded, with a log line that says from what to what;
* a database written by a newer labelnb (a revision this copy does not know) is
  refused with :class:`~labelnb.errors.DatabaseTooNew`.

Concurrent openers (several kernels starting on one new database) serialise on the
SQLite writer lock or a PostgreSQL advisory lock, so the migration runs once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from labelnb.errors import DatabaseTooNew

if TYPE_CHECKING:
    from labelnb.queue.store import Store

log = logging.getLogger("labelnb.store")
MIGRATIONS = Path(__file__).parent / "migrations"
_ADVISORY_KEY = 0x6C61_6265  # "labe"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(store: Store) -> str | None:
    with store._refusals(privileges=False), store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _known(script: ScriptDirectory, rev: str) -> bool:
    try:
        return script.get_revision(rev) is not None
    except CommandError:
        return False


def ensure_current(store: Store) -> None:
    """Bring the database to this labelnb's schema, or refuse a newer one."""
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    current = current_revision(store)
    if current == head:
        return
    if current is not None and not _known(script, current):
        raise DatabaseTooNew(
            f"database {store.where} has schema revision {current!r}, written by a newer "
            f"labelnb than this one (which knows up to {head!r}). Fix: upgrade labelnb "
            "(pip install -U labelnb); never open it with an older version"
        )
    with store.write() as conn:
        if store.dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_KEY})")
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        if current is None:
            log.info("labelnb: creating the labelnb tables in %r (schema %s)", store, head)
        else:
            log.warning("labelnb: migrating %r from schema %s to %s", store, current, head)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def upgrade(store: Store, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on the store (the ``labelnb migrate`` command)."""
    cfg = alembic_config()
    with store.write() as conn:
        if store.dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_KEY})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
