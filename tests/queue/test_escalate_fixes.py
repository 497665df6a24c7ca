"""Adaptive redundancy (``project.escalate``) next to reviews and gold questions, on
SQLite and PostgreSQL: a reviewer's correction is never replaced by the model's
agreement with the original label, and gold questions never reach the ordinary pool."""

from __future__ import annotations

import labelnb
from labelnb import Choice, Schema
from labelnb.metrics.redundancy import AdaptiveRedundancy


def _reviewed_pets(db_url: str) -> labelnb.Project:
    p = labelnb.Project.create(db_url, "pets", Schema("choice", ["cat", "dog"]),
                               review_fraction=1.0)
    p.add_items(["p1", "p2"])
    p.add_predictions("clf", [(1, [Choice("cat")], 0.97), (2, [Choice("cat")], 0.97)])
    q = p.queue("ana")
    for _ in q:
        q.submit(Choice("cat"))
    p.annotators.add("rita", role="reviewer")
    return p


def test_escalate_keeps_a_reviewers_correction(db_url: str) -> None:
    p = _reviewed_pets(db_url)
    r = p.review_queue("rita")
    verdicts = {}
    while (t := r.claim()) is not None:
        if t.item.id == 1:
            r.correct(Choice("dog"), feedback="it's a dog")
        else:
            r.approve()
        verdicts[t.item.id] = True
    assert set(verdicts) == {1, 2}
    dec = p.escalate(AdaptiveRedundancy(threshold=0.9))
    # the corrected item is decided (by the reviewer); the approved one the model accepts
    assert dec[["item_id", "decision"]].to_dict("records") == [
        {"item_id": 2, "decision": "accept"}]
    out = p.consensus().set_index("item_id")
    assert out.loc[1, "labels"] == ["dog"]
    assert (out.loc[1, "tier"], out.loc[1, "status"]) == ("single", "corrected")
    assert (out.loc[2, "tier"], out.loc[2, "status"]) == ("model_agreed", "accepted")
    assert p.escalate(AdaptiveRedundancy(threshold=0.9)).empty


def test_escalate_waits_for_a_pending_review(db_url: str) -> None:
    """Run before the reviewer, escalate must not settle the item: a correction made
    afterwards would be hidden behind the stored model_agreed consensus."""
    p = _reviewed_pets(db_url)
    assert p.escalate(AdaptiveRedundancy(threshold=0.9)).empty  # both wait for review
    r = p.review_queue("rita")
    while (t := r.claim()) is not None:
        if t.item.id == 1:
            r.correct(Choice("dog"))
        else:
            r.approve()
    dec = p.escalate(AdaptiveRedundancy(threshold=0.9))
    assert dec["item_id"].tolist() == [2]
    out = p.consensus().set_index("item_id")
    assert (out.loc[1, "labels"], out.loc[1, "status"]) == (["dog"], "corrected")


def test_escalate_leaves_gold_questions_alone(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "g", Schema("choice", ["pos", "neg"]))
    p.add_items(["great film"])
    gid = p.gold.add(["a masterpiece"], [Choice("pos")])[0]
    p.configure(gold_rate=1.0)
    q = p.queue("ana")
    served = []
    while (t := q.claim()) is not None:
        served.append(t.item.id)
        q.submit(Choice("neg" if t.item.id == gid else "pos"))
    assert sorted(served) == sorted([1, gid])
    p.configure(gold_rate=0.0)
    p.add_predictions("clf", [(1, [Choice("pos")], 0.97), (gid, [Choice("neg")], 0.5)])
    dec = p.escalate(AdaptiveRedundancy())
    assert dec["item_id"].tolist() == [1]  # the gold item is neither accepted nor escalated
    gold_tasks = p.tasks().query("item_id == @gid")
    assert len(gold_tasks) == 1 and (gold_tasks["status"] == "done").all()
    assert p.queue("bo").claim() is None  # nothing left in the pool, gold included
    assert gid not in set(p.events().query("kind == 'escalated'")["item_id"])
    assert p.consensus().set_index("item_id").loc[gid, "tier"] == "gold"
