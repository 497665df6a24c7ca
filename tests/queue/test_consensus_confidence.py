"""consensus() reports ``confidence`` rounded to 6 decimals for every tier."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import labelnb
from labelnb import Choice, Schema


def test_confidence_is_rounded_for_every_tier(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "c.db", "c", Schema("choice", ["a", "b", "c"]),
                               overlap=3)
    p.add_items(["same", "most", "split", "wait"])
    answers = {"ana": {"same": "a", "most": "a", "split": "a", "wait": "a"},
               "bob": {"same": "a", "most": "a", "split": "b", "wait": "a"},
               "cy": {"same": "a", "most": "b", "split": "c"}}
    for who, labels in answers.items():
        q = p.queue(who)
        while (t := q.claim()) is not None:
            text = t.item.text or ""
            if text not in labels:
                break  # cy leaves "wait" with two annotations
            q.submit(Choice(labels[text]))
    texts = dict(zip(p.items()["id"], p.items()["text"], strict=True))
    for queue_tasks in (False, True, True):  # read only, storing, and again (idempotent)
        out = p.consensus(queue_tasks=queue_tasks)
        got = {texts[i]: (t, c) for i, t, c in zip(out["item_id"], out["tier"],
                                                   out["confidence"], strict=True)}
        assert got["same"] == ("unanimous", 1.0)
        assert got["most"] == ("majority", 0.666667)
        assert got["split"] == ("none", 0.333333)  # was 0.3333333333333333
        assert got["wait"][0] == "pending" and pd.isna(got["wait"][1])  # None in the column
    stored = [a.meta["confidence"] for a in p.annotation_objects() if a.source == "consensus"]
    assert sorted(stored) == [0.666667, 1.0]


def test_dawid_skene_consensus_after_a_class_was_removed(db_url: str) -> None:
    """Labels of a class the schema no longer has still vote (as with majority) instead
    of failing with "add them to classes", which the caller never passed."""
    p = labelnb.Project.create(db_url, "pets", Schema("choice", ["cat", "dog", "fox"]),
                               overlap=2)
    p.add_items(["a", "b"])
    for who, lab in (("ana", "fox"), ("bo", "fox")):
        q = p.queue(who)
        for _ in q:
            q.submit(Choice(lab))
    p.set_schema(Schema("choice", ["cat", "dog"]))
    majority = p.consensus(queue_tasks=False)
    ds = p.consensus(method="dawid_skene", queue_tasks=False)
    assert ds["labels"].tolist() == majority["labels"].tolist() == [["fox"], ["fox"]]
