"""Regressions in labelnb.active: labels swapped by position after a retrain, a loop
stuck on one-class labels, ``fitted`` of non-scikit-learn models, a callable with no
regions at all, k-center's ``start``, TorchAdapter's ``batch_size`` and int-trained
models without ``classes=``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

import labelnb
from labelnb.active import (
    ActiveLoop,
    CallableAdapter,
    RetrainJob,
    SklearnAdapter,
    TorchAdapter,
    as_adapter,
    k_center_greedy,
)
from labelnb.errors import SchemaError, ValidationError
from labelnb.types import Box, Choice

X = np.linspace(0, 1, 400).reshape(-1, 1)
POOL = [f"x={x[0]:.4f}" for x in X]
LOHI = ["lo", "hi"]


def _project(tmp_path: Path, labels: list[str] = LOHI) -> labelnb.Project:
    return labelnb.Project.create(tmp_path / "al.db", "demo", labelnb.Schema("choice", labels))


def _label(p: labelnb.Project, rule: Any) -> int:
    """Answer every open task with ``rule(x)``; returns how many."""
    q, n = p.queue("ana"), 0
    while (t := q.claim()) is not None:
        q.submit(Choice(rule(float(str(t.item.text)[2:]))))
        n += 1
    return n


def _truth(x: float) -> str:
    return "hi" if x > 0.5 else "lo"


def _int_model() -> LogisticRegression:
    """Trained elsewhere on ints: 0 is "lo", 1 is "hi"."""
    return LogisticRegression().fit([[0.0], [1.0]], [0, 1])


# -- labels never swapped by position ------------------------------------------------

def _on_names(job: RetrainJob) -> LogisticRegression:
    """A dispatcher: retrains on the label names (classes_ come back sorted)."""
    return LogisticRegression().fit(np.asarray(job.inputs), job.targets)


def test_a_dispatcher_retrain_on_label_names_keeps_each_label_on_its_column(
        tmp_path: Path) -> None:
    """classes=["lo", "hi"] named the int model's columns; the retrained model's
    classes_ are ["hi", "lo"]: re-applying classes= by position swapped every label."""
    p = _project(tmp_path)
    loop = ActiveLoop(p, _int_model(), POOL, inputs=X, batch_size=200, classes=LOHI,
                      dispatcher=_on_names, random_state=0)
    loop.step()
    _label(p, _truth)
    loop.step()
    assert loop.history_["retrained"].tolist() == [False, True]
    assert loop.model_.predict(np.array([[0.05], [0.95]])).top_labels() == ["lo", "hi"]
    assert loop.history_["reserve_accuracy"].iloc[-1] > 0.8


def test_update_model_with_a_model_trained_on_a_subset_of_the_labels(tmp_path: Path) -> None:
    """A model trained on label names (two of the schema's three) replaces an int model
    that needed classes=[three names]: its own classes_ name its columns."""
    p = _project(tmp_path, ["lo", "mid", "hi"])
    start = LogisticRegression().fit([[0.0], [0.5], [1.0]], [0, 1, 2])
    loop = ActiveLoop(p, start, POOL, inputs=X, batch_size=200,
                      classes=["lo", "mid", "hi"], random_state=0)
    loop.step()
    new = LogisticRegression().fit(X, [_truth(float(x)) for x in X[:, 0]])
    loop.update_model(new, model_version="v2")
    assert loop.model_.predict(np.array([[0.05], [0.95]])).top_labels() == ["lo", "hi"]
    loop.step()  # queues the rest, pre-annotated with the right labels
    preds = p.predictions()
    labels = {r[0]["label"] for r in preds[preds["model_version"] == "v2"]["regions"]}
    assert labels <= {"lo", "hi"} and labels


def test_sklearn_adapter_maps_classes_by_value_for_a_model_trained_on_names() -> None:
    est = LogisticRegression().fit(X, [_truth(float(x)) for x in X[:, 0]])
    assert list(est.classes_) == ["hi", "lo"]
    for ad in (SklearnAdapter(est, classes=LOHI), as_adapter(est, classes=LOHI)):
        pr = ad.predict(np.array([[0.05], [0.95]]))
        assert pr.top_labels() == ["lo", "hi"] and pr.classes == ("hi", "lo")
    # names that overlap classes_ but are not the same labels: refused, not guessed
    with pytest.raises(ValidationError, match=r"classes=\['lo', 'mid'\] names the "
                                              r"probability columns by position.*classes_"):
        SklearnAdapter(est, classes=["lo", "mid"]).predict(np.array([[0.5]]))
    # other names altogether rename the columns by position, as documented
    pr = SklearnAdapter(est, classes=["HIGH", "LOW"]).predict(np.array([[0.05]]))
    assert pr.top_labels() == ["LOW"]
    # ints: positional, as before
    pr = SklearnAdapter(_int_model(), classes=LOHI).predict(np.array([[0.05], [0.95]]))
    assert pr.top_labels() == ["lo", "hi"]


# -- one class so far: no retrain, no stuck loop -------------------------------------

def test_a_fitted_model_is_not_retrained_on_one_class_and_the_loop_goes_on(
        tmp_path: Path) -> None:
    p = _project(tmp_path)
    pre = LogisticRegression().fit([[0.0], [1.0]], LOHI)
    loop = ActiveLoop(p, pre, POOL, inputs=X, batch_size=200, random_state=0)
    loop.step()
    assert _label(p, lambda x: "lo") == 200  # this batch happens to be all "lo"
    with pytest.warns(UserWarning, match=r"not retrained: all 200 human labels so far are "
                                         r"'lo'.*keeps its previous training"):
        batch = loop.step()
    assert len(batch) == 200 and loop.history_["retrained"].tolist() == [False, False]
    assert loop.model_.predict(np.array([[0.0], [1.0]])).top_labels() == ["lo", "hi"]
    _label(p, _truth)  # the next batch brings "hi": the retrain runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loop.step()
    assert loop.history_["retrained"].tolist() == [False, False, True]


class _NeedsThree(LogisticRegression):  # type: ignore[misc]
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _NeedsThree:
        if len(set(np.asarray(y).tolist())) < 3:
            raise ValueError("this model needs at least 3 classes; got 2 classes")
        return self


def test_a_fit_error_about_classes_does_not_blame_the_inputs(tmp_path: Path) -> None:
    p = _project(tmp_path, ["lo", "mid", "hi"])
    loop = ActiveLoop(p, _NeedsThree(), POOL, inputs=X, batch_size=200, random_state=0)
    loop.step()
    _label(p, _truth)
    with pytest.warns(UserWarning, match=r"not retrained on the 200 human labels.*needs at "
                                         r"least 3 classes"):
        batch = loop.step()
    assert len(batch) == 200 and loop.history_["retrained"].tolist() == [False, False]


# -- fitted, for models that are not scikit-learn estimators --------------------------

class _Mine:
    """A user's own model: fit and predict_proba, no sklearn base, no ``*_`` state."""

    def __init__(self) -> None:
        self.clf = LogisticRegression()

    def fit(self, X: Any, y: Any) -> _Mine:
        self.clf.fit(X, y)
        return self

    def predict_proba(self, X: Any) -> Any:
        return self.clf.predict_proba(X)


class _Served:
    """A served model: predict_proba only."""

    def predict_proba(self, X: Any) -> Any:
        return np.tile([0.3, 0.7], (len(X), 1))


class _Wrapped(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """An sklearn estimator whose fitted state lives in another object."""

    def __init__(self) -> None:
        self.clf = LogisticRegression()

    def fit(self, X: Any, y: Any) -> _Wrapped:
        self.clf.fit(X, y)
        return self

    def predict_proba(self, X: Any) -> Any:
        return self.clf.predict_proba(X)


def test_fitted_for_models_that_are_not_sklearn_estimators() -> None:
    y = [_truth(float(x)) for x in X[:, 0]]
    for model in (_Mine(), _Wrapped()):
        ad = SklearnAdapter(model)
        assert ad.fitted is False
        ad.fit(X, y)
        assert ad.fitted is True
    served = _Served()
    assert SklearnAdapter(served, classes=LOHI).fitted is True  # no fit: it predicts
    served.classes_ = np.array(LOHI)  # type: ignore[attr-defined]
    assert SklearnAdapter(served).fitted is True


# -- a callable with no regions for any input ----------------------------------------

def test_callable_with_no_regions_for_any_input() -> None:
    nothing: list[Callable[[Any], Any]] = [lambda xs: [[] for _ in xs],
                                           lambda xs: np.zeros((len(xs), 0))]
    for fn in nothing:
        p = CallableAdapter(fn).predict(["a", "b", "c"])
        assert p.regions == [(), (), ()] and p.proba is None
    p = CallableAdapter(lambda xs: [[], [Box(0, 0, 1, 1, "x", score=0.5)], []]).predict([1, 2, 3])
    assert [len(r) for r in p.regions] == [0, 1, 0]
    p = CallableAdapter(lambda xs: [[0.2, 0.8]] * len(xs), classes=LOHI).predict([1, 2])
    assert p.proba is not None and p.top_labels() == ["hi", "hi"]


# -- k-center greedy's start ---------------------------------------------------------

def test_k_center_start_that_is_excluded_or_ignored_raises() -> None:
    pts = np.array([[0.0, 0], [1, 0], [5, 0], [0, 5]])
    with pytest.raises(ValidationError, match=r"start = 0 is a row in exclude.*give a start "
                                              r"outside exclude, or start=None"):
        k_center_greedy(pts, 2, start=0, exclude=[0])
    with pytest.raises(ValidationError, match=r"start = 3 and 1 existing centres.*pass "
                                              r"start=None, or existing=None"):
        k_center_greedy(pts, 1, existing=pts[[0]], start=3)
    assert k_center_greedy(pts, 2, start=1, exclude=[0]).tolist() == [1, 3]
    assert k_center_greedy(pts, 1, existing=pts[[0]]).tolist() == [2]
    assert k_center_greedy(pts, 1, existing=np.empty((0, 2)), start=3).tolist() == [3]


# -- TorchAdapter batch_size ---------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "8"])
def test_torch_adapter_batch_size_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(ValidationError, match=r"TorchAdapter: batch_size = .*an int >= 1"):
        TorchAdapter(object(), LOHI, batch_size=bad)
    four: Any = np.int64(4)
    assert TorchAdapter(object(), LOHI, batch_size=four).batch_size == 4


# -- a model trained on ints, without classes= ---------------------------------------

def test_a_model_trained_on_ints_without_classes_says_to_pass_classes(tmp_path: Path) -> None:
    p = _project(tmp_path)
    loop = ActiveLoop(p, _int_model(), POOL, inputs=X, batch_size=200, random_state=0)
    with pytest.raises(SchemaError, match=r"the model predicts \['0', '1'\], not labels of "
                                          r"the schema \(lo, hi\).*pass ActiveLoop\(\.\.\., "
                                          r"classes=\[\.\.\.\]\)"):
        loop.step()
    assert p.items().empty  # nothing half-queued
    ok = ActiveLoop(p, _int_model(), POOL, inputs=X, batch_size=200, classes=LOHI,
                    model_version="named", random_state=0)
    assert len(ok.step()) == 200
