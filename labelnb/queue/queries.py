"""Every SQL statement labelnb runs, in one place.

Functions take an open :class:`sqlalchemy.Connection` (inside the caller's
transaction) and plain values. The one dialect-specific statement, the claim, is
:func:`claim_task`: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a select-then-update
inside ``BEGIN IMMEDIATE`` on SQLite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

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
    text,
    update,
)
from sqlalchemy.engine import Dialect, Row

from labelnb.queue.tables import (
    annotations as annotations_t,
)
from labelnb.queue.tables import (
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
_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)\b")


class Prepared:
    """A hot-path statement run on the driver connection of the caller's transaction.

    Claim and submit run a handful of fixed statements thousands of times a second;
    going through the DBAPI cursor directly skips SQLAlchemy's per-call expression and
    cache-key work (``benchmarks/queue_throughput.py`` measures the difference). The
    SQL is written once with ``:name`` parameters; values are converted the way
    SQLAlchemy's own column types would (``times``: UTC datetimes, stored on SQLite as
    SQLAlchemy's DATETIME text; ``jsons``: JSON / JSONB).
    """

    __slots__ = ("jsons", "pg", "sqlite", "times")

    def __init__(self, sql: str, *, times: Sequence[str] = (), jsons: Sequence[str] = ()
                 ) -> None:
        self.sqlite = sql
        self.pg = _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
        self.times = tuple(times)
        self.jsons = tuple(jsons)

    def run(self, conn: Connection, params: dict[str, Any]) -> Any:
        """Execute within ``conn``'s transaction; returns the DBAPI cursor."""
        raw: Any = conn.connection.driver_connection
        p = dict(params)
        if conn.dialect.name == "sqlite":
            for k in self.times:
                v = p.get(k)
                if v is not None:
                    p[k] = v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            for k in self.jsons:
                p[k] = None if p.get(k) is None else json.dumps(p[k])
            return raw.execute(self.sqlite, p)
        from psycopg.types.json import Jsonb

        for k in self.jsons:
            p[k] = None if p.get(k) is None else Jsonb(p[k])
        return raw.execute(self.pg, p)

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


# The hot path of claim and submit runs these prepared text statements: they compile
# once and skip SQLAlchemy's per-call expression building (see benchmarks/).
_GET_ITEM = text(
    "SELECT id, project_id, media, uri, text, width, height, group_key, meta FROM items "
    "WHERE id = :iid"
).columns(items.c.id, items.c.project_id, items.c.media, items.c.uri, items.c.text,
          items.c.width, items.c.height, items.c.group_key, items.c.meta)


def get_item(conn: Connection, item_id: int) -> Row[Any] | None:
    return conn.execute(_GET_ITEM, {"iid": item_id}).first()


class ItemRow(NamedTuple):
    id: int
    project_id: int
    media: str
    uri: str | None
    text: str | None
    width: int | None
    height: int | None
    group_key: str | None
    meta: dict[str, Any]


_GET_ITEM_FAST = Prepared("SELECT id, project_id, media, uri, text, width, height, group_key, "
                          "meta FROM items WHERE id = :iid")


def get_item_fast(conn: Connection, item_id: int) -> ItemRow | None:
    """:func:`get_item` on the driver connection (the claim's hot path)."""
    r = _GET_ITEM_FAST.run(conn, {"iid": item_id}).fetchone()
    if r is None:
        return None
    meta = r[8]
    if isinstance(meta, str):
        meta = json.loads(meta)
    return ItemRow._make((*r[:8], meta or {}))


def select_items(project_id: int) -> Select[Any]:
    """Items with their overlap, finished annotate tasks and annotation count."""
    t = (select(tasks.c.item_id, func.count().label("overlap"),
                func.sum(case((tasks.c.status == "done", 1), else_=0)).label("done"))
         .where(tasks.c.project_id == project_id, tasks.c.stage == "annotate")
         .group_by(tasks.c.item_id).subquery("t"))
    a = (select(annotations_t.c.item_id, func.count().label("n"))
         .where(annotations_t.c.project_id == project_id)
         .group_by(annotations_t.c.item_id).subquery("a"))
    return (select(items.c.id, items.c.media, items.c.uri, items.c.text, items.c.width,
                   items.c.height, items.c.content_hash, items.c.group_key, items.c.meta,
                   items.c.created_at, func.coalesce(t.c.overlap, 0).label("overlap"),
                   func.coalesce(t.c.done, 0).label("done"),
                   func.coalesce(a.c.n, 0).label("annotations"))
            .outerjoin(t, t.c.item_id == items.c.id)
            .outerjoin(a, a.c.item_id == items.c.id)
            .where(items.c.project_id == project_id).order_by(items.c.id))


