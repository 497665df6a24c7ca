"""The claim/submit fast path's own value conversions and its row room (session 16):
SQLite time text, JSON text by orjson with ``json.dumps`` where they would differ, and
the ``spare`` room a task row is made with and the claim gives back."""

from __future__ import annotations

import enum
import json
import math
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
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
    """Also what orjson would write by itself (a UUID, an Enum): SQLite refuses what
    PostgreSQL refuses."""
    class Colour(enum.Enum):
        RED = 1

    for bad in (datetime.now(UTC), {1, 2}, object(), uuid.uuid4(), Colour.RED):
        with pytest.raises(TypeError, match="not JSON serializable"):
            sqlite_json({"x": bad})


def test_sqlite_json_writes_subclasses_as_json_dumps_does() -> None:
    """A subclass is written by json.dumps (its own order and methods), not by orjson
    as its base type."""
    class Shout(str):
        pass

    od = OrderedDict(a=2, b=1)
    od.move_to_end("a")
    for v in ({"m": od}, [Shout("hi"), np.float64(0.5)], {"k": enum.IntEnum("N", "ONE").ONE}):
        assert json.loads(sqlite_json(v)) == json.loads(json.dumps(v))
    assert sqlite_json({"m": od}) == json.dumps({"m": od})


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


def _file_at_revision_0004(path: str, name: str, texts: list[str]) -> list[str]:
    """A SQLite project of ``texts`` downgraded to revision 0004; its tasks' columns."""
    from alembic import command

    from labelnb.queue.migrate import alembic_config
    from labelnb.queue.store import Store

    p = labelnb.Project.create(path, name, labelnb.Schema("choice", ["a"]))
    p.add_items(texts, progress=False)
    p.close()
    s = Store(path)
    cfg = alembic_config()
    with s.write() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with s.engine.connect() as conn:
        cols = [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(tasks)")]
    s.dispose()
    return cols


def test_a_file_from_revision_0004_upgrades_and_claims(tmp_path: Path) -> None:
    """Tasks made before revision 0005 have no room in the file; they claim as before,
    and tasks added after the upgrade get theirs."""
    path = str(tmp_path / "old.db")
    assert "spare" not in _file_at_revision_0004(path, "old", ["one"])
    p = labelnb.open(path, "old")  # upgrades on open
    with p.store.read() as c:
        # SQLite would read the new column's default for the old rows, and write it into
        # them at their next update: the upgrade gives them NULL instead
        assert c.execute(text("SELECT length(spare) FROM tasks")).all() == [(None,)]
    p.add_items(["two"])
    q = p.queue("ana")
    for _ in range(2):
        assert q.claim() is not None
        q.submit(labelnb.Choice("a"))
    assert q.claim() is None
    assert len(p.annotations()) == 2


def test_tasks_table_shows_no_room_column(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "cols", labelnb.Schema("choice", ["a"]))
    p.add_items(["one"])
    assert "spare" not in p.tasks().columns
    t = p.queue("ana").claim()
    assert t is not None


def test_a_gold_task_is_made_without_room(tmp_path: Path) -> None:
    """A gold question's task is made already leased: with no room, like every claimed
    task (room left on it would tell it apart)."""
    p = labelnb.Project.create(tmp_path / "g.db", "g", labelnb.Schema("choice", ["a", "b"]))
    p.add_items(["plain"])
    (gid,) = p.gold.add(["gold text"], [labelnb.Choice("a")])
    p.configure(gold_rate=1.0)
    t = p.queue("ana").claim()
    assert t is not None and t.item.id == gid
    with p.store.read() as c:
        rooms = dict(c.execute(text("SELECT item_id, length(spare) FROM tasks")).all())
    assert rooms[gid] is None and len(rooms) == 2


def test_an_update_after_the_upgrade_does_not_grow_old_task_rows(tmp_path: Path) -> None:
    """Tasks from before revision 0005, updated after it (a reprioritisation), keep
    their size: the upgrade wrote NULL into them, not the column's default."""
    path = str(tmp_path / "grow.db")
    _file_at_revision_0004(path, "grow", [f"text {i}" for i in range(3000)])

    def task_pages(p: labelnb.Project) -> int:
        with p.store.read() as c:
            return int(c.execute(text("SELECT count(*) FROM dbstat WHERE name = 'tasks'")
                                 ).scalar_one())

    p = labelnb.open(path, "grow")
    before = task_pages(p)
    p.set_difficulty({i: 0.5 for i in p.items()["id"]})  # updates every open task row
    p.reprioritize()
    after = task_pages(p)
    assert after <= before * 1.2, (before, after)


def test_the_queues_annotation_is_the_dataclasss() -> None:
    """``Annotation._for_task`` (a submit's annotation, checking only the caller's
    parts) makes what the constructor makes, and refuses what it refuses."""
    from dataclasses import fields, replace

    from labelnb.errors import ValidationError
    from labelnb.types import Annotation, Box, Choice

    now = datetime.now(UTC)
    parts = dict(item_id=3, regions=(Choice("a"),), author="ana", created_at=now, task_id=7,
                 schema_version=2, corrects=None, duration_s=1.5, client_id="c-1")
    fast = Annotation._for_task(**parts)
    slow = Annotation(source="human", **parts)
    assert replace(fast, id=slow.id) == slow
    assert [f.name for f in fields(Annotation)] and all(
        hasattr(fast, f.name) for f in fields(Annotation))
    assert fast.id != slow.id and len(fast.id) == 32
    for bad, match in ((dict(regions=("a",)), "field 'regions' holds 'a'"),
                       (dict(client_id=5), "field 'client_id' must be a string"),
                       (dict(client_id="a\x00"), "field 'client_id' holds a NUL"),
                       (dict(duration_s=-1.0), "'duration_s' must be >= 0"),
                       (dict(duration_s=float("inf")), "'duration_s' must be finite"),
                       (dict(duration_s="x"), "'duration_s' must be a number"),
                       (dict(item_id="3"), "'item_id' must be an int"),
                       (dict(corrects=5), "field 'corrects' must be a string"),
                       (dict(corrects="a\x00"), "field 'corrects' holds a NUL")):
        for make in (Annotation._for_task, lambda **kw: Annotation(source="human", **kw)):
            with pytest.raises(ValidationError, match=match):
                make(**{**parts, **bad})
    assert Annotation._for_task(**{**parts, "duration_s": 2}).duration_s == 2.0
    assert Annotation._for_task(**{**parts, "regions": (Box(0, 0, 1, 1, "a"),)}).regions
