"""Cohen's kappa, Fleiss' kappa and Krippendorff's alpha against the reference
implementations (scikit-learn, statsmodels, the ``krippendorff`` package) and published
values."""

from __future__ import annotations

import math
import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from labelnb.errors import ValidationError
from labelnb.metrics import DegenerateWarning, cohen_kappa, fleiss_kappa, krippendorff_alpha

PROPS = settings(max_examples=60, deadline=None)
NAN = float("nan")
LEVELS = ("nominal", "ordinal", "interval", "ratio")

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
# 4 observers x 12 units, with missing values.
K2011 = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
         [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]
# The 3 coders x 15 units example (Wikipedia's "Krippendorff's alpha" article, also the
# krippendorff package's test data): nominal 0.691, interval 0.811.
WIKI = [[NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
        [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
        [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4]]


# -- Cohen ------------------------------------------------------------------------------

@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@PROPS
@given(data=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2,
                     max_size=60))
def test_cohen_matches_sklearn(weights: str | None, data: list[tuple[int, int]]) -> None:
    a = [x for x, _ in data]
    b = [y for _, y in data]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cohen_kappa_score(a, b, weights=weights)
        ours = cohen_kappa(a, b, weights=weights)  # type: ignore[arg-type]
    if math.isnan(ref):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_labels_fix_order_and_filter(weights: str | None) -> None:
    rng = np.random.default_rng(3)
    a = rng.choice(["lo", "mid", "hi", "other"], 200)
    b = np.where(rng.random(200) < 0.6, a, rng.choice(["lo", "mid", "hi"], 200))
    labels = ["lo", "mid", "hi"]
    ref = cohen_kappa_score(a, b, labels=labels, weights=weights)
    assert cohen_kappa(a, b, weights=weights, labels=labels) == pytest.approx(ref)  # type: ignore[arg-type]


def test_cohen_strings_and_missing() -> None:
    a = ["cat", "dog", None, "dog", "cat", "bird"]
    b = ["cat", "cat", "dog", float("nan"), "cat", "bird"]
    ref = cohen_kappa_score(["cat", "dog", "cat", "bird"], ["cat", "cat", "cat", "bird"])
    assert cohen_kappa(a, b) == pytest.approx(ref)


def test_cohen_degenerate() -> None:
    with pytest.warns(DegenerateWarning, match="one category"):
        assert math.isnan(cohen_kappa(["a"] * 5, ["a"] * 5))
    with pytest.warns(DegenerateWarning, match="no pair"):
        assert math.isnan(cohen_kappa([], []))
    with pytest.raises(ValidationError):
        cohen_kappa([1, 2], [1])
    with pytest.raises(ValidationError):
        cohen_kappa([1, 2], [1, 2], weights="cubic")  # type: ignore[arg-type]


# -- Fleiss -----------------------------------------------------------------------------

@PROPS
@given(n_items=st.integers(2, 30), n_raters=st.integers(2, 7), k=st.integers(2, 5),
       seed=st.integers(0, 2**32 - 1))
def test_fleiss_matches_statsmodels(n_items: int, n_raters: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_raters, rng.dirichlet(np.ones(k)), size=n_items)
    p = counts.sum(0) / counts.sum()
    if (p**2).sum() >= 1 - 1e-12:
        with pytest.warns(DegenerateWarning):
            assert math.isnan(fleiss_kappa(counts))
        return
    assert fleiss_kappa(counts) == pytest.approx(sm_fleiss(counts), abs=1e-10)


def test_fleiss_long_frame_equals_counts() -> None:
    rng = np.random.default_rng(0)
    rows = [(i, f"r{r}", rng.choice(["a", "b", "c"])) for i in range(40) for r in range(4)]
    df = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    counts = pd.crosstab(df["item"], df["label"]).to_numpy()
    assert fleiss_kappa(df) == pytest.approx(sm_fleiss(counts))
    assert fleiss_kappa((df["item"], df["annotator"], df["label"])) == pytest.approx(
        sm_fleiss(counts))


def test_fleiss_unequal_counts_hand_computed() -> None:
    # item 1: x, x, y (3 raters); item 2: y, y (2 raters); item 3: x (1 rater, dropped)
    df = pd.DataFrame({"item": [1, 1, 1, 2, 2, 3], "annotator": list("abcabc"),
                       "label": ["x", "x", "y", "y", "y", "x"]})
    p_bar = (2 / 6 + 2 / 2) / 2
    p_e = (2 / 5) ** 2 + (3 / 5) ** 2
    assert fleiss_kappa(df) == pytest.approx((p_bar - p_e) / (1 - p_e))


def test_fleiss_degenerate_and_errors() -> None:
    with pytest.warns(DegenerateWarning, match="two or more"):
        assert math.isnan(fleiss_kappa([[1, 0], [0, 1]]))  # one rater per item
    with pytest.warns(DegenerateWarning, match="one category"):
        assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))
    with pytest.warns(DegenerateWarning):
        assert math.isnan(fleiss_kappa(np.zeros((0, 3))))
    with pytest.raises(ValidationError):
        fleiss_kappa([[1.5, 2]])
    with pytest.raises(ValidationError):
        fleiss_kappa([1, 2, 3])


