"""The store's schema: Alembic ``upgrade head`` equals ``create_all``; newer databases
are refused; broken databases give clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

import labelnb
from labelnb.errors import CorruptDatabase, DatabaseTooNew, DatabaseUnreachable, StoreError
from labelnb.queue.migrate import current_revision, head_revision
from labelnb.queue.store import (
    SQLITE_PAGE_SIZE,
    SQLITE_WAL_AUTOCHECKPOINT,
    Store,
    normalize_url,
)
from labelnb.queue.tables import metadata


def _shape(url: str) -> dict[str, object]:
    """Tables, columns (name, type, nullable), indexes and unique constraints."""
    eng = create_engine(normalize_url(url))
    insp = inspect(eng)
    out: dict[str, object] = {}
    for t in sorted(insp.get_table_names()):
        if t == "alembic_version":
            continue
        cols = [(c["name"], str(c["type"]).split("(")[0], c["nullable"])
                for c in insp.get_columns(t)]
        idx = sorted((i["name"], tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                     for i in insp.get_indexes(t))
        uqs = sorted((u["name"], tuple(u["column_names"]))
                     for u in insp.get_unique_constraints(t))
        fks = sorted((tuple(f["constrained_columns"]), f["referred_table"])
                     for f in insp.get_foreign_keys(t))
        out[t] = (cols, idx, uqs, fks)
    eng.dispose()
    return out


def test_upgrade_head_equals_create_all(db_url: str, tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    store = Store(db_url)  # runs alembic upgrade head
    assert current_revision(store) == head_revision()
    # 1. alembic's own autogenerate diff against the metadata is empty
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"migrations and tables.py differ: {diff}"
    # 2. a database built by create_all has exactly the same shape
    if store.dialect == "sqlite":
        other = str(tmp_path / "create_all.db")
    else:
        other = request.getfixturevalue("pg_schema")
    eng = create_engine(normalize_url(other))
    metadata.create_all(eng)
    eng.dispose()
    assert _shape(db_url) == _shape(other)
    store.dispose()


def test_new_database_logs_creation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="labelnb.store"):
        Store(tmp_path / "new.db")
    assert any("creating the labelnb tables" in r.getMessage() for r in caplog.records)


def test_reopen_is_a_noop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    Store(tmp_path / "a.db").dispose()
    with caplog.at_level(logging.INFO, logger="labelnb.store"):
        s = Store(tmp_path / "a.db")
    assert not [r for r in caplog.records if "creating" in r.getMessage()
                or "migrating" in r.getMessage()]
    assert "projects" in s.table_names()


def test_database_from_newer_labelnb_is_refused(db_url: str) -> None:
    s = Store(db_url)
    with s.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    s.dispose()
    with pytest.raises(DatabaseTooNew, match="newer labelnb") as e:
        Store(db_url)
    assert "9999_future" in str(e.value) and "upgrade labelnb" in str(e.value)


def test_corrupt_sqlite_file(tmp_path: Path) -> None:
    bad = tmp_path / "labels.db"
    bad.write_bytes(b"this is not a database, just some bytes" * 10)
    with pytest.raises(CorruptDatabase, match="not a SQLite database") as e:
        labelnb.open(bad)
    assert str(bad) in str(e.value)


def test_truncated_sqlite_file(tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    labelnb.Project.create(good, "p", labelnb.Schema("choice", ["a"])).close()
    data = good.read_bytes()
    broken = tmp_path / "broken.db"
    broken.write_bytes(data[:100] + b"\x00garbage" * 50)
    with pytest.raises(StoreError):
        labelnb.open(broken)


def test_unreachable_postgres() -> None:
    with pytest.raises(DatabaseUnreachable, match="unreachable") as e:
        Store("postgresql://127.0.0.1:1/nowhere?connect_timeout=2")
    assert "Fix" in str(e.value)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "dir" / "x.db")


def test_sqlite_pragmas(tmp_path: Path) -> None:
    s = Store(tmp_path / "p.db")
    with s.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        # new files get the queue's page size (fewer bytes per commit into the WAL)
        assert c.exec_driver_sql("PRAGMA page_size").scalar() == SQLITE_PAGE_SIZE
        # fewer checkpoints than SQLite's default of 1,000 pages, on every connection
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
        # reads go through the memory map; the claim/submit connection does without
        assert c.exec_driver_sql("PRAGMA mmap_size").scalar() == 268435456
    assert SQLITE_WAL_AUTOCHECKPOINT == 10_000
    with s.hot() as raw:
        assert raw.dbapi.execute("PRAGMA wal_autocheckpoint").fetchone() == (10_000,)
        assert raw.dbapi.execute("PRAGMA mmap_size").fetchone() == (0,)


def test_an_existing_file_keeps_its_page_size(tmp_path: Path) -> None:
    """A database made with SQLite's default page size (an older labelnb) opens and
    works as before: the page size of a file with pages never changes."""
    import sqlite3

    import labelnb
    from labelnb import Choice, Schema

    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA page_size=4096")
    raw.execute("CREATE TABLE keep (x)")  # the file now has pages
    raw.commit()
    raw.close()
    p = labelnb.Project.create(path, "old", Schema("choice", ["a", "b"]))
    p.add_items(["t"])
    q = p.queue("ana")
    q.claim()
    q.submit(Choice("a"))
    assert len(p.annotations()) == 1
    with p.store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA page_size").scalar() == 4096
    p.close()


def test_kept_leases_revision_downgrades_to_lease_rows(tmp_path: Path) -> None:
    """Revision 0003 marks the files whose submits keep their lease on the task row (an
    older labelnb refuses them); its downgrade writes those leases to ``leases``, and
    the history reads the same before, after the downgrade and after the upgrade."""
    from alembic import command

    from labelnb.queue.migrate import alembic_config, upgrade

    path = str(tmp_path / "k.db")
    p = labelnb.Project.create(path, "k", labelnb.Schema("choice", ["a", "b"]))
    p.add_items(["one", "two"])
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    q.submit(labelnb.Choice("a"))
    before = p.leases()[["task_id", "annotator", "token", "outcome"]].to_dict("records")
    assert before == [{"task_id": t.id, "annotator": "ana", "token": t.token,
                       "outcome": "submitted"}]
    p.close()
    s = Store(path)
    assert current_revision(s) == head_revision()
    cfg = alembic_config()
    with s.write() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with s.engine.connect() as conn:
        rows = conn.execute(text("SELECT task_id, annotator, token, outcome FROM leases")).all()
        kept = conn.execute(text("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL")
                            ).scalar()
    assert [tuple(r) for r in rows] == [(t.id, "ana", t.token, "submitted")] and kept == 0
    upgrade(s)
    s.dispose()
    p = labelnb.open(path, "k")
    after = p.leases()[["task_id", "annotator", "token", "outcome"]].to_dict("records")
    assert after == before  # once, from the lease row now


def test_annotation_status_looks_corrections_up_by_index(tmp_path: Path) -> None:
    """``project.annotations()`` asks of every row whether an annotation corrects it:
    the plan must use ``ix_annotations_corrects``, not scan the table once per row
    (8,000 annotations took 7 s without it)."""
    from labelnb.queue import queries as q

    p = labelnb.Project.create(str(tmp_path / "c.db"), "c", labelnb.Schema("choice", ["a", "b"]))
    ids = p.add_items(["one", "two"])
    p.add_annotations([labelnb.Annotation(item_id=i, regions=(labelnb.Choice("a"),),
                                          author="x") for i in ids])
    stmt = q.select_annotations(p.id)
    sql = str(stmt.compile(p.store.engine, compile_kwargs={"literal_binds": True}))
    with p.store.engine.connect() as c:
        plan = " ".join(str(r[-1]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "ix_annotations_corrects" in plan, plan
    assert len(p.annotations()) == 2
    p.close()
