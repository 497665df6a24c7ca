"""Alembic environment for labelnb. The connection is handed in by labelnb.queue.migrate;
run by hand, ``LABELNB_DB_URL`` names the database."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from labelnb.queue.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


conn = config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    from labelnb.queue.store import Store

    store = Store(os.environ["LABELNB_DB_URL"], migrate=False)
    with store.write() as c:
        _run(c)
