"""Model adapters: one interface over the models an :class:`~labelnb.active.ActiveLoop`
can drive.

An adapter turns a list of model inputs into :class:`Predictions` — the
pre-annotation regions of each input and, where the model gives them, class
probabilities — and may retrain on human labels:

* :class:`SklearnAdapter` — any scikit-learn estimator with ``predict_proba``
  (retrains with ``fit``);
* :class:`TorchAdapter` — a ``torch.nn.Module`` returning logits (softmax applied;
  retrains through an optional ``fit`` function; torch is imported only here);
* :class:`CallableAdapter` — any function ``inputs -> probabilities`` or
  ``inputs -> regions per input``;
* :class:`LabelStudioMLBackend` — a remote model behind HTTP that speaks Label
  Studio's ML-backend protocol, so existing backends plug in unchanged.

:func:`as_adapter` picks the right one for a model.

**The Label Studio ML-backend protocol** (``label_studio_ml/api.py`` of
``label-studio-ml-backend``): ``POST {url}/predict`` with JSON ::

    {"tasks": [{"id": 1, "data": {"text": "..."}}, ...],
     "project": "<id>.<timestamp>", "label_config": "<View>...</View>",
     "params": {"context": {}}}

answers ``{"results": [prediction, ...]}``, one prediction per task in task order,
each ``{"result": [...], "score": 0.87, "model_version": "..."}`` whose ``result``
entries are Label Studio regions (``choices``, ``rectanglelabels`` in percent of
``original_width``/``original_height``, ``labels`` with UTF-16 offsets, ...). Older
servers put ``model_version`` beside ``results``. The regions are converted by
:func:`labelnb.formats.label_studio.from_label_studio` (the same code that imports
Label Studio exports). Optional HTTP basic auth (``BASIC_AUTH_USER`` /
``BASIC_AUTH_PASS`` on the server) is ``auth=(user, password)``.

>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
>>> m = as_adapter(LogisticRegression().fit(X, ["neg", "neg", "pos", "pos"]))
>>> p = m.predict(np.array([[0.2], [2.9]]))
>>> [r[0].label for r in p.regions], p.classes
(['neg', 'pos'], ('neg', 'pos'))
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from labelnb.active.uncertainty import check_proba
from labelnb.errors import LabelnbError, MissingExtra, ValidationError
from labelnb.types import Choice, Region

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Predictions:
    """What a model says about ``n`` inputs.

    ``regions[i]``: the pre-annotation of input ``i`` (with scores where known).
    ``proba``: ``n × len(classes)`` class probabilities, when the model gives them.
    ``scores``: one overall confidence per input (NaN where unknown), e.g. a Label
    Studio prediction's ``score``.
    """

    regions: list[tuple[Region, ...]]
    proba: FloatArray | None = None
    classes: tuple[str, ...] | None = None
    scores: FloatArray | None = None
    model_version: str | None = None

    def __len__(self) -> int:
        return len(self.regions)

    def top_labels(self) -> list[str | None]:
        """The most likely class of each input (from ``proba``, else its first region)."""
        if self.proba is not None and self.classes is not None:
            return [self.classes[int(k)] for k in self.proba.argmax(axis=1)]
        return [r[0].label if r else None for r in self.regions]


@runtime_checkable
class ModelAdapter(Protocol):
    """What the loop asks of a model."""

    @property
    def fitted(self) -> bool:
        """Whether :meth:`predict` can run (an unfitted model means a cold start)."""
        ...

    @property
    def can_fit(self) -> bool:
        """Whether :meth:`fit` retrains the model locally."""
        ...

    def predict(self, inputs: Any) -> Predictions: ...

    def fit(self, inputs: Any, targets: Sequence[Any]) -> None: ...


def choices_from_proba(proba: FloatArray, classes: Sequence[str]) -> list[tuple[Region, ...]]:
    """One :class:`~labelnb.types.Choice` per row: the most likely class, scored by its
    probability."""
    k = proba.argmax(axis=1)
    top = proba[np.arange(proba.shape[0]), k]
    return [(Choice(str(classes[int(j)]), score=float(min(max(s, 0.0), 1.0))),)
            for j, s in zip(k, top, strict=True)]


def _proba64(p: Any, what: str) -> FloatArray:
    return np.asarray(check_proba(p, what=what), dtype=np.float64)


def _classes(classes: Sequence[Any] | None, k: int, who: str) -> tuple[str, ...]:
    if classes is None:
        raise ValidationError(f"{who}: the model returns {k} class probabilities but no class "
                              "names; pass classes=[...] (the label of each column, in order)")
    names = tuple(str(c) for c in classes)
    if len(names) != k:
        raise ValidationError(f"{who}: {len(names)} class names {list(names)!r:.120} for {k} "
                              "probability columns; give one name per column")
    return names


class SklearnAdapter:
    """A scikit-learn estimator with ``predict_proba``.

    ``classes`` names the probability columns when the estimator was trained on other
    values (e.g. ints 0..9 for labels ``"0"``..``"9"`` or ``"cat"``, ``"dog"``); by
    default they are ``str(c)`` of ``estimator.classes_``. After :meth:`fit` (on label
    names) the estimator's own classes are used. An estimator trained on label names
    keeps them: ``classes`` naming the same labels in another order follows
    ``classes_`` (the columns' true labels), and ``classes`` that reuse some of those
    names for other columns raise, instead of swapping labels.

    Any object with ``predict_proba`` works: it counts as fitted when scikit-learn's
    ``check_is_fitted`` says so, when it has ``classes_`` or no ``fit`` (a served
    model), or once it was fitted through this adapter.
    """

    def __init__(self, estimator: Any, *, classes: Sequence[Any] | None = None) -> None:
        if not hasattr(estimator, "predict_proba"):
            raise ValidationError(f"{type(estimator).__name__} has no predict_proba; use a "
                                  "probabilistic estimator (e.g. LogisticRegression, or "
                                  "SVC(probability=True)), or wrap it in CallableAdapter")
        self.estimator = estimator
        self.classes = classes
        self._fitted_here = False

    @property
    def fitted(self) -> bool:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        if self._fitted_here:
            return True
        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            return False
        except (AttributeError, TypeError):  # not a scikit-learn estimator (no tags, no fit)
            return hasattr(self.estimator, "classes_") or not hasattr(self.estimator, "fit")
        return True

    @property
    def can_fit(self) -> bool:
        return hasattr(self.estimator, "fit")

    def predict(self, inputs: Any) -> Predictions:
        proba = _proba64(self.estimator.predict_proba(inputs),
                         f"{type(self.estimator).__name__}.predict_proba")
        classes = self._names(proba.shape[1])
        return Predictions(regions=choices_from_proba(proba, classes), proba=proba,
                           classes=classes)

    def _names(self, k: int) -> tuple[str, ...]:
        """The label of each of the ``k`` probability columns."""
        who = type(self.estimator).__name__
        own = getattr(self.estimator, "classes_", None)
        if self.classes is None:
            return _classes(own, k, who)
        names = _classes(self.classes, k, who)
        own_names = _label_names(own)
        if own_names is None or len(own_names) != k or own_names == names:
            return names
        if set(own_names) == set(names):  # the same labels: the columns follow classes_
            return own_names
        if set(own_names) & set(names):
            raise ValidationError(
                f"{who}: classes={list(names)!r:.120} names the probability columns by "
                f"position, but the estimator was trained on the labels "
                f"{list(own_names)!r:.120} (its classes_, column by column), so some labels "
                "would land on another label's column; leave classes= out to use the "
                "estimator's own labels, or give the label of each column of classes_, in "
                "that order")
        return names  # a renaming: the estimator was trained on other names

    def fit(self, inputs: Any, targets: Sequence[Any]) -> None:
        self.estimator.fit(inputs, np.asarray(list(targets), dtype=object).astype(str))
        self.classes = None  # trained on label names: its classes_ are the names now
        self._fitted_here = True

    def __repr__(self) -> str:
        return f"SklearnAdapter({self.estimator!r})"


def _label_names(classes: Any) -> tuple[str, ...] | None:
    """``classes`` (an estimator's ``classes_``) when they are strings (label names),
    else None (ints, or no classes_)."""
    if classes is None or isinstance(classes, str):
        return None
    try:
        seq = list(classes)
    except TypeError:
        return None
    if not seq or not all(isinstance(c, str) for c in seq):
        return None
    return tuple(str(c) for c in seq)


class _FitHook:
    """Adapters whose model always predicts and is retrained, if at all, by the user's
    ``fit`` function (``fit_fn``)."""

    fit_fn: Callable[..., Any] | None

    @property
    def fitted(self) -> bool:
        return True

    @property
    def can_fit(self) -> bool:
        return self.fit_fn is not None

    def _call_fit(self, signature: str, *args: Any) -> Any:
        if self.fit_fn is None:
            raise LabelnbError(f"{type(self).__name__}: no fit function; pass fit=... "
                               f"{signature} or retrain through ActiveLoop(dispatcher=...)")
        return self.fit_fn(*args)


class TorchAdapter(_FitHook):
    """A ``torch.nn.Module`` that maps a float tensor of inputs to class logits.

    Inputs are stacked with ``numpy.asarray`` and fed in ``batch_size`` chunks under
    ``torch.no_grad()`` in eval mode; ``softmax=False`` if the module already returns
    probabilities. ``fit(module, inputs, targets)`` (optional) retrains it and may
    return a new module."""

    def __init__(self, module: Any, classes: Sequence[Any], *, device: str | None = None,
                 batch_size: int = 256, softmax: bool = True,
                 fit: Callable[[Any, Any, Sequence[Any]], Any] | None = None) -> None:
        if (isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer)
                or batch_size < 1):
            raise ValidationError(f"TorchAdapter: batch_size = {batch_size!r}; give how many "
                                  "inputs go through the module at once, an int >= 1")
        self.module = module
        self.classes = classes
        self.device = device
        self.batch_size = int(batch_size)
        self.softmax = softmax
        self.fit_fn = fit

    def predict(self, inputs: Any) -> Predictions:
        torch = _torch()
        x = np.asarray(inputs, dtype=np.float32)
        outs: list[npt.NDArray[Any]] = []
        step = max(1, int(self.batch_size))
        was_training = bool(getattr(self.module, "training", False))
        self.module.eval()
        try:
            with torch.no_grad():
                for s in range(0, x.shape[0], step):
                    t = torch.from_numpy(x[s:s + step])
                    if self.device is not None:
                        t = t.to(self.device)
                    y = self.module(t)
                    if self.softmax:
                        y = torch.softmax(y, dim=-1)
                    outs.append(y.detach().cpu().double().numpy())
        finally:
            if was_training:
                self.module.train()
        proba = _proba64(np.concatenate(outs) if outs else np.zeros((0, len(self.classes))),
                         f"{type(self.module).__name__} output")
        classes = _classes(self.classes, proba.shape[1], type(self.module).__name__)
        return Predictions(regions=choices_from_proba(proba, classes), proba=proba,
                           classes=classes)

    def fit(self, inputs: Any, targets: Sequence[Any]) -> None:
        new = self._call_fit("(module, inputs, targets)", self.module, inputs, targets)
        if new is not None:
            self.module = new


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingExtra("torch", "sam", "torch models in active learning") from None
    return torch


class CallableAdapter(_FitHook):
    """Any function of a list of inputs: it returns class probabilities (a 2-D array,
    then ``classes`` names the columns) or the regions of each input (a list, one list
    of :class:`~labelnb.types.Region` or their JSON per input).

    ``fit(inputs, targets)`` (optional) retrains whatever the function uses."""

    def __init__(self, fn: Callable[[Any], Any], *, classes: Sequence[Any] | None = None,
                 fit: Callable[[Any, Sequence[Any]], Any] | None = None) -> None:
        self.fn = fn
        self.classes = classes
        self.fit_fn = fit

    def predict(self, inputs: Any) -> Predictions:
        out = self.fn(inputs)
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        if isinstance(out, Predictions):
            return out
        if _is_proba(out):
            proba = _proba64(np.asarray(out, dtype=np.float64), f"{name}(inputs)")
            classes = _classes(self.classes, proba.shape[1], name)
            return Predictions(regions=choices_from_proba(proba, classes), proba=proba,
                               classes=classes)
        regions: list[tuple[Region, ...]] = []
        for i, regs in enumerate(out):
            try:
                if isinstance(regs, Region | Mapping):
                    regs = [regs]
                regions.append(tuple(r if isinstance(r, Region) else Region.from_json(r)
                                     for r in regs))
            except (TypeError, ValueError) as e:
                raise ValidationError(f"{name}(inputs)[{i}]: {e}; return a list of regions "
                                      "(Box, Span, Choice, ... or their JSON) per input, or an "
                                      "(n_inputs, n_classes) probability array") from None
        return Predictions(regions=regions)

    def fit(self, inputs: Any, targets: Sequence[Any]) -> None:
        self._call_fit("(inputs, targets)", inputs, targets)


def _is_proba(out: Any) -> bool:
    """Whether a function's output is class probabilities (a 2-D numeric matrix with at
    least one column) rather than regions per input: ``[[], [], []]`` (no region for any
    input) or rows of regions or their JSON are regions."""
    if isinstance(out, np.ndarray) and out.dtype != object:
        return not (out.ndim == 2 and out.shape[1] == 0)  # other shapes: check_proba says
    try:
        arr = np.asarray(out, dtype=object)
    except (TypeError, ValueError):  # e.g. rows numpy cannot stack
        return False
    if arr.ndim != 2 or arr.shape[1] == 0:
        return False
    if any(isinstance(v, Region | Mapping | list | tuple | np.ndarray) for v in arr.flat):
        return False
    return _numeric(arr)


def _numeric(a: npt.NDArray[Any]) -> bool:
    try:
        np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


class LabelStudioMLBackend:
    """A model served by a Label Studio ML backend (see the module docstring).

    ``url``: the backend's base URL (``/predict`` is appended). Inputs are the tasks'
    ``data`` objects (``{"text": ...}``, ``{"image": "https://..."}``), or plain
    strings, sent as ``{"text": s}`` (or as ``{data_key: s}``). ``label_config`` is the
    Label Studio labeling config the backend expects; ``project`` the id it sees.
    Requests carry ``batch_size`` tasks each. ``image_size(uri) -> (w, h)`` serves
    box results that lack ``original_width`` / ``original_height``.

    The backend retrains itself (Label Studio calls its ``/webhook``), so ``can_fit``
    is False; the loop records that it did not retrain.
    """

    def __init__(self, url: str, *, label_config: str = "", project: str = "labelnb",
                 data_key: str = "text", params: Mapping[str, Any] | None = None,
                 timeout: float = 30.0, batch_size: int = 32,
                 auth: tuple[str, str] | None = None, headers: Mapping[str, str] | None = None,
                 image_size: Callable[[str], tuple[int, int]] | None = None) -> None:
        self.url = url
        self.label_config = label_config
        self.project = project
        self.data_key = data_key
        self.params = params
        self.timeout = timeout
        self.batch_size = batch_size
        self.auth = auth
        self.headers = headers
        self.image_size = image_size

    @property
    def fitted(self) -> bool:
        return True

    @property
    def can_fit(self) -> bool:
        return False

    def fit(self, inputs: Any, targets: Sequence[Any]) -> None:
        raise LabelnbError(f"the Label Studio ML backend at {self.url} retrains itself (through "
                           "its /webhook); labelnb does not train it")

    def _task_data(self, x: Any, i: int) -> dict[str, Any]:
        if isinstance(x, Mapping):
            d = dict(x.get("data", x)) if isinstance(x.get("data"), Mapping) else dict(x)
            return {k: v for k, v in d.items() if k != "meta"}
        if isinstance(x, str):
            return {self.data_key: x}
        raise ValidationError(f"input {i} ({x!r:.60}): a Label Studio backend takes task data "
                              f"(a dict such as {{'{self.data_key}': ...}}) or a string")

    def _post(self, body: dict[str, Any]) -> Any:
        url = self.url.rstrip("/") + "/predict"
        hdrs = {"Content-Type": "application/json", "Accept": "application/json",
                **dict(self.headers or {})}
        if self.auth is not None:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            hdrs["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=hdrs,
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode("utf-8", "replace")
            raise LabelnbError(f"Label Studio ML backend {url}: HTTP {e.code} {e.reason}: "
                               f"{detail!r}; check the backend's log and label_config") from None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise LabelnbError(f"Label Studio ML backend {url} is unreachable ({reason}); is "
                               "it running (label-studio-ml start ...), and is the URL "
                               "right?") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise LabelnbError(f"Label Studio ML backend {url}: the answer is not JSON: "
                               f"{raw[:200]!r}") from None

    def predict(self, inputs: Any) -> Predictions:
        from labelnb.formats.label_studio import from_label_studio

        items = list(inputs)
        regions: list[tuple[Region, ...]] = []
        scores = np.full(len(items), np.nan)
        version: str | None = None
        step = max(1, int(self.batch_size))
        for s in range(0, len(items), step):
            tasks = [{"id": s + j, "data": self._task_data(x, s + j)}
                     for j, x in enumerate(items[s:s + step])]
            body = {"tasks": tasks, "project": self.project, "label_config": self.label_config,
                    "params": {**dict(self.params or {}), "context": {}}}
            ans = self._post(body)
            results = ans.get("results") if isinstance(ans, Mapping) else ans
            if not isinstance(results, list) or len(results) != len(tasks):
                got = (f"{len(results)} results" if isinstance(results, list)
                       else f"{type(results).__name__}")
                raise LabelnbError(f"Label Studio ML backend {self.url}: sent {len(tasks)} tasks "
                                   f"(ids {s}..{s + len(tasks) - 1}), got {got}; a /predict "
                                   "answer is {'results': [one prediction per task]}")
            if isinstance(ans, Mapping) and ans.get("model_version"):
                version = str(ans["model_version"])
            for j, (task, pred) in enumerate(zip(tasks, results, strict=True)):
                if isinstance(pred, list):  # some backends answer a bare result list
                    pred = {"result": pred}
                if not isinstance(pred, Mapping):
                    raise LabelnbError(f"Label Studio ML backend {self.url}: the prediction for "
                                       f"task {task['id']} is {pred!r:.80}, not an object with "
                                       "'result'")
                try:
                    t = from_label_studio([{**task, "predictions": [dict(pred)]}],
                                          image_size=self.image_size)[0]
                except LabelnbError as e:
                    raise LabelnbError(f"Label Studio ML backend {self.url}, input {s + j}: "
                                       f"{e}") from None
                lab = t.labels[0] if t.labels else None
                regions.append(lab.regions if lab is not None else ())
                if lab is not None and lab.score is not None:
                    scores[s + j] = lab.score
                if pred.get("model_version"):
                    version = str(pred["model_version"])
        return Predictions(regions=regions, scores=scores, model_version=version)

    def __repr__(self) -> str:
        return f"LabelStudioMLBackend({self.url!r})"


def _is_torch_module(model: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def as_adapter(model: Any, *, classes: Sequence[Any] | None = None) -> ModelAdapter:
    """The adapter for ``model``: an adapter as it is; an object with
    ``predict_proba`` → :class:`SklearnAdapter`; a ``torch.nn.Module`` →
    :class:`TorchAdapter` (needs ``classes``); an ``http(s)://`` URL →
    :class:`LabelStudioMLBackend`; any other callable → :class:`CallableAdapter`."""
    if isinstance(model, SklearnAdapter | TorchAdapter | CallableAdapter | LabelStudioMLBackend):
        return model
    if isinstance(model, ModelAdapter) and not hasattr(model, "predict_proba"):
        return model
    if isinstance(model, str):
        if model.startswith(("http://", "https://")):
            return LabelStudioMLBackend(model)
        raise ValidationError(f"model {model!r:.80}: a string must be the http(s):// URL of a "
                              "Label Studio ML backend")
    if _is_torch_module(model):
        if classes is None:
            raise ValidationError("a torch module returns logits without class names; pass "
                                  "classes=[...] (the label of each output, in order)")
        return TorchAdapter(model, classes)
    if hasattr(model, "predict_proba"):
        return SklearnAdapter(model, classes=classes)
    if callable(model):
        return CallableAdapter(model, classes=classes)
    raise ValidationError(f"model: {type(model).__name__} is not a model labelnb can drive; "
                          "give an sklearn estimator with predict_proba, a torch module, a "
                          "function, a Label Studio ML backend URL, or a ModelAdapter")


__all__ = ["CallableAdapter", "LabelStudioMLBackend", "ModelAdapter", "Predictions",
           "SklearnAdapter", "TorchAdapter", "as_adapter", "choices_from_proba"]
