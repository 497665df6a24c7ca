"""Review fixes of the agreement metrics: the tuple long form in krippendorff_alpha, one
input-shape rule (tuple = long form, list/array = matrix), span_f1's undefined per-label
scores, Dawid-Skene's stopping rule, and the documented zero-area box and one-annotation
tier cases."""

from __future__ import annotations

import warnings
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from labelnb.errors import ValidationError
from labelnb.metrics import (
    DawidSkene,
    DegenerateWarning,
    MajorityVote,
    OneCoinDawidSkene,
    box_agreement,
    box_iou,
    fleiss_kappa,
    krippendorff_alpha,
    soft_labels,
    span_f1,
)
from labelnb.metrics.tiers import decide
from labelnb.types import Box, Choice, Span

# -- 1. krippendorff_alpha reads the tuple (items, annotators, labels) as the long form --

TUPLE = ([1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 0, 1], [1, 1, 2, 1, 2, 2])


def test_alpha_tuple_is_the_long_form() -> None:
    """The tuple was read as a 3-coder x 6-unit matrix: 0.0811 instead of 0.4444."""
    frame = pd.DataFrame(dict(zip(("item", "annotator", "label"), TUPLE, strict=True)))
    # the same labels as coders x units: coder 0 gave 1, 2, 2; coder 1 gave 1, 1, 2
    ref = krippendorff.alpha(reliability_data=[[1, 2, 2], [1, 1, 2]],
                             level_of_measurement="nominal")
    assert krippendorff_alpha(TUPLE) == pytest.approx(ref)
    assert krippendorff_alpha(TUPLE) == pytest.approx(krippendorff_alpha(frame))
    assert krippendorff_alpha(TUPLE) == pytest.approx(4 / 9)
    for level in ("ordinal", "interval", "ratio"):
        assert krippendorff_alpha(TUPLE, level) == pytest.approx(krippendorff.alpha(
            reliability_data=[[1, 2, 2], [1, 1, 2]], level_of_measurement=level))


def test_alpha_tuple_with_missing_and_string_labels() -> None:
    t = (["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4"], ["a", "b"] * 4,
         ["x", "x", "y", None, "x", "y", "y", "y"])
    frame = pd.DataFrame({"item": t[0], "annotator": t[1], "label": t[2]})
    ref = krippendorff.alpha(reliability_data=[[0, 1, 0, 1], [0, np.nan, 1, 1]],
                             level_of_measurement="nominal")
    assert krippendorff_alpha(t) == pytest.approx(ref)
    assert krippendorff_alpha(t) == pytest.approx(krippendorff_alpha(frame))


def test_alpha_list_of_three_rows_is_a_coders_by_units_matrix() -> None:
    rows = [list(r) for r in TUPLE]
    ref = krippendorff.alpha(reliability_data=rows, level_of_measurement="nominal")
    assert krippendorff_alpha(rows) == pytest.approx(ref)
    assert krippendorff_alpha(np.array(rows)) == pytest.approx(ref)


@pytest.mark.parametrize("bad", [((1, 2), (1, 2), (1, 2), (1, 2)), ([[1, 2]], [1], [1])])
def test_alpha_tuple_of_another_shape_is_refused_not_read_as_a_matrix(bad: Any) -> None:
    with pytest.raises(ValidationError, match="krippendorff_alpha: a tuple .*matrix goes in a "
                                              "list or an array"):
        krippendorff_alpha(bad)


# -- 2. one rule: tuple = long form, list / list of lists / array = matrix ------------

COUNTS = [[3, 0], [0, 3], [2, 1]]  # three items x two categories, three raters each


def test_fleiss_list_of_three_rows_is_the_count_matrix() -> None:
    ref = sm_fleiss(np.array(COUNTS))
    assert fleiss_kappa(COUNTS) == pytest.approx(ref)
    assert fleiss_kappa(np.array(COUNTS)) == pytest.approx(ref)