def items_done(conn: Connection, project_id: int) -> int:
    """Items whose annotate tasks are all done."""
    t = (select(tasks.c.item_id)
         .where(tasks.c.project_id == project_id, tasks.c.stage == "annotate")
         .group_by(tasks.c.item_id)
         .having(func.sum(case((tasks.c.status == "done", 0), else_=1)) == 0).subquery())
    return int(conn.execute(select(func.count()).select_from(t)).scalar_one())


def item_counts(conn: Connection, project_id: int) -> dict[str, int]:
    rows = conn.execute(select(items.c.media, func.count()).where(
        items.c.project_id == project_id).group_by(items.c.media))
    return {m: int(n) for m, n in rows}


# --- tasks -------------------------------------------------------------------------


def insert_tasks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(tasks), rows)


ClaimSQL = tuple[Prepared, Prepared, Prepared | None]
_CLAIM_CACHE: dict[tuple[str, tuple[str, ...], str], ClaimSQL] = {}


def claim_statements(dialect: Dialect, stages: Sequence[str],
                     extra: Sequence[ColumnElement[bool]]) -> ClaimSQL:
    """The claim, compiled once per (dialect, stages, routing filters) and cached.

    Returns ``(expired, open, update)``: two candidate statements, tried in that order
    (a lease that ran out goes back to the pool first; then open tasks by priority),
    and, on SQLite, the UPDATE that takes the chosen row. On PostgreSQL the candidate
    statements are themselves ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)``
    and the third element is None.

    The routing policy's filters are rendered into the SQL once (literal values from
    the annotator's profile); everything per-claim is a bound parameter, so each claim
    is a walk of the ``ix_tasks_claim`` index that stops at the first claimable row.
    """
    from sqlalchemy import and_ as _and

    routing = ""
    if extra:
        routing = " AND " + str(_and(*extra).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True}))
    key = (dialect.name, tuple(stages), routing)
    hit = _CLAIM_CACHE.get(key)
    if hit is not None:
        return hit
    stage_list = ", ".join(f"'{s}'" for s in stages if s.isidentifier())
    common = f"""tasks.project_id = :pid AND tasks.stage IN ({stage_list})
 AND (tasks.reserved_for IS NULL OR tasks.reserved_for = :me)
 AND (tasks.author IS NULL OR tasks.author <> :me)
 AND (tasks.stage <> 'annotate' OR NOT EXISTS (SELECT 1 FROM tasks AS other
      WHERE other.item_id = tasks.item_id AND other.stage = 'annotate'
      AND other.assignee = :me AND other.id <> tasks.id))
 AND NOT EXISTS (SELECT 1 FROM leases WHERE leases.task_id = tasks.id
      AND leases.annotator = :me AND leases.outcome = 'skipped'){routing}"""
    expired = (f"SELECT tasks.id, tasks.status, tasks.lease_token FROM tasks WHERE "
               f"tasks.status = 'leased' AND tasks.lease_expires_at < :now AND {common} "
               f"ORDER BY tasks.lease_expires_at, tasks.id LIMIT 1")
    open_ = (f"SELECT tasks.id, tasks.status, tasks.lease_token FROM tasks WHERE "
             f"tasks.status = 'open' AND {common} "
             f"ORDER BY tasks.priority DESC, tasks.id LIMIT 1")
    returning = ("RETURNING tasks.id, tasks.item_id, tasks.stage, tasks.target_annotation_id, "
                 "tasks.author, tasks.slot")
    setter = ("SET status = 'leased', assignee = :me, lease_token = :token, "
              "lease_expires_at = :expires, attempts = tasks.attempts + 1")

    def typed(sql: str) -> Prepared:
        return Prepared(sql, times=("now", "expires"))

    if dialect.name == "postgresql":
        def pg(cand: str) -> Prepared:
            cand = cand.replace("SELECT tasks.id, tasks.status, tasks.lease_token",
                                "SELECT tasks.id AS cid, tasks.status AS old_status, "
                                "tasks.lease_token AS old_token")
            return typed(f"UPDATE tasks {setter} FROM ({cand} FOR UPDATE OF tasks SKIP LOCKED)"
                         f" AS cand WHERE tasks.id = cand.cid {returning}, cand.old_status, "
                         "cand.old_token")

        out: ClaimSQL = (pg(expired), pg(open_), None)
    else:
        out = (typed(expired), typed(open_),
               typed(f"UPDATE tasks {setter} WHERE tasks.id = :cid {returning}"))
    _CLAIM_CACHE[key] = out
    return out


