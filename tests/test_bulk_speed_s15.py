"""Bulk writes of set_difficulty / add_annotations (one executemany, IN queries instead of
a statement per row): the same rows, errors and slot assignments as the row-by-row
algorithm they replace, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd
import pytest

import labelnb
from labelnb import Annotation, Choice, Schema
from labelnb.errors import ItemNotFound, ValidationError
from labelnb.queue import queries as q
from labelnb.queue.consensus import latest_human

LABELS = ["cat", "dog", "fox", "owl"]
TASK_COLS = ["item_id", "stage", "slot", "status", "assignee", "difficulty", "focus_label",
             "priority", "done_at"]


def _project(url: str, name: str = "p", overlap: int = 3, n: int = 6,
             kind: str = "choice") -> tuple[labelnb.Project, list[int]]:
    p = labelnb.Project.create(url, name, Schema(kind, LABELS), overlap=overlap)  # type: ignore[arg-type]
    return p, p.add_items([f"{name} text {i}" for i in range(n)], progress=False)


def _tasks(p: labelnb.Project) -> list[tuple[Any, ...]]:
    t = p.tasks().sort_values(["item_id", "stage", "slot", "id"])
    t = t.assign(item_id=t["item_id"].rank(method="dense").astype(int))  # across projects
    return [tuple(None if pd.isna(v) else v for v in row)
            for row in t[[c for c in TASK_COLS if c != "done_at"]].itertuples(index=False)]


def _ann(item: int, author: str, label: str = "cat", **kw: Any) -> Annotation:
    return Annotation(item_id=item, author=author, regions=(Choice(label),), **kw)


# --- set_difficulty --------------------------------------------------------------------


def _old_set_difficulty(p: labelnb.Project, difficulty: dict[int, float],
                        focus: dict[int, str]) -> int:
    """The row-by-row algorithm set_difficulty had (one UPDATE per item)."""
    n = 0
    with p.store.write() as conn:
        for item_id, d in difficulty.items():
            vals: dict[str, Any] = {"difficulty": float(d)}
            if item_id in focus:
                vals["focus_label"] = focus[item_id]
            n += q.set_task_fields(conn, p.id, [item_id], stage="annotate", **vals)
    p.reprioritize()
    return n


def _crafted(url: str, name: str) -> tuple[labelnb.Project, list[int]]:
    """Items with a done annotate slot, a full item, a review task."""
    p, ids = _project(url, name, overlap=2, n=6)
    p.add_annotations([_ann(ids[0], "ana"), _ann(ids[1], "ana"), _ann(ids[1], "bob")],
                      fill_tasks=True)
    aid = p.add_annotations([_ann(ids[2], "carl")], fill_tasks=True)[0]
    p.request_review(aid)  # a review task: never given the difficulty
    return p, ids


def test_set_difficulty_writes_what_the_row_by_row_update_wrote(db_url: str) -> None:
    new, ids = _crafted(db_url, "new")
    old, oids = _crafted(db_url, "old")
    diff = [0.1, 0.9, 0.5, 0.5, 0.0]  # item 5 left out
    focus = {0: "dog", 2: "fox", 3: "owl", 5: "cat"}  # 5: no difficulty, so not written
    n_new = new.set_difficulty({ids[i]: d for i, d in enumerate(diff)},
                               focus_label={ids[i]: f for i, f in focus.items()})
    n_old = _old_set_difficulty(old, {oids[i]: d for i, d in enumerate(diff)},
                                {oids[i]: f for i, f in focus.items()})
    assert n_new == n_old == 1 + 0 + 1 + 2 + 2  # items 0 and 2: one slot done, 1: both
    assert _tasks(new) == _tasks(old)
    t = new.tasks()
    ann = t[t["stage"] == "annotate"]
    open3 = ann[(ann["item_id"] == ids[3])]
    assert list(open3["difficulty"]) == [0.5, 0.5] and list(open3["focus_label"]) == ["owl"] * 2
    done1 = ann[ann["item_id"] == ids[1]]
    assert done1["difficulty"].isna().all()  # finished tasks keep theirs
    assert t.loc[t["stage"] == "review", "difficulty"].isna().all()
    assert ann.loc[ann["item_id"] == ids[5], "focus_label"].isna().all()


def test_set_difficulty_errors_write_nothing(db_url: str) -> None:
    p, ids = _project(db_url, overlap=2, n=3)
    before = _tasks(p)
    with pytest.raises(ValidationError, match=f"set_difficulty: item {ids[1]}") as e:
        p.set_difficulty({ids[0]: 0.2, ids[1]: 1.5, ids[2]: 0.3})
    assert "difficulty" in str(e.value)
    with pytest.raises(ItemNotFound, match=r"set_difficulty: items \[999999\] are not in "):
        p.set_difficulty({ids[0]: 0.2, 999999: 0.1})
    assert _tasks(p) == before
    assert p.set_difficulty({}) == 0
    assert p.set_difficulty({ids[0]: 0.25}, focus_label={ids[1]: "cat"}) == 2
    t = p.tasks()
    assert t.loc[t["item_id"] == ids[0], "difficulty"].tolist() == [0.25, 0.25]
    assert t["focus_label"].isna().all()


# --- difficulty_from_predictions / _disagreement ----------------------------------------


def _old_from_predictions(p: labelnb.Project, model_version: str | None = None
                          ) -> tuple[dict[int, float], dict[int, str]]:
    """The per-group algorithm difficulty_from_predictions had."""
    df = p.predictions()
    if model_version is not None:
        df = df[df["model_version"] == model_version]
    diff: dict[int, float] = {}
    focus: dict[int, str] = {}
    for item_id, g in df.groupby("item_id"):
        scores = [r.get("score") for regs in g["regions"] for r in regs
                  if r.get("score") is not None]
        scores += [s for s in g["score"] if s is not None and not pd.isna(s)]
        if scores:
            diff[int(item_id)] = float(1.0 - sum(scores) / len(scores))  # type: ignore[arg-type]
        labels = [r["label"] for regs in g["regions"] for r in regs]
        if labels:
            focus[int(item_id)] = max(set(labels), key=labels.count)  # type: ignore[arg-type]
    return diff, focus


def _old_from_disagreement(p: labelnb.Project) -> dict[int, float]:
    tasks = p.tasks()
    stages = dict(zip(tasks["id"].astype(int), tasks["stage"], strict=True))
    df = latest_human(p.annotations(), stages)
    diff: dict[int, float] = {}
    for item_id, g in df.groupby("item_id"):
        if len(g) < 2:
            continue
        keys = [tuple(sorted(x)) for x in g["labels"]]
        top = max(keys.count(k) for k in set(keys))
        diff[int(item_id)] = round(1.0 - top / len(keys), 6)  # type: ignore[arg-type]
    return diff


def _random_project(url: str, seed: int) -> tuple[labelnb.Project, list[int]]:
    rng = random.Random(seed)
    p, ids = _project(url, f"r{seed}", overlap=3, n=40, kind="multi_choice")

    def regions(scored: bool) -> list[Choice]:
        labs = rng.sample(LABELS, rng.randint(1, 3))
        return [Choice(lab, score=round(rng.random(), 3) if scored and rng.random() < 0.7
                       else None) for lab in labs]

    anns = [Annotation(item_id=i, author=a, regions=tuple(regions(False)))
            for i in ids for a in rng.sample(["a0", "a1", "a2", "a3"], rng.randint(0, 4))]
    rng.shuffle(anns)
    p.add_annotations(anns, fill_tasks=True)
    # a second vote of some (the newest counts), and a model's label (no vote)
    p.add_annotations([Annotation(item_id=a.item_id, author=a.author,
                                  regions=tuple(regions(False))) for a in anns[:10]])
    p.add_annotations([Annotation(item_id=ids[0], author="m", source="model",
                                  regions=(Choice("cat"),))])
    for mv in ("m1", "m2"):
        for _ in range(2):  # several rows of an item, some with a row score
            p.add_predictions(mv, [(i, regions(True), rng.choice([None, rng.random()]))
                                   for i in ids if rng.random() < 0.8])
    return p, ids


@pytest.mark.parametrize("seed", [1, 2])
def test_difficulty_from_predictions_and_disagreement_as_before(db_url: str, seed: int
                                                                ) -> None:
    p, ids = _random_project(db_url, seed)
    for mv in (None, "m1"):
        want, focus = _old_from_predictions(p, mv)
        got = p.difficulty_from_predictions(mv)
        assert got == want and list(got) == list(want)
        assert want and all(isinstance(v, float) for v in got.values())
        t = p.tasks()
        live = t[(t["stage"] == "annotate") & (t["status"] != "done")]
        for item_id, g in live[live["item_id"].isin(want)].groupby("item_id"):
            assert (g["difficulty"] == want[int(item_id)]).all()
            assert (g["focus_label"] == focus[int(item_id)]).all()
    want = _old_from_disagreement(p)
    got = p.difficulty_from_disagreement()
    assert got == want and list(got) == list(want) and len(want) > 5
    assert len(set(want.values())) > 1


def test_difficulty_from_predictions_exact_values(tmp_path: Any) -> None:
    p, ids = _project(str(tmp_path / "x.db"), overlap=1, n=3, kind="multi_choice")
    p.add_predictions("m", [(ids[0], [Choice("cat", score=0.5), Choice("dog", score=0.1)], 0.3),
                            (ids[0], [Choice("dog")], None),
                            (ids[1], [Choice("fox")], None)])
    assert p.difficulty_from_predictions() == {ids[0]: 1.0 - (0.5 + 0.1 + 0.3) / 3}
    t = p.tasks().set_index("item_id")
    assert t.loc[ids[0], "focus_label"] == "dog"
    # no score, so no difficulty: its focus label is not written either
    assert pd.isna(t.loc[ids[1], "difficulty"]) and pd.isna(t.loc[ids[1], "focus_label"])


# --- add_annotations -------------------------------------------------------------------


def _slots(p: labelnb.Project) -> dict[tuple[int, int], tuple[str, Any]]:
    t = p.tasks()
    t = t[t["stage"] == "annotate"]
    return {(int(r.item_id), int(r.slot)): (r.status, None if pd.isna(r.assignee)
                                            else r.assignee) for r in t.itertuples()}


def _slot_task(p: labelnb.Project, item: int, slot: int) -> int:
    t = p.tasks()
    return int(t.loc[(t["item_id"] == item) & (t["slot"] == slot)
                     & (t["stage"] == "annotate"), "id"].iloc[0])


def _count_row_fills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = q.fill_annotate_slot

    def one(conn: Any, **kw: Any) -> bool:
        calls.append(kw["task_id"])
        return real(conn, **kw)

    monkeypatch.setattr(q, "fill_annotate_slot", one)
    return calls


def test_fill_tasks_assigns_the_slots_row_by_row(db_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    p, ids = _project(db_url, overlap=3, n=4)
    row_fills = _count_row_fills(monkeypatch)
    i0, i1, i2, i3 = ids
    p.add_annotations([_ann(i0, "ana"), _ann(i1, "x"), _ann(i1, "y"), _ann(i1, "z")],
                      fill_tasks=True)  # ana holds a slot of i0; i1 has no open slot left
    explicit = _slot_task(p, i3, 2)
    batch = [_ann(i0, "ana"),  # already holds one: fills none
             _ann(i1, "w"),  # no open slot
             _ann(i2, "ana"), _ann(i2, "bob"), _ann(i2, "ana", "dog"),  # ana's second: none
             _ann(i2, "carl"), _ann(i2, "dave"),  # dave: the three are taken
             _ann(i0, "bob", source="model"),  # a model's label fills none
             _ann(i3, "eve", task_id=explicit),  # names its task: fills none
             _ann(i3, "fay"), _ann(i0, "fay")]
    stored = p.add_annotations(batch, fill_tasks=True)
    assert stored == [a.id for a in batch]
    got = p.annotations().set_index("id")["task_id"]
    task = {a.id: (None if pd.isna(got[a.id]) else int(got[a.id])) for a in batch}
    want = [None, None, _slot_task(p, i2, 0), _slot_task(p, i2, 1), None,
            _slot_task(p, i2, 2), None, None, explicit, _slot_task(p, i3, 0),
            _slot_task(p, i0, 1)]
    assert [task[a.id] for a in batch] == want
    slots = _slots(p)
    assert slots[(i0, 0)] == ("done", "ana") and slots[(i0, 1)] == ("done", "fay")
    assert slots[(i0, 2)] == ("open", None)
    assert [slots[(i2, s)] for s in range(3)] == [("done", "ana"), ("done", "bob"),
                                                  ("done", "carl")]
    assert slots[(i3, 0)] == ("done", "fay") and slots[(i3, 2)] == ("open", None)
    assert all(slots[(i1, s)][0] == "done" for s in range(3))
    assert row_fills == []  # all filled at once (the driver's rowcount adds up)


def test_fill_tasks_leased_and_reserved_slots_are_not_free(db_url: str) -> None:
    p, ids = _project(db_url, overlap=2, n=2)
    task = p.queue("eve").claim()
    assert task is not None
    held = task.item.id
    other = ids[1] if held == ids[0] else ids[0]
    with p.store.write() as conn:  # one slot of the other item reserved for a rework
        conn.execute(q.tasks.update().where(q.tasks.c.id == _slot_task(p, other, 0))
                     .values(reserved_for="gus"))
    p.add_annotations([_ann(held, "eve"), _ann(held, "ana"), _ann(held, "bob"),
                       _ann(other, "ana"), _ann(other, "bob")], fill_tasks=True)
    slots = _slots(p)
    leased = [s for s in (0, 1) if slots[(held, s)][0] == "leased"]
    assert len(leased) == 1 and slots[(held, leased[0])][1] == "eve"
    assert slots[(held, 1 - leased[0])] == ("done", "ana")
    assert slots[(other, 0)] == ("open", None) and slots[(other, 1)] == ("done", "ana")
    tid = p.annotations().set_index("author").groupby(level=0)["task_id"].count()
    assert tid.to_dict() == {"ana": 2, "bob": 0, "eve": 0}


def test_fill_tasks_falls_back_row_by_row_when_a_slot_was_taken_meanwhile(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue claiming a slot between the read and the fill (PostgreSQL): each annotation
    then takes the next slot that is still open, as the row-by-row fill did."""
    p, ids = _project(db_url, overlap=3, n=1)
    first = _slot_task(p, ids[0], 0)
    real = q.annotate_slots

    def claimed_meanwhile(conn: Any, project_id: int, item_ids: Any) -> Any:
        rows = real(conn, project_id, item_ids)  # all three open when read
        conn.execute(q.tasks.update().where(q.tasks.c.id == first)
                     .values(status="leased", assignee="zed"))
        return rows

    monkeypatch.setattr(q, "annotate_slots", claimed_meanwhile)
    row_fills = _count_row_fills(monkeypatch)
    batch = [_ann(ids[0], "ana"), _ann(ids[0], "bob"), _ann(ids[0], "carl")]
    p.add_annotations(batch, fill_tasks=True)
    slots = _slots(p)
    assert [slots[(ids[0], s)] for s in range(3)] == [("leased", "zed"), ("done", "ana"),
                                                      ("done", "bob")]
    got = p.annotations().set_index("id")["task_id"]
    assert [None if pd.isna(got[a.id]) else int(got[a.id]) for a in batch] == [
        _slot_task(p, ids[0], 1), _slot_task(p, ids[0], 2), None]
    assert row_fills == [first, _slot_task(p, ids[0], 1), _slot_task(p, ids[0], 2)]


