"""Predictions as stored: checked like an annotation, shown once per call, and
machine-accepted items counted done everywhere (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

import labelnb
from labelnb import Choice, Schema, Span
from labelnb.errors import SchemaError
from labelnb.prelabel import route_machine_labels


def test_a_prediction_a_person_could_not_submit_is_refused(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["pos", "neg"]))
    p.add_items(["a", "b"])
    with pytest.raises(SchemaError, match=r"add_predictions\('clf-v1'\), prediction #1: item 2: "
                                          r"a 'choice' project takes one Choice"):
        p.add_predictions("clf-v1", [(1, [Choice("pos")], 0.9),
                                     (2, [Choice("pos"), Choice("neg")], 0.99)])
    assert p.predictions().empty  # all or nothing
    s = labelnb.Project.create(db_url, "s", Schema("spans", ["PER"]))
    [ada] = s.add_items(["Ada Lovelace"])
    with pytest.raises(SchemaError, match="given twice"):
        s.add_predictions("ner-v1", {ada: [Span(0, 3, "PER"), Span(0, 3, "PER")]})
    # routing then works on what was stored
    p.add_predictions("clf-v1", [(1, [Choice("pos")], 0.99), (2, [Choice("neg")], 0.99)])
    assert set(route_machine_labels(p)["action"]) == {"accepted"}


def test_a_rerun_of_a_model_version_replaces_its_suggestions(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "s", Schema("spans", ["PER", "ORG"]))
    p.add_items(["Ada at IBM"])
    p.add_predictions("ner-v1", {1: [Span(0, 3, "PER")]})
    p.add_predictions("ner-v1", {1: [Span(0, 3, "PER")]})  # the same run again
    assert p.prediction_regions(1) == [Span(0, 3, "PER")]
    # one call may give an item several rows: all of them are its suggestions
    p.add_predictions("ner-v2", [(1, [Span(0, 3, "PER")]), (1, [Span(7, 10, "ORG")])])
    assert p.prediction_regions(1) == [Span(0, 3, "PER"), Span(7, 10, "ORG")]
    assert p.prediction_regions(1, "ner-v1") == [Span(0, 3, "PER")]


def test_machine_accepted_items_are_done_in_items(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["pos", "neg"]))
    p.add_items(["a", "b", "c"])
    p.add_predictions("clf-v1", [(1, [Choice("pos")], 0.99), (2, [Choice("neg")], 0.99)])
    route_machine_labels(p)
    assert p.stats()["items_done"] == 2
    assert p.items(status="done")["id"].tolist() == [1, 2]
    assert p.items(status="todo")["id"].tolist() == [3]
