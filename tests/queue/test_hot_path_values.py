"""The claim/submit fast path's own value conversions and its row room (session 16):
SQLite time text, JSON text by orjson with ``json.dumps`` where they would differ, and
the ``spare`` room a task row is made with and the claim gives back."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

import labelnb
from labelnb.queue.queries import sqlite_json, sqlite_time
from labelnb.queue.tables import SPARE_BYTES


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30)),
                                               timezone(timedelta(hours=5))])))
def test_sqlite_time_is_sqlalchemys_text(v: datetime) -> None:
    """The text SQLAlchemy's SQLite DATETIME writes for the same instant in UTC."""
    want = v.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    assert sqlite_time(v) == want
    naive = v.replace(tzinfo=None)
    assert sqlite_time(naive) == naive.isoformat(" ", "microseconds")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4) | st.integers(-5, 5), inner, max_size=4),
    max_leaves=12)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(_json_values)
def test_sqlite_json_reads_back_as_json_dumps_does(v: object) -> None:
    """Whatever orjson writes reads back as ``json.dumps``'s text does (NaN stays NaN,
    None stays None, big integers stay integers, integer keys become strings)."""
    assert _same(json.loads(sqlite_json(v)), json.loads(json.dumps(v)))


def test_sqlite_json_refuses_what_json_dumps_refuses() -> None:
    for bad in (datetime.now(UTC), {1, 2}, object()):
        with pytest.raises(TypeError, match="not JSON serializable"):
            sqlite_json({"x": bad})


def test_a_new_task_row_has_room_and_the_claim_gives_it_back(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "room", labelnb.Schema("choice", ["a"]))
    p.add_items(["one", "two"])
    sqlite = p.store.dialect == "sqlite"

    def rooms() -> dict[int, int | None]:
        with p.store.read() as c:
            return dict(c.execute(text("SELECT id, length(spare) FROM tasks")).all())

    assert set(rooms().values()) == ({SPARE_BYTES} if sqlite else {None})
    t = p.queue("ana").claim()
    assert t is not None
    got = rooms()
    assert got[t.id] is None
    assert [v for k, v in got.items() if k != t.id] == [SPARE_BYTES if sqlite else None]


def test_a_file_from_revision_0004_upgrades_and_claims(tmp_path: Path) -> None:
    """Tasks made before revision 0005 have no room in the file; they claim as before,
    and tasks added after the upgrade get theirs."""
    from alembic import command

    from labelnb.queue.migrate import alembic_config
    from labelnb.queue.store import Store

    path = str(tmp_path / "old.db")
    p = labelnb.Project.create(path, "old", labelnb.Schema("choice", ["a"]))
    p.add_items(["one"])
    p.close()
    s = Store(path)
    cfg = alembic_config()
    with s.write() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with s.engine.connect() as conn:
        cols = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(tasks)")]
    assert "spare" not in cols
    s.dispose()
    p = labelnb.open(path, "old")  # upgrades on open
    p.add_items(["two"])
    q = p.queue("ana")
    for _ in range(2):
        assert q.claim() is not None
        q.submit(labelnb.Choice("a"))
    assert q.claim() is None
    assert len(p.annotations()) == 2
