"""Every SQL statement labelnb runs, in one place.

Functions take an open :class:`sqlalchemy.Connection` (inside the caller's
transaction) and plain values. The one dialect-specific statement, the claim, is
:func:`claim_task`: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a select-then-update
inside ``BEGIN IMMEDIATE`` on SQLite.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import Dialect, Row

from labelnb.errors import ValidationError
from labelnb.queue.tables import (
    annotations as annotations_t,
)
from labelnb.queue.tables import (
    annotators,
    events,
    gold_answers,
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
PARAM_RE = _PARAM  # the ``:name`` parameters of the SQL here (team security renders them too)


class Raw(NamedTuple):
    """A driver (DBAPI) connection inside a hot-path transaction; see ``Store.hot``."""

    dbapi: Any
    dialect: str


def _driver(target: Connection | Raw) -> tuple[Any, str]:
    if isinstance(target, Raw):
        return target.dbapi, target.dialect
    return target.connection.driver_connection, target.dialect.name


#: "YYYY-MM-DD HH:MM:SS" of recent seconds (a claim+submit formats four times, and
#: ``isoformat`` of an aware datetime is the slow part of that)
_SECONDS: dict[tuple[int, ...], str] = {}


def sqlite_time(v: datetime) -> str:
    """A UTC datetime as SQLAlchemy's SQLite DATETIME text (``YYYY-MM-DD HH:MM:SS.ffffff``).

    >>> from datetime import timedelta, timezone
    >>> sqlite_time(datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC))
    '2026-03-04 05:06:07.000089'
    >>> sqlite_time(datetime(2026, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2))))
    '2026-03-04 05:06:07.000000'
    """
    if v.tzinfo is not UTC and v.tzinfo is not None:
        v = v.astimezone(UTC)
    key = (v.year, v.month, v.day, v.hour, v.minute, v.second)
    head = _SECONDS.get(key)
    if head is None:
        if len(_SECONDS) > 256:
            _SECONDS.clear()
        y, mo, d, h, mi, sec = key
        head = _SECONDS[key] = f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{sec:02d}"
    return f"{head}.{v.microsecond:06d}"


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def _sub_params(sql: str, repl: Any) -> str:
    """``sql`` with each ``:name`` parameter replaced (``repl``: as in ``re.sub``),
    outside string literals only: a routing filter rendered with its values (a label
    named ``:thumbsup:``) keeps them."""
    out, at = [], 0
    for m in _LITERAL.finditer(sql):
        out.append(_PARAM.sub(repl, sql[at:m.start()]))
        out.append(m.group(0))
        at = m.end()
    out.append(_PARAM.sub(repl, sql[at:]))
    return "".join(out)


def _pg_params(sql: str) -> str:
    """``:name`` parameters as psycopg's ``%(name)s``.

    >>> _pg_params("SELECT 1 WHERE a = :x AND b = ':y:'")
    "SELECT 1 WHERE a = %(x)s AND b = ':y:'"
    """
    return _sub_params(sql, r"%(\1)s")


def numbered(sql: str, names: Sequence[str]) -> str:
    """``:name`` parameters as SQLite's ``?N``, N the name's place in ``names`` (from
    1), so the statement binds a tuple by position: for a dict the driver looks every
    parameter's name up, which costs the claim+submit's hot statements about a
    microsecond. A name used twice binds the same value.

    >>> numbered("SELECT :b, ':a' WHERE x = :a OR y = :b", ("a", "b"))
    "SELECT ?2, ':a' WHERE x = ?1 OR y = ?2"
    """
    return _sub_params(sql, lambda m: f"?{names.index(m.group(1)) + 1}")


class Prepared:
    """A hot-path statement run on the driver connection of the caller's transaction.

    Claim and submit run a handful of fixed statements thousands of times a second;
    going through the DBAPI cursor directly skips SQLAlchemy's per-call expression and
    cache-key work (``benchmarks/queue_throughput.py`` measures the difference). The
    SQL is written once with ``:name`` parameters; values are converted the way
    SQLAlchemy's own column types would (``times``: UTC datetimes, stored on SQLite as
    SQLAlchemy's DATETIME text; ``jsons``: JSON / JSONB). Times read back raw (SQLite
    text) are passed back unconverted. ``order``: the parameters' order for
    :meth:`run_at`, SQLite's hottest path, which binds a tuple by position.
    """

    __slots__ = ("jsons", "pg", "sqlite", "sqlite_at", "times")

    def __init__(self, sql: str, *, times: Sequence[str] = (), jsons: Sequence[str] = (),
                 order: Sequence[str] = ()) -> None:
        self.sqlite = sql
        self.sqlite_at = numbered(sql, order) if order else None
        # PostgreSQL: lease times come from the server's clock, so annotators on machines
        # whose clocks disagree still agree on who holds what
        self.pg = (_pg_params(sql.replace("%", "%%"))
                   .replace("%(now)s", "statement_timestamp()")
                   .replace("%(submitted_at)s", "statement_timestamp()")
                   .replace("%(expires)s",
                            "(statement_timestamp() + %(ttl_s)s * interval '1 second')"))
        self.times = tuple(times)
        self.jsons = tuple(jsons)

    def run_at(self, conn: Raw, values: tuple[Any, ...]) -> Any:
        """SQLite's hot path by position: the values of the ``order`` the statement was
        made with, converted already (times as text, JSON dumped)."""
        return conn.dbapi.execute(self.sqlite_at, values)

    def run_converted(self, conn: Raw, params: dict[str, Any]) -> Any:
        """SQLite's hot path: :meth:`run` for values :func:`preconvert` has converted
        already (times as text, JSON dumped), without checking them again."""
        return conn.dbapi.execute(self.sqlite, params)

    def run(self, target: Connection | Raw, params: dict[str, Any]) -> Any:
        """Execute in ``target``'s transaction; returns the DBAPI cursor. Values that
        :func:`preconvert` already converted pass through."""
        raw, dialect = _driver(target)
        if dialect == "sqlite" and _sqlite_ready(params, self.times, self.jsons):
            # the hot path converts its values once, before the writer lock: no copy
            return raw.execute(self.sqlite, params)
        p = preconvert(params, dialect, jsons=self.jsons, times=self.times)
        return raw.execute(self.sqlite if dialect == "sqlite" else self.pg, p)

    def run_many(self, target: Connection | Raw, params: Sequence[dict[str, Any]]) -> None:
        """:meth:`run` for each of ``params``, as one ``executemany`` of the driver (psycopg
        pipelines it); a failure of any row raises, leaving what ran before it to the
        caller's savepoint."""
        if not params:
            return
        raw, dialect = _driver(target)
        ps = [preconvert(p, dialect, jsons=self.jsons, times=self.times) for p in params]
        if dialect == "sqlite":
            raw.executemany(self.sqlite, ps)
        else:
            with raw.cursor() as cur:
                cur.executemany(self.pg, ps)


class _Dumped(str):
    """JSON text already serialised for SQLite (so it is not serialised twice)."""

    __slots__ = ()


_EMPTY_JSON = _Dumped("{}")
def _plain_json(v: Any) -> bool:
    """Whether ``v`` holds only the exact built-in types JSON has (dict with str keys,
    list, tuple, str, int, finite float, bool, None): what orjson and ``json.dumps``
    write alike. Subclasses (IntEnum, numpy floats, OrderedDict) and other types are
    not: orjson would write some that ``json.dumps`` refuses (UUID, Enum) or write a
    subclass by its base, not by its own methods."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return True
    if t is float:
        return math.isfinite(v)  # orjson writes NaN and infinities as null
    if t is dict:
        for k, x in v.items():
            if type(k) is not str or not _plain_json(x):
                return False
        return True
    if t is list or t is tuple:
        for x in v:
            if not _plain_json(x):
                return False
        return True
    return False


def sqlite_json(v: Any) -> _Dumped:
    """``v`` as JSON text for SQLite: by orjson (several times faster than the standard
    library on the submit path) when ``v`` holds only plain JSON types
    (:func:`_plain_json`), else by ``json.dumps`` as before (NaN, subclasses, integer
    keys; a type ``json.dumps`` refuses raises its TypeError, as on PostgreSQL). Only the
    spacing differs; both read back the same.

    >>> sqlite_json({"a": [1, 2.5, "x", None]}), sqlite_json({"s": float("nan")})
    ('{"a":[1,2.5,"x",null]}', '{"s": NaN}')
    """
    try:
        if _plain_json(v):
            return _Dumped(orjson.dumps(v).decode())
    except (TypeError, RecursionError):  # an integer beyond 64 bits; very deep nesting
        pass
    return _Dumped(json.dumps(v))


def _sqlite_ready(params: dict[str, Any], times: Sequence[str], jsons: Sequence[str]) -> bool:
    """Whether :func:`preconvert` would leave ``params`` as they are on SQLite."""
    for k in times:
        if isinstance(params.get(k), datetime):
            return False
    for k in jsons:
        v = params.get(k)
        if v is not None and not isinstance(v, _Dumped):
            return False
    return True


def preconvert(params: dict[str, Any], dialect: str, *, jsons: Sequence[str] = (),
               times: Sequence[str] = (), copy: bool = True) -> dict[str, Any]:
    """Convert parameter values for the driver the way SQLAlchemy's column types would:
    datetimes to SQLite DATETIME text, JSON to text (SQLite) or ``Jsonb`` (psycopg).
    Returns a new dict (``copy=False``: ``params`` itself, converted in place);
    already-converted values are left alone, so a caller can do the work before taking
    the writer lock."""
    p = dict(params) if copy else params
    if dialect == "sqlite":
        for k in times:
            v = p.get(k)
            if isinstance(v, datetime):
                p[k] = sqlite_time(v)
        for k in jsons:
            v = p.get(k)
            if v is not None and not isinstance(v, _Dumped):
                # an empty dict (most annotations' meta) is the same text every time
                p[k] = _EMPTY_JSON if v == {} and type(v) is dict else sqlite_json(v)
        return p
    from psycopg.types.json import Jsonb

    for k in jsons:
        v = p.get(k)
        if v is not None and not isinstance(v, Jsonb):
            p[k] = Jsonb(v)
    return p


# --- projects and schemas ----------------------------------------------------------


def lock_project(conn: Connection, project_id: int) -> None:
    """Serialise writers of one project's imports on PostgreSQL (a transaction-scoped
    advisory lock); SQLite's ``BEGIN IMMEDIATE`` already does."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7243, CAST(:pid AS integer))"),
                     {"pid": project_id})


