"""Every SQL statement labelnb runs, in one place.

Functions take an open :class:`sqlalchemy.Connection` (inside the caller's
transaction) and plain values. The one dialect-specific statement, the claim, is
:func:`claim_task`: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a select-then-update
inside ``BEGIN IMMEDIATE`` on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Row

from labelnb.queue.tables import (
    annotations as annotations_t,
    annotators,
    events,
    items,
    leases,
    predictions,
    projects,
    reviews,
    schemas,
    tasks,
)

CHUNK = 500

# --- projects and schemas ----------------------------------------------------------


def insert_project(conn: Connection, *, name: str, settings: dict[str, Any],
                   now: datetime) -> int:
    return int(conn.execute(insert(projects).values(
        name=name, schema_version=1, settings=settings, created_at=now
    ).returning(projects.c.id)).scalar_one())


def get_project(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(projects).where(projects.c.name == name)).first()


def list_project_names(conn: Connection) -> list[str]:
    return list(conn.execute(select(projects.c.name).order_by(projects.c.id)).scalars())


def set_project_schema_version(conn: Connection, project_id: int, version: int) -> None:
    conn.execute(update(projects).where(projects.c.id == project_id)
                 .values(schema_version=version))


def set_project_settings(conn: Connection, project_id: int, settings: dict[str, Any]) -> None:
    conn.execute(update(projects).where(projects.c.id == project_id).values(settings=settings))


def insert_schema(conn: Connection, *, project_id: int, version: int, fingerprint: str,
                  body: dict[str, Any], now: datetime, created_by: str | None) -> None:
    conn.execute(insert(schemas).values(project_id=project_id, version=version,
                                        fingerprint=fingerprint, body=body, created_at=now,
                                        created_by=created_by))


def get_schema(conn: Connection, project_id: int, version: int) -> Row[Any] | None:
    return conn.execute(select(schemas).where(schemas.c.project_id == project_id,
                                              schemas.c.version == version)).first()


def schema_versions(conn: Connection, project_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(schemas).where(schemas.c.project_id == project_id)
                             .order_by(schemas.c.version)))


# --- items -------------------------------------------------------------------------


def existing_hashes(conn: Connection, project_id: int, hashes: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(hashes), CHUNK):
        chunk = list(hashes[i:i + CHUNK])
        rows = conn.execute(select(items.c.content_hash, items.c.id).where(
            items.c.project_id == project_id, items.c.content_hash.in_(chunk)))
        found.update({h: int(i_) for h, i_ in rows})
    return found


def insert_items(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    res = conn.execute(insert(items).returning(items.c.id, sort_by_parameter_order=True), rows)
    return [int(r[0]) for r in res]


def get_item(conn: Connection, item_id: int) -> Row[Any] | None:
    return conn.execute(select(items).where(items.c.id == item_id)).first()


def select_items(project_id: int) -> Select[Any]:
    done = (select(func.count()).where(tasks.c.item_id == items.c.id,
                                       tasks.c.stage == "annotate", tasks.c.status == "done")
            .scalar_subquery())
    total = (select(func.count()).where(tasks.c.item_id == items.c.id,
                                        tasks.c.stage == "annotate").scalar_subquery())
    n_ann = (select(func.count()).where(annotations_t.c.item_id == items.c.id)
             .scalar_subquery())
    return (select(items.c.id, items.c.media, items.c.uri, items.c.text, items.c.width,
                   items.c.height, items.c.content_hash, items.c.group_key, items.c.meta,
                   items.c.created_at, total.label("overlap"), done.label("done"),
                   n_ann.label("annotations"))
            .where(items.c.project_id == project_id).order_by(items.c.id))


def item_counts(conn: Connection, project_id: int) -> dict[str, int]:
    rows = conn.execute(select(items.c.media, func.count()).where(
        items.c.project_id == project_id).group_by(items.c.media))
    return {m: int(n) for m, n in rows}


# --- tasks -------------------------------------------------------------------------


def insert_tasks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(tasks), rows)


def claimable(project_id: int, stages: Sequence[str], annotator: str, now: datetime,
              extra: Iterable[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
    """The WHERE clause of a claim: open (or expired) tasks this annotator may take."""
    other = tasks.alias("other")
    return [
        tasks.c.project_id == project_id,
        tasks.c.stage.in_(list(stages)),
        # open, or leased with an expired lease (lazy expiry: no cron needed)
        (tasks.c.status == "open")
        | and_(tasks.c.status == "leased", tasks.c.lease_expires_at < now),
        (tasks.c.reserved_for.is_(None)) | (tasks.c.reserved_for == annotator),
        # never review your own work
        (tasks.c.author.is_(None)) | (tasks.c.author != annotator),
        # overlap: one slot of an item per annotator and stage
        ~exists().where(other.c.item_id == tasks.c.item_id, other.c.stage == tasks.c.stage,
                        other.c.assignee == annotator, other.c.id != tasks.c.id),
        # a task this annotator skipped is not offered to them again
        ~exists().where(leases.c.task_id == tasks.c.id, leases.c.annotator == annotator,
                        leases.c.outcome == "skipped"),
        *extra,
    ]


def claim_task(conn: Connection, dialect: str, *, where: list[ColumnElement[bool]],
               annotator: str, token: str, now: datetime, expires_at: datetime
               ) -> Row[Any] | None:
    """Lease the best claimable task; returns (id, item_id, stage, old_status, old_token,
    target_annotation_id, author) or None. The caller's transaction must be
    ``BEGIN IMMEDIATE`` on SQLite."""
    order = (tasks.c.priority.desc(), tasks.c.id)
    values = dict(status="leased", assignee=annotator, lease_token=token,
                  lease_expires_at=expires_at, attempts=tasks.c.attempts + 1)
    if dialect == "postgresql":
        cand = (select(tasks.c.id, tasks.c.status.label("old_status"),
                       tasks.c.lease_token.label("old_token"))
                .where(*where).order_by(*order).limit(1)
                .with_for_update(skip_locked=True, of=tasks).subquery("cand"))
        stmt = (update(tasks).where(tasks.c.id == cand.c.id).values(**values)
                .returning(tasks.c.id, tasks.c.item_id, tasks.c.stage, cand.c.old_status,
                           cand.c.old_token, tasks.c.target_annotation_id, tasks.c.author,
                           tasks.c.slot))
        return conn.execute(stmt).first()
    row = conn.execute(select(tasks.c.id, tasks.c.status, tasks.c.lease_token)
                       .where(*where).order_by(*order).limit(1)).first()
    if row is None:
        return None
    return conn.execute(
        update(tasks).where(tasks.c.id == row.id).values(**values)
        .returning(tasks.c.id, tasks.c.item_id, tasks.c.stage,
                   literal(row.status).label("old_status"),
                   literal(row.lease_token).label("old_token"),
                   tasks.c.target_annotation_id, tasks.c.author, tasks.c.slot)
    ).first()


def extend_lease(conn: Connection, *, task_id: int, token: str, annotator: str, now: datetime,
                 expires_at: datetime) -> bool:
    n = conn.execute(update(tasks).where(
        tasks.c.id == task_id, tasks.c.lease_token == token, tasks.c.status == "leased",
        tasks.c.assignee == annotator,
        tasks.c.lease_expires_at >= now).values(lease_expires_at=expires_at)).rowcount
    if n:
        conn.execute(update(leases).where(leases.c.token == token)
                     .values(expires_at=expires_at))
    return bool(n)


def finish_task(conn: Connection, *, task_id: int, token: str, annotator: str,
                now: datetime) -> bool:
    """Mark a leased task done if the token is current, unexpired and the annotator's."""
    return bool(conn.execute(update(tasks).where(
        tasks.c.id == task_id, tasks.c.lease_token == token, tasks.c.status == "leased",
        tasks.c.assignee == annotator,
        tasks.c.lease_expires_at >= now,
    ).values(status="done", done_at=now, lease_token=None, lease_expires_at=None,
             reserved_for=None)).rowcount)


