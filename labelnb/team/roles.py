"""Team roles on PostgreSQL: install team security, add members, change roles.

Three group roles (``NOLOGIN``) per team, named from a prefix (default ``labelnb``):

============================  ==================================================
``labelnb_admin``             leads: in the projects they lead, read everything
                              (gold answers and the audit log too), add items,
                              members, gold questions; no UPDATE or DELETE of
                              annotations or events
``labelnb_reviewer``          reviewers: what annotators may, plus reviewing
``labelnb_annotator``         annotators: read their projects through row-level
                              security, write only through the queue's
                              ``SECURITY DEFINER`` functions
============================  ==================================================

Each person gets a login role in one of them (:func:`add_member`, ``labelnb team add
NAME --role annotator``) whose name is their annotator name: the database knows who
is connected (``session_user``), so nobody can claim, submit or review as someone
else. :func:`install` (``labelnb team init``) runs the SQL of
:mod:`labelnb.team.sql` as the owner of the labelnb tables.

When a project is opened by a member, :attr:`labelnb.Project.security` says so and
the queue calls the definer functions instead of writing tables (see
:class:`labelnb.queue.Queue`); the owner keeps the direct fast path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.exc import DBAPIError

from labelnb.errors import (
    LabelnbError,
    NotFoundError,
    PermissionDenied,
    StoreError,
    TaskNotFound,
    ValidationError,
)
from labelnb.queue import queries as q
from labelnb.team import sql as team_sql
from labelnb.team.credentials import generate_password

if TYPE_CHECKING:
    from labelnb.project import Project
    from labelnb.queue.store import Store

log = logging.getLogger("labelnb.team")
TeamRole = Literal["owner", "admin", "reviewer", "annotator"]
MemberRole = Literal["annotator", "reviewer", "lead"]
MEMBER_ROLES = ("annotator", "reviewer", "lead")
DEFAULT_PREFIX = "labelnb"


@dataclass(frozen=True, slots=True)
class TeamSecurity:
    """Team security as the connected database user sees it.

    ``role`` is ``"owner"`` (owner of the tables or superuser: direct access),
    ``"admin"``, ``"reviewer"``, ``"annotator"``, or None for a user outside the team.
    """

    version: int
    prefix: str
    user: str
    role: TeamRole | None

    @property
    def definer(self) -> bool:
        """True when the queue must go through the database's definer functions."""
        return self.role in ("admin", "reviewer", "annotator")

    @property
    def groups(self) -> dict[str, str]:
        return team_sql.group_names(self.prefix)


@dataclass(frozen=True, slots=True)
class Member:
    """What :func:`add_member` did. ``password`` is set only when a login role was
    created, and is never shown by ``repr``."""

    name: str
    role: str
    created: bool
    url: str  # how they connect (no password in it)
    password: str | None = field(default=None, repr=False)


# --- errors ---------------------------------------------------------------------------
def _sqlstate(e: BaseException) -> tuple[str | None, str, str | None]:
    orig = e.orig if isinstance(e, DBAPIError) else e
    diag = getattr(orig, "diag", None)
    state = getattr(orig, "sqlstate", None)
    primary = getattr(diag, "message_primary", None) or str(orig).strip().splitlines()[0]
    hint = getattr(diag, "message_hint", None)
    return state, primary, hint


def translate(e: BaseException) -> LabelnbError | None:
    """The labelnb error for a refusal of the database (None for other errors)."""
    state, primary, hint = _sqlstate(e)
    if hint is None and primary.startswith("permission denied for function labelnb_"):
        fn = primary.rsplit(" ", 1)[1]
        hint = ("reviewing needs the reviewer or lead role (labelnb team role NAME reviewer)"
                if fn == "labelnb_review" else
                "only leads (the team's admin group) may do this" if fn.startswith(
                    ("labelnb_team_", "labelnb_maintenance_")) else None)
    msg = f"the database refused: {primary}" + (f". Fix: {hint}" if hint else "")
    if state == "42501":
        return PermissionDenied(msg)
    if state == "P0002":
        return TaskNotFound(msg) if "task" in primary else NotFoundError(msg)
    if state in ("22023", "23503", "0A000"):
        return ValidationError(msg)
    return None


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the database's refusals (permission denied, no such task, invalid value)
    into labelnb errors; the database's own error stays attached as ``__cause__``."""
    try:
        yield
    except Exception as e:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - PostgreSQL needs it
            raise
        if not isinstance(e, psycopg.Error | DBAPIError):
            raise
        err = translate(e)
        if err is None:
            raise
        raise err from e


# --- reading the state ------------------------------------------------------------------
_UNSET = object()


def security_of(store: Store, *, refresh: bool = False) -> TeamSecurity | None:
    """Team security of the store's schema as its user sees it (None on SQLite or when
    not installed). Cached on the store."""
    cached = getattr(store, "_team_security", _UNSET)
    if cached is not _UNSET and not refresh:
        return cached  # type: ignore[return-value]
    sec: TeamSecurity | None = None
    if store.dialect == "postgresql":
        with refusals(), store.read() as conn:
            info = q.team_info(conn)
        if info is not None:
            sec = TeamSecurity(version=int(info["version"]), prefix=str(info["prefix"]),
                               user=str(info["user"]), role=info.get("role"))
    store._team_security = sec  # type: ignore[attr-defined]
    return sec