def test_fleiss_tuple_is_the_long_form() -> None:
    frame = pd.DataFrame({"item": [1, 1, 1, 2, 2], "annotator": list("abcab"),
                          "label": list("xxyyy")})
    as_tuple = tuple(frame[c].tolist() for c in ("item", "annotator", "label"))
    assert fleiss_kappa(as_tuple) == pytest.approx(fleiss_kappa(frame))
    with pytest.raises(ValidationError, match="fleiss_kappa: a tuple .*got 4 elements"):
        fleiss_kappa(((3, 0), (0, 3), (2, 1), (1, 2)))  # was read as a count matrix


# three annotators' labels of four items, as a 3-row matrix (a list of lists)
MATRIX = [["cat", "dog", "cat", "dog"], ["cat", "cat", "dog", "dog"], ["dog", "dog", "cat", "cat"]]
AGGREGATORS = [
    ("MajorityVote", lambda d: MajorityVote(tie="first").fit(d).probas_),
    ("soft_labels", soft_labels),
    ("DawidSkene", lambda d: DawidSkene().fit(d).probas_),
    ("OneCoinDawidSkene", lambda d: OneCoinDawidSkene().fit(d).probas_),
]


@pytest.mark.parametrize(("name", "fit"), AGGREGATORS, ids=[a[0] for a in AGGREGATORS])
def test_aggregators_do_not_silently_read_a_three_row_list(name: str, fit: Any) -> None:
    """A 3-row matrix given as a list was silently read as (items, annotators, labels).
    The aggregators have no matrix form: the list is still read as the tuple (old
    callers), but never silently."""
    with pytest.warns(FutureWarning, match=f"{name}: read a list of three sequences as "
                                           r"\(items, annotators, labels\); pass them as a "
                                           "tuple"):
        fit(MATRIX)


@pytest.mark.parametrize(("name", "fit"), AGGREGATORS, ids=[a[0] for a in AGGREGATORS])
def test_aggregators_refuse_other_matrices_and_take_the_tuple(name: str, fit: Any) -> None:
    with pytest.raises(ValidationError, match=f"{name}: labels must be a long DataFrame.*"
                                              "got ndarray of shape"):
        fit(np.array(MATRIX))
    with pytest.raises(ValidationError, match=f"{name}: labels must be.*got list"):
        fit(MATRIX + [["cat"] * 4])
    items = [1, 1, 1, 2, 2, 2]
    annotators = ["a", "b", "c"] * 2
    labels = ["cat", "cat", "dog", "dog", "dog", "dog"]
    frame = pd.DataFrame({"item": items, "annotator": annotators, "label": labels})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the tuple is the long form, silently
        got = fit((items, annotators, labels))
    pd.testing.assert_frame_equal(got, fit(frame))


# -- 3. span_f1: labels with undefined precision / recall are named -------------------

def test_span_f1_warns_about_a_label_without_gold_spans() -> None:
    """macro_recall 0.5 next to recall 1.0 came without a word: B has no gold span, so
    its recall is 0/0, counted as 0.0 (scikit-learn's zero_division=0)."""
    with pytest.warns(DegenerateWarning, match=r"no gold spans of label\(s\) \['B'\]: their "
                                               "recall is undefined"):
        r = span_f1([Span(0, 3, "A")], [Span(0, 3, "A"), Span(5, 7, "B")])
    assert (r.recall, r.macro_recall) == (1.0, 0.5)
    assert r.per_label.loc["B", "recall"] == 0.0
    from sklearn.metrics import precision_recall_fscore_support

    ref = precision_recall_fscore_support(["A", "-"], ["A", "B"], labels=["A", "B"],
                                          average="macro", zero_division=0)
    assert (r.macro_precision, r.macro_recall, r.macro_f1) == pytest.approx(ref[:3])


def test_span_f1_warns_about_a_label_without_predicted_spans() -> None:
    with pytest.warns(DegenerateWarning, match=r"no predicted spans of label\(s\) \['B'\]: "
                                               "their precision is undefined"):
        r = span_f1([Span(0, 3, "A"), Span(5, 7, "B")], [Span(0, 3, "A")])
    assert (r.precision, r.macro_precision) == (1.0, 0.5)