def return_task(conn: Connection, *, task_id: int, token: str, annotator: str, now: datetime,
                keep_assignee: bool) -> bool:
    """Give a leased task back to the pool (skip / release)."""
    vals: dict[str, Any] = dict(status="open", lease_token=None, lease_expires_at=None)
    if not keep_assignee:
        vals["assignee"] = None
    return bool(conn.execute(update(tasks).where(
        tasks.c.id == task_id, tasks.c.lease_token == token, tasks.c.status == "leased",
        tasks.c.assignee == annotator, tasks.c.lease_expires_at >= now).values(**vals)).rowcount)


def reopen_for_author(conn: Connection, *, task_id: int, author: str,
                      rejected_annotation_id: str, priority: float) -> None:
    conn.execute(update(tasks).where(tasks.c.id == task_id).values(
        status="open", reserved_for=author, assignee=author, lease_token=None,
        lease_expires_at=None, done_at=None, target_annotation_id=rejected_annotation_id,
        priority=priority))


def get_task(conn: Connection, task_id: int) -> Row[Any] | None:
    return conn.execute(select(tasks).where(tasks.c.id == task_id)).first()


def set_task_fields(conn: Connection, project_id: int, item_ids: Sequence[int],
                    **values: Any) -> int:
    n = 0
    for i in range(0, len(item_ids), CHUNK):
        n += conn.execute(update(tasks).where(
            tasks.c.project_id == project_id, tasks.c.item_id.in_(list(item_ids[i:i + CHUNK])),
            tasks.c.status != "done").values(**values)).rowcount
    return n


