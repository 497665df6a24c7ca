"""Long-format input of the aggregators: missing labels in the tuple form, and an
annotator with two labels of one item."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelnb.errors import ValidationError
from labelnb.metrics import DawidSkene, MajorityVote, OneCoinDawidSkene, soft_labels

ITEMS = [1, 1, 1, 2, 2, 2]
ANNOTATORS = ["a", "b", "c", "a", "b", "c"]


@pytest.mark.parametrize("missing", [np.nan, None, pd.NA])
@pytest.mark.parametrize("container", [tuple, list])
def test_tuple_of_lists_drops_missing_string_labels(missing: object, container: type) -> None:
    """numpy made ['cat', nan] a string array: the missing label became a class 'nan'."""
    labels = ["cat", missing, missing, "dog", "dog", missing]
    data = container([ITEMS, ANNOTATORS, labels])
    frame = pd.DataFrame({"item": ITEMS, "annotator": ANNOTATORS, "label": labels})
    mv = MajorityVote(tie="first").fit(data)
    assert list(mv.classes_) == ["cat", "dog"]
    assert mv.labels_.to_dict() == {1: "cat", 2: "dog"}
    assert mv.probas_.to_dict("index") == MajorityVote(tie="first").fit(frame).probas_.to_dict(
        "index")
    assert soft_labels(data).columns.tolist() == ["cat", "dog"]
    assert list(DawidSkene().fit(data).classes_) == ["cat", "dog"]
    assert list(OneCoinDawidSkene().fit(data).classes_) == ["cat", "dog"]


def test_tuple_with_a_missing_string_item_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="row 1 .*field 'item' is missing"):
        MajorityVote().fit((["x", np.nan], ["a", "b"], ["cat", "dog"]))


def test_tuple_arrays_and_numbers_are_unchanged() -> None:
    labels = np.array(["cat", "cat", "dog", "dog", "dog", "cat"])
    assert MajorityVote().fit_predict((np.array(ITEMS), ANNOTATORS, labels)).to_dict() == {
        1: "cat", 2: "dog"}
    ints = MajorityVote().fit((ITEMS, ANNOTATORS, [1, None, 1, 2, 2, None]))
    assert list(ints.classes_) == [1, 2]


DUP = pd.DataFrame({"item": [1] * 5, "annotator": ["ana", "ana", "ana", "bo", "cy"],
                    "label": ["cat", "cat", "cat", "dog", "dog"]})


@pytest.mark.parametrize("fit", [lambda d: MajorityVote(tie="abstain").fit(d),
                                 lambda d: soft_labels(d)], ids=["MajorityVote", "soft_labels"])
def test_votes_refuse_an_annotator_counted_twice(fit: object) -> None:
    """ana's label exported three times outvoted bo and cy: one vote per annotator, as
    fleiss_kappa and krippendorff_alpha require."""
    with pytest.raises(ValidationError,
                       match="annotator 'ana' rated item 1 more than once; keep one label"):
        fit(DUP)  # type: ignore[operator]
    with pytest.raises(ValidationError, match="annotator 'ana' rated item 1"):
        fit((DUP["item"].tolist(), DUP["annotator"].tolist(), DUP["label"].tolist()))  # type: ignore[operator]
    one = DUP.drop_duplicates(["item", "annotator"], keep="last")
    assert MajorityVote().fit_predict(one).to_dict() == {1: "dog"}
    assert soft_labels(one).loc[1].round(3).tolist() == [0.333, 0.667]


def test_dawid_skene_keeps_repeated_readings() -> None:
    """Dawid-Skene models each reading (their 1979 data: one anaesthetist rated each
    patient three times); it keeps them, as documented, where the votes refuse them."""
    ds = DawidSkene().fit(DUP)
    assert ds.labels_.index.tolist() == [1]
