"""``ActiveLoop``: score the unlabeled pool, queue the next batch pre-annotated,
retrain on the human labels, repeat.

Each :meth:`ActiveLoop.step` (one cycle):

1. reads the human labels of the pool items queued so far (the newest annotation of
   each item that was not rejected or corrected; ``human`` or ``consensus``);
2. retrains once ``retrain_every`` new labels have come in (default: one batch):
   ``model.fit`` on every human label so far, or a ``dispatcher`` hook that runs the
   job elsewhere (a GPU job) and returns the new model, or None and hands it over
   later with :meth:`ActiveLoop.update_model`. Before retraining, the current model is
   scored on the random-reserve items labeled since the last retrain: an unbiased,
   progressive estimate of its accuracy on the pool (``reserve_accuracy``);
3. measures accuracy on the human-labeled evaluation set (``eval_items``, checked by
   the circular-validation guard: machine-made labels there raise unless
   ``allow_machine_eval=True`` with ``eval_reason``, which is recorded);
4. scores the pool items not queued yet and picks ``batch_size`` of them with the
   strategy (default :class:`~labelnb.active.UncertaintyDiversitySampling`, 10%
   random reserve). Before the model has been trained (no labels) it starts cold:
   k-center greedy on the embeddings, or uniform random without them;
5. adds them to the project as items with tasks (``project.add_items(...,
   priority=priority)``, so they come before ordinary tasks, best first), with the
   model's predictions attached as pre-annotations (``project.add_predictions``), in
   one transaction. Items already in the project keep their id and get their tasks'
   priority raised. The batch is logged as an ``active_learning_batch`` event
   (items, reasons, scores), so which items were the random reserve survives a
   restart (:func:`selections`).

``history_`` holds one row per cycle: labels, retrained, model version, accuracy on
the evaluation set, reserve accuracy, strategy, batch composition, pool left, time.
Runs are reproducible from ``random_state``.

**Resuming.** Every batch and every cycle's history row are logged in the project, so a
loop survives a kernel restart: a new ``ActiveLoop`` with the same ``model_version``
and the same pool (same items, same order) on the same project picks up where the
last one stopped (``resume=True``, the default): the queued items, their reasons,
:attr:`~ActiveLoop.history_` and the cycle count are read back, nothing is queued
twice, and the model is retrained on every human label so far at the next
:meth:`~ActiveLoop.step`. A different pool under the same ``model_version`` is refused
with an error; ``resume=False`` starts over.

Batches below 200 items warn (:class:`~labelnb.active.SmallBatchWarning`);
500–1000 per cycle is recommended.

>>> import labelnb, tempfile, os, warnings, numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> db = os.path.join(tempfile.mkdtemp(), "al.db")
>>> p = labelnb.Project.create(db, "demo", labelnb.Schema("choice", ["lo", "hi"]))
>>> X = np.linspace(0, 1, 400).reshape(-1, 1)
>>> loop = ActiveLoop(p, LogisticRegression(), [f"x={x[0]:.4f}" for x in X], inputs=X,
...                   batch_size=200, random_state=0)
>>> batch = loop.step()                       # cold start: 200 random items queued
>>> len(batch), p.stats()["tasks"]["annotate:open"]
(200, 200)
>>> q = p.queue("ana")
>>> while (t := q.claim()) is not None:       # an annotator labels them
...     _ = q.submit(labelnb.Choice("hi" if float(t.item.text[2:]) > 0.5 else "lo"))
>>> batch = loop.step()                       # retrain, pick the rest, pre-annotated
>>> loop.history_[["cycle", "labels", "retrained", "selected"]].values.tolist()
[[1, 0, False, 200], [2, 200, True, 200]]
>>> len(p.predictions()) == 200
True
>>> again = ActiveLoop(p, LogisticRegression(), [f"x={x[0]:.4f}" for x in X], inputs=X,
...                    batch_size=200, random_state=0)   # e.g. after a kernel restart
>>> again.step().empty, again.resumed_                  # every pool item is queued already
(True, 2)
>>> again.history_[["cycle", "labels", "retrained", "selected"]].values.tolist()
[[1, 0, False, 200], [2, 200, True, 200], [3, 200, True, 0]]
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from labelnb.active._project import (
    HUMAN_SOURCES,
    events,
    final_annotations,
    log_event,
    raise_priority,
)
from labelnb.active.adapters import ModelAdapter, Predictions, as_adapter
from labelnb.active.diversity import as_embeddings
from labelnb.active.guard import (
    check_human_only,
    evaluation_sets,
    machine_labels,
    mark_evaluation,
)
from labelnb.active.strategies import (
    DiversitySampling,
    RandomSampling,
    SmallBatchWarning,
    Strategy,
    check_batch_size,
    default_strategy,
)
from labelnb.active.uncertainty import regions_uncertainty
from labelnb.errors import LabelnbError, SchemaError, ValidationError
from labelnb.types import Region

if TYPE_CHECKING:
    from labelnb.project import Project

log = logging.getLogger("labelnb")
BATCH_EVENT = "active_learning_batch"
#: one per cycle: the cycle's :attr:`ActiveLoop.history_` row (read back on resume)
CYCLE_EVENT = "active_learning_cycle"
_FLOAT_COLUMNS = ("accuracy", "reserve_accuracy")
#: a fit error about the labels (one class, too few per class), not about the inputs
_CLASS_ERROR = re.compile(r"\bclass(es)?\b", re.IGNORECASE)
HISTORY_COLUMNS = ["cycle", "labels", "new_labels", "retrained", "model_version", "accuracy",
                   "eval_labels", "reserve_accuracy", "reserve_labels", "strategy", "selected",
                   "random", "pool_left", "pending", "seconds"]


@dataclass(frozen=True, slots=True)
class RetrainJob:
    """What a ``dispatcher`` gets: every human label so far and their model inputs."""

    inputs: Any
    targets: list[Any]
    item_ids: list[int]
    cycle: int
    model_version: str
    project: str


def jobs_dispatcher(backend: str = "local", *, config: dict[str, Any] | None = None,
                    holdout: float = 0.2, timeout: float | None = None
                    ) -> Callable[[RetrainJob], Any]:
    """A ``dispatcher`` that retrains through :func:`labelnb.jobs.submit` (``"retrain"``):
    in this process (``backend="local"``) or on Modal (``"modal"``, the app in
    ``gpu_jobs/retrain.py``), with the same function body either way. Text inputs get
    TF-IDF features, arrays are used as they are; a logistic regression is fitted on
    all but a ``holdout`` share of the labels, scored on that share, and the fitted
    model comes back. The job's metrics are kept in ``dispatcher.last_metrics``.

    >>> import numpy as np
    >>> d = jobs_dispatcher("local")
    >>> X = np.r_[np.zeros((10, 2)), np.ones((10, 2))]
    >>> job = RetrainJob(X, ["a"] * 10 + ["b"] * 10, list(range(20)), 1, "v1", "p")
    >>> d(job).predict([[0.0, 0.0], [1.0, 1.0]]).tolist(), d.last_metrics["n_val"]
    (['a', 'b'], 4)
    """
    import pickle

    from labelnb.jobs import submit

    def dispatch(job: RetrainJob) -> Any:
        n = len(job.targets)
        order = np.random.default_rng(job.cycle).permutation(n)
        cut = max(1, int(round(n * (1 - holdout)))) if n > 1 else n
        tr, va = order[:cut], order[cut:] if cut < n else order[:1]
        inputs = job.inputs
        texts = isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)
        key = "texts" if texts else "features"
        rows = inputs if texts else np.asarray(inputs, dtype=np.float64).tolist()

        def part(ix: npt.NDArray[np.int64]) -> dict[str, Any]:
            return {key: [rows[i] for i in ix], "labels": [job.targets[i] for i in ix]}

        handle = submit("retrain", {"train": part(tr), "val": part(va),
                                    "config": dict(config or {})},
                        backend=backend)  # type: ignore[arg-type]
        out = handle.result(timeout=timeout)
        dispatch.last_metrics = out["metrics"]  # type: ignore[attr-defined]
        return pickle.loads(out["weights"])

    dispatch.last_metrics = {}  # type: ignore[attr-defined]
    return dispatch


def _take(seq: Any, idx: npt.NDArray[np.int64]) -> Any:
    """Rows ``idx`` of an array, DataFrame or list (a list for lists)."""
    if isinstance(seq, np.ndarray):
        return seq[idx]
    if isinstance(seq, pd.DataFrame):
        return seq.iloc[idx]
    if hasattr(seq, "__getitem__") and hasattr(seq, "shape"):  # array-likes (torch, sparse)
        return seq[idx]
    return [seq[int(i)] for i in idx]


def pool_digest(pool: Any) -> str:
    """A short fingerprint of the pool's items and their order: a resumed loop must be
    given the same pool (see :class:`ActiveLoop`).

    >>> pool_digest(["a", "b"]) == pool_digest(["a", "b"]) != pool_digest(["b", "a"])
    True
    """
    return _digest_of(_pool_keys(pool))


def _pool_keys(pool: Any) -> np.ndarray | list[str]:
    """One key per pool item (a DataFrame row's hash, else the item as JSON): what the
    digest and the repeat detection read, made once."""
    if isinstance(pool, pd.DataFrame):
        return pd.util.hash_pandas_object(pool, index=False).to_numpy()
    return [json.dumps(item, sort_keys=True, default=str) for item in pool]


def _digest_of(keys: np.ndarray | list[str]) -> str:
    h = hashlib.sha1()
    if isinstance(keys, np.ndarray):
        h.update(keys.tobytes())
    else:
        for k in keys:
            h.update(k.encode())
            h.update(b"\x00")
    return h.hexdigest()[:16]


def _first_of_each(keys: np.ndarray | list[str]) -> npt.NDArray[np.int64]:
    """Per pool position (its :func:`_pool_keys` key), the first position holding the
    same item (itself when it is the first): ``add_items`` stores one item per content,
    so repeats of a pool item are queued, labeled and counted once."""
    first: dict[Any, int] = {}
    return np.asarray([first.setdefault(k, i) for i, k in enumerate(keys)], dtype=np.int64)


def _json_number(v: Any) -> Any:
    """NaN and numpy scalars as JSON-safe values (NaN -> None)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _pool_items(pool: Any, idx: npt.NDArray[np.int64]) -> list[Any]:
    if isinstance(pool, pd.DataFrame):
        return list(pool.iloc[idx].to_dict("records"))
    return [pool[int(i)] for i in idx]


class ActiveLoop:
    """The active-learning loop over a project (see the module docstring).

    Parameters
    ----------
    project:
        The :class:`~labelnb.Project` whose queue receives the batches.
    model:
        An sklearn estimator with ``predict_proba``, a torch module (with
        ``classes``), a function, the URL of a Label Studio ML backend, or a
        :class:`~labelnb.active.adapters.ModelAdapter`.
    pool:
        The unlabeled items, as :meth:`Project.add_items` takes them (texts, paths,
        URLs, dicts, a DataFrame); queued as the loop picks them.
    inputs:
        The model's input for each pool item (array rows, a list, a DataFrame), in pool
        order; default: the pool items themselves.
    embeddings:
        Optional ``n_pool × d`` embeddings for the diversity step and the cold start.
    strategy:
        A :class:`~labelnb.active.Strategy`; default
        :class:`~labelnb.active.UncertaintyDiversitySampling`.
    batch_size:
        Items queued per cycle (at least 200, 500–1000 recommended).
    retrain_every:
        Retrain after this many new human labels (default: ``batch_size``).
    eval_items, eval_inputs:
        Item ids of a human-labeled evaluation set in the project, and the model's
        input for each (in the same order). They are marked as an evaluation set
        (human-only) on the first cycle.
    metric:
        ``metric(true_regions, predicted_regions) -> float`` for kinds other than
        ``choice`` (where accuracy is the default).
    classes:
        Names of the model's outputs, where the model does not carry them.
    model_version:
        Prefix of the prediction versions (``"<model_version>-<cycle>"``).
    priority:
        Base priority of the loop's tasks (ordinary tasks have 0).
    dispatcher:
        ``dispatcher(job: RetrainJob) -> model | None`` retrains elsewhere.
    allow_machine_eval, eval_reason:
        Let machine-made labels in the evaluation set through (recorded with the reason).
    random_state:
        Seed of every random choice the loop makes (a resumed loop reseeds from it and
        the cycle it resumes at).
    resume:
        Continue the loop of the same ``model_version`` logged in the project (see
        the module docstring); ``False`` starts a new one.

    Attributes (set by :meth:`step`): ``model_`` (the adapter), ``cycle_``,
    ``item_ids_`` (project item id per pool item, -1 while not queued), ``labels_``
    (pool index → human label), ``history_``, ``selections_``, ``model_version_``.
    """

    def __init__(self, project: Project, model: Any, pool: Any, *, inputs: Any = None,
                 embeddings: npt.ArrayLike | None = None, strategy: Strategy | None = None,
                 batch_size: int = 500, retrain_every: int | None = None,
                 eval_items: Sequence[int] | None = None, eval_inputs: Any = None,
                 metric: Callable[[list[tuple[Region, ...]], list[tuple[Region, ...]]], float]
                 | None = None, classes: Sequence[Any] | None = None,
                 model_version: str = "active", priority: float = 1.0,
                 dispatcher: Callable[[RetrainJob], Any] | None = None,
                 allow_machine_eval: bool = False, eval_reason: str | None = None,
                 random_state: int | None = 0, resume: bool = True) -> None:
        self.project = project
        self.model = model
        self.pool = pool
        self.inputs = inputs
        self.embeddings = embeddings
        self.strategy = strategy
        self.batch_size = batch_size
        self.retrain_every = retrain_every
        self.eval_items = eval_items
        self.eval_inputs = eval_inputs
        self.metric = metric
        self.classes = classes
        self.model_version = model_version
        self.priority = priority
        self.dispatcher = dispatcher
        self.allow_machine_eval = allow_machine_eval
        self.eval_reason = eval_reason
        self.random_state = random_state
        self.resume = resume
        #: cycles read back from the project when this loop started (0: a new loop)
        self.resumed_ = 0

    # --- state ---------------------------------------------------------------------
    def _started(self) -> bool:
        return hasattr(self, "item_ids_")

    def _start(self) -> None:
        n = len(self.pool)
        if n == 0:
            raise ValidationError("ActiveLoop: the pool is empty; give the unlabeled items")
        inputs = self.inputs if self.inputs is not None else self.pool
        if len(inputs) != n:
            raise ValidationError(f"ActiveLoop: inputs has {len(inputs)} rows but the pool has "
                                  f"{n} items; give one model input per pool item, in order")
        self._inputs = inputs
        self._emb = as_embeddings(self.embeddings) if self.embeddings is not None else None
        if self._emb is not None and self._emb.shape[0] != n:
            raise ValidationError(f"ActiveLoop: embeddings has {self._emb.shape[0]} rows but the "
                                  f"pool has {n} items; give one embedding per pool item")
        self._batch = check_batch_size(self.batch_size, stacklevel=4)
        every = self.retrain_every if self.retrain_every is not None else self._batch
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValidationError(f"ActiveLoop: retrain_every = {every!r}; give how many new "
                                  "labels trigger a retrain, an int >= 1")
        self._every = int(every)
        if self.eval_items is not None:
            if self.eval_inputs is None or len(self.eval_inputs) != len(self.eval_items):
                raise ValidationError("ActiveLoop: eval_items needs eval_inputs, the model's "
                                      "input for each evaluation item, in the same order")
        if self.strategy is not None and not isinstance(self.strategy, Strategy):
            raise ValidationError(f"ActiveLoop: strategy {self.strategy!r:.60} is not a "
                                  "labelnb.active Strategy")
        self.model_: ModelAdapter = self._adapt(self.model)
        self.rng_ = np.random.default_rng(self.random_state)
        self.cycle_ = 0
        self.item_ids_ = np.full(n, -1, dtype=np.int64)
        self.labels_: dict[int, Any] = {}
        self._reasons = np.full(n, "", dtype="<U24")
        self._trained: set[int] = set()
        self._trained_count = 0
        self.model_version_ = f"{self.model_version}-0"
        self._history: list[dict[str, Any]] = []
        self._selections: list[pd.DataFrame] = []
        self._overridden = -1
        keys = _pool_keys(self.pool)
        self._digest = _digest_of(keys)
        self._first = _first_of_each(keys)
        if (repeats := int((self._first != np.arange(n)).sum())):
            log.info("labelnb: %d pool items repeat an earlier one; each item is queued, "
                     "labeled and counted once", repeats)
        if self.resume:
            self._restore()
            self._share_ids()
        if self.eval_items is not None:
            name = f"active:{self.model_version}"
            ids = sorted(int(i) for i in self.eval_items)
            if evaluation_sets(self.project).get(name) != ids:
                mark_evaluation(self.project, ids, name=name)

    def _restore(self) -> None:
        """Read back the batches and history rows this loop (``model_version``) logged
        in the project."""
        mine = [e for e in events(self.project, BATCH_EVENT)
                if e.get("loop") == self.model_version]
        rows = [e for e in events(self.project, CYCLE_EVENT)
                if e.get("loop") == self.model_version]
        if not mine and not rows:
            return
        n = len(self.pool)
        other = [e for e in mine + rows
                 if e.get("pool_size") != n or e.get("pool_digest") != self._digest]
        if other:
            raise ValidationError(
                f"ActiveLoop {self.model_version!r}: project {self.project.name!r} holds "
                f"a loop of this name over another pool ({other[0].get('pool_size')} items, "
                f"fingerprint {other[0].get('pool_digest')}; this pool has {n}, "
                f"{self._digest}); give the same pool in the same order to resume it, "
                "resume=False to start over, or another model_version for a new loop")
        for e in mine:
            idx = np.asarray(e["pool_indices"], dtype=np.int64)
            ids = [int(i) for i in e["item_ids"]]
            self.item_ids_[idx] = ids
            self._reasons[idx] = e["reasons"]
            k = len(ids)
            self._selections.append(pd.DataFrame({
                "cycle": int(e["cycle"]), "pool_index": idx, "item_id": ids,
                "reason": list(e["reasons"]),
                "score": [math.nan if v is None else float(v) for v in e["scores"]],
                "prediction": list(e.get("predictions") or [None] * k),
                "prediction_score": list(e.get("prediction_scores") or [None] * k)}))
        self._history = [{c: (math.nan if r.get(c) is None and c in _FLOAT_COLUMNS
                              else r.get(c)) for c in HISTORY_COLUMNS} for r in rows]
        self.cycle_ = max([int(e["cycle"]) for e in mine + rows])
        if mine:
            self.model_version_ = str(mine[-1]["model_version"])
        if self.random_state is not None:  # reproducible from the resume point
            self.rng_ = np.random.default_rng([int(self.random_state), self.cycle_])
        self.resumed_ = self.cycle_
        log.info("labelnb: active learning loop %r resumed at cycle %d (%d items queued "
                 "so far); the model is retrained on the human labels at the next step",
                 self.model_version, self.cycle_, int((self.item_ids_ >= 0).sum()))

    @property
    def history_(self) -> pd.DataFrame:
        """One row per cycle (see the module docstring)."""
        if not self._started():
            raise LabelnbError("ActiveLoop: no cycle has run yet; call loop.step()")
        return pd.DataFrame(self._history, columns=HISTORY_COLUMNS)

    @property
    def selections_(self) -> pd.DataFrame:
        """Every queued item: cycle, pool index, item id, reason, score, prediction."""
        if not self._started() or not self._selections:
            return pd.DataFrame(columns=["cycle", "pool_index", "item_id", "reason", "score",
                                         "prediction", "prediction_score"])
        return pd.concat(self._selections, ignore_index=True)

    def pending(self) -> int:
        """Queued pool items without a human label yet."""
        if not self._started():
            return 0
        queued = np.flatnonzero((self.item_ids_ >= 0) & self._own())
        return int(sum(1 for i in queued if int(i) not in self.labels_))

    def _own(self) -> npt.NDArray[np.bool_]:
        """The pool positions that stand for their item (the first of repeats)."""
        return np.asarray(self._first == np.arange(len(self._first)))

    def _share_ids(self) -> None:
        """Give the repeats of queued pool items their first's item id."""
        self.item_ids_[:] = self.item_ids_[self._first]

    # --- labels --------------------------------------------------------------------
    def _target(self, labels: Sequence[str], regions: Sequence[Any]) -> Any:
        if self.project.schema.kind == "choice":
            return labels[0] if len(labels) == 1 else None
        return tuple(Region.from_json(r) for r in regions)

    def sync(self) -> int:
        """Read the human labels of the queued pool items; returns how many there are."""
        if not self._started():
            self._start()
        queued = np.flatnonzero((self.item_ids_ >= 0) & self._own())
        if queued.size == 0:
            return 0
        by_item: dict[int, list[int]] = {}
        for i in queued:
            by_item.setdefault(int(self.item_ids_[i]), []).append(int(i))
        final = final_annotations(self.project.annotations(), item_ids=by_item,
                                  sources=HUMAN_SOURCES)
        labels: dict[int, Any] = {}
        if not final.empty:
            for item_id, labs, regs in zip(final["item_id"], final["labels"], final["regions"],
                                           strict=True):
                target = self._target(list(labs), list(regs))
                if target is None:
                    continue
                for k in by_item.get(int(item_id), []):
                    labels[k] = target
        self.labels_ = labels
        return len(labels)

    # --- training ------------------------------------------------------------------
    def _due(self) -> bool:
        n = len(self.labels_)
        if n == 0:
            return False
        if not self.model_.fitted:
            return True
        return n - self._trained_count >= self._every

    def retrain(self) -> bool:
        """Retrain on every human label so far (locally, or through the dispatcher);
        returns whether a retrain ran."""
        if not self._started():
            self._start()
        idx = np.array(sorted(self.labels_), dtype=np.int64)
        if idx.size == 0:
            return False
        targets = [self.labels_[int(i)] for i in idx]
        if self.project.schema.kind == "choice" and len(set(targets)) < 2:
            if not self.model_.fitted:
                log.info("labelnb: active learning waits for two classes before the first fit "
                         "(%d labels, all %r)", len(targets), targets[0])
            else:
                warnings.warn(f"ActiveLoop: not retrained: all {len(targets)} human labels so "
                              f"far are {targets[0]!r}, and a classifier needs two classes; "
                              "the model keeps its previous training until another class is "
                              "labeled (the next batches still come from it)", stacklevel=2)
            return False
        version = f"{self.model_version}-{self.cycle_ + 1}"
        if self.dispatcher is not None:
            job = RetrainJob(inputs=_take(self._inputs, idx), targets=targets,
                             item_ids=[int(self.item_ids_[i]) for i in idx],
                             cycle=self.cycle_ + 1, model_version=version,
                             project=self.project.name)
            new = self.dispatcher(job)
            if new is not None:
                self.model_ = self._adapt(new)
        elif self.model_.can_fit:
            try:
                self.model_.fit(_take(self._inputs, idx), targets)
            except (ValueError, TypeError) as e:  # most often: inputs the model cannot read
                if _CLASS_ERROR.search(str(e)):  # the labels, not the inputs: wait for more
                    counts = pd.Series([str(t) for t in targets]).value_counts().to_dict()
                    warnings.warn(f"ActiveLoop: not retrained on the {len(targets)} human "
                                  f"labels ({counts!r:.120}): {type(e).__name__}: "
                                  f"{str(e)[:200]}; the model keeps its previous state "
                                  "until more classes are labeled", stacklevel=2)
                    return False
                given = ("inputs" if self.inputs is not None else
                         "the pool items themselves (no inputs= was given)")
                raise ValidationError(
                    f"ActiveLoop: the model could not be trained on {given} "
                    f"({type(e).__name__}: {str(e)[:200]}); pass inputs=..., the model's "
                    "input for each pool item in pool order (e.g. feature rows)") from e
        else:
            return False
        self._trained = {int(i) for i in idx}
        self._trained_count = len(idx)
        self.model_version_ = version
        return True

    def update_model(self, model: Any, *, model_version: str | None = None) -> None:
        """Use ``model`` from now on (e.g. what a dispatched retraining job produced)."""
        if not self._started():
            self._start()
        self.model_ = self._adapt(model)
        self.model_version_ = model_version or f"{self.model_version}-{self.cycle_}-updated"

    def _adapt(self, model: Any) -> ModelAdapter:
        """The adapter of ``model``. ``classes`` names the columns of a model trained on
        other values; a model whose ``classes_`` are label names of the schema (e.g. one
        a dispatcher retrained on the human labels) keeps its own, so that no label is
        swapped by position."""
        own = getattr(model, "classes_", None)
        if self.classes is not None and own is not None and not isinstance(own, str):
            try:
                names = list(own)
            except TypeError:
                names = []
            schema = self.project.schema
            if names and all(isinstance(c, str) and c in schema for c in names):
                return as_adapter(model)
        return as_adapter(model, classes=self.classes)

    # --- evaluation ----------------------------------------------------------------
    def _score(self, preds: Predictions, truth: list[Any]) -> float:
        if self.metric is not None:
            return float(self.metric(truth, list(preds.regions)))
        if self.project.schema.kind != "choice":
            return math.nan
        top = preds.top_labels()
        return float(np.mean([a == b for a, b in zip(top, truth, strict=True)]))

    def evaluate(self) -> tuple[float, int]:
        """Accuracy (or ``metric``) of the current model on the evaluation set, and how
        many of its items carry a label. Machine-made labels there raise
        (:class:`~labelnb.errors.CircularValidationError`) unless
        ``allow_machine_eval``."""
        if not self._started():
            self._start()
        if self.eval_items is None or not self.model_.fitted:
            return math.nan, 0
        ids = [int(i) for i in self.eval_items]
        final = final_annotations(self.project.annotations(), item_ids=ids)
        if final.empty:
            return math.nan, 0
        bad = machine_labels(final)
        if not bad.empty and (not self.allow_machine_eval or len(bad) != self._overridden):
            check_human_only(final, allow_machine=self.allow_machine_eval,
                             reason=self.eval_reason, project=self.project,
                             what=f"evaluation set of ActiveLoop {self.model_version!r}",
                             override=("allow_machine_eval", "eval_reason"))
            self._overridden = len(bad)
        pos = {iid: k for k, iid in enumerate(ids)}
        keep = [(pos[int(i)], self._target(list(lab), list(reg)))
                for i, lab, reg in zip(final["item_id"], final["labels"], final["regions"],
                                       strict=True)]
        keep = [(k, t) for k, t in keep if t is not None]
        if not keep:
            return math.nan, 0
        idx = np.array([k for k, _ in keep], dtype=np.int64)
        preds = self.model_.predict(_take(self.eval_inputs, idx))
        return self._score(preds, [t for _, t in keep]), len(keep)

    def _reserve_accuracy(self) -> tuple[float, int]:
        """The current model on random-reserve items labeled since it was trained."""
        fresh = np.array(sorted(i for i in self.labels_ if i not in self._trained
                                and self._reasons[i] == "random"), dtype=np.int64)
        if fresh.size == 0 or not self.model_.fitted:
            return math.nan, 0
        preds = self.model_.predict(_take(self._inputs, fresh))
        return self._score(preds, [self.labels_[int(i)] for i in fresh]), int(fresh.size)

    # --- selection -----------------------------------------------------------------
    def _strategy(self, cold: bool) -> Strategy:
        if cold:  # no model yet: cover the embedding space, or sample uniformly
            rf = float(getattr(self.strategy, "random_fraction", 0.1))
            s: Strategy = (DiversitySampling("k_center", random_fraction=rf)
                           if self._emb is not None else RandomSampling())
        else:
            s = copy.copy(self.strategy) if self.strategy is not None else default_strategy()
        if s.random_state is None:
            s.random_state = np.random.default_rng(int(self.rng_.integers(2**63)))
        return s

    @staticmethod
    def _no_scores(preds: Predictions) -> bool:
        """Whether the model gave nothing to rank by: no probabilities, no per-item
        scores and no region with a score."""
        if preds.proba is not None:
            return False
        if preds.scores is not None and np.isfinite(preds.scores).any():
            return False
        return not any(r.score is not None for regs in preds.regions for r in regs)

    def _uncertainty(self, preds: Predictions) -> Any:
        if preds.proba is not None:
            return preds.proba
        u = regions_uncertainty(preds.regions)
        if preds.scores is not None:
            none = np.array([not any(r.score is not None for r in regs)
                             for regs in preds.regions], dtype=bool)
            ok = none & np.isfinite(preds.scores)
            u[ok] = 1.0 - np.clip(preds.scores[ok], 0.0, 1.0)
        return u

    def step(self) -> pd.DataFrame:
        """Run one cycle (see the module docstring); returns the queued batch, one row
        per item: pool index, item id, reason, score, prediction."""
        t0 = time.perf_counter()
        if not self._started():
            self._start()
        n_labels = self.sync()
        new_labels = n_labels - self._trained_count
        reserve_acc, reserve_n = math.nan, 0
        retrained = False
        if self._due():
            reserve_acc, reserve_n = self._reserve_accuracy()
            retrained = self.retrain()
        accuracy, eval_n = self.evaluate()
        self.cycle_ += 1  # taken back below if the step fails: a failed step is no cycle
        try:
            return self._select(t0, n_labels, new_labels, retrained, accuracy, eval_n,
                                reserve_acc, reserve_n)
        except BaseException:
            self.cycle_ -= 1
            raise

    def _select(self, t0: float, n_labels: int, new_labels: int, retrained: bool,
                accuracy: float, eval_n: int, reserve_acc: float, reserve_n: int
                ) -> pd.DataFrame:
        """The rest of :meth:`step` once the cycle count was advanced: predict, query,
        queue, log."""
        cand = np.flatnonzero((self.item_ids_ < 0) & self._own())
        frame = pd.DataFrame(columns=["cycle", "pool_index", "item_id", "reason", "score",
                                      "prediction", "prediction_score"])
        strategy_name = "-"
        n_random = 0
        if cand.size:
            n = min(self._batch, int(cand.size))
            cold = not self.model_.fitted
            strategy = self._strategy(cold)
            strategy_name = ("cold start: " if cold else "") + type(strategy).__name__
            preds: Predictions | None = None
            pool_arg: Any = int(cand.size)
            if not cold:
                preds = self.model_.predict(_take(self._inputs, cand))
                if len(preds) != cand.size:
                    raise LabelnbError(f"ActiveLoop: the model returned {len(preds)} predictions "
                                       f"for {cand.size} inputs")
                if self._no_scores(preds):
                    warnings.warn(
                        f"ActiveLoop {self.model_version!r}: the model returned no scores "
                        f"for any of the {cand.size} pool items (labels only), so there is "
                        "no uncertainty to rank by; this batch is drawn at random. Fix: make "
                        "the model return probabilities (predict_proba) or regions with "
                        "score=... (e.g. Choice('a', score=0.8))", UserWarning, stacklevel=3)
                    strategy = RandomSampling(random_state=strategy.random_state)
                    strategy_name = "no scores: RandomSampling"
                else:
                    pool_arg = self._uncertainty(preds)
            emb = self._emb[cand] if self._emb is not None else None
            queued = np.flatnonzero(self.item_ids_ >= 0)
            lab_emb = self._emb[queued] if self._emb is not None and queued.size else None
            with warnings.catch_warnings():  # the batch size was checked (and warned) once
                warnings.simplefilter("ignore", SmallBatchWarning)
                batch = strategy.query(pool_arg, n, embeddings=emb, labeled_embeddings=lab_emb)
            local = batch.indices
            pool_idx = cand[local]
            frame = self._queue(pool_idx, local, batch.reasons, batch.scores, preds)
            n_random = int(batch.random_mask.sum())
        row = {
            "cycle": self.cycle_, "labels": n_labels, "new_labels": new_labels,
            "retrained": retrained, "model_version": self.model_version_ if
            self.model_.fitted else None, "accuracy": accuracy, "eval_labels": eval_n,
            "reserve_accuracy": reserve_acc, "reserve_labels": reserve_n,
            "strategy": strategy_name, "selected": len(frame), "random": n_random,
            "pool_left": int(((self.item_ids_ < 0) & self._own()).sum()),
            "pending": self.pending(),
            "seconds": round(time.perf_counter() - t0, 3)}
        self._history.append(row)
        log_event(self.project, CYCLE_EVENT, {
            **{k: _json_number(v) for k, v in row.items()}, **self._identity()})
        return frame

    def _identity(self) -> dict[str, Any]:
        """What the logged events carry so that a later loop can tell them its own."""
        return {"loop": self.model_version, "pool_size": len(self.pool),
                "pool_digest": self._digest}

    def _queue(self, pool_idx: npt.NDArray[np.int64], local: npt.NDArray[np.int64],
               reasons: npt.NDArray[np.str_], scores: npt.NDArray[np.float64],
               preds: Predictions | None) -> pd.DataFrame:
        items = _pool_items(self.pool, pool_idx)
        pred_regions: list[tuple[Region, ...]] = []
        pred_scores: list[float | None] = []
        if preds is not None:
            self._check_labels(preds, [preds.regions[int(j)] for j in local])
            for j in local:
                regs = preds.regions[int(j)]
                pred_regions.append(regs)
                if preds.proba is not None:
                    pred_scores.append(float(preds.proba[int(j)].max()))
                elif preds.scores is not None and np.isfinite(preds.scores[int(j)]):
                    pred_scores.append(float(np.clip(preds.scores[int(j)], 0.0, 1.0)))
                else:
                    pred_scores.append(None)
        with self.project.atomic():
            ids = self.project.add_items(items, priority=float(self.priority))
            if preds is not None:
                entries = [(iid, regs, sc) for iid, regs, sc in
                           zip(ids, pred_regions, pred_scores, strict=True) if regs]
                if entries:
                    self.project.add_predictions(self.model_version_, entries, source="model")
        # items that were in the project before keep their tasks: raise those too
        raise_priority(self.project, ids, float(self.priority))
        self.item_ids_[pool_idx] = np.asarray(ids, dtype=np.int64)
        self._share_ids()
        self._reasons[pool_idx] = reasons
        top = [r[0].label if r else None for r in pred_regions] if preds is not None else \
            [None] * len(ids)
        frame = pd.DataFrame({
            "cycle": self.cycle_, "pool_index": pool_idx, "item_id": ids,
            "reason": reasons, "score": scores, "prediction": top,
            "prediction_score": pred_scores if preds is not None else [None] * len(ids)})
        self._selections.append(frame)
        log_event(self.project, BATCH_EVENT, {
            "cycle": self.cycle_, "model_version": self.model_version_,
            "item_ids": [int(i) for i in ids], "reasons": [str(r) for r in reasons],
            "scores": [None if not np.isfinite(s) else round(float(s), 6) for s in scores],
            "pool_indices": [int(i) for i in pool_idx], "predictions": list(top),
            "prediction_scores": [_json_number(v) for v in frame["prediction_score"]],
            **self._identity()})
        return frame

    def _check_labels(self, preds: Predictions, regions: list[tuple[Region, ...]]) -> None:
        """Refuse predicted labels the schema lacks when they are the names of a model's
        probability columns: the model was trained on other values (e.g. ints) and needs
        ``classes=``."""
        if preds.classes is None:
            return  # region labels: add_predictions names the bad one
        schema = self.project.schema
        bad = sorted({r.label for regs in regions for r in regs if r.label not in schema})
        if bad:
            raise SchemaError(
                f"ActiveLoop: the model predicts {bad!r:.80}, not labels of the schema "
                f"({', '.join(schema.names)}); its classes are {list(preds.classes)!r:.120}, "
                "so it was trained on other values: pass ActiveLoop(..., classes=[...]), the "
                "schema label of each of the model's classes in order (column k of "
                "predict_proba is classes[k])")

    def run(self, cycles: int, *, annotate: Callable[[ActiveLoop, pd.DataFrame], Any] | None
            = None) -> pd.DataFrame:
        """Run ``cycles`` cycles; after each, ``annotate(loop, batch)`` (e.g. a simulated
        annotator working through the queue). Stops early when the pool is used up.
        Returns :attr:`history_`."""
        for _ in range(int(cycles)):
            batch = self.step()
            if annotate is not None:
                annotate(self, batch)
            if not len(batch):
                break
        return self.history_

    def __repr__(self) -> str:
        done = f", cycle {self.cycle_}" if self._started() else ""
        return (f"ActiveLoop({self.project.name!r}, {type(self.model).__name__}, "
                f"{len(self.pool)} pool items, batch_size={self.batch_size}{done})")


def selections(project: Project) -> pd.DataFrame:
    """Every active-learning batch logged in ``project``: cycle, model version, item id,
    reason (``"random"`` marks the random reserve) and score."""
    rows: list[dict[str, Any]] = []
    for e in events(project, BATCH_EVENT):
        ids: Iterable[int] = e.get("item_ids", [])
        for k, iid in enumerate(ids):
            rows.append({"cycle": e.get("cycle"), "model_version": e.get("model_version"),
                         "item_id": int(iid), "reason": e["reasons"][k],
                         "score": e["scores"][k], "created_at": e["_at"]})
    return pd.DataFrame(rows, columns=["cycle", "model_version", "item_id", "reason", "score",
                                       "created_at"])


__all__ = ["ActiveLoop", "RetrainJob", "pool_digest", "selections"]
