"""Give new task rows room to grow (SQLite's fill factor)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:40:00.000000

A task row is small when ``add_items`` writes it and grows by about 90 bytes when it
is claimed (assignee, lease token, claim and expiry times). Rows written side by side
fill their pages, so nearly every claim overflowed its page and SQLite split it. New
rows now carry ``spare`` (``tables.SPARE_BYTES`` zero bytes on SQLite; NULL on
PostgreSQL), which the claim sets to NULL: the row grows into its own room.

Rows already in a SQLite file are given no room: SQLite reads an added column's
default for rows written before it was added, and would write those bytes into the
row at its next update of any kind (a reprioritisation would nearly triple the tasks
table). The upgrade sets their ``spare`` to NULL, rewriting the tasks table once
(about 0.15 s per 100,000 tasks on the 2-core box); only tasks made after it
get room.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labelnb.queue.tables import SpareDefault

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # (plain ALTER TABLE ADD COLUMN on both: SQLite takes a constant default there)
    op.add_column('tasks', sa.Column('spare', sa.LargeBinary(),
                                     server_default=SpareDefault(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE tasks SET spare = NULL")


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy of the table: the
    # copy's DROP TABLE fails while annotations and leases point at the tasks
    op.drop_column('tasks', 'spare')