def test_a_clash_in_a_batch_names_the_annotation_and_writes_nothing(db_url: str) -> None:
    p, ids = _project(db_url, overlap=2, n=3)
    old = _ann(ids[0], "ana")
    p.add_annotations([old], fill_tasks=True)
    before = (_tasks(p), len(p.annotations()), len(p.events()))
    bad = _ann(ids[2], "bob", id=old.id)
    batch = [_ann(ids[1], "ana"), _ann(ids[1], "bob"), bad, _ann(ids[2], "carl")]
    msg = (f"annotation {old.id} of item {ids[2]}: it clashes with what is stored (field "
           "'id' already used, or 'task_id' / 'corrects' naming a task or annotation that "
           "does not exist); fix those fields or leave them out")
    with pytest.raises(ValidationError) as e:
        p.add_annotations(batch, fill_tasks=True)
    assert str(e.value) == msg
    assert (_tasks(p), len(p.annotations()), len(p.events())) == before
    twice = _ann(ids[1], "dan")  # the same id twice in one batch: the second clashes
    with pytest.raises(ValidationError, match=f"annotation {twice.id} of item {ids[2]}: it "
                       "clashes"):
        p.add_annotations([twice, _ann(ids[2], "dan", id=twice.id)])
    assert (_tasks(p), len(p.annotations()), len(p.events())) == before
    with p.atomic():  # inside an atomic block too: the clash rolls back only this call
        p.add_annotations([_ann(ids[1], "eve")])
        with pytest.raises(ValidationError, match="it clashes"):
            p.add_annotations([_ann(ids[2], "fay"), _ann(ids[2], "gil", id=old.id)])
    assert sorted(p.annotations()["author"]) == ["ana", "eve"]


