"""Opening the database: URLs, SQLite pragmas, transactions and migrations.

A plain path (``"labels.db"``) or ``sqlite:///...`` URL opens a SQLite file in WAL
mode with a busy timeout and foreign keys on. A ``postgresql://`` URL opens
PostgreSQL through psycopg 3 (``pip install 'labelnb[postgres]'``); leave the password
out of it and libpq finds it in ``PG*`` variables, ``~/.pgpass`` or ``pg_service.conf``.

A password given in a URL stays inside the engine: ``store.url``, ``repr(store)`` and
every error message show the URL without it. A new SQLite file is created with mode
0600 (its owner only); SQLite gives its ``-wal`` and ``-shm`` files the same mode.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DBAPIError,
    IntegrityError,
    OperationalError,
)
from sqlalchemy.pool import NullPool

from labelnb.errors import (
    CorruptDatabase,
    DatabaseTooNew,
    DatabaseUnreachable,
    LabelnbError,
    MissingExtra,
    PermissionDenied,
    ProjectNotFound,
    StoreError,
)
from labelnb.queue.queries import Raw

log = logging.getLogger("labelnb.store")

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: page size of new SQLite files. A claim+submit writes about twelve B-tree pages (task
#: row and its indexes, the annotation with its indexes, their splits), and every
#: dirty page is copied and checksummed into the WAL at each commit: 1 KiB pages
#: instead of SQLite's 4 KiB cut a claim+submit's time by about a tenth
#: (``benchmarks/queue_throughput.py --breakdown``), with no measurable cost to the
#: dashboard's full read of 100k annotations. Existing files keep their page size.
SQLITE_PAGE_SIZE = 1024
#: WAL pages after which a commit copies the WAL back into the database file (SQLite's
#: default is 1,000). The checkpoint is the costly part of a commit: it syncs the WAL and
#: the file, and a claim+submit adds about ten pages, so the default checkpointed every
#: hundred or so tasks. 10,000 pages (about 10 MiB of WAL with 1 KiB pages) cut the
#: commits' time by about a quarter on one worker and a third with eight
#: (``benchmarks/queue_throughput.py``). A process that dies loses nothing (the WAL is
#: replayed); a power cut can lose the commits the OS had not yet written out, as with
#: ``synchronous=NORMAL`` at any interval (Linux writes dirty pages within about 30 s).
SQLITE_WAL_AUTOCHECKPOINT = 10_000
_MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url_or_path: str | os.PathLike[str]) -> str:
    """Turn a path or URL into a SQLAlchemy URL with the driver labelnb uses."""
    s = os.fspath(url_or_path)
    if s == ":memory:":  # SQLite's own name for an in-memory database, not a file name
        return "sqlite://"
    if "://" not in s:
        # built, not concatenated: a '?', '#' or '%' in a file name is part of the name,
        # not URL syntax ('q?x.db' is that file, not 'q' with a query)
        return URL.create("sqlite", database=str(Path(s).expanduser().resolve())
                          ).render_as_string(hide_password=False)
    if s.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + s.split("://", 1)[1]
    if s.startswith("sqlite://") and s != "sqlite://" and not s.startswith("sqlite:///"):
        rest = s[len("sqlite://"):]
        raise StoreError(f"database URL {s!r}: a SQLite URL has three slashes before a "
                         f"relative path ('sqlite:///{rest}') and four before an absolute "
                         f"one; or give the path itself ({rest!r})")
    return s


def sqlite_file(url_or_path: str | os.PathLike[str]) -> str | None:
    """The file of a SQLite database given as a path or a ``sqlite:///`` URL (None for an
    in-memory database, another kind of URL or one that does not parse)."""
    s = os.fspath(url_or_path)
    if s == ":memory:":
        return None
    if "://" not in s:
        return str(Path(s).expanduser().resolve())
    if not s.startswith("sqlite:"):
        return None
    try:
        database = make_url(normalize_url(s)).database
    except (ArgumentError, ValueError, StoreError):
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


#: a run of 20 digits: maybe an integer beyond 64 bits, which orjson reads as a float
_LONG_DIGITS = re.compile(r"\d{20}")


def _json_loads(text: str) -> Any:
    """SQLite's JSON columns as Python values: orjson (several times faster than the
    standard library, which reads of whole projects spent half their time in), and the
    standard library for what orjson would read differently or refuses but
    ``json.dumps`` writes: integers beyond 64 bits (orjson makes them floats), NaN and
    Infinity."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _safe(url: str) -> str:
    """The URL as it may be shown: never with its password (see labelnb.team.credentials)."""
    from labelnb.team.credentials import safe_url

    return safe_url(url)


