"""Mends from the reread of session 15's change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import labelnb
from labelnb import Schema
from labelnb.errors import ValidationError
from labelnb.metrics import krippendorff_alpha
from labelnb.queue import queries as q


def test_fits_id_is_quick_and_exact_for_any_value() -> None:
    """``x in range(-2**63, 2**63)`` walked the whole range for a numpy integer or a
    string (a hang); the check is arithmetic now."""
    assert q.fits_id(5) and q.fits_id(np.int64(5)) and q.fits_id(-2**63)
    assert not q.fits_id(2**63) and not q.fits_id("5") and not q.fits_id(5.0)
    assert not q.fits_id(True) and not q.fits_id(None)


def test_get_items_takes_numpy_ids_and_skips_what_is_no_id(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "a.db", "a", Schema("choice", ["x", "y"]))
    ids = p.add_items(["one", "two"])
    with p.store.read() as conn:
        found = q.get_items(conn, [np.int64(ids[0]), ids[1], "nope", 2**70])  # type: ignore[list-item]
    assert sorted(found) == sorted(ids)


def test_alpha_names_the_tuple_rule_when_a_tuple_matrix_fails() -> None:
    """Three coders' rows given as a tuple are read as (items, annotators, labels)."""
    rows = ([1, 2, 3, 3], [1, 2, 3, 3], [1, 2, 3, 4])
    with pytest.raises(ValidationError, match="a tuple is read as \\(items, annotators, "
                       "labels\\); give a coders x units matrix as a list or an array"):
        krippendorff_alpha(rows)
    assert krippendorff_alpha(list(rows)) == pytest.approx(
        krippendorff_alpha(np.array(rows, dtype=float)))


def test_review_widget_options_leave_out_what_the_session_sets(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "r.db", "r", Schema("choice", ["x", "y"]))
    p.annotators.add("rita", role="reviewer")
    with pytest.raises(ValidationError) as e:
        p.review("rita", widget_options={"annotation": None})
    assert "'annotation' is not known" in str(e.value)
    assert "versions" not in str(e.value).split("Fix:")[1]


def test_json_columns_read_back_exactly(tmp_path: Path) -> None:
    """SQLite's JSON columns are read with orjson, and with the standard library where
    orjson would differ: an integer beyond 64 bits (orjson makes it a float), NaN."""
    from labelnb.queue.store import _json_loads

    p = labelnb.Project.create(tmp_path / "j.db", "j", Schema("choice", ["x", "y"]))
    meta = {"big": 10**30, "u64": 2**64 - 1, "neg": -2**63, "f": 0.1 + 0.2, "s": "é\u2603",
            "nested": [{"a": None}, 1.5e300]}
    [iid] = p.add_items([{"text": "one", "meta": meta}])
    got = p.items().set_index("id").loc[iid, "meta"]
    assert got == meta and type(got["big"]) is int
    nan = _json_loads('{"x": NaN, "y": Infinity}')
    assert nan["x"] != nan["x"] and nan["y"] == float("inf")


def test_box_consensus_fuse_is_fit_of_one_item() -> None:
    """tiers.fuse runs BoxConsensus.fuse per item (no frames); it is fit's result for
    the same rows, on random boxes, with empty annotators and weights."""
    import random

    import pandas as pd

    from labelnb import Box
    from labelnb.metrics import BoxConsensus

    rng = random.Random(7)
    for case in range(300):
        anns = []
        for _ in range(rng.randint(1, 5)):
            boxes = []
            for _ in range(rng.randint(0, 4)):
                x, y = rng.uniform(0, 50), rng.uniform(0, 50)
                boxes.append(Box(x, y, x + rng.uniform(1, 30), y + rng.uniform(1, 30),
                                 rng.choice("ab")))
            anns.append(boxes)
        kw = {"iou_threshold": rng.choice([0.3, 0.5, 0.7]),
              "match_labels": rng.random() < 0.7,
              "weights": {0: 2.0, 1: 0.5} if case % 3 == 0 else None}
        rows = [{"item": 0, "annotator": i, "region": r}
                for i, regs in enumerate(anns) for r in regs]
        want = ([] if not rows else
                BoxConsensus(**kw).fit_predict(pd.DataFrame(rows))["region"].tolist())
        assert BoxConsensus(**kw).fuse(anns) == want, case


def test_mask_consensus_fuse_is_fit_of_one_item() -> None:
    """The same for masks: MaskConsensus.fuse is fit's result for one item's rows."""
    import pandas as pd

    from labelnb import Mask
    from labelnb.metrics import MaskConsensus

    rng = np.random.default_rng(3)
    for case in range(120):
        anns = []
        for _ in range(int(rng.integers(1, 5))):
            masks = []
            for _ in range(int(rng.integers(0, 3))):
                m = np.zeros((12, 16), bool)
                y, x = rng.integers(0, 8), rng.integers(0, 10)
                m[y:y + int(rng.integers(2, 6)), x:x + int(rng.integers(2, 7))] = True
                masks.append(Mask.from_array(m, str(rng.choice(["a", "b"]))))
            anns.append(masks)
        min_votes = None if case % 2 else int(rng.integers(1, 3))
        rows = [{"item": 0, "annotator": i, "region": r}
                for i, regs in enumerate(anns) for r in regs]
        want = ([] if not rows else MaskConsensus(min_votes).fit_predict(pd.DataFrame(rows))[
            "region"].tolist())
        assert MaskConsensus(min_votes).fuse(anns) == want, case