def _raw(store: Store) -> Any:
    return store.engine.raw_connection()


# --- install ----------------------------------------------------------------------------
#: the advisory lock (in labelnb's key space; projects lock (7243, their id)) that
#: serialises team installs of one database
INSTALL_LOCK = (7243, -1)


def install(store: Store, *, prefix: str = DEFAULT_PREFIX) -> TeamSecurity:
    """Create the group roles and install grants, row-level security, the definer
    functions and the append-only triggers in the store's schema (``labelnb team
    init``). Run it as the owner of the labelnb tables, with the right to create roles;
    running it again is safe and re-applies everything (do that after ``labelnb
    migrate``).

    It revokes CREATE on the schema from PUBLIC and the groups, and refuses
    (:class:`PermissionDenied`, nothing installed) a schema in which some other role
    than the owner of the tables or a superuser may still create objects: an operator
    or function planted there would run with the owner's rights inside the definer
    functions."""
    if store.dialect != "postgresql":
        raise StoreError(
            f"team security needs PostgreSQL; database {store.where} is a SQLite file "
            "(one user, no roles: see docs/security.md). Fix: use a postgresql:// database"
        )
    if not team_sql.PREFIX_RE.match(prefix):
        raise ValidationError(f"team init: field 'prefix' {prefix!r} must be 1-40 lowercase "
                              "letters, digits or _, starting with a letter")
    with store.read() as conn:
        schema, user, can_roles, superuser, owner, owns = conn.execute(q.INSTALLER).one()
    if owner is None:
        raise StoreError(f"database {store.where} has no labelnb tables in schema "
                         f"{schema!r}; create a project first (labelnb init)")
    if not (superuser or owns):
        raise PermissionDenied(
            f"team init: database user {user!r} does not own the labelnb tables of schema "
            f"{schema!r} (their owner is {owner!r}). Fix: run it as {owner!r} (migrations and "
            "team init run as the owner)")
    if not can_roles:
        raise PermissionDenied(
            f"team init: database user {user!r} may not create roles. Fix: run it as a "
            "superuser, or ALTER ROLE ... CREATEROLE for the owner of the tables")
    statements = team_sql.install_block(schema, prefix)
    fairy = _raw(store)
    try:
        raw = fairy.driver_connection
        raw.autocommit = False
        with refusals():
            try:
                with raw.cursor() as cur:
                    # one install at a time in a database: each grants CONNECT on it, and
                    # PostgreSQL refuses the second of two concurrent updates of the
                    # database's catalog row ("tuple concurrently updated")
                    cur.execute(team_sql.INSTALL_LOCK_SQL, INSTALL_LOCK)
                    for stmt in statements:
                        cur.execute(stmt)
                    _refuse_schema_creators(cur, schema)
                    cur.execute(team_sql.TEAM_INIT_EVENT, (_jsonb(
                        {"version": team_sql.TEAM_SQL_VERSION, "prefix": prefix}),))
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
    finally:
        fairy.close()
    log.info("labelnb: team security v%d installed in schema %r (groups %s_*)",
             team_sql.TEAM_SQL_VERSION, schema, prefix)
    sec = security_of(store, refresh=True)
    assert sec is not None
    return sec


def _refuse_schema_creators(cur: Any, schema: str) -> None:
    """Raise (rolling the install back) when a role other than the owner of the tables
    (or a superuser) may still create objects in ``schema`` after the block revoked
    CREATE from PUBLIC and the groups: an operator or function such a role put there
    would run as the owner inside the definer functions."""
    cur.execute(team_sql.SCHEMA_CREATORS, {"schema": schema})
    names = [str(r[0]) for r in cur.fetchall()]
    if not names:
        return
    from psycopg import sql

    shown = ", ".join(repr(n) for n in names)
    grantees = sql.SQL(", ").join(sql.SQL("PUBLIC") if n == "PUBLIC" else sql.Identifier(n)
                                  for n in names).as_string(cur.connection)
    target = sql.Identifier(schema).as_string(cur.connection)
    raise PermissionDenied(
        f"team init: in schema {schema!r}, database role(s) {shown} may create objects "
        "(the schema's owner or a grantee of CREATE); an operator or function they put "
        "there would run with the owner's rights inside the team functions, so team "
        f"security is not installed. Fix: REVOKE CREATE ON SCHEMA {target} FROM {grantees} "
        f"(for the schema's owner: ALTER SCHEMA {target} OWNER TO the owner of the tables), "
        "then run labelnb team init again")


