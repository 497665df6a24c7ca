"""Small inputs that used to end in raw exceptions or silent acceptance."""

from __future__ import annotations

from pathlib import Path

import pytest

import labelnb
from labelnb import Annotation, Choice, Polygon, Schema
from labelnb.errors import SchemaError, StoreError, ValidationError
from labelnb.metrics.redundancy import AdaptiveRedundancy


def test_small_bad_inputs_get_labelnb_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"three slashes .*'sqlite:///rel.db'"):
        labelnb.open("sqlite://rel.db")
    with pytest.raises(ValidationError, match="field 'points' is NoneType"):
        Polygon(None, "a")  # type: ignore[arg-type]
    p = labelnb.Project.create(tmp_path / "p.db", "p", Schema("choice", ["pos", "neg"]))
    with pytest.raises(ValidationError, match="items is NoneType"):
        p.add_items(None)
    with pytest.raises(SchemaError, match="set_schema takes a labelnb.Schema, got a dict"):
        p.set_schema({"kind": "choice", "labels": ["a"]})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"skills\['pos'\] = 'high' is not a number"):
        p.annotators.add("ana", skills={"pos": "high"})  # type: ignore[dict-item]
    [i] = p.add_items(["x"])
    with pytest.raises(ValidationError, match=r"'schema_version' is 99, .* versions 1..1"):
        p.add_annotations([Annotation(item_id=i, regions=(Choice("pos"),), author="ana",
                                      schema_version=99)])
    assert p.annotations().empty


def test_a_prediction_without_a_score_is_not_called_missing() -> None:
    d = AdaptiveRedundancy().decide([Choice("a")], [Choice("a")], None, "choice")
    assert d.reason == "model confidence unknown"
    d = AdaptiveRedundancy().decide([Choice("a")], None, None, "choice")
    assert d.reason == "no model prediction"
