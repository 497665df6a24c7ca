"""ActiveLoop with a model that gives labels but no scores (random picks, with a
warning, not pool order), and a failed step that must not count as a cycle."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import labelnb
from labelnb.active import ActiveLoop
from labelnb.types import Choice

POOL = [f"x{i}" for i in range(1000)]


def _project(tmp_path: Path, name: str = "al") -> labelnb.Project:
    return labelnb.Project.create(tmp_path / f"{name}.db", name,
                                  labelnb.Schema("choice", ["a", "b"]))


def _labels_only(xs: list[str]) -> list[list[Choice]]:
    return [[Choice("a" if int(x[1:]) < 500 else "b")] for x in xs]


def _step(tmp_path: Path, name: str, seed: int) -> tuple[Any, list[Any]]:
    loop = ActiveLoop(_project(tmp_path, name), _labels_only, POOL, batch_size=200,
                      random_state=seed)
    with pytest.warns(UserWarning, match=r"no scores.*score=") as rec:
        batch = loop.step()
    return batch, list(rec)


def test_a_model_without_scores_warns_and_picks_at_random(tmp_path: Path) -> None:
    batch, _ = _step(tmp_path, "one", 0)
    picks = sorted(int(i) for i in batch["pool_index"])
    assert len(picks) == 200
    assert picks != list(range(200)) and picks != list(range(20, 200))
    assert set(batch["reason"]) == {"random"}
    assert max(picks) > 500  # spread over the pool, not its beginning
    again, _ = _step(tmp_path, "two", 0)  # seeded: the same picks for the same seed
    assert sorted(int(i) for i in again["pool_index"]) == picks
    other, _ = _step(tmp_path, "three", 1)
    assert sorted(int(i) for i in other["pool_index"]) != picks


def test_a_model_with_scores_does_not_warn(tmp_path: Path) -> None:
    def scored(xs: list[str]) -> list[list[Choice]]:
        return [[Choice("a", score=0.5 + int(x[1:]) / 2001)] for x in xs]

    loop = ActiveLoop(_project(tmp_path), scored, POOL, batch_size=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        batch = loop.step()
    picks = batch.loc[batch["reason"] == "uncertainty", "pool_index"].astype(int)
    assert len(picks) and np.all(picks < 300)  # the least confident are the low ones


def test_a_failed_step_does_not_count_as_a_cycle(tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(xs: list[str]) -> list[list[Choice]]:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RuntimeError("model server down")
        return [[Choice("a", score=0.6)] for _ in xs]

    loop = ActiveLoop(_project(tmp_path), flaky, POOL[:300], batch_size=200, random_state=0)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="model server down"):
            loop.step()
        assert loop.cycle_ == 0
    assert len(loop.history_) == 0
    batch = loop.step()
    assert loop.cycle_ == 1
    assert list(loop.history_["cycle"]) == [1]
    assert set(batch["cycle"]) == {1}