# -- Krippendorff -----------------------------------------------------------------------

@pytest.mark.parametrize(("level", "published"), [
    ("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)])
def test_alpha_krippendorff_2011_example(level: str, published: float) -> None:
    assert round(krippendorff_alpha(K2011, level), 3) == published  # type: ignore[arg-type]


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.691), ("interval", 0.811)])
def test_alpha_three_coder_example(level: str, published: float) -> None:
    assert round(krippendorff_alpha(WIKI, level), 3) == published  # type: ignore[arg-type]


@pytest.mark.parametrize("level", LEVELS)
@PROPS
@given(coders=st.integers(2, 6), units=st.integers(2, 25), k=st.integers(2, 6),
       missing=st.floats(0.0, 0.6), seed=st.integers(0, 2**32 - 1))
def test_alpha_matches_krippendorff_package(level: str, coders: int, units: int, k: int,
                                            missing: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(1, k + 1, size=(coders, units)).astype(float)
    data[rng.random(data.shape) < missing] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        except ValueError:  # the package refuses data with one value
            ref = float("nan")
        ours = krippendorff_alpha(data, level)  # type: ignore[arg-type]
    if math.isnan(ref):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(ref, abs=1e-9)


def test_alpha_none_strings_and_long_frame() -> None:
    data = [["a", "b", None, "a"], ["a", "b", "b", None], [None, "a", "b", "a"]]
    codes = {"a": 1.0, "b": 2.0, None: np.nan}
    ref = krippendorff.alpha(reliability_data=[[codes[v] for v in row] for row in data],
                             level_of_measurement="nominal")
    assert krippendorff_alpha(data) == pytest.approx(ref)
    long = pd.DataFrame([(u, c, v) for c, row in enumerate(data) for u, v in enumerate(row)],
                        columns=["annotator", "item", "label"])
    long = long.rename(columns={"annotator": "item", "item": "annotator"})
    assert krippendorff_alpha(long) == pytest.approx(ref)


def test_alpha_value_domain_orders_ordinal() -> None:
    data = [["low", "mid", "high", "mid"], ["low", "high", "high", "low"]]
    order = ["low", "mid", "high"]
    num = [[order.index(v) + 1 for v in row] for row in data]
    ref = krippendorff.alpha(reliability_data=num, level_of_measurement="ordinal")
    assert krippendorff_alpha(data, "ordinal", value_domain=order) == pytest.approx(ref)


def test_alpha_degenerate_and_errors() -> None:
    with pytest.warns(DegenerateWarning, match="two or more"):
        assert math.isnan(krippendorff_alpha([[1, 2, 3]]))  # one coder
    with pytest.warns(DegenerateWarning, match="two or more"):
        assert math.isnan(krippendorff_alpha([[1, NAN], [NAN, 2]]))  # no overlap
    with pytest.warns(DegenerateWarning, match="equal"):
        assert math.isnan(krippendorff_alpha([[1, 1], [1, 1]]))
    with pytest.warns(DegenerateWarning):
        assert math.isnan(krippendorff_alpha([[NAN, NAN], [NAN, NAN]]))
    with pytest.raises(ValidationError):
        krippendorff_alpha(K2011, "cardinal")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        krippendorff_alpha([["a", "b"], ["a", "a"]], "interval")
    with pytest.raises(ValidationError):
        krippendorff_alpha([1, 2, 3])


def test_inputs_that_gave_silently_wrong_numbers_are_handled() -> None:
    """nan among string labels in a list is missing (numpy made it the string 'nan', a
    category); a long frame without a 'label' column is an error, not a coders x units
    matrix of ids; infinite interval values, repeated kappa labels and non-count Fleiss
    matrices are refused by name."""
    from labelnb.errors import ValidationError
    from labelnb.metrics import cohen_kappa, fleiss_kappa, krippendorff_alpha

    nan = float("nan")
    data = [["a", "b", nan, "a"], ["a", "b", "c", "b"]]
    ref = krippendorff.alpha(reliability_data=[[0, 1, nan, 0], [0, 1, 2, 1]],
                             level_of_measurement="nominal")
    assert krippendorff_alpha(data) == pytest.approx(ref)
    assert krippendorff_alpha([["a", "b", None, "a"], ["a", "b", "c", "b"]]) == pytest.approx(ref)
    long = pd.DataFrame({"item": [1, 1, 2, 2], "annotator": ["a", "b", "a", "b"],
                         "rating": ["x", "x", "y", "y"]})
    for fn in (krippendorff_alpha, fleiss_kappa):
        with pytest.raises(ValidationError, match="no label column"):
            fn(long)
    with pytest.raises(ValidationError, match="needs finite values"):
        krippendorff_alpha([[1.0, float("inf")], [1.0, 2.0]], "interval")
    with pytest.raises(ValidationError, match="field 'labels' repeats"):
        cohen_kappa([1, 2], [1, 2], labels=[1, 1, 2])
    with pytest.raises(ValidationError, match="not counts"):
        fleiss_kappa([["a", "b"]])


def test_fleiss_refuses_a_rater_counted_twice_for_an_item() -> None:
    from labelnb.errors import ValidationError
    from labelnb.metrics import fleiss_kappa

    df = pd.DataFrame({"item": [1, 1, 1, 2, 2], "annotator": ["a", "b", "a", "a", "b"],
                       "label": ["x", "x", "y", "y", "y"]})
    with pytest.raises(ValidationError, match="annotator 'a' rated item 1 more than once"):
        fleiss_kappa(df)
    assert np.isfinite(fleiss_kappa(df.drop_duplicates(["item", "annotator"], keep="last")))


def test_long_frames_with_regions_categoricals_and_nullable_labels() -> None:
    """Three dtypes the long-format reader got wrong: Choice regions after a missing first
    label (left unwrapped: votes split by score), an ordered Categorical (ranked
    alphabetically), nullable Int64 with a missing value (labels came back as floats)."""
    from labelnb import Choice
    from labelnb.metrics import MajorityVote

    df = pd.DataFrame({"item": [1] * 4, "annotator": list("abcd"),
                       "label": [None, Choice("x", score=0.9), Choice("x", score=0.8),
                                 Choice("y")]})
    probas = MajorityVote(tie="first").fit(df).probas_
    assert list(probas.columns) == ["x", "y"]
    assert probas.loc[1].tolist() == pytest.approx([2 / 3, 1 / 3])
    cat = pd.Categorical(["lo", "lo", "hi", "mid", "mid", "mid"],
                         categories=["lo", "mid", "hi"], ordered=True)
    frame = pd.DataFrame({"item": [1, 1, 2, 2, 3, 3], "annotator": list("ababab"),
                          "label": cat})
    codes = np.array([[0, 2, 1], [0, 1, 1]], dtype=float)  # coders x units, in rank order
    want = krippendorff.alpha(reliability_data=codes, level_of_measurement="ordinal")
    assert krippendorff_alpha(frame, "ordinal") == pytest.approx(want)
    nullable = pd.DataFrame({"item": [1, 1, 1, 2, 2, 2], "annotator": list("abcabc"),
                             "label": pd.array([1, 1, pd.NA, 2, 2, 1], dtype="Int64")})
    labels = MajorityVote().fit(nullable).labels_.tolist()
    assert labels == [1, 2] and all(type(v) is int or isinstance(v, np.integer) for v in labels)


def test_alpha_refuses_a_coder_counted_twice_and_a_repeated_domain_value() -> None:
    """A long frame where one annotator rated an item twice was paired as two coders
    (fleiss_kappa already refused it); a repeated value_domain entry was a pandas error."""
    df = pd.DataFrame({"item": [1, 1, 1, 2, 2], "annotator": ["a", "a", "b", "a", "b"],
                       "label": ["x", "y", "x", "y", "y"]})
    with pytest.raises(ValidationError, match="annotator 'a' rated item 1 more than once"):
        krippendorff_alpha(df)
    ok = df.drop_duplicates(["item", "annotator"], keep="last")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateWarning)
        krippendorff_alpha(ok)  # one label each: computes
    with pytest.raises(ValidationError, match="value_domain .* holds a value twice"):
        krippendorff_alpha(ok, "ordinal", value_domain=["x", "x", "y"])
