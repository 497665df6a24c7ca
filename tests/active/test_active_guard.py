"""The circular-validation guard: machine labels in an evaluation split raise; an
override needs a reason and is recorded in the project's events."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import labelnb
from labelnb.active import (
    CircularValidationError,
    check_evaluation_set,
    check_human_only,
    evaluation_items,
    mark_evaluation,
)
from labelnb.active.guard import evaluation_sets, label_rows, machine_labels, overrides
from labelnb.errors import ValidationError
from labelnb.types import Annotation, Choice


def _ann(item: int, source: str = "human", author: str = "ana") -> Annotation:
    return Annotation(item_id=item, regions=(Choice("pos"),), author=author,
                      source=source)  # type: ignore[arg-type]


@pytest.fixture
def project(tmp_path: Path) -> labelnb.Project:
    p = labelnb.Project.create(tmp_path / "g.db", "guard", labelnb.Schema("choice",
                                                                         ["pos", "neg"]))
    p.add_items([f"text {i}" for i in range(6)])
    return p


def test_human_labels_pass_machine_labels_raise() -> None:
    check_human_only([_ann(1), _ann(2, "consensus", "consensus")])
    for src in ("model", "llm", "labeling_function"):
        with pytest.raises(CircularValidationError, match=rf"item 3: {src} by 'bot'.*Fix:"):
            check_human_only([_ann(1), _ann(3, src, "bot")])


def test_only_the_evaluation_split_is_checked() -> None:
    pairs = [(_ann(1), "train"), (_ann(2, "model", "m"), "train"), (_ann(3), "test"),
             (_ann(4, "llm", "gpt"), "val")]
    check_human_only(pairs, split="test")
    with pytest.raises(CircularValidationError, match="evaluation split test, val: 1 of 2"):
        check_human_only(pairs, split=["test", "val"])
    with pytest.raises(CircularValidationError, match="item 2"):
        check_human_only(pairs)  # no split given: everything is the evaluation set
    with pytest.raises(ValidationError, match="carry no split"):
        check_human_only([_ann(1)], split="test")


def test_record_shapes() -> None:
    df = pd.DataFrame({"item_id": [1, 2], "source": ["human", "model"], "author": ["a", "m"],
                       "split": ["test", "train"]})
    check_human_only(df, split="test")
    assert machine_labels(df)["item_id"].tolist() == [2]
    assert label_rows({5: _ann(5, "llm", "gpt")})["source"].tolist() == ["llm"]
    assert label_rows([{"item_id": 7, "source": "human"}])["item_id"].tolist() == [7]

    class Rec:  # the export pipeline's records carry .item_id and .annotation
        def __init__(self, a: Annotation) -> None:
            self.item_id, self.annotation = a.item_id, a

    with pytest.raises(CircularValidationError, match="item 9"):
        check_human_only([(Rec(_ann(9, "model", "m")), "test")], split="test")
    with pytest.raises(ValidationError, match=r"labels\[0\]"):
        check_human_only([42])
    with pytest.raises(ValidationError, match="no \\['source'\\]"):
        check_human_only(pd.DataFrame({"item_id": [1]}))


def test_override_needs_a_reason_and_a_project_and_is_recorded(
        project: labelnb.Project) -> None:
    anns = [_ann(1), _ann(2, "model", "resnet"), _ann(3, "llm", "gpt")]
    with pytest.raises(ValidationError, match="needs reason"):
        check_human_only(anns, allow_machine=True, project=project)
    with pytest.raises(ValidationError, match="needs project"):
        check_human_only(anns, allow_machine=True, reason="pilot")
    assert overrides(project).empty
    check_human_only(anns, allow_machine=True, reason="pilot run, labels pending",
                     project=project, actor="lead")
    ov = overrides(project)
    assert len(ov) == 1
    row = ov.iloc[0]
    assert row["actor"] == "lead" and row["reason"] == "pilot run, labels pending"
    assert row["machine_labels"] == 2 and row["item_ids"] == [2, 3]
    ev = project.events()
    assert (ev["kind"] == "circular_validation_override").sum() == 1
    # nothing to override: nothing recorded
    check_human_only([_ann(1)], allow_machine=True, reason="x", project=project)
    assert len(overrides(project)) == 1


def test_marked_evaluation_set_in_a_project(project: labelnb.Project) -> None:
    mark_evaluation(project, [1, 2, 3], name="holdout")
    assert evaluation_items(project, "holdout") == {1, 2, 3}
    assert evaluation_sets(project) == {"holdout": [1, 2, 3]}
    with pytest.raises(ValidationError, match="not in project"):
        mark_evaluation(project, [99])
    with pytest.raises(ValidationError, match="no evaluation set 'x'"):
        evaluation_items(project, "x")
    q = project.queue("ana")
    for _ in range(3):
        q.claim()
        q.submit(Choice("pos"))
    assert len(check_evaluation_set(project, name="holdout")) == 3
    # a model's label lands on item 2 after the human one: it is now the item's final label
    project.add_annotations([Annotation(item_id=2, regions=(Choice("neg"),),
                                        author="resnet", source="model")])
    with pytest.raises(CircularValidationError, match="evaluation set 'holdout'.*item 2"):
        check_evaluation_set(project, name="holdout")
    final = check_evaluation_set(project, name="holdout", allow_machine=True,
                                 reason="the model label was checked by hand")
    assert set(final["item_id"]) == {1, 2, 3}
    assert overrides(project)["what"].tolist() == ["evaluation set 'holdout'"]
