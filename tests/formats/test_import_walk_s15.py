"""Imports a new user ran twice, or through a label_map that drops a class (session 15's
docs walk): each test fails on the behaviour found then."""

from __future__ import annotations

import json
from pathlib import Path

import labelnb
from labelnb import Schema


def _jsonl(path: Path, rows: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_predictions_imported_twice_are_stored_once(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "p.db", "r", Schema("choice", ["pos", "neg"]))
    f = _jsonl(tmp_path / "preds.jsonl", [{"text": "great film", "label": "pos"},
                                          {"text": "dull plot", "label": "neg"}])
    first = labelnb.import_dataset(p, "jsonl", f, as_predictions=True, model_version="m1")
    assert first.predictions == 2 and first.predictions_already_there == 0
    again = labelnb.import_dataset(p, "jsonl", f, as_predictions=True, model_version="m1")
    assert again.predictions == 0 and again.predictions_already_there == 2
    assert "2 items' predictions already in the project left out" in str(again)
    assert len(p.predictions()) == 2
    # a rerun that differs is stored (and is what the item shows from then on)
    g = _jsonl(tmp_path / "preds2.jsonl", [{"text": "great film", "label": "neg"},
                                           {"text": "dull plot", "label": "neg"}])
    changed = labelnb.import_dataset(p, "jsonl", g, as_predictions=True, model_version="m1")
    assert changed.predictions == 1 and changed.predictions_already_there == 1
    item = int(p.items().set_index("text").loc["great film", "id"])
    assert [r.label for r in p.prediction_regions(item, "m1")] == ["neg"]
    # and going back to the first file stores it again: it is no longer the newest
    back = labelnb.import_dataset(p, "jsonl", f, as_predictions=True, model_version="m1")
    assert back.predictions == 1
    assert [r.label for r in p.prediction_regions(item, "m1")] == ["pos"]
    # another model version is its own
    other = labelnb.import_dataset(p, "jsonl", f, as_predictions=True, model_version="m2")
    assert other.predictions == 2


def test_a_class_the_label_map_drops_leaves_the_item_open(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "q.db", "r", Schema("choice", ["pos", "neg"]))
    f = _jsonl(tmp_path / "l.jsonl", [{"text": "great film", "label": "pos"},
                                      {"text": "what?", "label": "junk"}])
    r = labelnb.import_dataset(p, "jsonl", f, label_map={"junk": None})
    assert r.items == 2 and r.annotations == 1
    assert any("label_map dropped every class it had" in w for w in r.warnings)
    anns = p.annotations()
    assert anns["labels"].tolist() == [["pos"]]
    # the dropped item was not closed with an empty label: the queue still hands it out
    q = p.queue("ana")
    seen = []
    while (t := q.claim()) is not None:
        seen.append(t.item.text)
        q.submit(labelnb.Choice("neg"))
    assert seen == ["what?"]
