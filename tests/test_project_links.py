"""add_annotations links (``corrects``, ``task_id``) stay inside the item and project
they belong to (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

import labelnb
from labelnb import Annotation, Choice, Schema
from labelnb.errors import ValidationError


def test_corrects_and_task_id_must_name_the_same_item_of_this_project(db_url: str) -> None:
    s = Schema("choice", ["cat", "dog"])
    a = labelnb.Project.create(db_url, "a", s)
    b = labelnb.Project.create(db_url, "b", s)
    [ia, ia2] = a.add_items(["one", "two"])
    [ib] = b.add_items(["three"])
    [x] = a.add_annotations([Annotation(item_id=ia, regions=(Choice("cat"),), author="ana")])
    with pytest.raises(ValidationError, match=r"field 'corrects' .* no annotation of item"):
        b.add_annotations([Annotation(item_id=ib, regions=(Choice("dog"),), author="rita",
                                      corrects=x)])
    with pytest.raises(ValidationError, match=r"field 'corrects'"):
        a.add_annotations([Annotation(item_id=ia2, regions=(Choice("dog"),), author="rita",
                                      corrects=x)])  # another item
    task_of_a = int(a.tasks()["id"].iloc[0])
    with pytest.raises(ValidationError, match=r"field 'task_id' .* no task of item"):
        b.add_annotations([Annotation(item_id=ib, regions=(Choice("dog"),), author="rita",
                                      task_id=task_of_a)])
    assert a.annotations()["status"].tolist() == ["submitted"]  # untouched
    assert b.annotations().empty
    # a correction of the same item (also one made in the same call) is fine
    fix = Annotation(item_id=ia, regions=(Choice("dog"),), author="rita", corrects=x)
    again = Annotation(item_id=ia, regions=(Choice("cat"),), author="lead", corrects=fix.id)
    a.add_annotations([fix, again])
    assert sorted(a.annotations()["status"]) == ["corrected", "corrected", "submitted"]


def test_opening_a_database_without_labelnb_tables_writes_nothing(db_url: str) -> None:
    import sqlalchemy as sa

    from labelnb.errors import ProjectNotFound
    from labelnb.queue.store import normalize_url

    engine = sa.create_engine(normalize_url(db_url))
    with engine.begin() as c:  # another application's table
        c.exec_driver_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    assert labelnb.projects(db_url) == []
    with pytest.raises(ProjectNotFound, match=r"holds no labelnb project .*customers"):
        labelnb.open(db_url)
    assert sa.inspect(engine).get_table_names() == ["customers"]
    engine.dispose()
    # creating a project there is what adds the tables
    labelnb.Project.create(db_url, "p", Schema("choice", ["a"]))
    assert labelnb.projects(db_url) == ["p"]


def test_item_meta_from_dataframes_is_stored_alike_on_both_databases(db_url: str) -> None:
    import numpy as np
    import pandas as pd

    p = labelnb.Project.create(db_url, "p", Schema("choice", ["a", "b"]))
    df = pd.DataFrame({"text": ["one", "two"], "score": [0.5, np.nan],
                       "when": pd.to_datetime(["2026-01-02", None]), "n": np.array([3, 4])})
    p.add_items(df)
    p.add_items([{"text": "three", "meta": {"n": np.int64(3), "tags": ("x", "y")}}])
    meta = p.items()["meta"].tolist()
    assert meta[0] == {"score": 0.5, "when": "2026-01-02T00:00:00", "n": 3}
    assert meta[1] == {"score": None, "when": None, "n": 4}
    assert meta[2] == {"n": 3, "tags": ["x", "y"]}
    before = len(p.items())
    with pytest.raises(ValidationError, match=r"item #1: meta key 'score' is inf"):
        p.add_items(pd.DataFrame({"text": ["four", "five"], "score": [1.0, np.inf]}))
    with pytest.raises(ValidationError, match=r"meta key 'blob' is a bytes"):
        p.add_items([{"text": "six", "meta": {"blob": b"\x00"}}])
    assert len(p.items()) == before  # all or nothing


def test_add_items_checks_its_routing_arguments(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "p", Schema("choice", ["a", "b"]))
    bad = [({"difficulty": float("nan")}, r"difficulty=nan must lie in \[0, 1\]"),
           ({"difficulty": 1.5}, r"must lie in \[0, 1\]"),
           ({"priority": float("inf")}, "priority=inf must be a finite number"),
           ({"priority": "high"}, "priority='high' is not a number"),
           ({"language": ["de"]}, "language=\\['de'\\] is a list"),
           ({"deadline": "soon"}, "deadline='soon' is not an ISO time"),
           ({"media": "video"}, "media='video'")]
    for kw, msg in bad:
        with pytest.raises(ValidationError, match=msg):
            p.add_items(["x"], **kw)  # type: ignore[arg-type]
    assert p.items().empty and p.tasks().empty
    p.add_items(["x"], deadline="2030-01-31T18:00+00:00", difficulty=0.5, priority=2)
    assert p.tasks()["deadline"].notna().all()