def claim_task(conn: Connection, stmts: ClaimSQL, *, project_id: int, annotator: str,
               token: str, now: datetime, expires_at: datetime
               ) -> tuple[ClaimedRow, str, str | None] | None:
    """Lease the best claimable task (see :func:`claim_statements`).

    Returns ``(row, old_status, old_token)`` where row has id, item_id, stage,
    target_annotation_id, author, slot; or None when nothing is claimable. On SQLite the
    caller's transaction must be ``BEGIN IMMEDIATE``."""
    expired, open_, upd = stmts
    params = {"pid": project_id, "me": annotator, "now": now, "token": token,
              "expires": expires_at}
    if upd is None:  # PostgreSQL: one UPDATE ... FROM (SELECT ... SKIP LOCKED)
        # one annotator in two sessions must not take two slots of an item: their claims
        # queue on a per-(project, annotator) lock, so each sees the other's commit
        _ANNOTATOR_LOCK.run(conn, {"pid": project_id, "me": annotator})
        for stmt in (expired, open_):
            r = stmt.run(conn, params).fetchone()
            if r is not None:
                return ClaimedRow(*r[:6]), r[6], r[7]
        return None
    for stmt in (expired, open_):
        cand = stmt.run(conn, params).fetchone()
        if cand is not None:
            r = upd.run(conn, {**params, "cid": cand[0]}).fetchone()
            assert r is not None
            return ClaimedRow(*r), cand[1], cand[2]
    return None


class ClaimedRow(NamedTuple):
    id: int
    item_id: int
    stage: str
    target_annotation_id: str | None
    author: str | None
    slot: int


_ANNOTATOR_LOCK = Prepared("SELECT pg_advisory_xact_lock(CAST(:pid AS integer), "
                           "hashtext(:me))")


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
    return bool(_FINISH_TASK.run(conn, {"tid": task_id, "token": token, "me": annotator,
                                        "now": now}).rowcount)


_FINISH_TASK = Prepared(
    "UPDATE tasks SET status = 'done', done_at = :now, lease_token = NULL, "
    "lease_expires_at = NULL, reserved_for = NULL WHERE id = :tid AND lease_token = :token "
    "AND status = 'leased' AND assignee = :me AND lease_expires_at >= :now", times=("now",))


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
    _INSERT_LEASE.run(conn, {"tid": task_id, "iid": item_id, "me": annotator,
                                 "token": token, "now": now, "expires": expires_at})


def end_lease(conn: Connection, *, token: str, now: datetime, outcome: str) -> None:
    _END_LEASE.run(conn, {"token": token, "now": now, "outcome": outcome})


_INSERT_LEASE = Prepared(
    "INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at) "
    "VALUES (:tid, :iid, :me, :token, :now, :expires)", times=("now", "expires"))
_END_LEASE = Prepared(
    "UPDATE leases SET ended_at = :now, outcome = :outcome WHERE token = :token "
    "AND outcome IS NULL", times=("now",))


def get_lease(conn: Connection, token: str) -> Row[Any] | None:
    return conn.execute(select(leases).where(leases.c.token == token)).first()


def select_leases(project_id: int) -> Select[Any]:
    return (select(leases).join(tasks, tasks.c.id == leases.c.task_id)
            .where(tasks.c.project_id == project_id).order_by(leases.c.id))


# --- annotations -------------------------------------------------------------------


_ANN_COLS = ("id", "project_id", "item_id", "task_id", "author", "source", "schema_version",
             "regions", "created_at", "submitted_at", "duration_s", "corrects",
             "model_version", "client_id", "meta")
_INSERT_ANNOTATION = Prepared(
    f"INSERT INTO annotations ({', '.join(_ANN_COLS)}) "
    f"VALUES ({', '.join(':' + c for c in _ANN_COLS)})",
    jsons=("regions", "meta"), times=("created_at", "submitted_at"))


def insert_annotation(conn: Connection, row: dict[str, Any]) -> None:
    _INSERT_ANNOTATION.run(conn, {c: row.get(c) for c in _ANN_COLS})


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

