"""Labeling functions, the label matrix and LFAnalysis, checked by hand on small cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelnb.errors import ValidationError
from labelnb.prelabel import (
    ABSTAIN,
    LabelingFunction,
    LabelingFunctionError,
    LFAnalysis,
    apply_lfs,
    labeling_function,
)

CLASSES = ["spam", "ham", "promo"]


@labeling_function()
def has_link(x: str) -> str | int:
    return "spam" if "http" in x else ABSTAIN


@labeling_function(name="short")
def short_msg(x: str) -> str | None:
    return "ham" if len(x) < 12 else None


@labeling_function(resources={"words": {"sale", "offer"}})
def promo_words(x: str, words: set[str]) -> int:
    return 2 if words & set(x.lower().split()) else -1


TEXTS = [
    "hi mum",                          # short
    "big sale http://x.co",            # link, promo
    "see http://y.io",                 # link, short (15 chars? no: 15 >= 12)
    "offer ends",                      # short, promo
    "a longer ordinary message",       # none
    "ok",                              # short
]


def test_matrix_by_hand() -> None:
    L = apply_lfs([has_link, short_msg, promo_words], TEXTS, classes=CLASSES)
    assert L.dtype == np.int64 and L.shape == (6, 3)
    assert L.tolist() == [
        [-1, 1, -1],
        [0, -1, 2],
        [0, -1, -1],
        [-1, 1, 2],
        [-1, -1, -1],
        [-1, 1, -1],
    ]


def test_analysis_by_hand() -> None:
    L = apply_lfs([has_link, short_msg, promo_words], TEXTS, classes=CLASSES)
    a = LFAnalysis(L, [has_link, short_msg, promo_words], classes=CLASSES)
    # covered rows: 0,1,2,3,5 -> 5/6; two or more votes: 1,3 -> 2/6; conflicting: 1,3
    assert a.label_coverage() == pytest.approx(5 / 6)
    assert a.label_overlap() == pytest.approx(2 / 6)
    assert a.label_conflict() == pytest.approx(2 / 6)
    gold = ["ham", "promo", "spam", "promo", None, "ham"]
    df = a.lf_summary(gold)
    assert list(df.index) == ["has_link", "short", "promo_words"]
    assert df["polarity"].tolist() == [["spam"], ["ham"], ["promo"]]
    assert df["coverage"].tolist() == pytest.approx([2 / 6, 3 / 6, 2 / 6])
    # has_link overlaps on row 1 (promo_words); short on row 3; promo_words on 1 and 3
    assert df["overlaps"].tolist() == pytest.approx([1 / 6, 1 / 6, 2 / 6])
    assert df["conflicts"].tolist() == pytest.approx([1 / 6, 1 / 6, 2 / 6])
    # has_link: row 1 (gold promo) wrong, row 2 (spam) right; short: rows 0, 5 right,
    # row 3 (promo) wrong; promo_words: rows 1, 3 right
    assert df["correct"].tolist() == [1, 2, 2]
    assert df["incorrect"].tolist() == [1, 1, 0]
    assert df["emp_acc"].tolist() == pytest.approx([0.5, 2 / 3, 1.0])


def test_agreeing_lfs_overlap_without_conflict() -> None:
    L = np.array([[0, 0, -1], [1, 1, 1], [0, -1, -1], [-1, -1, -1]])
    a = LFAnalysis(L)
    assert a.lf_overlaps().tolist() == pytest.approx([0.5, 0.5, 0.25])
    assert a.lf_conflicts().tolist() == [0.0, 0.0, 0.0]
    assert a.label_conflict() == 0.0 and a.label_overlap() == 0.5
    # gold unknown for LF 2's only row -> NaN, not a fake 0
    acc = a.lf_empirical_accuracies([0, -1, 0, 1])
    assert acc[0] == 1.0 and acc[1] == 1.0 and np.isnan(acc[2])


def test_decorator_forms_and_preprocessors() -> None:
    def lower(x: str) -> str:
        return x.lower()

    @labeling_function(pre=[lower])
    def shouts_sale(x: str) -> str:
        return "promo" if "sale" in x else ABSTAIN

    assert isinstance(shouts_sale, LabelingFunction) and shouts_sale.name == "shouts_sale"
    assert shouts_sale("BIG SALE") == "promo"
    bare = labeling_function(lambda x: "ham")
    assert bare.name == "<lambda>"
    # a plain function is wrapped; DataFrame rows arrive as Series
    df = pd.DataFrame({"text": ["BIG SALE", "hello"], "n": [1, 2]})

    def row_lf(row: pd.Series) -> str:
        return "promo" if row["n"] == 1 else "ham"

    assert apply_lfs([row_lf], df, classes=CLASSES).tolist() == [[2], [1]]


def test_bad_return_names_lf_and_item() -> None:
    @labeling_function()
    def typo(x: str) -> str:
        return "spm"

    with pytest.raises(LabelingFunctionError,
                       match=r"'typo' returned 'spm' for item #0 \(id 41\); it must return one "
                             r"of the classes \(spam, ham, promo\)"):
        apply_lfs([typo], ["a"], classes=CLASSES, item_ids=[41])

    @labeling_function()
    def out_of_range(x: str) -> int:
        return 3

    with pytest.raises(LabelingFunctionError, match="class index 0..2"):
        apply_lfs([out_of_range], ["a"], classes=CLASSES)

    @labeling_function()
    def boolean(x: str) -> bool:
        return True

    with pytest.raises(LabelingFunctionError, match="returned True"):
        apply_lfs([boolean], ["a"], classes=CLASSES)


def test_raising_lf_is_wrapped() -> None:
    @labeling_function()
    def fragile(x: str) -> str:
        return x.split()[3]

    with pytest.raises(LabelingFunctionError, match=r"'fragile' raised IndexError.*item #1") as e:
        apply_lfs([LabelingFunction("ok", lambda x: ABSTAIN), fragile],
                  ["a b c d", "a"], classes=["a", "d"])
    assert isinstance(e.value.__cause__, IndexError)


def test_input_checks() -> None:
    with pytest.raises(ValidationError, match="names must be unique"):
        apply_lfs([has_link, has_link], ["x"], classes=CLASSES)
    with pytest.raises(ValidationError, match="one string"):
        apply_lfs([has_link], "just one", classes=CLASSES)
    with pytest.raises(ValidationError, match="must be 2-D"):
        LFAnalysis([0, 1])
    with pytest.raises(ValidationError, match="value -2 is not a class index"):
        LFAnalysis([[0, -2]])
    with pytest.raises(ValidationError, match="gold label 'eggs' of item #0"):
        LFAnalysis([[0]], classes=CLASSES).lf_summary(["eggs"])
    assert apply_lfs([has_link], [], classes=CLASSES).shape == (0, 1)