def test_add_annotations_lookups_and_their_errors(db_url: str) -> None:
    p, ids = _project(db_url, overlap=2, n=600)  # more items than one IN chunk
    other, oids = _project(db_url, "other", overlap=1, n=1)
    anns = [_ann(i, "ana") for i in ids]
    p.add_annotations(anns, fill_tasks=True)
    assert p.annotations()["task_id"].notna().sum() == 600
    with pytest.raises(ItemNotFound) as e:
        p.add_annotations([_ann(ids[0], "bob"), _ann(oids[0], "bob", id="x1")])
    assert str(e.value) == f"annotation x1: item {oids[0]} is not in project 'p'"
    with pytest.raises(ItemNotFound, match="annotation x2: item 1000000 is not in project"):
        p.add_annotations([_ann(ids[0], "bob"), _ann(10**6, "bob", id="x2")])
    with pytest.raises(ValidationError, match="Choice 'nope'|nope"):
        p.add_annotations([_ann(ids[0], "bob", "nope"), _ann(oids[0], "bob")])
    oann = other.add_annotations([_ann(oids[0], "ana")])[0]
    with pytest.raises(ValidationError, match=f"field 'corrects' is '{oann}', which is no "):
        p.add_annotations([_ann(ids[0], "bob", corrects=anns[0].id),
                           _ann(ids[1], "bob", corrects=oann)])
    with pytest.raises(ValidationError, match=f"field 'corrects' is '{anns[1].id}', which"):
        p.add_annotations([_ann(ids[0], "bob", corrects=anns[1].id)])
    t0, t1 = _slot_task(p, ids[0], 1), _slot_task(p, ids[1], 1)
    with pytest.raises(ValidationError, match=f"field 'task_id' is {t1}, which is no task"):
        p.add_annotations([_ann(ids[0], "bob", task_id=t0), _ann(ids[0], "bob", task_id=t1)])
    with pytest.raises(ValidationError, match="field 'task_id' is 99999999, which is no"):
        p.add_annotations([_ann(ids[0], "bob", task_id=99999999)])
    n = len(p.annotations())
    new = p.add_annotations([_ann(ids[0], "bob", corrects=anns[0].id, task_id=t0),
                             _ann(ids[1], "bob", id="c2"),
                             _ann(ids[1], "carl", corrects="c2")])
    got = p.annotations().set_index("id")
    assert len(got) == n + 3 and got.loc[new[0], "task_id"] == t0
    assert got.loc[new[0], "corrects"] == anns[0].id and got.loc[new[2], "corrects"] == "c2"