def open_task_rows(conn: Connection, project_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(
        tasks.c.id, tasks.c.difficulty, tasks.c.deadline, tasks.c.required_skill,
    ).where(tasks.c.project_id == project_id, tasks.c.status != "done")))


def set_priorities(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        from sqlalchemy import bindparam

        conn.execute(update(tasks).where(tasks.c.id == bindparam("tid"))
                     .values(priority=bindparam("prio")), rows)


def task_status_counts(conn: Connection, project_id: int, now: datetime) -> dict[str, int]:
    status = case((and_(tasks.c.status == "leased", tasks.c.lease_expires_at < now),
                   literal("expired")), else_=tasks.c.status)
    rows = conn.execute(select(tasks.c.stage, status.label("s"), func.count())
                        .where(tasks.c.project_id == project_id)
                        .group_by(tasks.c.stage, status))
    return {f"{stage}:{s}": int(n) for stage, s, n in rows}


def select_tasks(project_id: int) -> Select[Any]:
    return select(tasks).where(tasks.c.project_id == project_id).order_by(tasks.c.id)


# --- leases ------------------------------------------------------------------------


def insert_lease(conn: Connection, *, task_id: int, item_id: int, annotator: str, token: str,
                 now: datetime, expires_at: datetime) -> None:
    conn.execute(insert(leases).values(task_id=task_id, item_id=item_id, annotator=annotator,
                                       token=token, claimed_at=now, expires_at=expires_at))


def end_lease(conn: Connection, *, token: str, now: datetime, outcome: str) -> None:
    conn.execute(update(leases).where(leases.c.token == token, leases.c.outcome.is_(None))
                 .values(ended_at=now, outcome=outcome))


def get_lease(conn: Connection, token: str) -> Row[Any] | None:
    return conn.execute(select(leases).where(leases.c.token == token)).first()


def select_leases(project_id: int) -> Select[Any]:
    return (select(leases).join(tasks, tasks.c.id == leases.c.task_id)
            .where(tasks.c.project_id == project_id).order_by(leases.c.id))


# --- annotations -------------------------------------------------------------------


def insert_annotation(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(annotations_t).values(**row))


def annotation_id_by_client_id(conn: Connection, project_id: int, client_id: str) -> str | None:
    return conn.execute(select(annotations_t.c.id).where(
        annotations_t.c.project_id == project_id, annotations_t.c.client_id == client_id)
    ).scalar_one_or_none()


def get_annotation(conn: Connection, annotation_id: str) -> Row[Any] | None:
    return conn.execute(select(annotations_t).where(annotations_t.c.id == annotation_id)).first()


def select_annotations(project_id: int) -> Select[Any]:
    last_review = (select(reviews.c.decision).where(reviews.c.annotation_id == annotations_t.c.id)
                   .order_by(reviews.c.id.desc()).limit(1).scalar_subquery())
    corrected = exists().where(annotations_t.alias("c2").c.corrects == annotations_t.c.id)
    status = case((last_review.is_not(None), last_review),
                  (corrected, literal("corrected")), else_=literal("submitted"))
    return (select(annotations_t, status.label("status"))
            .where(annotations_t.c.project_id == project_id)
            .order_by(annotations_t.c.submitted_at, annotations_t.c.id))


def annotations_for_item(conn: Connection, item_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(annotations_t).where(annotations_t.c.item_id == item_id)
                             .order_by(annotations_t.c.submitted_at)))


