"""Job payloads are checked up front: every bad field is named, with its row and the
fix (they were raw TypeErrors, numpy shape errors and scikit-learn messages), unknown
config keys are refused, and a val split with none of the training labels warns."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelnb.errors import ValidationError
from labelnb.jobs import JobFailed, bodies, submit

TRAIN = {"texts": ["great film", "loved it", "wonderful cast", "awful plot", "boring",
                   "bad acting"],
         "labels": ["pos", "pos", "pos", "neg", "neg", "neg"]}
VAL = {"texts": ["great cast", "boring plot"], "labels": ["pos", "neg"]}
F_VAL = {"features": [[1.0, 2.0]], "labels": [0]}
GPU_JOBS = Path(__file__).resolve().parents[2] / "gpu_jobs"


def _feats(rows: list[Any], labels: list[Any] | None = None) -> dict[str, Any]:
    return {"features": rows, "labels": labels or [0, 1, 0, 1][:len(rows)]}


RETRAIN_CASES = [
    ([1, 2], r"the payload is a list \(\[1, 2\]\), not a dict; give \{'train'"),
    (None, r"the payload is a NoneType \(None\), not a dict; give"),
    ({"train": _feats([[1, 2], [3], [1, 1], [0, 0]]), "val": F_VAL},
     r"field 'train.features', row 1 \(0-based\) has 1 numbers and row 0 has 2; give every"),
    ({"train": _feats([[1, 2], [math.nan, 1], [1, 1], [0, 0]]), "val": F_VAL},
     r"field 'train.features', row 1 \(0-based\), feature 0 is nan; give finite numbers"),
    ({"train": _feats([[1, 2], "ab", [1, 1], [0, 0]]), "val": F_VAL},
     r"field 'train.features', row 1 \(0-based\) is 'ab', not a list of numbers"),
    ({"train": _feats([[1, 2], [3, 1], [1, 1], [0, 0]]), "val": _feats([[1, 2, 3]])},
     r"field 'val.features' has 3 numbers per row and 'train.features' 2"),
    ({"train": {"texts": ["a", None, "b c", "d"], "labels": [0, 1, 0, 1]}, "val": VAL},
     r"field 'train.texts', row 1 \(0-based\) is None, not a string; give a text"),
    ({"train": {**TRAIN, "labels": [None, *TRAIN["labels"][1:]]}, "val": VAL},
     r"field 'train.labels', row 0 \(0-based\) is None, not a label; give a string"),
    ({"train": {**TRAIN, "labels": ["pos", 1, "pos", "neg", "neg", "neg"]}, "val": VAL},
     r"field 'train.labels' mixes kinds: row 0 \(0-based\) is a string and row 1 a number"),
    ({"train": TRAIN, "val": {**VAL, "labels": [0, 1]}},
     r"field 'train.labels' and field 'val.labels' hold different kinds"),
    ({"train": {"texts": {"a": 1}, "labels": ["p", "n"]}, "val": VAL},
     r"field 'train.texts' is a dict; give a list"),
    ({"train": TRAIN, "val": VAL, "config": [1]},
     r"field 'config' is a list \(\[1\]\); give a dict such as"),
    ({"train": TRAIN, "val": VAL, "config": {"c": 5}},
     r"field 'config' has unknown key\(s\) \['c'\]; the known keys are "
     r"\['C', 'max_iter', 'seed'\]"),
    ({"train": TRAIN, "val": VAL, "config": {"C": "big"}},
     r"field 'config.C' is 'big'; give a number > 0"),
    ({"train": TRAIN, "val": VAL, "config": {"C": -1}}, r"field 'config.C' is -1; give"),
    ({"train": TRAIN, "val": VAL, "config": {"max_iter": 0}},
     r"field 'config.max_iter' is 0; give an integer >= 1"),
]


@pytest.mark.parametrize(("payload", "msg"), RETRAIN_CASES)
def test_retrain_names_the_bad_field_row_and_fix(payload: Any, msg: str) -> None:
    with pytest.raises(ValidationError, match=msg):
        bodies.retrain(payload)
    with pytest.raises(JobFailed, match="ValidationError: retrain: .*" + msg):
        submit("retrain", payload).result(timeout=60)


SAM_CASES = [
    ([1, 2], r"sam_embed: the payload is a list \(\[1, 2\]\), not a dict; give"),
    (None, r"sam_embed: the payload is a NoneType \(None\), not a dict"),
    ({"model": {"tiny": True}, "images": "abc"},
     r"field 'images' is a str; give a list of encoded images"),
    ({"model": {"tiny": True}, "images": [b"x", "abc"]},
     r"field 'images', image 2 \(row 1, 0-based\) is a str, not bytes; give the encoded"),
    ({"model": "vit_h", "images": []},
     r"field 'model' is a str \('vit_h'\), not a model config; give \{'model_type'"),
    ({"model": {"tiny": True, "seed": "abc"}, "images": []},
     r"field 'model.seed' is 'abc'; give an integer >= 0"),
    ({"model": {"tiny": True, "seed": -1}, "images": []},
     r"field 'model.seed' is -1; give an integer >= 0"),
    ({"model": {"model_type": "vit_b", "checkpoint": "/nope/sam.pth", "sha256": "abc"},
      "images": []},
     r"field 'sha256' is 'abc'; give the checkpoint's sha256 as 64 hex digits"),
]


@pytest.mark.parametrize(("payload", "msg"), SAM_CASES)
def test_sam_embed_names_the_bad_field_and_fix(payload: Any, msg: str) -> None:
    with pytest.raises(ValidationError, match=msg):
        bodies.sam_embed(payload)


def test_good_payloads_still_train_numpy_labels_and_whole_float_labels() -> None:
    rows = [[0.0, 0.1], [0.1, 0.0], [1.0, 0.9], [0.9, 1.0]]
    out = bodies.retrain({"train": {"features": np.array(rows), "labels": np.array([0, 0, 1, 1])},
                          "val": {"features": [[0.0, 0.0], [1.0, 1.0]], "labels": [0.0, 1.0]},
                          "config": {"C": 10, "seed": 1}})
    assert out["metrics"]["accuracy"] == 1.0 and out["config"] == {"C": 10, "max_iter": 1000,
                                                                   "seed": 1}


def test_retrain_warns_when_no_val_label_is_a_training_label() -> None:
    logs: list[str] = []
    val = {"texts": ["great cast", "boring plot"], "labels": ["good", "bad"]}
    with pytest.warns(UserWarning, match=r"no label of the val split is a label of the train "
                                         r"split .*Fix: validate on examples"):
        out = bodies.retrain({"train": TRAIN, "val": val}, log=logs.append)
    assert out["metrics"]["accuracy"] == 0.0
    assert any("no label of the val split" in m for m in logs)
    with warnings.catch_warnings():  # overlapping labels: no warning
        warnings.simplefilter("error", UserWarning)
        bodies.retrain({"train": TRAIN, "val": {**val, "labels": ["pos", "other"]}})


def test_the_modal_apps_refuse_bad_payloads_the_same_way() -> None:
    pytest.importorskip("modal")
    pytest.importorskip("segment_anything")
    sys.path.insert(0, str(GPU_JOBS))
    try:
        import retrain as retrain_app
        import sam_embed as sam_app
    finally:
        sys.path.remove(str(GPU_JOBS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no access to the mounted Volume"
        with pytest.raises(ValidationError, match=r"field 'config' has unknown key\(s\)"):
            retrain_app.retrain.local({"train": TRAIN, "val": VAL, "config": {"c": 5}})
        with pytest.raises(ValidationError, match=r"field 'model' is a str"):
            sam_app.sam_embed.local({"model": "vit_h", "images": []})
