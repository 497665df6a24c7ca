"""The store's tables (SQLAlchemy Core). One schema for SQLite and PostgreSQL.

Append-only tables: ``annotations`` (a correction is a new row whose ``corrects``
points at the old one), ``leases`` (every claim ever made), ``reviews``,
``predictions`` and ``events`` (the audit log; on PostgreSQL with team security a
trigger refuses any UPDATE or DELETE of it). ``gold_answers`` holds the known answers
of gold questions. ``tasks`` is the only table whose rows change state (open → leased
→ done).

Any change here needs an Alembic revision in ``labelnb/queue/migrations/versions``;
``tests/queue/test_migrations.py`` checks that ``create_all`` and ``upgrade head``
agree.
"""

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT ids on Postgres; INTEGER PRIMARY KEY (the rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
Time = DateTime(timezone=True)

projects = Table(
    "projects", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("schema_version", Integer, nullable=False),
    Column("settings", Json, nullable=False),
    Column("created_at", Time, nullable=False),
)

schemas = Table(
    "schemas", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("body", Json, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("created_by", String(200)),
    UniqueConstraint("project_id", "version", name="uq_schemas_project_version"),
)

items = Table(
    "items", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("media", String(16), nullable=False),  # image | text | other
    Column("uri", Text),  # media by URI (file://, http(s)://, s3://, gs://); never the bytes
    Column("text", Text),  # inline text for text items
    Column("content_hash", String(64), nullable=False),
    Column("width", Integer),  # EXIF-oriented pixel size for images
    Column("height", Integer),
    Column("group_key", String(200)),  # source group (for leakage-free splits)
    Column("meta", Json, nullable=False),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("project_id", "content_hash", name="uq_items_project_hash"),
)

annotators = Table(
    "annotators", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # annotator | reviewer | lead
    Column("skills", Json, nullable=False),  # {label: accuracy in [0, 1]}
    Column("qualifications", Json, nullable=False),  # [str]
    Column("languages", Json, nullable=False),  # [str]
    Column("kinds", Json, nullable=False),  # certified schema kinds [str]
    Column("accuracy", Float),  # overall, from calibration / gold
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_annotators_project_name"),
)
# the team's best accuracy (routing's bar for hard tasks), read on every claim under team
# security: an index walk, not a scan of the team
Index("ix_annotators_accuracy", annotators.c.project_id, annotators.c.accuracy)

#: Bytes of room a new task row is made with on SQLite, in ``tasks.spare``. A claim
#: fills the row in (assignee, lease token, two times: about 90 bytes) and the submit
#: adds ``done_at``; rows written side by side by ``add_items`` fill their pages, so
#: without room nearly every claim overflowed its page and SQLite split it, writing
#: three or four pages where one would do. The claim sets ``spare`` to NULL, so the
#: row grows into its own room (SQLite has no ``fillfactor``). With 128 bytes a
#: claim+submit writes one task page in each transaction, about 1.9 pages fewer in
#: all, and runs about 8% faster (``benchmarks/queue_throughput.py --breakdown``; 64
#: bytes left the submit's page split every fourth task). The cost is 128 bytes a task
#: not yet claimed: about 120 MiB for a million tasks, about what their leases take
#: once they are claimed. PostgreSQL's default is NULL (it has ``fillfactor``).
SPARE_BYTES = 128


class SpareDefault(ColumnElement[Any]):
    """``tasks.spare``'s server default: SPARE_BYTES zero bytes on SQLite, NULL on
    PostgreSQL."""

    inherit_cache = True


@compiles(SpareDefault)
def _spare_default(element: SpareDefault, compiler: Any, **kw: Any) -> str:
    return "NULL"


@compiles(SpareDefault, "sqlite")
def _spare_default_sqlite(element: SpareDefault, compiler: Any, **kw: Any) -> str:
    return "X'" + "00" * SPARE_BYTES + "'"


tasks = Table(
    "tasks", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("item_id", Id, ForeignKey("items.id"), nullable=False),
    Column("stage", String(16), nullable=False),  # annotate | review | adjudicate
    Column("slot", Integer, nullable=False),  # 0..overlap-1 for annotate tasks
    Column("status", String(16), nullable=False),  # open | leased | done | cancelled
    Column("priority", Float, nullable=False),  # what the claim orders by (computed)
    Column("base_priority", Float, nullable=False, server_default=text("0")),  # user-given
    Column("difficulty", Float),  # 0 easy .. 1 hard
    Column("required_skill", String(100)),
    Column("language", String(32)),
    Column("focus_label", String(200)),
    Column("deadline", Time),
    Column("assignee", String(200)),  # who holds (or held) it
    Column("reserved_for", String(200)),  # only this annotator may claim it
    Column("author", String(200)),  # review tasks: whose work is reviewed (never the reviewer)
    Column("target_annotation_id", String(32)),  # review tasks: the annotation under review
    Column("lease_token", String(64)),  # the live lease (its history is in `leases`)
    Column("claimed_at", Time),
    Column("lease_expires_at", Time),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Time, nullable=False),
    Column("done_at", Time),
    # SQLite's fill factor (see SPARE_BYTES): room the claim gives back as the row grows
    Column("spare", LargeBinary, server_default=SpareDefault()),
)
# Partial indexes keep the claim a short index walk and keep writes per claim/submit
# low: a task is in ix_tasks_open only while open, in ix_tasks_leased only while leased.
_open = text("status = 'open'")
_leased = text("status = 'leased'")
Index("ix_tasks_open", tasks.c.project_id, tasks.c.stage, tasks.c.priority.desc(), tasks.c.id,
      sqlite_where=_open, postgresql_where=_open)
Index("ix_tasks_leased", tasks.c.project_id, tasks.c.lease_expires_at,
      sqlite_where=_leased, postgresql_where=_leased)
Index("ix_tasks_item", tasks.c.item_id, tasks.c.stage)
# Blind overlap, enforced by the database: one annotate slot of an item per annotator.
_assigned = text("stage = 'annotate' AND assignee IS NOT NULL")
Index("uq_tasks_item_assignee", tasks.c.item_id, tasks.c.assignee, unique=True,
      sqlite_where=_assigned, postgresql_where=_assigned)

# One row per ended lease (submitted, skipped, released or expired); the live lease
# is on its task row. Written once, when the lease ends.
leases = Table(
    "leases", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("task_id", Id, ForeignKey("tasks.id"), nullable=False),
    Column("item_id", Id, nullable=False),
    Column("annotator", String(200), nullable=False),
    Column("token", String(64), nullable=False),
    Column("claimed_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("ended_at", Time),
    Column("outcome", String(16)),  # submitted | skipped | released | expired
)
_skipped = text("outcome = 'skipped'")
Index("ix_leases_skipped", leases.c.item_id, leases.c.annotator,
      sqlite_where=_skipped, postgresql_where=_skipped)

annotations = Table(
    "annotations", metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("item_id", Id, ForeignKey("items.id"), nullable=False),
    Column("task_id", Id, ForeignKey("tasks.id")),
    Column("author", String(200), nullable=False),
    Column("source", String(32), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("regions", Json, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("submitted_at", Time, nullable=False),
    Column("duration_s", Float),
    Column("corrects", String(32), ForeignKey("annotations.id")),
    Column("model_version", String(200)),
    Column("client_id", String(200)),
    Column("meta", Json, nullable=False),
)
Index("ix_annotations_item", annotations.c.item_id)
# "is this annotation corrected?" (its status in project.annotations(), correction
# chains): partial, so a plain submit (corrects NULL) writes no entry
_corrects = text("corrects IS NOT NULL")
Index("ix_annotations_corrects", annotations.c.corrects, sqlite_where=_corrects,
      postgresql_where=_corrects)
_client = text("client_id IS NOT NULL")
Index("uq_annotations_client_id", annotations.c.project_id, annotations.c.client_id,
      unique=True, sqlite_where=_client, postgresql_where=_client)

reviews = Table(
    "reviews", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("task_id", Id, ForeignKey("tasks.id")),
    Column("annotation_id", String(32), ForeignKey("annotations.id"), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("decision", String(16), nullable=False),  # approve | reject | correct
    Column("feedback", Text),
    Column("correction_id", String(32), ForeignKey("annotations.id")),
    Column("created_at", Time, nullable=False),
)
Index("ix_reviews_annotation", reviews.c.annotation_id)

predictions = Table(
    "predictions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("item_id", Id, ForeignKey("items.id"), nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("source", String(32), nullable=False),  # model | llm | labeling_function
    Column("regions", Json, nullable=False),
    Column("score", Float),
    Column("created_at", Time, nullable=False),
)
Index("ix_predictions_item", predictions.c.item_id, predictions.c.model_version)

events = Table(
    "events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id")),
    Column("kind", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("item_id", Id),
    Column("task_id", Id),
    Column("payload", Json, nullable=False),
    Column("created_at", Time, nullable=False),
    # who was connected: PostgreSQL's session_user, stamped by a trigger under team
    # security (labelnb.team), whatever the client sent; NULL on SQLite
    Column("db_user", String(200)),
)
Index("ix_events_project", events.c.project_id, events.c.kind)

# Known answers of gold questions (labelnb.team.gold). Under team security only admins
# may read this table; the items themselves are ordinary items, with no marker.
gold_answers = Table(
    "gold_answers", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("item_id", Id, ForeignKey("items.id"), nullable=False),
    Column("regions", Json, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("created_by", String(200)),
    UniqueConstraint("project_id", "item_id", name="uq_gold_answers_project_item"),
)
