"""ActiveLoop end to end on SQLite with scikit-learn's digits: a simulated annotator
answers every task with the true label through the queue (claim, submit)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import labelnb
from labelnb.active import (
    ActiveLoop,
    CircularValidationError,
    RetrainJob,
    SmallBatchWarning,
    UncertaintySampling,
    evaluation_items,
    selections,
)
from labelnb.active.guard import overrides
from labelnb.errors import ValidationError
from labelnb.types import Annotation, Choice

X_ALL, Y_ALL = load_digits(return_X_y=True)
X_ALL = X_ALL / 16.0


def _item(row: int) -> dict[str, Any]:
    return {"text": f"digit #{row}", "meta": {"row": int(row)}}


def annotate_all(project: labelnb.Project, who: str = "ana") -> int:
    """Label every open digit task with the digit's true class, in queue order; stops at
    the first task that is not a digit (and leaves it open). Returns how many."""
    q = project.queue(who)
    n = 0
    while (t := q.claim()) is not None:
        if "row" not in t.item.meta:
            q.release()
            break
        q.submit(Choice(str(Y_ALL[int(t.item.meta["row"])])))
        n += 1
    return n


def _setup(tmp_path: Path, n_pool: int, n_eval: int, seed: int = 0, name: str = "digits"
           ) -> tuple[labelnb.Project, np.ndarray, list[int], np.ndarray]:
    perm = np.random.default_rng(seed).permutation(len(Y_ALL))
    ev, pool = perm[:n_eval], perm[n_eval:n_eval + n_pool]
    p = labelnb.Project.create(tmp_path / f"{name}.db", name,
                               labelnb.Schema("choice", [str(d) for d in range(10)]))
    eval_ids: list[int] = []
    if n_eval:
        eval_ids = p.add_items([_item(int(i)) for i in ev])
        annotate_all(p, "eve")
    return p, pool, eval_ids, ev


def test_loop_end_to_end_on_digits(tmp_path: Path) -> None:
    p, pool, eval_ids, ev = _setup(tmp_path, n_pool=700, n_eval=150)
    other = p.add_items(["an ordinary task, not from the loop"])[0]
    loop = ActiveLoop(p, LogisticRegression(max_iter=1000), [_item(int(i)) for i in pool],
                      inputs=X_ALL[pool], embeddings=X_ALL[pool], batch_size=200,
                      eval_items=eval_ids, eval_inputs=X_ALL[ev], random_state=0)
    hist = loop.run(3, annotate=lambda lp, batch: annotate_all(p))
    last = loop.step()  # retrain on 600 labels, evaluate, queue the last 100
    h = loop.history_
    assert h["cycle"].tolist() == [1, 2, 3, 4] and len(hist) == 3
    assert h["labels"].tolist() == [0, 200, 400, 600]
    assert h["retrained"].tolist() == [False, True, True, True]
    assert h["selected"].tolist() == [200, 200, 200, 100]
    assert h["random"].tolist() == [20, 20, 20, 10]
    assert h["strategy"].tolist() == ["cold start: DiversitySampling"] + [
        "UncertaintyDiversitySampling"] * 3
    assert h["pool_left"].tolist() == [500, 300, 100, 0]
    assert h["eval_labels"].tolist() == [0, 150, 150, 150]
    acc = h["accuracy"].tolist()
    assert np.isnan(acc[0]) and acc[1] >= 0.85 and acc[3] >= max(acc[1] - 0.02, 0.9)
    # the model's accuracy on the random reserve, measured before it trains on it (none
    # at cycle 2: there was no model yet to measure)
    assert h["reserve_labels"].tolist() == [0, 0, 20, 20]
    assert (h["reserve_accuracy"].iloc[2:] > 0.8).all()
    assert h["model_version"].tolist()[1:] == ["active-2", "active-3", "active-4"]

    # tasks appeared in the queue, pre-annotated from cycle 2 on, with the model's top class
    preds = p.predictions()
    assert len(preds) == 500 and set(preds["model_version"]) == {"active-2", "active-3",
                                                                  "active-4"}
    sel = loop.selections_
    last_pred = preds[preds["model_version"] == "active-4"].set_index("item_id")
    for _, row in sel[sel["cycle"] == 4].iterrows():
        regions = last_pred.loc[row["item_id"], "regions"]
        assert regions[0]["label"] == row["prediction"]
        assert regions[0]["score"] == pytest.approx(row["prediction_score"])
    # the loop's tasks come before ordinary ones: the ordinary item is still open
    tasks = p.tasks().set_index("item_id")
    assert tasks.loc[other, "status"] == "open"
    loop_items = set(sel["item_id"])
    assert (tasks.loc[sorted(loop_items), "base_priority"] == 1.0).all()
    assert len(last) == 100 and loop.pending() == 100
    # every pool item was queued once; the random reserve is logged in the project
    assert sorted(sel["pool_index"]) == list(range(700))
    logged = selections(p)
    assert len(logged) == 700 and (logged["reason"] == "random").sum() == 70
    assert set(logged["item_id"]) == loop_items
    # labels read back from the project match the truth
    assert all(loop.labels_[i] == str(Y_ALL[pool[i]]) for i in loop.labels_)
    # the evaluation items were marked human-only
    assert evaluation_items(p) == set(eval_ids)


def test_active_beats_random_on_the_same_budget(tmp_path: Path) -> None:
    """With equal labels (200 + 200), the default strategy's model is at least as
    accurate as random sampling's on the evaluation set."""
    accs = {}
    for name, strat in (("random", None), ("default", "default")):
        p, pool, eval_ids, ev = _setup(tmp_path, n_pool=600, n_eval=300, name=name)
        kw: dict[str, Any] = {}
        if strat is None:
            from labelnb.active import RandomSampling

            kw["strategy"] = RandomSampling()
        loop = ActiveLoop(p, LogisticRegression(max_iter=1000),
                          [_item(int(i)) for i in pool], inputs=X_ALL[pool],
                          embeddings=X_ALL[pool], batch_size=200, eval_items=eval_ids,
                          eval_inputs=X_ALL[ev], random_state=1, **kw)
        loop.run(2, annotate=lambda lp, b, p=p: annotate_all(p))
        loop.step()
        accs[name] = loop.history_["accuracy"].iloc[-1]
    assert accs["default"] >= accs["random"] - 0.01, accs