def best_accuracy(conn: Connection, project_id: int) -> float | None:
    """The best known accuracy among the project's active annotators."""
    v = conn.execute(select(func.max(annotators.c.accuracy)).where(
        annotators.c.project_id == project_id, annotators.c.active.is_(True))).scalar()
    return None if v is None else float(v)


def insert_project(conn: Connection, *, name: str, settings: dict[str, Any],
                   now: datetime) -> int:
    return int(conn.execute(insert(projects).values(
        name=name, schema_version=1, settings=settings, created_at=now
    ).returning(projects.c.id)).scalar_one())


def get_project(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(projects).where(projects.c.name == name)).first()


def get_project_by_id(conn: Connection, project_id: int) -> Row[Any] | None:
    return conn.execute(select(projects).where(projects.c.id == project_id)).first()


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


def fits_id(value: object) -> bool:
    """Whether ``value`` is an integer a 64-bit id column can hold (a Python or numpy
    integer; anything else, a string say, is not: the caller's per-row path handles
    it)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return False
    return -2**63 <= int(value) < 2**63


def _rows_in(conn: Connection, stmt: Select[Any], column: Any, ids: Sequence[Any]
             ) -> Iterator[Any]:
    """The rows of ``stmt`` whose ``column`` is one of ``ids`` (chunked IN queries)."""
    for i in range(0, len(ids), CHUNK):
        yield from conn.execute(stmt.where(column.in_(ids[i:i + CHUNK])))


def get_items(conn: Connection, item_ids: Sequence[int]) -> dict[int, Row[Any]]:
    """:func:`get_item` of many ids (those that exist, by id), a chunked IN query. Ids a
    64-bit integer cannot hold are not looked up (:func:`get_item` raises the driver's
    error for those)."""
    stmt: Select[Any] = select(items.c.id, items.c.project_id, items.c.media, items.c.uri,
                               items.c.text, items.c.width, items.c.height,
                               items.c.group_key, items.c.meta)
    ids = sorted({int(i) for i in item_ids if fits_id(i)})
    return {int(row.id): row for row in _rows_in(conn, stmt, items.c.id, ids)}


def select_items(project_id: int) -> Select[Any]:
    """Items with their overlap, finished annotate tasks and annotation count. A
    cancelled annotate task (a machine label the tiers accepted, see
    :mod:`labelnb.prelabel.tiers`) is no slot to fill: it counts in neither, so such an
    item is done here as in :func:`items_done`."""
    live = tasks.c.status != "cancelled"
    t = (select(tasks.c.item_id, func.sum(case((live, 1), else_=0)).label("overlap"),
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
    """Items with no annotate task left to do: all done, or cancelled (a machine label
    the tiers accepted, see :mod:`labelnb.prelabel.tiers`), or none at all (a gold
    question: its answer is known). As ``items(status="done")`` counts them."""
    total = item_total(conn, project_id)
    pending = conn.execute(select(func.count(func.distinct(tasks.c.item_id))).where(
        *_annotate_left(project_id))).scalar_one()
    return int(total) - int(pending)


def items_in_labeling(conn: Connection, project_id: int) -> set[int]:
    """The items that :func:`items_done` does not count: an annotate task of theirs is
    still to do (open or leased), so their overlap is not complete and
    ``project.consensus()`` calls them pending."""
    rows = conn.execute(select(tasks.c.item_id).distinct().where(*_annotate_left(project_id)))
    return {int(i) for (i,) in rows}


def item_total(conn: Connection, project_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(items).where(
        items.c.project_id == project_id)).scalar_one())


def _annotate_left(project_id: int) -> tuple[ColumnElement[bool], ...]:
    return (tasks.c.project_id == project_id, tasks.c.stage == "annotate",
            tasks.c.status.not_in(("done", "cancelled")))


def item_counts(conn: Connection, project_id: int) -> dict[str, int]:
    rows = conn.execute(select(items.c.media, func.count()).where(
        items.c.project_id == project_id).group_by(items.c.media))
    return {m: int(n) for m, n in rows}


# --- tasks -------------------------------------------------------------------------


def insert_tasks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(tasks), rows)


class ClaimSQL(NamedTuple):
    """The claim for one (dialect, stages, routing filters); see :func:`claim_statements`."""

    pick: Prepared  # SQLite: the candidate (see claim_statements); PostgreSQL: the claim
    take: Prepared | None  # SQLite: the UPDATE that takes the candidate
    peek: Prepared | None = None  # both: the next open candidates' item ids, taking nothing


#: the order of the SQLite claim's parameters (``Prepared.run_at``)
CLAIM_PARAMS = ("pid", "me", "now", "token", "expires", "cid")


_CLAIM_CACHE: dict[tuple[str, tuple[str, ...], str], ClaimSQL] = {}
_TASK_OLD = ("tasks.id, tasks.status, tasks.lease_token, tasks.assignee, tasks.claimed_at, "
             "tasks.lease_expires_at")
_TASK_NEW = ("tasks.id, tasks.item_id, tasks.stage, tasks.target_annotation_id, tasks.author, "
             "tasks.slot")
_ITEM_COLS = ("items.media, items.uri, items.text, items.width, items.height, items.group_key, "
              "items.meta")
ITEM_COLS = _ITEM_COLS
#: (``spare = NULL``: the row grows into the room it was made with; tables.SPARE_BYTES)
_SET_LEASED = ("SET status = 'leased', assignee = :me, lease_token = :token, claimed_at = :now, "
               "lease_expires_at = :expires, attempts = tasks.attempts + 1, spare = NULL")


def claim_where(stage_sql: str, routing_sql: str) -> str:
    """What a claimable task satisfies (see :func:`claim_statements`), with ``:pid`` and
    ``:me`` parameters. ``stage_sql`` picks the stages, ``routing_sql`` (``" AND ..."``
    or empty) adds the routing filters; a task reserved for this annotator (their
    rejected work back with them) is theirs whatever the routing says now (an accuracy
    that dropped, a qualification or language since removed), else nobody could take
    it. Shared by the client-side claim and the database-side one of team security
    (``labelnb.team.sql``)."""
    routing = routing_sql.strip()
    if routing:
        if not routing.startswith("AND "):
            raise ValueError(f"claim_where: routing_sql must start with ' AND ', got "
                             f"{routing_sql[:40]!r}")
        routing_sql = f"\n AND (tasks.reserved_for = :me OR ({routing[4:]}))"
    return f"""tasks.project_id = :pid AND {stage_sql}
 AND (tasks.reserved_for IS NULL OR tasks.reserved_for = :me)
 AND (tasks.author IS NULL OR tasks.author <> :me)
 AND (NOT (tasks.stage = 'adjudicate' OR (tasks.stage = 'review'
                                          AND tasks.author = 'consensus'))
      OR NOT EXISTS (SELECT 1 FROM tasks AS voter WHERE voter.item_id = tasks.item_id
      AND voter.stage = 'annotate' AND voter.assignee = :me))
 AND (tasks.stage <> 'annotate' OR NOT EXISTS (SELECT 1 FROM tasks AS other
      WHERE other.item_id = tasks.item_id AND other.stage = 'annotate'
      AND other.assignee = :me AND other.id <> tasks.id))
 AND NOT EXISTS (SELECT 1 FROM leases JOIN tasks AS skipped ON skipped.id = leases.task_id
      WHERE leases.item_id = tasks.item_id
      AND leases.annotator = :me AND leases.outcome = 'skipped'
      AND (leases.task_id = tasks.id
           OR (tasks.stage = 'annotate' AND skipped.stage = 'annotate')))
 AND (tasks.stage <> 'annotate' OR tasks.reserved_for = :me OR NOT EXISTS (
      SELECT 1 FROM gold_answers AS gold WHERE gold.project_id = tasks.project_id
      AND gold.item_id = tasks.item_id)){routing_sql}"""


def _candidates(common: str) -> tuple[str, str]:
    expired_where = (f"tasks.status = 'leased' AND tasks.lease_expires_at < :now AND {common} "
                     "ORDER BY tasks.lease_expires_at, tasks.id LIMIT 1")
    open_where = (f"tasks.status = 'open' AND {common} "
                  "ORDER BY tasks.priority DESC, tasks.id LIMIT 1")
    return expired_where, open_where


def peek_sql(common: str) -> str:
    """The next open candidates' item ids (``:n`` of them), taking nothing."""
    return (f"SELECT tasks.item_id FROM tasks WHERE tasks.status = 'open' AND {common} "
            "ORDER BY tasks.priority DESC, tasks.id LIMIT :n")