# --- annotation_objects ----------------------------------------------------------------


def _old_annotation_objects(p: labelnb.Project, **filters: Any) -> list[Annotation]:
    """The row-by-row conversion annotation_objects had."""
    def isna(v: Any) -> bool:
        try:
            return bool(pd.isna(v))
        except (TypeError, ValueError):
            return False

    out = []
    for r in p.annotations(**filters).to_dict("records"):
        d = {k: (None if isna(v) else v) for k, v in r.items()
             if k not in ("labels", "status", "submitted_at")}
        d["created_at"] = pd.Timestamp(r["created_at"]).to_pydatetime()
        for k in ("task_id", "schema_version"):
            if d.get(k) is not None:
                d[k] = int(d[k])
        out.append(Annotation.from_json(d))
    return out


def test_annotation_objects_as_before(db_url: str) -> None:
    p, ids = _project(db_url, overlap=2, n=4, kind="multi_choice")
    assert p.annotation_objects() == []
    first = p.add_annotations([_ann(ids[0], "ana", duration_s=2.5, meta={"k": [1, None]}),
                               _ann(ids[1], "bob", client_id="c-1")], fill_tasks=True)
    p.add_annotations([
        _ann(ids[0], "m", source="model", model_version="v1", schema_version=1),
        Annotation(item_id=ids[2], author="carl", regions=(Choice("dog", score=0.25),
                                                           Choice("cat"))),
        Annotation(item_id=ids[3], author="dan", regions=()),
        _ann(ids[0], "eve", "dog", corrects=first[0])])
    got = p.annotation_objects()
    assert got == _old_annotation_objects(p) and len(got) == 6
    assert [type(a.task_id) for a in got].count(int) == 2
    assert {a.id: a for a in got}[first[0]].meta == {"k": [1, None]}
    assert p.annotation_objects(annotator="eve") == _old_annotation_objects(p, annotator="eve")
    assert p.annotation_objects(annotator="nobody") == []