def test_reproducible_by_seed(tmp_path: Path) -> None:
    picks = []
    for k, seed in enumerate((5, 5, 6)):
        p, pool, _, _ = _setup(tmp_path, n_pool=400, n_eval=0, name=f"r{k}")
        loop = ActiveLoop(p, LogisticRegression(max_iter=1000), [_item(int(i)) for i in pool],
                          inputs=X_ALL[pool], batch_size=200, random_state=seed)
        loop.run(2, annotate=lambda lp, b, p=p: annotate_all(p))
        picks.append(loop.selections_[["pool_index", "reason"]].reset_index(drop=True))
    pd.testing.assert_frame_equal(picks[0], picks[1])
    assert not picks[0].equals(picks[2])


def test_small_batch_warns_once(tmp_path: Path) -> None:
    p, pool, _, _ = _setup(tmp_path, n_pool=100, n_eval=0)
    loop = ActiveLoop(p, LogisticRegression(), [_item(int(i)) for i in pool],
                      inputs=X_ALL[pool], batch_size=50)
    with pytest.warns(SmallBatchWarning, match="batch size 50") as rec:
        loop.step()
    assert len([w for w in rec if issubclass(w.category, SmallBatchWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallBatchWarning)
        annotate_all(p)
        loop.step()  # warned once per loop, not every cycle


def test_machine_labels_in_the_evaluation_set_raise(tmp_path: Path) -> None:
    p, pool, eval_ids, ev = _setup(tmp_path, n_pool=300, n_eval=40)
    # a model's label lands on two evaluation items after the humans'
    p.add_annotations([Annotation(item_id=eval_ids[k], regions=(Choice("3"),),
                                  author="autolabeler", source="model") for k in (0, 5)])
    fitted = LogisticRegression(max_iter=1000).fit(X_ALL[ev], Y_ALL[ev].astype(str))
    loop = ActiveLoop(p, fitted, [_item(int(i)) for i in pool], inputs=X_ALL[pool],
                      batch_size=200, eval_items=eval_ids, eval_inputs=X_ALL[ev])
    with pytest.raises(CircularValidationError, match=f"2 of 40 .*item {eval_ids[0]}"):
        loop.step()
    assert p.predictions().empty  # nothing was queued
    ok = ActiveLoop(p, fitted, [_item(int(i)) for i in pool], inputs=X_ALL[pool],
                    batch_size=200, eval_items=eval_ids, eval_inputs=X_ALL[ev],
                    allow_machine_eval=True, eval_reason="autolabels spot-checked")
    ok.step()
    annotate_all(p)
    ok.step()
    ov = overrides(p)
    assert len(ov) == 1 and ov["reason"].iloc[0] == "autolabels spot-checked"
    assert ov["item_ids"].iloc[0] == sorted([eval_ids[0], eval_ids[5]])


def test_retrain_every_and_dispatcher(tmp_path: Path) -> None:
    p, pool, _, ev = _setup(tmp_path, n_pool=700, n_eval=0)
    start = LogisticRegression(max_iter=1000).fit(X_ALL[ev[:0]] if False else X_ALL[:50],
                                                  Y_ALL[:50].astype(str))
    jobs: list[RetrainJob] = []

    def dispatcher(job: RetrainJob) -> Any:
        jobs.append(job)
        return LogisticRegression(max_iter=1000).fit(job.inputs, job.targets)

    loop = ActiveLoop(p, start, [_item(int(i)) for i in pool], inputs=X_ALL[pool],
                      batch_size=200, retrain_every=300, dispatcher=dispatcher,
                      model_version="lr")
    first = loop.step()  # a trained model from the start: cycle 1 is pre-annotated
    assert first["prediction"].notna().all() and len(p.predictions()) == 200
    annotate_all(p)
    loop.step()  # 200 new labels < 300: no retrain yet
    assert not jobs and loop.history_["retrained"].tolist() == [False, False]
    annotate_all(p)
    loop.step()  # 400 >= 300
    assert len(jobs) == 1 and len(jobs[0].targets) == 400 and jobs[0].model_version == "lr-3"
    queued = loop.selections_.set_index("pool_index")
    for item_id, target in zip(jobs[0].item_ids, jobs[0].targets, strict=True):
        row = queued[queued["item_id"] == item_id]
        assert target == str(Y_ALL[pool[row.index[0]]])
    assert loop.model_.fitted and loop.history_["retrained"].tolist()[-1]
    assert loop.history_["model_version"].tolist() == ["lr-0", "lr-0", "lr-3"]


def test_pool_items_already_in_the_project_get_priority(tmp_path: Path) -> None:
    p, pool, _, _ = _setup(tmp_path, n_pool=300, n_eval=0)
    items = [_item(int(i)) for i in pool]
    ids = p.add_items(items)  # queued at priority 0 before the loop
    loop = ActiveLoop(p, LogisticRegression(), items, inputs=X_ALL[pool], batch_size=200,
                      priority=3.0)
    sel = loop.step()
    assert set(sel["item_id"]) <= set(ids) and len(p.items()) == 300
    tasks = p.tasks().set_index("item_id")
    chosen = sorted(sel["item_id"])
    assert (tasks.loc[chosen, "priority"] == 3.0).all()
    rest = sorted(set(ids) - set(chosen))
    assert (tasks.loc[rest, "priority"] == 0.0).all()
    assert p.queue("ana").claim().item.id in set(chosen)  # type: ignore[union-attr]


def test_loop_input_errors(tmp_path: Path) -> None:
    p, pool, _, _ = _setup(tmp_path, n_pool=250, n_eval=0)
    items = [_item(int(i)) for i in pool]
    with pytest.raises(ValidationError, match="inputs has 10 rows but the pool has 250"):
        ActiveLoop(p, LogisticRegression(), items, inputs=X_ALL[:10]).step()
    with pytest.raises(ValidationError, match="embeddings has 3 rows"):
        ActiveLoop(p, LogisticRegression(), items, inputs=X_ALL[pool],
                   embeddings=X_ALL[:3], batch_size=200).step()
    with pytest.raises(ValidationError, match="eval_inputs"):
        ActiveLoop(p, LogisticRegression(), items, inputs=X_ALL[pool], batch_size=200,
                   eval_items=[1, 2]).step()
    with pytest.raises(ValidationError, match="retrain_every"):
        ActiveLoop(p, LogisticRegression(), items, inputs=X_ALL[pool], batch_size=200,
                   retrain_every=0).step()
    with pytest.raises(ValidationError, match="not a labelnb.active Strategy"):
        ActiveLoop(p, LogisticRegression(), items, inputs=X_ALL[pool], batch_size=200,
                   strategy="margin").step()  # type: ignore[arg-type]
    assert p.items().empty  # nothing was queued by the failed loops
    ok = ActiveLoop(p, LogisticRegression(), items, inputs=X_ALL[pool], batch_size=200,
                    strategy=UncertaintySampling())
    assert "250 pool items" in repr(ok)


def test_a_model_that_cannot_read_the_pool_items_says_to_pass_inputs(tmp_path: Path) -> None:
    """Without inputs= the pool items themselves are the model's input: a numeric model
    fed dicts fails at its first fit, with the fix named (not sklearn's bare error)."""
    p, pool, _, _ = _setup(tmp_path, n_pool=250, n_eval=0)
    loop = ActiveLoop(p, LogisticRegression(), [_item(int(i)) for i in pool], batch_size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loop.step()
    annotate_all(p)
    with pytest.raises(ValidationError, match=r"could not be trained on the pool items "
                       r"themselves \(no inputs= was given\) \((TypeError|ValueError): .*"
                       r"pass inputs=\.\.\.") as e:
        loop.step()
    assert isinstance(e.value.__cause__, TypeError | ValueError)


def test_retraining_through_labelnb_jobs(tmp_path: Path) -> None:
    from labelnb.active import jobs_dispatcher

    p, pool, _, _ = _setup(tmp_path, n_pool=500, n_eval=0)
    start = LogisticRegression(max_iter=1000).fit(X_ALL[:50], Y_ALL[:50].astype(str))
    dispatch = jobs_dispatcher("local", config={"C": 1.0, "max_iter": 2000})
    loop = ActiveLoop(p, start, [_item(int(i)) for i in pool], inputs=X_ALL[pool],
                      batch_size=200, retrain_every=200, dispatcher=dispatch,
                      model_version="lr")
    loop.step()
    annotate_all(p)
    loop.step()  # 200 labels: retrained by the retrain job's body
    assert loop.history_["retrained"].tolist() == [False, True]
    assert dispatch.last_metrics["n_train"] + dispatch.last_metrics["n_val"] == 200  # type: ignore[attr-defined]
    assert dispatch.last_metrics["accuracy"] > 0.5  # type: ignore[attr-defined]
    assert loop.model_.fitted


def test_a_loop_resumes_after_a_restart(tmp_path: Path) -> None:
    """A new ActiveLoop (new project handle, as after a kernel restart) with the same
    model_version and pool continues the logged loop: nothing is queued twice, the
    history and selections come back, and the model is retrained on every label."""
    p, pool, eval_ids, ev = _setup(tmp_path, n_pool=700, n_eval=100)
    items = [_item(int(i)) for i in pool]

    def make(project: labelnb.Project, **kw: Any) -> ActiveLoop:
        return ActiveLoop(project, LogisticRegression(max_iter=1000), items,
                          inputs=X_ALL[pool], embeddings=X_ALL[pool], batch_size=200,
                          eval_items=eval_ids, eval_inputs=X_ALL[ev], random_state=0, **kw)

    first = make(p)
    first.run(2, annotate=lambda lp, batch: annotate_all(p))
    before_hist, before_sel = first.history_, first.selections_
    p.close()

    p2 = labelnb.open(tmp_path / "digits.db", "digits")
    loop = make(p2)
    batch = loop.step()
    assert loop.resumed_ == 2 and loop.cycle_ == 3
    h = loop.history_
    assert h["cycle"].tolist() == [1, 2, 3]
    pd.testing.assert_frame_equal(h.iloc[:2].drop(columns="seconds"),
                                  before_hist.drop(columns="seconds"), check_dtype=False)
    assert h["labels"].iloc[2] == 400 and bool(h["retrained"].iloc[2])  # all labels, refit
    assert loop.model_.fitted and h["accuracy"].iloc[2] > 0.8
    # the new batch is new: no pool item is queued twice, and none is re-added
    assert len(batch) == 200
    assert not set(batch["pool_index"]) & set(before_sel["pool_index"])
    assert len(p2.items()) == 100 + 600
    sel = loop.selections_
    assert len(sel) == 600 and sel["pool_index"].is_unique
    pd.testing.assert_frame_equal(
        sel.iloc[:400][["cycle", "pool_index", "item_id", "reason"]].reset_index(drop=True),
        before_sel[["cycle", "pool_index", "item_id", "reason"]].reset_index(drop=True),
        check_dtype=False)
    assert (sel["reason"] == "random").sum() == 60  # the reserve marks survive
    # the same loop over another pool is refused, with the ways out
    with pytest.raises(ValidationError, match="over another pool.*resume=False"):
        ActiveLoop(p2, LogisticRegression(), items[::-1], inputs=X_ALL[pool][::-1],
                   batch_size=200).step()
    fresh = make(p2, resume=False)
    assert fresh.step()["cycle"].eq(1).all() and fresh.resumed_ == 0


def test_repeated_pool_items_are_queued_and_counted_once(tmp_path: Path) -> None:
    """add_items stores one item per content: a pool that repeats items got batches of
    'selected' positions that were the same item, and label counts per position."""
    p, _, _, _ = _setup(tmp_path, n_pool=0, n_eval=0)
    rows = [i % 40 for i in range(120)]  # 40 distinct items, each three times
    pool = [_item(r) for r in rows]
    loop = ActiveLoop(p, LogisticRegression(max_iter=500), pool, inputs=X_ALL[rows],
                      batch_size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = loop.step()
    assert len(batch) == batch["item_id"].nunique() == 40 == len(p.items())
    assert (loop.item_ids_ >= 0).all()  # every repeat knows its item
    h = loop.history_.iloc[-1]
    assert (h["selected"], h["pool_left"], h["pending"]) == (40, 0, 40)
    annotate_all(p)
    loop.sync()
    assert len(loop.labels_) == 40 and loop.pending() == 0