def pg_claim_sql(common: str, audit: str = "") -> str:
    """The PostgreSQL claim: one statement (see :func:`claim_statements`). ``audit`` is
    extra CTEs (``",\n x AS (...)"``) that may read ``u``, the task just taken (team
    security logs every claim as an event)."""
    expired_where, open_where = _candidates(common)
    return f"""WITH e AS (SELECT {_TASK_OLD} FROM tasks WHERE {expired_where}
      FOR UPDATE OF tasks SKIP LOCKED),
 o AS (SELECT {_TASK_OLD} FROM tasks WHERE NOT EXISTS (SELECT 1 FROM e) AND {open_where}
      FOR UPDATE OF tasks SKIP LOCKED),
 c AS (SELECT * FROM e UNION ALL SELECT * FROM o LIMIT 1),
 u AS (UPDATE tasks {_SET_LEASED} FROM c WHERE tasks.id = c.id
       RETURNING {_TASK_NEW}, tasks.claimed_at, tasks.lease_expires_at),
 l AS (INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at,
                           ended_at, outcome)
       SELECT c.id, u.item_id, c.assignee, c.lease_token, c.claimed_at, c.lease_expires_at,
              :now, 'expired' FROM c JOIN u ON u.id = c.id WHERE c.status = 'leased'),
 ev AS (INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at)
       SELECT :pid, 'lease_expired', :me, u.item_id, u.id,
              jsonb_build_object('token', left(c.lease_token, 8), 'previous', c.assignee), :now
       FROM c JOIN u ON u.id = c.id WHERE c.status = 'leased'){audit}
SELECT u.id, u.item_id, u.stage, u.target_annotation_id, u.author, u.slot, {_ITEM_COLS},
       c.status, c.lease_token, c.assignee, u.claimed_at, u.lease_expires_at
FROM u JOIN c ON c.id = u.id JOIN items ON items.id = u.item_id"""


def claim_statements(dialect: Dialect, stages: Sequence[str],
                     extra: Sequence[ColumnElement[bool]]) -> ClaimSQL:
    """The claim, built once per (dialect, stages, routing filters) and cached.

    Candidates are tried in this order: a task whose lease ran out (it goes back to the
    pool on the next claim; no cron), then the open task of highest priority. Each is
    a walk of a partial index (``ix_tasks_leased``, ``ix_tasks_open``) that stops at
    the first row this annotator may take:

    * reserved tasks (a rejected annotation back to its author) only for that author;
    * review tasks never for the author of the work under review;
    * an adjudication, and the review of a consensus, never for one of the item's own
      annotators (an annotate task of the item assigned to them): they would settle
      the item for their own vote, and calibration would grade them against it;
    * blind overlap: one annotate slot of an item per annotator (also enforced by the
      unique index ``uq_tasks_item_assignee``);
    * an item this annotator skipped is not offered to them again (no other slot); a
      skipped review or adjudication task is not, while later ones of the item are;
    * the routing policy's filters, rendered into the SQL once (literal values from the
      annotator's profile).

    PostgreSQL: a single statement (``FOR UPDATE SKIP LOCKED`` in CTEs) that locks the
    candidate, takes it, logs an expired lease it replaces and returns the item: one
    round trip, run in autocommit. SQLite: inside ``BEGIN IMMEDIATE``, one statement picks
    the candidate (both kinds, the expired one first) and one takes it.
    """
    from sqlalchemy import and_ as _and
    from sqlalchemy.sql.util import find_tables

    routing = ""
    if extra:
        routing = " AND " + str(_and(*extra).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True}))
    key = (dialect.name, tuple(stages), routing)
    hit = _CLAIM_CACHE.get(key)
    if hit is not None:
        return hit
    for f in extra:
        # the candidate lookups read ``tasks`` alone; a filter on another table would
        # be matched against some other row (or fail), not against the candidate's own
        others = sorted({getattr(t, "name", str(t)) for t in find_tables(f, check_columns=True)}
                        - {"tasks"})
        if others:
            raise ValidationError(
                f"routing filter {str(f)!r:.120} reads table(s) {others}; a routing "
                "policy's filters may only read the tasks table (its columns: "
                "required_skill, language, focus_label, difficulty, deadline, ...). Fix: give "
                "the tasks what the filter needs (add_items(..., required_skill=, "
                "language=, deadline=) or project.set_difficulty) and filter on those "
                "columns")
    stage_list = ", ".join(f"'{s}'" for s in stages if s.isidentifier())
    common = claim_where(f"tasks.stage IN ({stage_list})", routing)
    expired_where, open_where = _candidates(common)
    peek = Prepared(peek_sql(common))
    if dialect.name == "postgresql":
        out = ClaimSQL(Prepared(pg_claim_sql(common), times=("now", "expires")), None, peek)
    else:
        # both candidates in one statement (one round through the driver instead of
        # two): COALESCE looks for an open task only when no lease ran out, and each
        # lookup stops at the first row of its partial index
        pick = (f"SELECT {_TASK_OLD}, tasks.item_id, tasks.stage, tasks.target_annotation_id, "
                f"tasks.author, tasks.slot, {_ITEM_COLS} FROM tasks "
                "JOIN items ON items.id = tasks.item_id WHERE tasks.id = COALESCE(\n"
                f"(SELECT tasks.id FROM tasks WHERE {expired_where}),\n"
                f"(SELECT tasks.id FROM tasks WHERE {open_where}))")
        take = f"UPDATE tasks {_SET_LEASED} WHERE tasks.id = :cid"
        out = ClaimSQL(Prepared(pick, times=("now",), order=CLAIM_PARAMS),
                       Prepared(take, times=("now", "expires"), order=CLAIM_PARAMS), peek)
    _CLAIM_CACHE[key] = out
    return out


class Claimed(NamedTuple):
    """What a claim returns: the task, its item, and the lease it replaced (if any)."""

    id: int
    item_id: int
    stage: str
    target_annotation_id: str | None
    author: str | None
    slot: int
    media: str
    uri: str | None
    text: str | None
    width: int | None
    height: int | None
    group_key: str | None
    meta: dict[str, Any]
    old_status: str
    old_token: str | None
    old_assignee: str | None
    claimed_at: datetime | None = None  # PostgreSQL: the server's clock
    expires_at: datetime | None = None


_LOG_EXPIRED = Prepared(
    "INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, ended_at, "
    "outcome) VALUES (:tid, :iid, :who, :token, :claimed, :old_expires, :now, 'expired')",
    times=("now",))
_EVENT = Prepared(
    "INSERT INTO events (project_id, kind, actor, item_id, task_id, payload, created_at) "
    "VALUES (:pid, :kind, :me, :iid, :tid, :payload, :now)", times=("now",), jsons=("payload",))


def claim_task(conn: Raw, stmts: ClaimSQL, *, project_id: int, annotator: str, token: str,
               now: datetime, expires_at: datetime) -> Claimed | None:
    """Lease the best claimable task (see :func:`claim_statements`), or None.

    SQLite: ``conn`` must be inside ``BEGIN IMMEDIATE`` (``Store.hot``). PostgreSQL: one
    autocommit statement."""
    if stmts.take is None:  # PostgreSQL: the whole claim
        params = preconvert({"pid": project_id, "me": annotator, "now": now, "token": token,
                             "expires": expires_at,
                             "ttl_s": (expires_at - now).total_seconds()},
                            conn.dialect, times=("now", "expires"))
        r = stmts.pick.run(conn, params).fetchone()
        if r is None:
            return None
        return Claimed._make((*r[:12], r[12] or {}, *r[13:18]))
    # SQLite: the times as text once, for every statement
    now_s = sqlite_time(now)
    c = stmts.pick.run_at(conn, (project_id, annotator, now_s)).fetchone()
    if c is None:
        return None
    (tid, status, old_token, old_assignee, old_claimed, old_expires, item_id, stage,
     target, author, slot, media, uri, text_, width, height, group, meta) = c
    stmts.take.run_at(conn, (project_id, annotator, now_s, token, sqlite_time(expires_at), tid))
    if status == "leased":
        _LOG_EXPIRED.run(conn, {"tid": tid, "iid": item_id, "who": old_assignee,
                                "token": old_token, "claimed": old_claimed,
                                "old_expires": old_expires, "now": now_s})
        _EVENT.run(conn, {"pid": project_id, "kind": "lease_expired", "me": annotator,
                          "iid": item_id, "tid": tid, "now": now_s,
                          "payload": {"token": (old_token or "")[:8],
                                      "previous": old_assignee}})
    return Claimed(tid, item_id, stage, target, author, slot, media, uri, text_, width,
                   height, group, _item_meta(meta), status, old_token, old_assignee)


def _item_meta(meta: Any) -> dict[str, Any]:
    if isinstance(meta, str):
        return {} if meta == "{}" else json.loads(meta)
    return meta or {}


_HEARTBEAT = Prepared(
    "UPDATE tasks SET lease_expires_at = :expires WHERE id = :tid AND lease_token = :token "
    "AND status = 'leased' AND assignee = :me AND lease_expires_at >= :now "
    "RETURNING lease_expires_at", times=("now", "expires"))


def extend_lease(conn: Connection | Raw, *, task_id: int, token: str, annotator: str,
                 now: datetime, expires_at: datetime) -> tuple[bool, Any]:
    """(extended, the new expiry as stored: the server's clock on PostgreSQL)."""
    r = _HEARTBEAT.run(conn, {"tid": task_id, "token": token, "me": annotator, "now": now,
                              "expires": expires_at,
                              "ttl_s": (expires_at - now).total_seconds()}).fetchone()
    return (r is not None, None if r is None else r[0])


_FINISH_SQL = (
    "UPDATE tasks SET status = 'done', done_at = :now,{clear} reserved_for = NULL "
    "WHERE id = :tid AND lease_token = :token AND status = 'leased' AND assignee = :me "
    "AND lease_expires_at >= :now{returning}")
_FINISH_TASK = Prepared(_FINISH_SQL.format(
    clear=" lease_token = NULL,", returning=" RETURNING item_id, claimed_at, lease_expires_at"),
    times=("now",))
#: SQLite's submit: the task row keeps its lease (assignee, token, claimed_at,
#: lease_expires_at; done_at is its end) as the record of it, instead of a ``leases``
#: row -- one row fewer per submit, in the hottest transaction there is
#: (``benchmarks/queue_throughput.py``). :func:`select_leases` reads it back;
#: :func:`reopen_for_author` moves it to ``leases`` before the row is reused.
_FINISH_KEEP = Prepared(_FINISH_SQL.format(clear="", returning=""), times=("now",),
                        order=("now", "tid", "token", "me"))


