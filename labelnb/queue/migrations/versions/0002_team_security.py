"""team security: events.db_user, the gold answers table, an index for the best accuracy

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00.000000

The roles, grants, row-level security policies, definer functions and triggers of
team security are not part of the schema: ``labelnb team init`` installs them (see
``labelnb/team/sql.py``), as the owner, after the migrations.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('events', sa.Column('db_user', sa.String(length=200), nullable=True))
    with op.batch_alter_table('annotators', schema=None) as batch_op:
        batch_op.create_index('ix_annotators_accuracy', ['project_id', 'accuracy'], unique=False)
    op.create_table('gold_answers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('regions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_gold_answers_item_id_items')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_gold_answers_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gold_answers')),
    sa.UniqueConstraint('project_id', 'item_id', name='uq_gold_answers_project_item')
    )


def downgrade() -> None:
    op.drop_table('gold_answers')
    with op.batch_alter_table('annotators', schema=None) as batch_op:
        batch_op.drop_index('ix_annotators_accuracy')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('db_user')