class Store:
    """An engine plus the transaction helpers the queries use."""

    def __init__(self, url_or_path: str | os.PathLike[str], *, migrate: bool = True,
                 pool: bool = True, create: bool = True) -> None:
        """``migrate``: bring labelnb's tables to this version (creating them in a new
        database). ``create=False``: a database without labelnb's tables (another
        application's, or a new PostgreSQL schema) is refused with
        :class:`~labelnb.errors.ProjectNotFound` instead of getting them: what opening
        a project, as opposed to creating one, does."""
        self.url = normalize_url(url_or_path)
        try:
            parsed = make_url(self.url)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise StoreError(
                f"database URL {_safe(os.fspath(url_or_path))!r} is not a valid URL; give a "
                "file path or 'postgresql://host/dbname'"
            ) from None
        self.dialect = parsed.get_backend_name()
        #: the SQLite file (None for PostgreSQL and an in-memory database)
        self.path: str | None = None
        self._hot_local = threading.local()
        self._hot_fairies: list[Any] = []
        self._hot_guard = threading.Lock()
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                self.path = database
            self.engine = self._sqlite_engine(parsed, pool, create=create)
        elif self.dialect == "postgresql":
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise MissingExtra("psycopg", "postgres", "a postgresql:// database") from None
            kw: dict[str, Any] = {"poolclass": NullPool} if not pool else {
                "pool_size": 5, "max_overflow": 10}
            self.engine = create_engine(self.url, **kw)
        else:
            raise StoreError(
                f"database {_safe(self.url)}: labelnb supports SQLite files and PostgreSQL; "
                "give a path or a postgresql:// URL"
            )
        _STORES.add(self)  # a forked child gets connections of its own (_after_fork)
        # the password (if the URL had one) stays inside the engine; what labelnb keeps
        # and shows is the URL without it
        self.url = _safe(self.url)
        self._check_reachable()
        if not create and not self.has_labelnb_tables():
            others = self.table_names()
            self.dispose()
            raise ProjectNotFound(
                f"database {self.where} holds no labelnb project"
                + (f" (its tables are another application's: {others[:8]})" if others else
                   " (it has no tables)")
                + "; check the path or URL, or create a project there with "
                "labelnb.Project.create(url, name, schema) (or `labelnb init`)")
        if (migrate and create) or self.has_labelnb_tables():
            # labelnb's own database (or one it is about to create): WAL and, in a new
            # file, the page size. Never another application's file that was only read
            self.prepare_sqlite()
        if migrate:
            from labelnb.queue.migrate import ensure_current

            try:
                with self._refusals(privileges=False):  # a damaged file: CorruptDatabase
                    ensure_current(self)
            except (DBAPIError, PermissionDenied) as e:
                orig = e if isinstance(e, DBAPIError) else e.__cause__
                if not isinstance(orig, DBAPIError) or getattr(
                        orig.orig, "sqlstate", None) != "42501":
                    raise
                msg = str(orig.orig).strip().splitlines()[0]
                raise PermissionDenied(
                    f"database {self.where}: the database user may not read or migrate "
                    f"the labelnb tables ({msg}). Fix: a team member is added by a lead "
                    "(labelnb team add NAME); after a labelnb upgrade the owner of the tables "
                    "runs 'labelnb migrate', then 'labelnb team init' again"
                ) from None

    @property
    def where(self) -> str:
        """The database as messages show it: a SQLite file's path (quoted), else the URL
        without its password."""
        return repr(self.path) if self.path is not None else self.url

    def has_labelnb_tables(self) -> bool:
        """Whether the database (the schema on PostgreSQL's search path) holds labelnb's
        tables (its migration record, or at least its projects table)."""
        names = set(self.table_names())
        return "alembic_version" in names or "projects" in names

    def prepare_sqlite(self) -> None:
        """Put a SQLite file labelnb owns in WAL mode, and give a new (empty) one
        :data:`SQLITE_PAGE_SIZE`. Both are stored in the file, so this runs once per
        open, not per connection, and only for labelnb's databases: reading another
        application's file (``labelnb status``, :func:`labelnb.projects`) must not
        switch its journal mode or write a header into an empty file."""
        if self.dialect != "sqlite" or self.path is None:
            return
        with self._refusals():
            fairy = self.engine.raw_connection()
            try:
                cur = fairy.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    # a new file only (ignored once the database has pages)
                    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
                    cur.execute("PRAGMA journal_mode=WAL")
                finally:
                    cur.close()
            except self._dbapi_error as e:
                if "readonly" not in str(e):
                    raise
                # a read-only file stays as it is and can still be read; a write is
                # refused with what to do (see _problem)
                log.debug("labelnb: %r is read-only; its journal mode stays", self)
            finally:
                fairy.close()

    # --- engines -------------------------------------------------------------------
    def _sqlite_engine(self, url: URL, pool: bool, *, create: bool) -> Engine:
        path = self.path
        if path is not None:
            p = Path(path)
            if p.is_dir():
                raise StoreError(f"database path {path!r} is a directory; give a file path")
            if not p.parent.exists():
                raise StoreError(
                    f"database path {path!r}: folder {str(p.parent)!r} does not exist; "
                    "create it first"
                )
            if p.exists() and p.stat().st_size > 0:
                with p.open("rb") as f:
                    head = f.read(16)
                if head != b"SQLite format 3\x00":
                    raise CorruptDatabase(
                        f"database file {path!r} is not a SQLite database (its header is "
                        f"{head[:16]!r}); point labelnb at a new path or restore the file "
                        "from a backup"
                    )
            if not create and not p.exists():
                # opening reads: a path with no file is a typo, not a database to make
                raise ProjectNotFound(
                    f"there is no database at {path!r}; check the path, or create a project "
                    "with labelnb.Project.create(path, name, schema) (or `labelnb init`)")
        if path is not None and not Path(path).exists():
            # a single-user file: readable and writable by its owner only (0600); SQLite
            # gives its -wal and -shm files the same mode
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass  # another process created it first
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            poolclass=None if pool else NullPool,
            json_deserializer=_json_loads,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            # let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred)
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            # per connection, none of them writes to the file; page size and WAL are the
            # file's own (see prepare_sqlite)
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA mmap_size=268435456")  # reads from the page cache, no copy
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine

    def _check_reachable(self) -> None:
        try:
            with self.engine.connect() as c:
                if self.dialect == "sqlite":
                    c.exec_driver_sql("PRAGMA schema_version").scalar()
                elif c.exec_driver_sql("SELECT current_schema()").scalar() is None:
                    user = c.exec_driver_sql("SELECT session_user").scalar()
                    raise PermissionDenied(
                        f"database {self.where}: no schema on the search_path exists or "
                        f"may be used by database user {user!r}. Fix: check the schema name "
                        "(options=-csearch_path=...); a team member is added by a lead "
                        f"(labelnb team add {user})"
                    )
        except OperationalError as e:
            msg = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
            if self.dialect == "sqlite":
                raise CorruptDatabase(
                    f"database {self.where} cannot be opened: {msg}; check the file, its "
                    "folder and their permissions (SQLite writes -wal and -shm files beside "
                    "it), or point labelnb at a new path"
                ) from None
            raise DatabaseUnreachable(
                f"database {self.where} is unreachable: {msg}. Fix: start the server or "
                "correct host, port, user and database name in the URL"
            ) from None
        except DatabaseError as e:
            raise CorruptDatabase(
                f"database {self.where} is corrupt or not a database: {e.orig}; restore "
                "it from a backup or point labelnb at a new path"
            ) from None

    # --- transactions --------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` on SQLite (the writer lock is taken
        up front, so two writers never deadlock on a lock upgrade)."""
        with self._refusals(), self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _refusals(self, *, privileges: bool = True) -> Iterator[None]:
        """What the database refuses, as a labelnb error that names the database and the
        fix, not a raw driver error: a SQLite file that may not be written (read-only
        file or folder) or is damaged; with ``privileges``, a statement PostgreSQL refuses
        for lack of privilege (under team security: an annotator reading the events,
        configuring the project ...) as :class:`PermissionDenied`."""
        try:
            yield
        except Exception as e:
            if isinstance(e, DBAPIError):
                orig: BaseException | None = e.orig
            elif isinstance(e, self._dbapi_error):  # the driver's own (the hot path)
                orig = e
            else:
                raise
            err = self._problem(orig, privileges=privileges)
            if err is None:
                raise
            raise err from e

    def _problem(self, orig: BaseException | None, *, privileges: bool) -> LabelnbError | None:
        """The labelnb error for a driver error this module knows, else None."""
        text = str(orig).strip()
        msg = text.splitlines()[0] if text else type(orig).__name__
        if self.dialect == "sqlite":
            low = msg.lower()
            beside = ("" if self.path is None else
                      f" (SQLite also writes {Path(self.path).name}-wal and -shm beside it)")
            if "readonly database" in low or "read-only database" in low:
                return StoreError(
                    f"database {self.where} may not be written ({msg}). Fix: check the "
                    f"permissions of the file and of its folder{beside}, or copy the file "
                    "somewhere writable and open the copy")
            if "unable to open database file" in low:
                return StoreError(
                    f"database {self.where} cannot be opened for writing ({msg}). Fix: check "
                    f"that the file and its folder exist and are writable{beside}, or copy "
                    "the file somewhere writable and open the copy")
            if "database is locked" in low or "database table is locked" in low:
                # another connection held the write lock for the whole busy timeout
                return StoreError(
                    f"database {self.where} is locked: another process (or another "
                    "connection of this one) holds its write lock and did not release it "
                    f"within the busy timeout of {SQLITE_BUSY_TIMEOUT_MS / 1000:g} s "
                    f"({msg}). Fix: wait for that writer to finish (a long import, a "
                    "notebook kernel or `sqlite3` shell with a transaction left open) or "
                    "stop it, then try again; many annotators writing at once belong on "
                    "PostgreSQL (a postgresql:// URL)")
            if "malformed" in low or "not a database" in low:
                recover = ("" if self.path is None else
                           f", or save what is readable: sqlite3 {shlex.quote(self.path)} "
                           ".recover | sqlite3 recovered.db")
                return CorruptDatabase(
                    f"database {self.where} is damaged ({msg}). Fix: restore it from a "
                    f"backup{recover}")
            return None
        if (not privileges or getattr(orig, "sqlstate", None) != "42501"
                or msg.startswith("permission denied for function labelnb_")):
            return None  # team security's own functions: labelnb.team says what to do
        return PermissionDenied(
            f"database {self.where}: the database refused: {msg}. Under team "
            "security this is for another role: a lead (or the tables' owner) does it")

    def hot(self) -> _Hot:
        """The claim/submit fast path: a driver connection kept per thread (up to four
        threads; others check one out of the pool per call), used without SQLAlchemy's
        transaction machinery.

        SQLite: ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error). PostgreSQL:
        autocommit, so each statement is its own transaction; the hot-path statements
        are single statements built for that (see ``queries.claim_statements``). A
        driver error comes out as the labelnb error that names the fix, where there is
        one (see :meth:`_problem`)."""
        return _Hot(self)

    def _hot_connection(self) -> tuple[Any, Any]:
        """(driver connection, the pool checkout to close after use or None if kept)."""
        local = self._hot_local
        raw_kept = getattr(local, "raw", None)
        if raw_kept is not None and local.forks == _forks[0]:
            return raw_kept, None  # (not os.getpid(): a system call on every claim)
        with self._refusals(privileges=False):  # PostgreSQL's: labelnb.team.roles.refusals
            fairy = self.engine.raw_connection()
        raw: Any = fairy.driver_connection
        if self.dialect == "postgresql":
            raw.autocommit = True
        with self._hot_guard:
            keep = len(self._hot_fairies) < 4
            if keep:
                self._hot_fairies.append(fairy)
        if not keep:
            return raw, fairy
        if self.dialect == "sqlite":
            # a kept connection serves claims and submits only: without the memory map
            # (which the other connections keep for their reads) a claim+submit runs
            # about 4% faster (interleaved runs of one process, 20,000 tasks)
            try:
                raw.execute("PRAGMA mmap_size=0")
            except BaseException:
                with self._hot_guard:
                    self._hot_fairies.remove(fairy)  # (its place is free again)
                fairy.invalidate()
                raise
        local.fairy, local.raw, local.forks = fairy, raw, _forks[0]
        return raw, None

    def _drop_hot(self) -> None:
        fairy = getattr(self._hot_local, "fairy", None)
        self._hot_local.fairy = self._hot_local.raw = None
        if fairy is not None:
            if fairy in self._hot_fairies:
                self._hot_fairies.remove(fairy)
            fairy.invalidate()

    @property
    def _dbapi_operational(self) -> type[BaseException]:
        dbapi = self.engine.dialect.dbapi
        return dbapi.OperationalError if dbapi is not None else OperationalError

    @property
    def _dbapi_error(self) -> type[BaseException]:
        dbapi = self.engine.dialect.dbapi
        return dbapi.DatabaseError if dbapi is not None else DatabaseError

    @property
    def integrity_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's IntegrityError (raised on the hot path) and SQLAlchemy's."""
        dbapi = self.engine.dialect.dbapi
        return (IntegrityError, dbapi.IntegrityError) if dbapi is not None else (IntegrityError,)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._refusals(), self.engine.connect() as conn, conn.begin():
            yield conn

    def table_names(self) -> list[str]:
        with self._refusals():
            return sorted(inspect(self.engine).get_table_names())

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: each connection sees its own, so work that
        needs the same data cannot move to a second connection."""
        return self.dialect == "sqlite" and self.engine.url.database in (None, "", ":memory:")

    def _after_fork(self) -> None:
        """In a forked child: leave every connection the parent opened to the parent.

        A child that used them would talk to the server (or the SQLite file) on the
        parent's sockets and file handles, mixing the two processes' statements. The
        pool is replaced without closing anything (``dispose(close=False)``), and the
        parent's kept hot connections are put aside, never closed or reset here:
        releasing one would send its reset on the parent's connection."""
        _FORKED_AWAY.extend(self._hot_fairies)
        self._hot_fairies = []
        self._hot_local = threading.local()
        self._hot_guard = threading.Lock()  # (another thread of the parent may hold it)
        self.engine.dispose(close=False)

    def dispose(self) -> None:
        for fairy in self._hot_fairies:
            if self.dialect == "postgresql" and fairy.driver_connection is not None:
                fairy.driver_connection.autocommit = False
            fairy.close()
        self._hot_fairies.clear()
        self._hot_local = threading.local()
        self.engine.dispose()

    def __repr__(self) -> str:
        # a SQLite file by its path, as it was given (not a percent-encoded URL)
        return f"Store({self.path if self.path is not None else self.url!r})"