def _jsonb(v: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(v)


def _require(project: Project) -> TeamSecurity:
    sec = project.security
    if sec is None:
        raise StoreError(
            f"project {project.name!r}: team security is not installed in "
            f"{project.store!r}. Fix: labelnb team init --db URL --project "
            f"{project.name!r} (as the owner of the tables)")
    return sec


# --- members ----------------------------------------------------------------------------
def _connect_url(project: Project, name: str) -> tuple[str, str, str, str]:
    """(url without password, host, port, dbname) for ``name`` on this server."""
    fairy = _raw(project.store)
    try:
        info = fairy.driver_connection.info
        host = info.host or "localhost"
        port, dbname = str(info.port), info.dbname
    finally:
        fairy.close()
    from sqlalchemy.engine import make_url

    url = make_url(project.store.url).set(username=name, password=None)
    url = url.set(drivername="postgresql")
    return url.render_as_string(hide_password=True), host, port, dbname


def add_member(project: Project, name: str, role: MemberRole = "annotator", *,
               pgpass: str | None = None) -> Member:
    """Give ``name`` a login role in the team and make them a ``role`` member of the
    project (``labelnb team add``). Called by an admin or the owner.

    A new login role gets a generated password, sent to the server only as a
    SCRAM-SHA-256 verifier (so it is in no server log either). With ``pgpass`` (a
    path) it is written there (mode 0600) and not returned; otherwise it is in the
    returned :class:`Member`, once. A name that already is a login of the team is just
    added to the project (its password is unchanged)."""
    _require(project)
    if role not in MEMBER_ROLES:
        raise ValidationError(f"team add {name!r}: field 'role' is {role!r}; expected one of "
                              f"{list(MEMBER_ROLES)}")
    if not isinstance(name, str) or not name or "\x00" in name or len(name.encode()) > 63:
        raise ValidationError(f"team add: name {name!r} must be 1 to 63 bytes (a PostgreSQL "
                              "role name) without NUL characters")
    password = generate_password()
    fairy = _raw(project.store)
    try:
        verifier = fairy.driver_connection.pgconn.encrypt_password(
            password.encode(), name.encode(), b"scram-sha-256").decode()
    finally:
        fairy.close()
    with refusals(), project.store.write() as conn:
        state = q.team_add(conn, project_id=project.id, name=name, role=role,
                           verifier=verifier)
    url, host, port, dbname = _connect_url(project, name)
    created = state == "created"
    if created and pgpass is not None:
        from labelnb.team.credentials import write_pgpass

        write_pgpass(pgpass, host=host, port=port, dbname=dbname, user=name, password=password)
    log.info("labelnb: %s %s as %s of project %r", "created login" if created else "added",
             name, role, project.name)
    return Member(name=name, role=role, created=created, url=url,
                  password=password if created and pgpass is None else None)


def set_role(project: Project, name: str, role: MemberRole) -> None:
    """Change a member's role in the project (and their group), audited."""
    _require(project)
    if role not in MEMBER_ROLES:
        raise ValidationError(f"team role {name!r}: field 'role' is {role!r}; expected one "
                              f"of {list(MEMBER_ROLES)}")
    with refusals(), project.store.write() as conn:
        q.team_set_role(conn, project_id=project.id, name=name, role=role)


def remove_member(project: Project, name: str) -> None:
    """Deactivate a member in the project (their history stays), audited."""
    _require(project)
    with refusals(), project.store.write() as conn:
        q.team_remove(conn, project_id=project.id, name=name)


def members(project: Project) -> list[dict[str, Any]]:
    """The project's annotators with their team login and groups."""
    sec = _require(project)
    groups = sec.groups
    with refusals(), project.store.read() as conn:
        logins = q.team_logins(conn, list(groups.values()))
    table = project.annotators.table()
    out = []
    for r in table.to_dict("records"):
        out.append({"name": r["name"], "role": r["role"], "active": bool(r["active"]),
                    "login": r["name"] in logins, "groups": logins.get(r["name"], [])})
    return out


def delete_annotation(project: Project, annotation_id: str, *, reason: str) -> None:
    """The maintenance path: remove one annotation (admins only, with a reason; the
    event records who, what and why). Everything else is refused by the database."""
    _require(project)
    with refusals(), project.store.write() as conn:
        q.maintenance_delete_annotation(conn, annotation_id=annotation_id, reason=reason)


def drop_roles(store: Store, prefix: str) -> list[str]:
    """Drop the team's group roles and every login role in them (for tests and for
    taking a team down after its schemas are gone). Returns the dropped names."""
    groups = list(team_sql.group_names(prefix).values())
    with store.read() as conn:
        logins = q.team_logins(conn, groups)
    names = sorted(logins) + groups
    from psycopg import sql

    dropped = []
    fairy = _raw(store)
    raw = fairy.driver_connection
    raw.autocommit = True
    try:
        for n in names:
            exists = raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (n,)).fetchone()
            if exists is None:
                continue
            raw.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(n)))
            raw.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(n)))
            dropped.append(n)
    finally:
        raw.autocommit = False
        fairy.close()
    return dropped


__all__ = ["DEFAULT_PREFIX", "MEMBER_ROLES", "Member", "TeamSecurity", "add_member",
           "delete_annotation", "drop_roles", "install", "members", "refusals",
           "remove_member", "security_of", "set_role", "translate"]