def finish_task(conn: Connection | Raw, *, task_id: int, token: str, annotator: str,
                now: datetime | str) -> tuple[int, Any, Any] | None:
    """Mark a leased task done if the token is current, unexpired and the annotator's;
    returns (item_id, claimed_at, expires_at) of the lease, or None."""
    r = _FINISH_TASK.run(conn, {"tid": task_id, "token": token, "me": annotator,
                                "now": now}).fetchone()
    return None if r is None else (r[0], r[1], r[2])


#: a gold question's task (made at a gold claim; see _CLAIM_GOLD), in a tasks UPDATE
GOLD_SLOT = ("(stage = 'annotate' AND reserved_for IS NULL AND EXISTS (SELECT 1 FROM "
              "gold_answers AS gold WHERE gold.project_id = tasks.project_id "
              "AND gold.item_id = tasks.item_id))")
_RETURN_SQL = (
    "UPDATE tasks SET status = CASE WHEN " + GOLD_SLOT + " THEN 'cancelled' ELSE 'open' END, "
    "lease_token = NULL, "
    # a task that stays reserved (rework, retraining) stays its reservee's as an open
    # task reopened for them is (reopen_for_author): their other slots of the item stay
    # barred to them, by the claim and by uq_tasks_item_assignee. A gold question's task
    # ends with its lease: cancelled, still naming who met it (they are not served it
    # again), never back in the pool
    "assignee = CASE WHEN " + GOLD_SLOT + " THEN assignee "
    "WHEN :unreserve = 1 THEN NULL ELSE reserved_for END, "
    "reserved_for = CASE WHEN :unreserve = 1 THEN NULL ELSE reserved_for END "
    "WHERE id = :tid AND lease_token = :token AND status = 'leased' "
    "AND assignee = :me{live} RETURNING item_id, claimed_at, lease_expires_at")
_RETURN_TASK = Prepared(_RETURN_SQL.format(live=" AND lease_expires_at >= :now"),
                        times=("now",))
#: the same, also after the lease ran out (as long as nobody took the task over)
_RETURN_LATE = Prepared(_RETURN_SQL.format(live=""), times=("now",))


def return_task(conn: Connection | Raw, *, task_id: int, token: str, annotator: str,
                now: datetime, unreserve: bool = False, late: bool = False
                ) -> tuple[int, Any, Any] | None:
    """Give a leased task back to the pool (skip / release); returns the lease like
    :func:`finish_task`. A task reserved for its author stays reserved. ``late``: also
    when the lease ran out, as long as nobody took the task over since (a skip made
    after the lease's end still frees the task)."""
    stmt = _RETURN_LATE if late else _RETURN_TASK
    r = stmt.run(conn, {"tid": task_id, "token": token, "me": annotator, "now": now,
                        "unreserve": int(unreserve)}).fetchone()
    return None if r is None else (r[0], r[1], r[2])


_CLOSE_RETRAIN_SQL = (
    "UPDATE tasks SET status = 'done', done_at = :now, lease_token = NULL "
    "WHERE id = :tid AND lease_token = :token AND status = 'leased' AND assignee = :me "
    "AND stage = 'retrain'{live} RETURNING item_id, claimed_at, lease_expires_at")
_CLOSE_RETRAIN = Prepared(_CLOSE_RETRAIN_SQL.format(live=" AND lease_expires_at >= :now"),
                          times=("now",))
_CLOSE_RETRAIN_LATE = Prepared(_CLOSE_RETRAIN_SQL.format(live=""), times=("now",))


def close_retraining(conn: Connection | Raw, *, task_id: int, token: str, annotator: str,
                     now: datetime, late: bool = False) -> tuple[int, Any, Any] | None:
    """Close a leased retraining task that its annotator skipped (seen, not
    acknowledged); it stays reserved for them, as a record of whose it was. Returns the
    lease like :func:`finish_task`. ``late``: also when the lease ran out, as long as
    nobody claimed the task again since."""
    stmt = _CLOSE_RETRAIN_LATE if late else _CLOSE_RETRAIN
    r = stmt.run(conn, {"tid": task_id, "token": token, "me": annotator, "now": now}
                 ).fetchone()
    return None if r is None else (r[0], r[1], r[2])


def close_skipped_retraining(conn: Connection, project_id: int, now: datetime) -> list[int]:
    """Close the open retraining tasks that were skipped before a skip closed them (an
    older labelnb gave them back, where nobody could ever take them); returns their
    ids."""
    skipped = exists().where(leases.c.task_id == tasks.c.id, leases.c.outcome == "skipped")
    rows = conn.execute(update(tasks).where(
        tasks.c.project_id == project_id, tasks.c.stage == "retrain", tasks.c.status == "open",
        skipped).values(status="done", done_at=now).returning(tasks.c.id))
    return sorted(int(r[0]) for r in rows)


def cancel_retraining(conn: Connection, project_id: int, task_ids: Sequence[int]
                      ) -> list[int]:
    """Cancel these retraining tasks where they are still open (not leased: whoever
    reads one now keeps it); returns the ids cancelled."""
    if not task_ids:
        return []
    rows = conn.execute(update(tasks).where(
        tasks.c.project_id == project_id, tasks.c.stage == "retrain",
        tasks.c.status == "open", tasks.c.id.in_([int(t) for t in task_ids])).values(
        status="cancelled").returning(tasks.c.id))
    return sorted(int(r[0]) for r in rows)


def reopen_for_author(conn: Connection, *, task_id: int, author: str,
                      rejected_annotation_id: str, priority: float) -> None:
    # a task its author is reworking now (leased) keeps that lease: a second rejection
    # of the same work must not pull it from under them
    keep_lease_history(conn, task_id)
    conn.execute(update(tasks).where(tasks.c.id == task_id, tasks.c.status != "leased").values(
        status="open", reserved_for=author, assignee=author, lease_token=None,
        lease_expires_at=None, done_at=None, target_annotation_id=rejected_annotation_id,
        priority=priority, base_priority=priority))


def unreserve_rework(conn: Connection, project_id: int, annotator: str) -> int:
    """Open rework (annotate or adjudicate) reserved for ``annotator`` becomes anyone's;
    returns how many tasks. (Retraining stays theirs: it is about their own mistakes.)"""
    return int(conn.execute(update(tasks).where(
        tasks.c.project_id == project_id, tasks.c.status == "open",
        tasks.c.reserved_for == annotator, tasks.c.stage.in_(["annotate", "adjudicate"])
    ).values(reserved_for=None, assignee=None)).rowcount)


#: what an adjudication task copies from the item's first annotate task (the expert must
#: read the item, and by then): not its difficulty (hard items would be kept from experts
#: with no measured accuracy) nor its focus label
ADJUDICATION_ROUTING = ("language", "required_skill", "deadline")

#: the base priority of an adjudication task (rework of a rejection gets 10)
ADJUDICATION_BASE_PRIORITY = 5.0


