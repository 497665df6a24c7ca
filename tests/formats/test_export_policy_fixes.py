"""The export's choice of labels and its evaluation guard, in the cases a first-user
hunt found wrong: a rejected correction, marked test sets, eval_splits as one string,
and override events of exports that failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import labelnb
from labelnb import Annotation, Choice, Schema
from labelnb.active import mark_evaluation
from labelnb.active.guard import overrides
from labelnb.errors import CircularValidationError


def _labels(p: labelnb.Project, out: Path, **kw: object) -> dict[int, tuple[str, str | None]]:
    """item → (exported label, split), read from the export's manifest."""
    labelnb.export(p, "hf", out, **kw)  # type: ignore[arg-type]
    m = json.loads((out / "labelnb_export.json").read_text())
    regions = {a.id: a.regions for a in p.annotation_objects()}
    return {int(e["item_id"]): (regions[e["annotation_id"]][0].label,  # type: ignore[attr-defined]
                                e.get("split")) for e in m["images"]}


def test_a_rejected_correction_leaves_the_work_it_corrected(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "p.db", "p", Schema("choice", ["cat", "dog", "fox"]))
    p.add_items(["text 1"])
    ana = p.queue("ana")
    assert ana.claim() is not None
    a0 = ana.submit(Choice("cat"))
    p.annotators.add("lea", role="lead")
    p.annotators.add("max", role="reviewer")
    p.request_review(a0)
    lea = p.review_queue("lea")
    assert lea.claim() is not None
    fix = lea.correct(Choice("fox"))
    p.request_review(fix)
    rv = p.review_queue("max")
    assert rv.claim() is not None
    rv.reject("cat was right")
    assert _labels(p, tmp_path / "latest") == {1: ("cat", None)}
    from labelnb.active._project import final_annotations

    assert final_annotations(p.annotations())["id"].tolist() == [a0]


def test_a_marked_test_set_stays_in_the_test_split(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "p.db", "p", Schema("choice", ["cat", "dog"]))
    ids = p.add_items([f"text {i}" for i in range(1, 41)])
    p.add_annotations([Annotation(item_id=i, regions=(Choice(["cat", "dog"][i % 2]),),
                                  author="ana") for i in ids[:20]])
    held = [1, 2, 3, 4]
    mark_evaluation(p, held, name="test")
    first = _labels(p, tmp_path / "a", split={"train": 0.8, "test": 0.2})
    p.add_annotations([Annotation(item_id=i, regions=(Choice(["cat", "dog"][i % 2]),),
                                  author="ana") for i in ids[20:]])
    second = _labels(p, tmp_path / "b", split={"Train": 0.8, "TEST": 0.2})
    assert {first[i][1] for i in held} == {"test"} and {second[i][1] for i in held} == {"TEST"}
    # a set named otherwise goes to the first evaluation split
    mark_evaluation(p, [5], name="gold-standard")
    third = _labels(p, tmp_path / "c", split={"train": 0.8, "val": 0.2})
    assert {third[i][1] for i in [*held, 5]} == {"val"}


def test_the_guard_with_one_eval_split_name_and_its_override_events(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "p.db", "p", Schema("choice", ["cat", "dog"]))
    ids = p.add_items([f"text {i}" for i in range(1, 11)])
    p.add_annotations([Annotation(item_id=i, regions=(Choice("cat"),), author="clf",
                                  source="model") for i in ids])
    with pytest.raises(CircularValidationError):  # one name, not its letters
        labelnb.export(p, "hf", tmp_path / "a", split={"train": 0.5, "holdout": 0.5},
                       eval_splits="holdout")  # type: ignore[arg-type]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(Exception):  # noqa: B017  (the folder cannot be made)
        labelnb.export(p, "hf", tmp_path / "afile" / "out", split={"train": 0.5, "test": 0.5},
                       allow_machine_eval=True, eval_reason="bootstrap")
    assert overrides(p).empty  # no export happened, no override recorded
    mark_evaluation(p, ids[:3], name="test")
    labelnb.export(p, "hf", tmp_path / "b", split={"train": 0.5, "test": 0.5},
                   allow_machine_eval=True, eval_reason="bootstrap")
    o = overrides(p)
    assert len(o) == 1  # one export, one event (split and marked items together)


def test_a_label_a_new_schema_removed_can_be_mapped(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "p.db", "p", Schema("choice", ["cat", "dog", "fox"]))
    p.add_items(["a", "b", "c"])
    q = p.queue("ana")
    for t in q:
        q.submit(Choice(["cat", "dog", "fox"][t.item.id - 1]))
    p.set_schema(Schema("choice", ["cat", "dog"]))  # 'fox' retired
    r = labelnb.export(p, "hf", tmp_path / "drop", label_map={"fox": None})
    assert list(r.categories.values()) == ["cat", "dog"] and r.unlabeled == 1
    r = labelnb.export(p, "hf", tmp_path / "merge", label_map={"fox": "dog"})
    assert list(r.categories.values()) == ["cat", "dog"] and r.unlabeled == 0
    with pytest.raises(Exception, match=r"\['wolf'\] are not labels"):
        labelnb.export(p, "hf", tmp_path / "bad", label_map={"wolf": None})
