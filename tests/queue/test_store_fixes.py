"""Regression tests for the store: file names that look like URL syntax, reading another
application's file without changing it, read-only and damaged SQLite files, and two
creators of one project on PostgreSQL at once."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import labelnb
from labelnb import Schema
from labelnb.cli import main
from labelnb.errors import CorruptDatabase, ProjectNotFound, StoreError, ValidationError
from labelnb.queue import store as store_mod
from labelnb.queue.store import Store, normalize_url

SCHEMA = Schema("choice", ["a", "b"])


# --- 1. a path is a file name, not URL syntax --------------------------------------------
@pytest.mark.parametrize("name", ["q?x.db", "100%25.db", "q?mode=ro", "a#b.db", "sp ace.db"])
def test_a_path_with_url_characters_names_that_file(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    db = folder / name
    labelnb.Project.create(db, "p", SCHEMA).close()
    # the file made is the one named, and nothing else ('q' for 'q?x.db', '100%.db' ...)
    assert db.is_file()
    assert {f.name for f in folder.iterdir()} <= {name, name + "-wal", name + "-shm"}
    project = labelnb.open(db, name="p")
    try:
        assert project.store.path == str(db.resolve())
        assert store_mod.sqlite_file(project.store.url) == str(db.resolve())
        # messages show the file, not a percent-encoded URL
        assert repr(project.store) == f"Store({str(db.resolve())!r})"
    finally:
        project.close()
    assert labelnb.projects(db) == ["p"]
    assert store_mod.sqlite_file(normalize_url(str(db))) == str(db.resolve())


def test_a_sqlite_url_keeps_url_syntax(tmp_path: Path) -> None:
    db = tmp_path / "100%.db"
    labelnb.Project.create(f"sqlite:///{tmp_path}/100%25.db", "p", SCHEMA).close()
    assert db.is_file()
    assert store_mod.sqlite_file(f"sqlite:///{tmp_path}/100%25.db") == str(db)
    assert store_mod.sqlite_file("sqlite://") is None and store_mod.sqlite_file(":memory:") is None
    assert store_mod.sqlite_file("postgresql://host/db") is None


# --- 2. reading another application's file changes nothing -----------------------------
def test_reading_a_foreign_file_leaves_its_journal_mode(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE t (x)")
    before = foreign.read_bytes()
    assert labelnb.projects(foreign) == []
    with pytest.raises(ProjectNotFound, match="another application's"):
        labelnb.open(foreign)
    with pytest.raises(ProjectNotFound):
        Store(foreign, create=False)
    c = sqlite3.connect(foreign)
    try:
        assert c.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        c.close()
    assert foreign.read_bytes() == before  # no WAL switch, no new header

    empty = tmp_path / "empty.db"
    empty.touch()
    assert labelnb.projects(empty) == []
    with pytest.raises(ProjectNotFound):
        Store(empty, create=False)
    assert empty.stat().st_size == 0  # no header written into it

    missing = tmp_path / "missing.db"
    with pytest.raises(ProjectNotFound, match="no database at"):
        Store(missing, create=False)
    assert not missing.exists()


def test_a_labelnb_file_gets_wal_and_small_pages(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    labelnb.Project.create(db, "p", SCHEMA).close()
    c = sqlite3.connect(db)
    try:
        assert c.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert c.execute("PRAGMA page_size").fetchone() == (1024,)
        # a labelnb database switched back to a rollback journal gets WAL again on open
        c.execute("PRAGMA journal_mode=delete")
    finally:
        c.close()
    labelnb.open(db, name="p").close()
    c = sqlite3.connect(db)
    try:
        assert c.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        c.close()


# --- 3. a read-only file -------------------------------------------------------------------
@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` may not be written: mode 0444, or (as root, who ignores modes) the
    immutable attribute."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)],
                                        capture_output=True).returncode != 0:
        # not a skip: the read-only refusal is part of the bad-input contract
        pytest.fail("running as root, and chattr +i failed: this test cannot make a file "
                    "read-only here; run it as a normal user or on a file system with "
                    "the immutable attribute (ext4, xfs)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_read_only_file_reads_and_refuses_writes_clearly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ro.db"
    project = labelnb.Project.create(db, "p", SCHEMA)
    project.add_items(["one", "two"], media="text")
    project.annotators.add("ana")
    project.close()
    with read_only(db):
        project = labelnb.open(db, name="p")
        try:
            assert project.stats()["items"] == 2  # reading works
            writes: dict[str, Callable[[], object]] = {
                "add_items": lambda: project.add_items(["three"], media="text"),
                "annotators.add": lambda: project.annotators.add("ben"),
                "claim": lambda: project.queue("ana").claim(),  # the hot path
            }
            for what, write in writes.items():
                with pytest.raises(StoreError, match="may not be written") as e:
                    write()
                msg = str(e.value)
                assert repr(str(db.resolve())) in msg, what
                assert "permissions of the file and of its folder" in msg, what
        finally:
            project.close()
        # the command line: one line on stderr, exit status 2, no traceback
        for argv in (["add", str(db), "--text", "three"],
                     ["annotators", str(db), "add", "ben"],
                     ["init", str(db), "--name", "p", "--kind", "choice", "--labels", "a,b,c",
                      "--exist-ok"]):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert err.startswith("error: database ") and "may not be written" in err, argv
            assert len(err.strip().splitlines()) == 1, argv


def test_creating_in_a_read_only_file_refuses_clearly(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE t (x)")
    with read_only(foreign), pytest.raises(StoreError, match="may not be written"):
        # migrating (creating labelnb's tables) is the first write
        labelnb.Project.create(foreign, "p", SCHEMA)


# --- 4. damaged data pages -----------------------------------------------------------------
@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    db = tmp_path / "cp.db"
    project = labelnb.Project.create(db, "p", SCHEMA)
    project.add_items([f"text {i}" for i in range(3000)], media="text", progress=False)
    project.annotators.add("ana")
    project.close()
    c = sqlite3.connect(db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("PRAGMA journal_mode=delete")
    c.close()
    data = bytearray(db.read_bytes())
    n = len(data) // 3
    data[n:n + 20000] = b"Z" * 20000
    # and the last pages, where an insert lands (which pages a third of the way in hold
    # depends on the layout: the rows add_items touches must be among the damaged ones)
    data[-20000:] = b"Z" * 20000
    db.write_bytes(bytes(data))
    return db


def test_damaged_pages_give_corrupt_database(damaged: Path) -> None:
    project = labelnb.open(damaged, name="p")
    try:
        calls: dict[str, Callable[[], object]] = {
            "stats": lambda: project.stats(),
            "items": lambda: project.items(),
            "add_items": lambda: project.add_items(["new"], media="text"),
        }
        for what, call in calls.items():
            with pytest.raises(CorruptDatabase, match="is damaged") as e:
                call()
            msg = str(e.value)
            assert str(damaged.resolve()) in msg, what
            assert "restore it from a backup" in msg and ".recover" in msg, what
        # the hot path (driver errors, not SQLAlchemy's)
        with pytest.raises(CorruptDatabase, match="is damaged"), project.store.hot() as raw:
            raw.dbapi.execute("SELECT count(*), max(uri), max(meta) FROM items").fetchall()
    finally:
        project.close()


def test_damaged_pages_on_the_command_line(damaged: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["status", str(damaged)], ["add", str(damaged), "--text", "new"],
                 ["export", str(damaged), "--format", "hf", "--out", str(tmp_path / "out")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: database ") and "is damaged" in err, argv
        assert len(err.strip().splitlines()) == 1, argv
    assert not (tmp_path / "out").exists()



def test_damage_near_the_start_of_the_file(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Page 2 on (the header intact): opening reads the migration record first, and the
    error is the same CorruptDatabase, from open, create, projects() and the CLI."""
    db = tmp_path / "early.db"
    labelnb.Project.create(db, "p", SCHEMA).close()
    c = sqlite3.connect(db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("PRAGMA journal_mode=delete")
    c.close()
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:2 * page] = b"\xab" * page
    db.write_bytes(bytes(data))
    calls: dict[str, Callable[[], object]] = {
        "open": lambda: labelnb.open(db, name="p"),
        "create": lambda: labelnb.Project.create(db, "q", SCHEMA),
        "projects": lambda: labelnb.projects(db),
    }
    for what, call in calls.items():
        with pytest.raises(CorruptDatabase, match="is damaged") as e:
            call()
        assert ".recover" in str(e.value), what
    for argv in (["status", str(db)], ["migrate", str(db)],
                 ["annotators", str(db), "--name", "p", "list"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: database ") and "is damaged" in err, argv


# --- 6. two creators of one project on PostgreSQL ------------------------------------------
def _create(url: str, exist_ok: bool, barrier: object, out: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        labelnb.Project.create(url, "pets", SCHEMA, exist_ok=exist_ok).close()
        out.put("ok")  # type: ignore[attr-defined]
    except ValidationError as e:
        out.put("exists" if "already exists" in str(e) else f"ValidationError: {e}")  # type: ignore[attr-defined]
    except Exception as e:
        out.put(f"{type(e).__name__}: {str(e).splitlines()[0]}")  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_concurrent_create_of_one_project_on_postgresql(pg_schema: str) -> None:
    import psycopg

    labelnb.Project.create(pg_schema, "seed", SCHEMA).close()  # the tables exist
    ctx = mp.get_context("fork")
    for exist_ok in (True, True, True, False, False):
        with psycopg.connect(pg_schema, autocommit=True) as c:
            c.execute("DELETE FROM events WHERE project_id IN (SELECT id FROM projects "
                      "WHERE name = 'pets')")
            c.execute("DELETE FROM schemas WHERE project_id IN (SELECT id FROM projects "
                      "WHERE name = 'pets')")
            c.execute("DELETE FROM projects WHERE name = 'pets'")
        barrier, out = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_create, args=(pg_schema, exist_ok, barrier, out))
                 for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        results = sorted(out.get(timeout=10) for _ in procs)
        if exist_ok:
            assert results == ["ok"] * 4
        else:  # one creates it; the others get labelnb's own "already exists"
            assert results == ["exists"] * 3 + ["ok"]


def test_a_forked_child_opens_its_own_hot_connection(tmp_path: Path) -> None:
    """The claim/submit connection kept per thread belongs to the process that opened it:
    a forked child (a multiprocessing worker started with fork) claims through a new one,
    and the parent's keeps working."""
    p = labelnb.Project.create(str(tmp_path / "f.db"), "f", SCHEMA)
    p.add_items(["one", "two", "three"])
    q = p.queue("ana")
    assert q.claim() is not None
    q.submit(labelnb.Choice("a"))
    parent_raw, _ = p.store._hot_connection()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ok = b"0"
        try:
            child_raw, _ = p.store._hot_connection()
            qc = p.queue("bob")
            if child_raw is not parent_raw and qc.claim() is not None:
                qc.submit(labelnb.Choice("b"))
                ok = b"1"
        finally:
            os.write(w, ok)
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert got == b"1"
    assert p.store._hot_connection()[0] is parent_raw
    assert q.claim() is not None
    q.submit(labelnb.Choice("a"))
    anns = p.annotations()
    assert sorted(anns["author"]) == ["ana", "ana", "bob"]
    with sqlite3.connect(str(tmp_path / "f.db")) as c:
        assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_forked_children_use_connections_of_their_own(db_url: str) -> None:
    """After the parent used the pool (reads) and its hot connection, forked children
    read, claim and submit at the same time as the parent, each on its own connections:
    on PostgreSQL a shared socket mixed their replies (wrong results, hangs)."""
    p = labelnb.Project.create(db_url, "f", SCHEMA)
    p.add_items([f"t{i}" for i in range(12)])
    q = p.queue("ana")
    assert q.claim() is not None
    q.submit(labelnb.Choice("a"))
    assert len(p.tasks()) == 12  # a pooled connection, checked in, that a child could take
    kids = []
    for k in range(3):
        pid = os.fork()
        if pid == 0:  # the child: exits 0 only if all went right
            code = 1
            try:
                signal.alarm(60)
                qc = p.queue(f"kid{k}")
                for _ in range(20):
                    assert len(p.tasks()) == 12 and len(p.items()) == 12
                t = qc.claim()
                if t is not None:
                    qc.submit(labelnb.Choice("b"))
                code = 0
            finally:
                os._exit(code)
        kids.append(pid)
    for _ in range(20):  # the parent meanwhile, on its own connections
        assert len(p.tasks()) == 12
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in kids]
    assert codes == [0, 0, 0]
    while q.claim() is not None:
        q.submit(labelnb.Choice("a"))
    anns = p.annotations()
    assert len(anns) == 12 and anns["item_id"].is_unique
    assert sorted(a for a in anns["author"] if a.startswith("kid")) == ["kid0", "kid1", "kid2"]
    p.close()

def test_a_failed_begin_on_a_transient_connection_keeps_the_kept_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BEGIN IMMEDIATE failing on a checked-out (not kept) connection closes that
    checkout and leaves the thread's kept connection alone."""
    s = Store(str(tmp_path / "t.db"))
    kept, _ = s._hot_connection()
    closed: list[bool] = []

    class Locked:
        def execute(self, sql: str, *a: object) -> None:
            raise sqlite3.OperationalError("database is locked")

    class Checkout:
        def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr(s, "_hot_connection", lambda: (Locked(), Checkout()))
    # (a lock held past the busy timeout is reported as a StoreError naming the database)
    with pytest.raises(StoreError, match="is locked"), s.hot():
        pass
    assert closed == [True]
    monkeypatch.undo()
    assert s._hot_connection()[0] is kept  # not dropped
    with s.hot() as raw:
        assert raw.dbapi.execute("SELECT 1").fetchone() == (1,)
    s.dispose()