__all__ = ["DatabaseTooNew", "Store", "normalize_url"]


#: how many forks this process is from the one that imported labelnb: a kept hot
#: connection belongs to the process that opened it (a forked child opens its own)
_forks = [0]
#: every open store of this process, so that a forked child can give each its own
#: connections (Store._after_fork)
_STORES: weakref.WeakSet[Store] = weakref.WeakSet()
#: (in a forked child) the parent's kept connections: referenced for good, so that no
#: garbage collection ever resets one on the parent's socket
_FORKED_AWAY: list[Any] = []


def _count_fork() -> None:
    _forks[0] += 1
    for store in list(_STORES):
        store._after_fork()


os.register_at_fork(after_in_child=_count_fork)


class _Hot:
    """``Store.hot()``'s context manager: a plain class, not a generator (claim and
    submit enter two of them each, thousands of times a second)."""

    __slots__ = ("raw", "store", "transient")

    def __init__(self, store: Store) -> None:
        self.store = store
        self.raw: Any = None
        self.transient: Any = None

    def __enter__(self) -> Raw:
        store = self.store
        self.raw, self.transient = raw, _ = store._hot_connection()
        if store.dialect != "sqlite":
            return Raw(raw, store.dialect)
        try:
            raw.execute("BEGIN IMMEDIATE")
        except BaseException as e:
            try:
                self._translate(e)  # (before _close: it tells a kept connection by it)
            finally:
                self._close()
            raise
        return Raw(raw, "sqlite")

    def __exit__(self, etype: Any, exc: BaseException | None, tb: Any) -> None:
        raw = self.raw
        try:
            if self.store.dialect == "sqlite":
                if exc is None:
                    try:
                        raw.execute("COMMIT")
                    except BaseException as e:
                        self._translate(e)
                        raise
                    return
                try:
                    raw.execute("ROLLBACK")
                except BaseException as e:
                    self._translate(e)
                    raise
            if exc is not None:
                self._translate(exc)  # (the with-statement re-raises exc itself otherwise)
        finally:
            self._close()

    def _translate(self, e: BaseException) -> None:
        """Raise the labelnb error for a driver error ``e``, if there is one; a broken
        kept connection is dropped (the next call opens a new one)."""
        store = self.store
        if isinstance(e, store._dbapi_operational):
            if self.transient is None:
                store._drop_hot()
        elif not isinstance(e, store._dbapi_error):
            return
        err = store._problem(e, privileges=False)
        if err is not None:
            raise err from e

    def _close(self) -> None:
        transient = self.transient
        if transient is not None:
            self.transient = None
            if self.store.dialect == "postgresql":
                self.raw.autocommit = False
            transient.close()