def annotation_counts(conn: Connection, project_id: int) -> dict[str, int]:
    rows = conn.execute(select(annotations_t.c.source, func.count())
                        .where(annotations_t.c.project_id == project_id)
                        .group_by(annotations_t.c.source))
    return {s: int(n) for s, n in rows}


# --- reviews -----------------------------------------------------------------------


def insert_review(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(reviews).values(**row))


def select_reviews(project_id: int) -> Select[Any]:
    return select(reviews).where(reviews.c.project_id == project_id).order_by(reviews.c.id)


# --- predictions -------------------------------------------------------------------


def insert_predictions(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(predictions), rows)


def predictions_for_item(conn: Connection, item_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(predictions).where(predictions.c.item_id == item_id)
                             .order_by(predictions.c.id)))


def select_predictions(project_id: int) -> Select[Any]:
    return (select(predictions).where(predictions.c.project_id == project_id)
            .order_by(predictions.c.id))


def existing_item_ids(conn: Connection, project_id: int, ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for i in range(0, len(ids), CHUNK):
        found.update(int(x) for x in conn.execute(select(items.c.id).where(
            items.c.project_id == project_id, items.c.id.in_(list(ids[i:i + CHUNK])))
        ).scalars())
    return found


# --- annotators --------------------------------------------------------------------


def get_annotator(conn: Connection, project_id: int, name: str) -> Row[Any] | None:
    return conn.execute(select(annotators).where(annotators.c.project_id == project_id,
                                                 annotators.c.name == name)).first()


def insert_annotator(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(annotators).values(**row))


def update_annotator(conn: Connection, project_id: int, name: str, values: dict[str, Any]) -> None:
    conn.execute(update(annotators).where(annotators.c.project_id == project_id,
                                          annotators.c.name == name).values(**values))


def select_annotators(project_id: int) -> Select[Any]:
    return (select(annotators).where(annotators.c.project_id == project_id)
            .order_by(annotators.c.id))


def annotator_work(conn: Connection, project_id: int) -> list[Row[Any]]:
    """Per-author count of annotations and mean / median-free time per annotation."""
    return list(conn.execute(select(
        annotations_t.c.author, func.count().label("annotations"),
        func.avg(annotations_t.c.duration_s).label("mean_duration_s"),
        func.sum(annotations_t.c.duration_s).label("total_duration_s"),
        func.max(annotations_t.c.submitted_at).label("last_submitted_at"),
    ).where(annotations_t.c.project_id == project_id).group_by(annotations_t.c.author)))


def review_counts(conn: Connection, project_id: int) -> list[Row[Any]]:
    """Per (author, decision) counts of reviews of each author's annotations."""
    return list(conn.execute(select(
        annotations_t.c.author, reviews.c.decision, func.count()
    ).join(annotations_t, annotations_t.c.id == reviews.c.annotation_id)
        .where(reviews.c.project_id == project_id)
        .group_by(annotations_t.c.author, reviews.c.decision)))


# --- events ------------------------------------------------------------------------


def insert_event(conn: Connection, *, project_id: int | None, kind: str, actor: str,
                 now: datetime, item_id: int | None = None, task_id: int | None = None,
                 payload: dict[str, Any] | None = None) -> None:
    conn.execute(insert(events).values(project_id=project_id, kind=kind, actor=actor,
                                       item_id=item_id, task_id=task_id,
                                       payload=payload or {}, created_at=now))


def select_events(project_id: int) -> Select[Any]:
    return select(events).where(events.c.project_id == project_id).order_by(events.c.id)