def lock_item(conn: Connection, item_id: int) -> None:
    """On PostgreSQL, lock the item's row (``FOR NO KEY UPDATE``: an annotation that
    refers to the item still goes in) until the transaction ends; SQLite's ``BEGIN
    IMMEDIATE`` already serialises writers. What decides "one adjudication per item":
    every writer that queues one (:func:`queue_adjudication`, and ``labelnb_review`` of
    team security) takes it before it checks."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(items.c.id).where(items.c.id == item_id).with_for_update(
            key_share=True))


def queue_adjudication(conn: Connection, *, project_id: int, item_id: int, actor: str,
                       now: datetime, reason: str, fields: dict[str, Any]) -> bool:
    """Queue an adjudication of the item (event ``adjudication_queued``), unless one is
    open or leased already: one expert decision per item. Returns whether a task was
    queued. The item's row is locked for the check (:func:`lock_item`: two rejections,
    or a rejection and a ``consensus()`` run, at once queue one task).

    ``fields``: the task's routing, :data:`ADJUDICATION_ROUTING` as the item's first
    annotate task has them (:func:`annotate_routing`), with ``priority`` and
    ``base_priority`` computed by the project's routing policy (the query layer cannot
    run it: :func:`labelnb.queue.consensus.adjudication_fields` does). The one way an
    adjudication is queued, by ``consensus()`` and by a reviewer's rejection of a
    consensus alike (team security's ``labelnb_review`` mirrors it in SQL)."""
    lock_item(conn, item_id)
    pending = conn.execute(select(tasks.c.id).where(
        tasks.c.item_id == item_id, tasks.c.stage == "adjudicate",
        tasks.c.status.in_(["open", "leased"])).limit(1)).first()
    if pending is not None:
        return False
    routing = {f: fields.get(f) for f in ADJUDICATION_ROUTING}
    base = float(fields.get("base_priority", ADJUDICATION_BASE_PRIORITY))
    insert_tasks(conn, [dict(project_id=project_id, item_id=item_id, stage="adjudicate",
                             slot=0, status="open", priority=float(fields.get("priority", base)),
                             base_priority=base, created_at=now, attempts=0, **routing)])
    insert_event(conn, project_id=project_id, kind="adjudication_queued", actor=actor,
                 now=now, item_id=item_id, payload={"reason": reason})
    return True


#: the task columns labelnb reads back: all but ``spare`` (room for the lease to grow
#: into, nothing to read; and a member of a team database set up before revision 0005
#: has no grant on it until ``team init`` runs again)
TASK_COLUMNS = tuple(c for c in tasks.c if c.name != "spare")


def get_task(conn: Connection, task_id: int) -> Row[Any] | None:
    return conn.execute(select(*TASK_COLUMNS).where(tasks.c.id == task_id)).first()


def task_owners(conn: Connection, task_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(project_id, item_id) of each task of ``task_ids`` that exists, by id (a chunked
    IN query; ids a 64-bit integer cannot hold are not looked up)."""
    ids = sorted({int(i) for i in task_ids if fits_id(i)})
    stmt = select(tasks.c.id, tasks.c.project_id, tasks.c.item_id)
    return {int(tid): (int(pid), int(iid))
            for tid, pid, iid in _rows_in(conn, stmt, tasks.c.id, ids)}


def held_leases(conn: Connection, project_id: int, annotator: str, now: datetime,
                limit: int = 5) -> list[Row[Any]]:
    """The live leases ``annotator`` holds in the project (task id, item id), oldest task
    first: what another queue handle of theirs holds."""
    return list(conn.execute(
        select(tasks.c.id, tasks.c.item_id).where(
            tasks.c.project_id == project_id, tasks.c.status == "leased",
            tasks.c.lease_expires_at > now, tasks.c.assignee == annotator)
        .order_by(tasks.c.id).limit(limit)))


def set_task_fields(conn: Connection, project_id: int, item_ids: Sequence[int], *,
                    stage: str | None = None, **values: Any) -> int:
    """Set ``values`` on the unfinished tasks of the items (of ``stage`` only, if given)."""
    n = 0
    for i in range(0, len(item_ids), CHUNK):
        stmt = update(tasks).where(
            tasks.c.project_id == project_id, tasks.c.item_id.in_(list(item_ids[i:i + CHUNK])),
            tasks.c.status != "done")
        if stage is not None:
            stmt = stmt.where(tasks.c.stage == stage)
        n += conn.execute(stmt.values(**values)).rowcount
    return n


def set_annotate_fields(conn: Connection, project_id: int,
                        rows: Sequence[dict[str, Any]]) -> int:
    """:func:`set_task_fields` with ``stage="annotate"`` of many items, each with its own
    values: ``rows`` are ``{"item_id": ..., "difficulty": ...}`` with ``focus_label``
    in each or in none (one executemany); returns how many tasks changed."""
    if not rows:
        return 0
    from sqlalchemy import bindparam

    names = [k for k in rows[0] if k != "item_id"]
    stmt = update(tasks).where(
        tasks.c.project_id == project_id, tasks.c.item_id == bindparam("b_item_id"),
        tasks.c.status != "done", tasks.c.stage == "annotate",
    ).values({k: bindparam("b_" + k) for k in names})
    res = conn.execute(stmt, [{"b_" + k: v for k, v in r.items()} for r in rows])
    return int(res.rowcount)


def open_task_rows(conn: Connection, project_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(
        tasks.c.id, tasks.c.difficulty, tasks.c.deadline, tasks.c.required_skill,
        tasks.c.base_priority,
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


#: the columns of ``tasks`` that team members (annotators, reviewers) may not read: the
#: model's predicted label and confidence, and the priority made from them
#: (``hide_predictions``; team security grants every other column)
MEMBER_HIDDEN_TASK_COLUMNS = ("focus_label", "difficulty", "priority")


def select_tasks(project_id: int, *, hidden: Sequence[str] = ()) -> Select[Any]:
    """The project's tasks; the ``hidden`` columns read as NULL (a team member's view)."""
    cols = [null().label(c.name) if c.name in hidden
            # the live lease's token only: a SQLite submit leaves its (spent) token on the
            # done row as the lease's record (see select_leases), PostgreSQL clears it
            else case((tasks.c.status == "leased", c), else_=null()).label(c.name)
            if c.name == "lease_token" else c for c in TASK_COLUMNS]
    return select(*cols).where(tasks.c.project_id == project_id).order_by(tasks.c.id)


# --- leases ------------------------------------------------------------------------


_LOG_LEASE = Prepared(
    "INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, ended_at, "
    "outcome) VALUES (:tid, :iid, :me, :token, :claimed, :lease_expires, :now, :outcome)",
    times=("now",))


def log_lease(conn: Connection | Raw, *, task_id: int, item_id: int, annotator: str,
              token: str, lease: tuple[int, Any, Any], now: datetime | str,
              outcome: str) -> None:
    """Write the history row of a lease that ended (``lease`` from finish/return_task)."""
    _LOG_LEASE.run(conn, {"tid": task_id, "iid": item_id, "me": annotator, "token": token,
                          "claimed": lease[1], "lease_expires": lease[2], "now": now,
                          "outcome": outcome})


_SKIP_EXPIRED_LEASE = Prepared(
    "UPDATE leases SET outcome = 'skipped' WHERE task_id = :tid AND token = :token "
    "AND annotator = :me AND outcome = 'expired'")


def skip_expired_lease(conn: Connection | Raw, *, task_id: int, token: str,
                       annotator: str) -> bool:
    """A skip of a lease that ran out and was taken over since (its history row written
    then, as ``expired``): the row records the annotator's answer instead, ``skipped``
    (one row per lease). False if there is no such row."""
    return bool(_SKIP_EXPIRED_LEASE.run(conn, {"tid": task_id, "token": token,
                                               "me": annotator}).rowcount)


def insert_event_fast(conn: Connection | Raw, *, project_id: int, kind: str, actor: str,
                      now: datetime, item_id: int | None = None, task_id: int | None = None,
                      payload: dict[str, Any] | None = None) -> None:
    _EVENT.run(conn, {"pid": project_id, "kind": kind, "me": actor, "iid": item_id,
                      "tid": task_id, "now": now, "payload": payload or {}})


def select_leases(project_id: int) -> Select[Any]:
    """Every lease: ended ones from ``leases``, live ones from their task rows
    (``outcome`` NULL)."""
    ended = (select(leases.c.task_id, leases.c.item_id, leases.c.annotator, leases.c.token,
                    leases.c.claimed_at, leases.c.expires_at, leases.c.ended_at,
                    leases.c.outcome)
             .join(tasks, tasks.c.id == leases.c.task_id)
             .where(tasks.c.project_id == project_id))
    live = (select(tasks.c.id.label("task_id"), tasks.c.item_id,
                   tasks.c.assignee.label("annotator"), tasks.c.lease_token.label("token"),
                   tasks.c.claimed_at, tasks.c.lease_expires_at.label("expires_at"),
                   null().label("ended_at"), null().label("outcome"))
            .where(tasks.c.project_id == project_id, tasks.c.status == "leased"))
    # a submit on SQLite leaves its lease on the done task row (see _FINISH_KEEP); a
    # done row without a token had its lease written to ``leases``
    kept = (select(tasks.c.id.label("task_id"), tasks.c.item_id,
                   tasks.c.assignee.label("annotator"), tasks.c.lease_token.label("token"),
                   tasks.c.claimed_at, tasks.c.lease_expires_at.label("expires_at"),
                   tasks.c.done_at.label("ended_at"), literal("submitted").label("outcome"))
            .where(tasks.c.project_id == project_id, tasks.c.status == "done",
                   tasks.c.lease_token.is_not(None)))
    u = union_all(ended, live, kept).subquery("l")
    return select(u).order_by(u.c.claimed_at, u.c.task_id)


_MOVE_KEPT_LEASE = Prepared(
    "INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at, ended_at, "
    "outcome) SELECT id, item_id, assignee, lease_token, claimed_at, lease_expires_at, done_at, "
    "'submitted' FROM tasks WHERE id = :tid AND status = 'done' AND lease_token IS NOT NULL")


def keep_lease_history(conn: Connection | Raw, task_id: int) -> None:
    """Before a done task row is reused (reopened for rework), write the lease it
    kept (a SQLite submit's, see :data:`_FINISH_KEEP`) to ``leases``; the caller clears
    the row's ``lease_token``."""
    _MOVE_KEPT_LEASE.run(conn, {"tid": task_id})


# --- annotations -------------------------------------------------------------------


_ANN_COLS = ("id", "project_id", "item_id", "task_id", "author", "source", "schema_version",
             "regions", "created_at", "submitted_at", "duration_s", "corrects",
             "model_version", "client_id", "meta")
#: (``order``: SQLite's submit binds the annotation by position: for fifteen values, the
#: driver's lookup of each name in a dict cost about 1.4 µs of the insert's 6,
#: ``benchmarks/queue_throughput.py --breakdown``)
_INSERT_ANNOTATION = Prepared(
    f"INSERT INTO annotations ({', '.join(_ANN_COLS)}) "
    f"VALUES ({', '.join(':' + c for c in _ANN_COLS)})",
    jsons=("regions", "meta"), times=("created_at", "submitted_at"), order=_ANN_COLS)
_ANN_VALUES = operator.itemgetter(*_ANN_COLS)


def annotation_values(row: dict[str, Any], dialect: str) -> dict[str, Any]:
    """``row`` (``Project._annotation_row``) converted for the driver in place
    (:func:`preconvert`: converted values are left alone, so the clock can be added
    and converted later, under the writer lock)."""
    return preconvert(row, dialect, jsons=_INSERT_ANNOTATION.jsons,
                      times=_INSERT_ANNOTATION.times, copy=False)


def insert_annotation(conn: Connection | Raw, row: dict[str, Any]) -> None:
    _INSERT_ANNOTATION.run(conn, {c: row.get(c) for c in _ANN_COLS})


def insert_annotations(conn: Connection | Raw, rows: Sequence[dict[str, Any]]) -> None:
    """:func:`insert_annotation` of each row, one executemany: a row that clashes raises
    the driver's IntegrityError (run it in a savepoint to go on)."""
    _INSERT_ANNOTATION.run_many(conn, [{c: row.get(c) for c in _ANN_COLS} for row in rows])


_REVIEW_COLS = ("project_id, item_id, stage, slot, status, priority, author, "
                "target_annotation_id, created_at, attempts")
#: a gold question's answer is never sampled for review: a reviewer would teach the
#: annotator the answer (a rejection's feedback, their rework) before it is scored
NOT_GOLD_ITEM = ("NOT EXISTS (SELECT 1 FROM gold_answers AS gold WHERE gold.project_id = "
                 "{pid} AND gold.item_id = {item})")
_INSERT_REVIEW = Prepared(
    f"INSERT INTO tasks ({_REVIEW_COLS}) SELECT :project_id, :item_id, 'review', 0, 'open', "
    "0.0, :author, :id, :submitted_at, 0 WHERE "
    + NOT_GOLD_ITEM.format(pid=":project_id", item=":item_id"), times=("submitted_at",))
_PG_CASTS = {"project_id": "BIGINT", "item_id": "BIGINT", "task_id": "BIGINT",
             "schema_version": "INTEGER", "duration_s": "DOUBLE PRECISION"}
_SUBMIT_PG = Prepared(
    f"""WITH f AS (UPDATE tasks SET status = 'done', done_at = :submitted_at, lease_token = NULL,
        reserved_for = NULL WHERE id = :task_id AND lease_token = :token AND status = 'leased'
        AND assignee = :author AND lease_expires_at >= :submitted_at
        RETURNING id, item_id, claimed_at, lease_expires_at),
 a AS (INSERT INTO annotations ({', '.join(_ANN_COLS)})
       SELECT {', '.join(f"CAST(:{c} AS {_PG_CASTS[c]})" if c in _PG_CASTS else ':' + c
                         for c in _ANN_COLS)} FROM f),
 l AS (INSERT INTO leases (task_id, item_id, annotator, token, claimed_at, expires_at,
                           ended_at, outcome)
       SELECT f.id, f.item_id, :author, :token, f.claimed_at, f.lease_expires_at,
              :submitted_at, 'submitted' FROM f),
 r AS (INSERT INTO tasks ({_REVIEW_COLS})
       SELECT CAST(:project_id AS BIGINT), f.item_id, 'review', 0, 'open', 0.0, :author, :id,
              :submitted_at, 0 FROM f WHERE :review
       AND {NOT_GOLD_ITEM.format(pid="CAST(:project_id AS BIGINT)", item="f.item_id")})
SELECT count(*) FROM f""", jsons=("regions", "meta"), times=("created_at", "submitted_at"))


def submit_annotation(conn: Raw, row: dict[str, Any], *, token: str, review: bool) -> bool:
    """Finish the leased task, store the annotation, log the lease and (``review``) queue
    a review task (never for a gold question's item), all or nothing; False if the lease
    is not current. ``row`` is the annotation row (its ``author`` must hold the lease)."""
    if conn.dialect == "postgresql":
        n = _SUBMIT_PG.run(conn, {**row, "token": token, "review": review}).fetchone()[0]
        return bool(n)
    # SQLite: ``row`` is the caller's, converted in place (Queue.submit converts all but
    # the clock, read under the writer lock, before it takes the lock)
    annotation_values(row, "sqlite")
    done = _FINISH_KEEP.run_at(conn, (row["submitted_at"], row["task_id"], token,
                                      row["author"]))
    if done.rowcount != 1:
        return False
    _INSERT_ANNOTATION.run_at(conn, _ANN_VALUES(row))
    if review:
        _INSERT_REVIEW.run_converted(conn, row)
    return True



def annotation_by_client_id(conn: Connection, project_id: int, client_id: str
                            ) -> tuple[str, int | None, str, datetime] | None:
    """(id, task_id, author, submitted_at) of the annotation stored with ``client_id``,
    or None."""
    r = conn.execute(select(annotations_t.c.id, annotations_t.c.task_id,
                            annotations_t.c.author, annotations_t.c.submitted_at).where(
        annotations_t.c.project_id == project_id, annotations_t.c.client_id == client_id)
    ).first()
    if r is None:
        return None
    at = r[3]  # (SQLite gives back the UTC it stored without its zone)
    return r[0], r[1], r[2], at if at is None or at.tzinfo else at.replace(tzinfo=UTC)


def annotation_id_by_client_id(conn: Connection, project_id: int, client_id: str) -> str | None:
    return conn.execute(select(annotations_t.c.id).where(
        annotations_t.c.project_id == project_id, annotations_t.c.client_id == client_id)
    ).scalar_one_or_none()


def get_annotation(conn: Connection, annotation_id: str) -> Row[Any] | None:
    return conn.execute(select(annotations_t).where(annotations_t.c.id == annotation_id)).first()


def annotation_owners(conn: Connection, annotation_ids: Sequence[str]
                      ) -> dict[str, tuple[int, int]]:
    """(project_id, item_id) of each annotation of ``annotation_ids`` that exists, by id
    (a chunked IN query)."""
    a = annotations_t
    stmt = select(a.c.id, a.c.project_id, a.c.item_id)
    return {str(aid): (int(pid), int(iid))
            for aid, pid, iid in _rows_in(conn, stmt, a.c.id, sorted(set(annotation_ids)))}


def select_annotations(project_id: int) -> Select[Any]:
    last_review = (select(reviews.c.decision).where(reviews.c.annotation_id == annotations_t.c.id)
                   .order_by(reviews.c.id.desc()).limit(1).scalar_subquery())
    corrected = exists().where(annotations_t.alias("c2").c.corrects == annotations_t.c.id)
    status = case((last_review.is_not(None), last_review),
                  (corrected, literal("corrected")), else_=literal("submitted"))
    return (select(annotations_t, status.label("status"))
            .where(annotations_t.c.project_id == project_id)
            # one write (an import, add_annotations) shares submitted_at: then the
            # order the annotations were made in, so "latest" is well defined
            .order_by(annotations_t.c.submitted_at, annotations_t.c.created_at,
                      annotations_t.c.id))


def annotations_for_item(conn: Connection, item_id: int) -> list[Row[Any]]:
    return list(conn.execute(select(annotations_t).where(annotations_t.c.item_id == item_id)
                             .order_by(annotations_t.c.submitted_at,
                                       annotations_t.c.created_at, annotations_t.c.id)))


def annotations_of_items(conn: Connection, project_id: int, item_ids: Sequence[int]
                         ) -> list[Row[Any]]:
    """item_id, author, source, task_id and regions of every annotation of these items."""
    out: list[Any] = []
    ids = sorted(set(item_ids))
    for i in range(0, len(ids), CHUNK):
        out += conn.execute(select(annotations_t.c.id, annotations_t.c.item_id,
                                   annotations_t.c.author, annotations_t.c.source,
                                   annotations_t.c.task_id, annotations_t.c.regions).where(
            annotations_t.c.project_id == project_id,
            annotations_t.c.item_id.in_(ids[i:i + CHUNK]))).all()
    return out


def annotate_slots(conn: Connection, project_id: int, item_ids: Sequence[int]
                   ) -> list[Row[Any]]:
    """The annotate tasks of these items (id, item_id, slot, status, assignee,
    reserved_for), by item and slot."""
    out: list[Any] = []
    ids = sorted(set(item_ids))
    for i in range(0, len(ids), CHUNK):
        out += conn.execute(select(tasks.c.id, tasks.c.item_id, tasks.c.slot, tasks.c.status,
                                   tasks.c.assignee, tasks.c.reserved_for).where(
            tasks.c.project_id == project_id, tasks.c.stage == "annotate",
            tasks.c.item_id.in_(ids[i:i + CHUNK])).order_by(tasks.c.item_id,
                                                             tasks.c.slot)).all()
    return out


def cancel_open_reviews(conn: Connection, project_id: int, annotation_ids: Sequence[str]
                        ) -> list[int]:
    """Cancel the open review tasks of these annotations (a consensus replaced by a newer
    one is no longer up for review); returns the ids of the tasks cancelled (a leased
    one is left to its reviewer)."""
    if not annotation_ids:
        return []
    return sorted(int(r[0]) for r in conn.execute(update(tasks).where(
        tasks.c.project_id == project_id, tasks.c.stage == "review",
        tasks.c.status == "open",
        tasks.c.target_annotation_id.in_(list(annotation_ids))).values(
        status="cancelled").returning(tasks.c.id)))


def consensus_ids_by_item(conn: Connection, project_id: int, items: Sequence[int]
                          ) -> dict[int, list[str]]:
    """The ids of each item's consensus annotations, oldest first (items without one are
    left out)."""
    a = annotations_t.c
    out: dict[int, list[str]] = {}
    items = list(items)
    for i in range(0, len(items), CHUNK):
        for row in conn.execute(select(a.id, a.item_id).where(
                a.project_id == project_id, a.source == "consensus",
                a.item_id.in_(items[i:i + CHUNK])).order_by(a.submitted_at, a.created_at,
                                                            a.id)):
            out.setdefault(int(row.item_id), []).append(str(row.id))
    return out


def items_adjudicating(conn: Connection, project_id: int, items: Sequence[int]) -> set[int]:
    """Those of ``items`` with an open or leased adjudication task."""
    t = tasks.c
    out: set[int] = set()
    items = list(items)
    for i in range(0, len(items), CHUNK):
        out |= {int(x) for x in conn.execute(select(t.item_id).where(
            t.project_id == project_id, t.stage == "adjudicate",
            t.status.in_(("open", "leased")), t.item_id.in_(items[i:i + CHUNK]))).scalars()}
    return out


def has_live_review(conn: Connection, project_id: int, annotation_id: str) -> bool:
    """Whether the annotation has a review task that is or was live (open, leased or
    done); a cancelled one does not count."""
    t = tasks.c
    return conn.execute(select(t.id).where(
        t.project_id == project_id, t.stage == "review", t.target_annotation_id == annotation_id,
        t.status.in_(("open", "leased", "done"))).limit(1)).first() is not None


#: the routing fields of a task that a later task of the same item inherits
ROUTING_FIELDS = ("language", "required_skill", "focus_label", "difficulty", "deadline",
                  "base_priority")


def annotate_routing(conn: Connection, project_id: int, items: Sequence[int]
                     ) -> dict[int, dict[str, Any]]:
    """Each item's :data:`ROUTING_FIELDS`, from its first annotate task."""
    t = tasks.c
    out: dict[int, dict[str, Any]] = {}
    items = list(items)
    for i in range(0, len(items), CHUNK):
        rows = conn.execute(select(t.item_id, *(getattr(t, f) for f in ROUTING_FIELDS))
                            .where(t.project_id == project_id, t.stage == "annotate",
                                   t.item_id.in_(items[i:i + CHUNK]))
                            .order_by(t.item_id, t.slot, t.id))
        for row in rows:
            out.setdefault(int(row.item_id), {f: getattr(row, f) for f in ROUTING_FIELDS})
    return out


def fill_annotate_slot(conn: Connection, *, task_id: int, assignee: str, now: datetime
                       ) -> bool:
    """Mark an open, unassigned annotate task done by ``assignee`` (an annotation made
    outside the queue fills it); False if it was not open any more."""
    return bool(conn.execute(update(tasks).where(
        tasks.c.id == task_id, tasks.c.status == "open", tasks.c.assignee.is_(None),
        tasks.c.reserved_for.is_(None)).values(
        status="done", assignee=assignee, done_at=now)).rowcount)


def fill_annotate_slots(conn: Connection, fills: Sequence[tuple[int, str]], now: datetime
                        ) -> int:
    """:func:`fill_annotate_slot` of many ``(task_id, assignee)`` (one executemany);
    returns how many were filled (those no longer open are left as they are)."""
    if not fills:
        return 0
    from sqlalchemy import bindparam

    stmt = update(tasks).where(
        tasks.c.id == bindparam("b_tid"), tasks.c.status == "open",
        tasks.c.assignee.is_(None), tasks.c.reserved_for.is_(None)).values(
        status="done", assignee=bindparam("b_who"), done_at=bindparam("b_now"))
    res = conn.execute(stmt, [{"b_tid": t, "b_who": who, "b_now": now} for t, who in fills])
    return int(res.rowcount)


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


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """:func:`insert_event` of many (one executemany): ``rows`` with ``project_id``,
    ``kind``, ``actor``, ``item_id``, ``task_id``, ``payload`` and ``created_at``."""
    if rows:
        conn.execute(insert(events), list(rows))


def select_events(project_id: int) -> Select[Any]:
    return select(events).where(events.c.project_id == project_id).order_by(events.c.id)



def select_audit(project_id: int, *, user: str | None = None, item_id: int | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 kind: str | None = None, limit: int | None = None) -> Select[Any]:
    """The audit log of a project (and the database-wide team events, whose project is
    NULL), filtered: ``user`` matches the actor or the database user; ``since`` /
    ``until`` bound ``created_at`` (inclusive / exclusive); newest last."""
    from sqlalchemy import or_

    stmt = select(events).where(or_(events.c.project_id == project_id,
                                    events.c.project_id.is_(None)))
    if user is not None:
        stmt = stmt.where(or_(events.c.actor == user, events.c.db_user == user))
    if item_id is not None:
        stmt = stmt.where(events.c.item_id == item_id)
    if since is not None:
        stmt = stmt.where(events.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(events.c.created_at < until)
    if kind is not None:
        stmt = stmt.where(events.c.kind == kind)
    if limit is not None:
        # the newest `limit` rows, still listed oldest first
        newest = stmt.order_by(events.c.id.desc()).limit(limit).subquery("newest")
        return select(newest).order_by(newest.c.id)
    return stmt.order_by(events.c.id)


# --- gold questions ----------------------------------------------------------------


def insert_gold_answers(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(gold_answers), rows)


def select_gold(project_id: int) -> Select[Any]:
    return (select(gold_answers).where(gold_answers.c.project_id == project_id)
            .order_by(gold_answers.c.id))


def gold_item_ids(conn: Connection, project_id: int) -> set[int]:
    return {int(i) for i in conn.execute(select(gold_answers.c.item_id).where(
        gold_answers.c.project_id == project_id)).scalars()}


def items_with_tasks(conn: Connection, item_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for i in range(0, len(item_ids), CHUNK):
        found.update(int(x) for x in conn.execute(select(tasks.c.item_id).where(
            tasks.c.item_id.in_(list(item_ids[i:i + CHUNK]))).distinct()).scalars())
    return found


# A gold question is served by creating its task for this annotator, leased at once:
# gold items have no tasks in the pool (nobody meets them outside the gold rate), and
# each annotator meets each gold item at most once. The slot counts like an overlap
# slot, and created_at is the item's (a regular task is created with its item, long
# before its claim; a created_at equal to claimed_at would mark the task as gold), so
# the task looks like any other.
_CLAIM_GOLD = Prepared(
    """INSERT INTO tasks (project_id, item_id, stage, slot, status, priority, base_priority,
                   assignee, lease_token, claimed_at, lease_expires_at, attempts, created_at,
                   spare)
SELECT g.project_id, g.item_id, 'annotate',
       (SELECT count(*) FROM tasks AS t2 WHERE t2.item_id = g.item_id
        AND t2.stage = 'annotate') % :overlap,
       'leased', 0.0, 0.0, CAST(:me AS VARCHAR), CAST(:token AS VARCHAR), :now, :expires, 1,
       i.created_at, NULL
FROM gold_answers AS g JOIN items AS i ON i.id = g.item_id WHERE g.project_id = :pid
 AND NOT EXISTS (SELECT 1 FROM tasks AS t WHERE t.item_id = g.item_id
                 AND t.stage = 'annotate' AND t.assignee = :me)
 AND NOT EXISTS (SELECT 1 FROM leases WHERE leases.item_id = g.item_id
                 AND leases.annotator = :me AND leases.outcome = 'skipped')
ORDER BY random() LIMIT 1
RETURNING id, item_id, stage, target_annotation_id, author, slot, claimed_at,
          lease_expires_at""", times=("now", "expires"))
_GOLD_ITEM = Prepared(f"SELECT {_ITEM_COLS} FROM items WHERE items.id = :iid")


def claim_gold(conn: Raw, *, project_id: int, annotator: str, token: str, now: datetime,
               expires_at: datetime, overlap: int) -> Claimed | None:
    """Lease a gold question this annotator has not met yet, or None (client-side
    claim; the database-side one is in ``labelnb_claim``)."""
    params = preconvert({"pid": project_id, "me": annotator, "token": token, "now": now,
                         "expires": expires_at, "overlap": max(1, int(overlap)),
                         "ttl_s": (expires_at - now).total_seconds()},
                        conn.dialect, times=("now", "expires"))
    r = _CLAIM_GOLD.run(conn, params).fetchone()
    if r is None:
        return None
    tid, item_id, stage, target, author, slot, claimed_at, expires = r
    media, uri, text_, width, height, group, meta = _GOLD_ITEM.run(conn, {"iid": item_id}
                                                                   ).fetchone()
    server = conn.dialect == "postgresql"  # SQLite gives the times back as text
    return Claimed(tid, item_id, stage, target, author, slot, media, uri, text_, width, height,
                   group, json.loads(meta) if isinstance(meta, str) else meta or {}, "open",
                   None, None, claimed_at if server else None, expires if server else None)


# --- team security: calls of the database's definer functions ----------------------
# The functions themselves (and the grants, policies and triggers around them) are in
# labelnb/team/sql.py; a member's queue calls them instead of writing tables.

TEAM_INSTALLED = text("SELECT to_regprocedure('labelnb_team_info()') IS NOT NULL")
TEAM_INFO = text("SELECT labelnb_team_info()")
_TEAM_CLAIM = Prepared("SELECT * FROM labelnb_claim(:pid::bigint, :stage::text, :token::text)")
_TEAM_PEEK = Prepared("SELECT * FROM labelnb_peek(:pid::bigint, :stage::text, :n::integer)")
_TEAM_HEARTBEAT = Prepared("SELECT labelnb_heartbeat(:tid::bigint, :token::text)")
_TEAM_RETURN = Prepared(
    "SELECT labelnb_return(:tid::bigint, :token::text, :outcome::text, :reason::text)")
_TEAM_SUBMIT = Prepared(
    "SELECT labelnb_submit(:task_id::bigint, :token::text, :id::text, :regions::jsonb, "
    ":created_at::timestamptz, :duration_s::double precision, :client_id::text, "
    ":meta::jsonb, :model_version::text, :schema_version::integer)",
    jsons=("regions", "meta"))
_TEAM_ACK = Prepared("SELECT labelnb_acknowledge(:tid::bigint, :token::text)")
_TEAM_SKIP_RETRAINING = Prepared(
    "SELECT labelnb_skip_retraining(:tid::bigint, :token::text, :reason::text)")
_TEAM_REVIEW = Prepared(
    "SELECT labelnb_review(:tid::bigint, :token::text, :decision::text, :feedback::text, "
    ":cid::text, :regions::jsonb, :created_at::timestamptz, :duration_s::double precision, "
    ":schema_version::integer)", jsons=("regions",))


def team_info(conn: Connection) -> dict[str, Any] | None:
    """What ``labelnb_team_info()`` says (version, prefix, user, role), or None when team
    security is not installed in this schema (or this is not PostgreSQL)."""
    if conn.dialect.name != "postgresql" or not conn.execute(TEAM_INSTALLED).scalar():
        return None
    return dict(conn.execute(TEAM_INFO).scalar_one())


def team_claim(conn: Raw, *, project_id: int, stage: str, token: str) -> Claimed | None:
    r = _TEAM_CLAIM.run(conn, {"pid": project_id, "stage": stage, "token": token}).fetchone()
    if r is None:
        return None
    return Claimed._make((*r[:12], r[12] or {}, *r[13:18]))


def team_peek(conn: Connection, *, project_id: int, stage: str, n: int) -> list[int]:
    rows = _TEAM_PEEK.run(conn, {"pid": project_id, "stage": stage, "n": n}).fetchall()
    return [int(r[0]) for r in rows]


def team_heartbeat(conn: Raw, *, task_id: int, token: str) -> datetime | None:
    return _TEAM_HEARTBEAT.run(conn, {"tid": task_id, "token": token}).fetchone()[0]  # type: ignore[no-any-return]


def team_return(conn: Raw, *, task_id: int, token: str, outcome: str,
                reason: str | None) -> bool:
    return bool(_TEAM_RETURN.run(conn, {"tid": task_id, "token": token, "outcome": outcome,
                                        "reason": reason}).fetchone()[0])


def team_submit(conn: Raw, row: dict[str, Any], *, token: str) -> bool:
    """Submit through ``labelnb_submit``: the database sets author (the session user),
    source, item, project, what it corrects and whether it is reviewed."""
    return bool(_TEAM_SUBMIT.run(conn, {
        "task_id": row["task_id"], "token": token, "id": row["id"], "regions": row["regions"],
        "created_at": row["created_at"], "duration_s": row.get("duration_s"),
        "client_id": row.get("client_id"), "meta": row.get("meta") or {},
        "model_version": row.get("model_version"),
        "schema_version": row["schema_version"]}).fetchone()[0])


def team_acknowledge(conn: Raw, *, task_id: int, token: str) -> bool:
    return bool(_TEAM_ACK.run(conn, {"tid": task_id, "token": token}).fetchone()[0])


def team_skip_retraining(conn: Raw, *, task_id: int, token: str, reason: str | None
                         ) -> bool:
    return bool(_TEAM_SKIP_RETRAINING.run(
        conn, {"tid": task_id, "token": token, "reason": reason}).fetchone()[0])


def team_review(conn: Raw, *, task_id: int, token: str, decision: str, feedback: str | None,
                correction: dict[str, Any] | None) -> bool:
    c = correction or {}
    return bool(_TEAM_REVIEW.run(conn, {
        "tid": task_id, "token": token, "decision": decision, "feedback": feedback,
        "cid": c.get("id"), "regions": c.get("regions"), "created_at": c.get("created_at"),
        "duration_s": c.get("duration_s"), "schema_version": c.get("schema_version")}
    ).fetchone()[0])


def team_add(conn: Connection, *, project_id: int, name: str, role: str,
             verifier: str | None) -> str:
    """``'created'`` (a new login role) or ``'existing'`` (added to this project)."""
    return str(conn.execute(text("SELECT labelnb_team_add(:pid, :name, :role, :verifier)"),
                            {"pid": project_id, "name": name, "role": role,
                             "verifier": verifier}).scalar_one())


def team_set_role(conn: Connection, *, project_id: int, name: str, role: str) -> None:
    conn.execute(text("SELECT labelnb_team_set_role(:pid, :name, :role)"),
                 {"pid": project_id, "name": name, "role": role})


def team_remove(conn: Connection, *, project_id: int, name: str) -> None:
    conn.execute(text("SELECT labelnb_team_remove(:pid, :name)"),
                 {"pid": project_id, "name": name})


def maintenance_delete_annotation(conn: Connection, *, annotation_id: str, reason: str) -> None:
    conn.execute(text("SELECT labelnb_maintenance_delete_annotation(:aid, :reason)"),
                 {"aid": annotation_id, "reason": reason})


def team_logins(conn: Connection, groups: Sequence[str]) -> dict[str, list[str]]:
    """Login role → the team groups it is in (from the catalog)."""
    rows = conn.execute(text(
        "SELECT u.rolname, g.rolname FROM pg_auth_members AS m "
        "JOIN pg_roles AS g ON g.oid = m.roleid JOIN pg_roles AS u ON u.oid = m.member "
        "WHERE g.rolname = ANY(:groups) ORDER BY u.rolname, g.rolname"),
        {"groups": list(groups)})
    out: dict[str, list[str]] = {}
    for user, group in rows:
        out.setdefault(str(user), []).append(str(group))
    return out


INSTALLER = text(
    "SELECT current_schema(), session_user::text, "
    "(SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user), "
    "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
    "(SELECT tableowner::text FROM pg_tables WHERE schemaname = current_schema() "
    " AND tablename = 'tasks'), "
    "pg_has_role(current_user, (SELECT tableowner FROM pg_tables "
    " WHERE schemaname = current_schema() AND tablename = 'tasks'), 'USAGE')")


# --- the dashboard's reads ----------------------------------------------------------------
DASHBOARD_ANNOTATIONS = Prepared(
    "SELECT a.id, a.item_id, a.author, a.source, a.task_id, CAST(a.regions AS TEXT), "
    "CAST(a.submitted_at AS TEXT), a.duration_s, a.corrects "
    "FROM annotations a WHERE a.project_id = :pid")
# the stage of an annotation's task, for the few tasks that are not "annotate" tasks
# (review, adjudicate, retrain): cheaper than joining every annotation to its task
DASHBOARD_TASK_STAGES = Prepared(
    "SELECT id, stage FROM tasks WHERE project_id = :pid AND stage <> 'annotate'")


# SQLite: the same columns, aggregated into one row. The driver gives the interpreter
# lock up around every step of a statement, so a row-by-row read of 100k annotations
# hands it over 100k times, and with another thread busy (the dashboard server's event
# loop serving the page) each step waits for it: the read took twice as long while a
# page loaded, and 200x with a thread that never sleeps. One step does not wait.
# Regions texts are joined with newlines (JSON text has none outside strings, and
# labelnb writes none); a text with a raw newline makes the caller re-read them as
# a JSON array of strings.
DASHBOARD_ANNOTATION_ARRAYS = Prepared(
    "SELECT count(*), json_group_array(a.id), json_group_array(a.item_id), "
    "json_group_array(a.author), json_group_array(a.source), json_group_array(a.task_id), "
    "group_concat(CAST(a.regions AS TEXT), char(10)), "
    "json_group_array(CAST(a.submitted_at AS TEXT)), json_group_array(a.duration_s), "
    "json_group_array(a.corrects) FROM annotations a WHERE a.project_id = :pid")
DASHBOARD_REGIONS_ARRAY = Prepared(
    "SELECT json_group_array(CAST(a.regions AS TEXT)) FROM annotations a "
    "WHERE a.project_id = :pid")


def dashboard_annotation_columns(conn: Connection, project_id: int) -> list[Sequence[Any]]:
    """The columns of :data:`DASHBOARD_ANNOTATIONS` (id, item id, author, source, task
    id, regions text, submit time text, duration, corrects), each a sequence in the
    same row order. SQLite reads them in one step (:data:`DASHBOARD_ANNOTATION_ARRAYS`;
    the durations come as its JSON numbers, 15 significant digits); PostgreSQL row by
    row (psycopg converts a fetched result without giving up the
    interpreter lock per row)."""
    import orjson

    if conn.dialect.name != "sqlite":
        return _annotation_columns_by_row(conn, project_id)
    try:
        row = DASHBOARD_ANNOTATION_ARRAYS.run(conn, {"pid": project_id}).fetchone()
        n = int(row[0])
        cols: list[Sequence[Any]] = [orjson.loads(row[i]) for i in range(1, 10) if i != 6]
        texts: list[str] = row[6].split("\n") if n else []
        if len(texts) != n:  # a regions text with a raw newline in it
            texts = orjson.loads(DASHBOARD_REGIONS_ARRAY.run(conn, {"pid": project_id})
                                 .fetchone()[0])
    except (conn.dialect.dbapi.Error, ValueError):  # type: ignore[union-attr]
        # an aggregate over SQLite's value limit (1 GB of regions text, e.g. many masks),
        # SQLite without its JSON functions, or a value JSON cannot carry (an infinite
        # duration written by another tool): read row by row
        return _annotation_columns_by_row(conn, project_id)
    cols.insert(5, texts)
    if any(len(c) != n for c in cols):
        raise RuntimeError(f"project {project_id}: the dashboard's read gave columns of "
                           f"unequal length {[len(c) for c in cols]} for {n} annotations")
    return cols


def _annotation_columns_by_row(conn: Connection, project_id: int) -> list[Sequence[Any]]:
    """:func:`dashboard_annotation_columns` from :func:`dashboard_annotation_rows`."""
    rows = dashboard_annotation_rows(conn, project_id)
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(9)]


def dashboard_annotation_rows(conn: Connection, project_id: int) -> list[Any]:
    """The annotations' columns the dashboard needs, regions and times as text (decoded
    in bulk by the caller), on the driver's cursor. The fifth column is the task id;
    :func:`dashboard_task_stages` gives the stages of the tasks that are not
    ``annotate`` tasks."""
    return list(DASHBOARD_ANNOTATIONS.run(conn, {"pid": project_id}).fetchall())


def newest_task_id(conn: Connection) -> int:
    """The largest task id in the database (0 without tasks); ids only grow."""
    return int(conn.execute(select(func.max(tasks.c.id))).scalar() or 0)


def dashboard_task_stages(conn: Connection, project_id: int) -> dict[int, str]:
    """``{task id: stage}`` of the project's tasks whose stage is not ``annotate``."""
    rows = DASHBOARD_TASK_STAGES.run(conn, {"pid": project_id}).fetchall()
    return {int(i): str(st) for i, st in rows}


def annotation_fingerprint(conn: Connection, project_id: int) -> tuple[int, str]:
    """(annotation count, newest submit time as the database's text): unchanged means
    nothing new to show. The time is the largest ``CAST(submitted_at AS TEXT)``, so
    the dashboard can make the same pair from the rows it read
    (:data:`DASHBOARD_ANNOTATIONS`)."""
    as_text: ColumnElement[str] = cast(annotations_t.c.submitted_at, Text)
    if conn.dialect.name == "postgresql":  # ordered by code point, as Python orders it
        as_text = as_text.collate("C")
    n, last = conn.execute(select(func.count(), func.max(as_text))
                           .where(annotations_t.c.project_id == project_id)).one()
    return int(n), str(last)