def test_span_f1_is_silent_when_every_label_is_on_both_sides() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateWarning)
        r = span_f1([Span(0, 3, "A"), Span(5, 7, "B")], [Span(0, 3, "A"), Span(5, 8, "B")])
    assert (r.macro_precision, r.macro_recall) == (0.5, 0.5)


# -- 4. Dawid-Skene stops on the posteriors too ----------------------------------------

# /tmp/metrics_check/ds_case26.csv: 32 items (i000..i031) x annotators w0..w3, label c<d>
# or '.' for none. With the old defaults EM stopped after 16 rounds on a plateau, with
# item i030 at P(c1) = 0.777; converged, P(c0) = 1.0 (143 rounds).
CASE26 = ("  .10. 2..2 100. 1112 2022 0211 .111 0000 02.2 1.11 0... 2222 2202 ..22 22.2 021. "
          "0010 0.00 2112 2... 0211 2.22 0.0. 00.1 0000 1111 .222 1.1. .000 0211 .101 .22.")


def case26() -> pd.DataFrame:
    rows = [(f"i{i:03d}", f"w{a}", f"c{v}")
            for i, row in enumerate(CASE26.split()) for a, v in enumerate(row) if v != "."]
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


@pytest.mark.parametrize("model", [DawidSkene, OneCoinDawidSkene])
def test_dawid_skene_defaults_reach_the_converged_posteriors(model: Any) -> None:
    df = case26()
    assert len(df) == 98
    converged = model(n_iter=5000, tol=0.0).fit(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateWarning)
        fit = model().fit(df)
    assert fit.converged_
    assert np.abs(fit.probas_ - converged.probas_).to_numpy().max() < 1e-4
    assert fit.labels_.equals(converged.labels_)


def test_dawid_skene_case26_item_i030() -> None:
    fit = DawidSkene().fit(case26())
    assert fit.probas_.loc["i030", "c0"] == pytest.approx(1.0, abs=1e-4)
    assert fit.labels_["i030"] == "c0"
    assert fit.n_iter_ > 16


def test_dawid_skene_warns_when_n_iter_runs_out() -> None:
    df = case26()
    with pytest.warns(DegenerateWarning, match="did not converge in n_iter=5 rounds.*raise "
                                               "n_iter"):
        short = DawidSkene(n_iter=5).fit(df)
    assert not short.converged_ and short.n_iter_ == 5
    with warnings.catch_warnings():  # tol=0 asks for exactly n_iter rounds: no warning
        warnings.simplefilter("error", DegenerateWarning)
        exact = DawidSkene(n_iter=5, tol=0.0).fit(df)
        also = OneCoinDawidSkene(n_iter=5, proba_tol=0.0).fit(df)
    assert exact.n_iter_ == 5 and also.n_iter_ == 5


def test_dawid_skene_defaults_and_proba_tol_check() -> None:
    ds = DawidSkene()
    assert (ds.n_iter, ds.tol, ds.proba_tol) == (1000, 1e-5, 1e-7)
    with pytest.raises(ValidationError, match="proba_tol must be >= 0"):
        DawidSkene(proba_tol=-1.0).fit(case26())


# -- 5. documented cases ---------------------------------------------------------------

def test_identical_zero_area_boxes_have_iou_zero_and_never_match() -> None:
    dot = Box(1, 1, 1, 1, "a")
    assert box_iou([dot], [dot]).tolist() == [[0.0]]
    with pytest.warns(DegenerateWarning):
        r = box_agreement([dot], [dot])
    assert (r.matched, r.missed, r.extra) == (0, 1, 1)
    assert "zero-area" in (box_iou.__doc__ or "") and "zero-area" in (box_agreement.__doc__ or "")


def test_decide_on_one_annotation_is_documented() -> None:
    d = decide([[Choice("cat")]], "choice")
    assert (d.tier, d.confidence, d.n) == ("unanimous", 1.0, 1)
    assert "single" in (decide.__doc__ or "")
