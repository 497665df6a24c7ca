"""SQLite keeps a submitted lease on its task row

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 05:30:00.000000

No table changes. From this revision on, a submit on SQLite leaves its lease on the
finished task row (``assignee``, ``lease_token``, ``claimed_at``, ``lease_expires_at``;
``done_at`` is its end) instead of writing a ``leases`` row, and ``project.leases()``
reads it back (``labelnb.queue.queries._FINISH_KEEP``). The revision is what makes an
older labelnb refuse such a database (it would not see those leases, and would clear
them when it reopens a task); the downgrade writes them to ``leases`` as before.
"""
from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # the rows written before stay as they are: their leases are in ``leases``


def downgrade() -> None:
    op.execute(
        "INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, "
        "ended_at, outcome) SELECT id, item_id, assignee, lease_token, claimed_at, "
        "lease_expires_at, done_at, 'submitted' FROM tasks "
        "WHERE status = 'done' AND lease_token IS NOT NULL")
    op.execute("UPDATE tasks SET lease_token = NULL "
               "WHERE status = 'done' AND lease_token IS NOT NULL")
