"""Gold questions on either path (SQLite, PostgreSQL without team security): served at
the project's gold rate, once per annotator, looking like any task; scored against
their answers; fed to calibration."""

from __future__ import annotations

import pandas as pd
import pytest

import labelnb
from labelnb.errors import ValidationError
from labelnb.types import Choice


def _project(db_url: str, **kw: object) -> labelnb.Project:
    p = labelnb.Project.create(db_url, "g", labelnb.Schema("choice", ["cat", "dog"]), **kw)
    p.add_items(["r1", "r2"], media="text")
    return p


def test_gold_served_once_per_annotator_and_scored(db_url: str) -> None:
    p = _project(db_url, overlap=2)
    gold = p.gold.add(["g1", "g2"], [Choice("cat"), [Choice("dog")]], by="lead")
    assert len(p.gold) == 2
    assert list(p.gold.answers()["labels"]) == [["cat"], ["dog"]]
    p.configure(gold_rate=1.0)
    qa = p.queue("ana")
    served = []
    for label in ("cat", "cat"):
        t = qa.claim()
        assert t is not None and t.item.id in gold and t.stage == "annotate"
        assert t.slot == 0 and t.author is None and t.target_annotation_id is None
        served.append(t.item.id)
        qa.submit(Choice(label))
    assert sorted(served) == sorted(gold)
    t = qa.claim()  # gold used up for ana: regular work
    assert t is not None and t.item.id not in gold
    qa.release()
    qb = p.queue("bob")
    tb = qb.claim()
    assert tb is not None and tb.item.id in gold
    qb.skip()  # a skipped gold item is not offered to bob again
    tb2 = qb.claim()
    assert tb2 is not None and tb2.item.id in gold and tb2.item.id != tb.item.id
    qb.submit(Choice("dog" if tb2.item.id == gold[1] else "cat"))
    score = p.gold.score().set_index("annotator")
    assert score.loc["ana", "n"] == 2 and score.loc["ana", "correct"] == 1
    assert score.loc["ana", "per_label"] == {"cat": 1.0, "dog": 0.0}
    assert score.loc["bob", "accuracy"] == 1.0
    cal = p.calibrate(min_items=1, retrain=False).set_index("annotator")
    assert cal.loc["ana", "gold_n"] == 2 and cal.loc["ana", "gold_accuracy"] == 0.5
    assert cal.loc["bob", "gold_accuracy"] == 1.0
    assert p.annotators.profile("ana").accuracy == 0.5
    assert "gold_added" in set(p.events()["kind"])
    p.close()


def test_a_gold_task_is_dated_like_a_regular_task(db_url: str) -> None:
    """A gold task is made at the claim, but its created_at is its item's, as a regular
    task's is (made with its item): one equal to claimed_at would mark it as gold."""
    p = _project(db_url)
    (g,) = p.gold.add(["g1"], [Choice("cat")])
    p.configure(gold_rate=1.0)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None and t.item.id == g
    q.submit(Choice("cat"))
    t = q.claim()  # gold used up: a regular task
    assert t is not None and t.item.id != g
    tasks = p.tasks().set_index("item_id")
    made = p.items().set_index("id")["created_at"]
    for item in (g, t.item.id):
        row = tasks.loc[item]
        assert row["created_at"] == made[item], item
        assert row["created_at"] < row["claimed_at"], item
    p.close()


def test_a_gold_item_s_final_label_is_its_answer(db_url: str, tmp_path: object) -> None:
    """Gold items went through consensus like any item: one wrong answer became the
    'unanimous' final label, stored and exported."""
    p = _project(db_url)
    [g] = p.gold.add(["gold q"], [Choice("dog")])
    p.configure(gold_rate=1.0)
    q = p.queue("ana")
    for _ in q:
        q.submit(Choice("cat"))
    cons = p.consensus().set_index("item_id")
    assert cons.loc[g, "tier"] == "gold" and cons.loc[g, "labels"] == ["dog"]
    assert cons.loc[g, "status"] == "accepted" and pd.isna(cons.loc[g, "consensus_id"])
    assert set(cons.drop(index=g)["tier"]) == {"single"}  # the others: one label each
    assert not (p.annotations()["item_id"] == g).sum() > 1  # nothing stored for it
    from labelnb.formats.pipeline import consensus_final

    final = consensus_final(p)
    assert final.final[g].regions == (Choice("dog"),) and final.tiers[g] == "gold"
    p.close()


def test_gold_not_served_at_rate_zero(db_url: str) -> None:
    p = _project(db_url)
    (g,) = p.gold.add(["g1"], [Choice("cat")])
    q = p.queue("ana")
    seen = []
    while (t := q.claim()) is not None:
        seen.append(t.item.id)
        q.submit(Choice("cat"))
    assert g not in seen and len(seen) == 2
    p.close()


def test_gold_add_checks(db_url: str) -> None:
    p = _project(db_url)
    with pytest.raises(ValidationError, match="already in project"):
        p.gold.add(["r1"], [Choice("cat")])
    with pytest.raises(ValidationError, match="one answer per item"):
        p.gold.add(["g1", "g2"], [Choice("cat")])
    with pytest.raises(ValidationError, match="gold answer #0 \\(item 'g1'\\): region 0") as e:
        p.gold.add(["g1"], [Choice("bird")])
    assert "item 3" not in str(e.value)  # no id of an item that was rolled back
    with pytest.raises(ValidationError, match=r"the string 'cat'; give a Region, e\.g\. "
                                              r"labelnb\.Choice\('cat'\)"):
        p.gold.add(["g1"], ["cat"])
    assert len(p.gold) == 0 and len(p.items()) == 2  # all or nothing
    with pytest.raises(ValidationError, match="gold_rate"):
        p.configure(gold_rate=1.5)
    with pytest.raises(ValidationError, match="hide_predictions"):
        p.configure(hide_predictions="yes")
    p.close()


def test_events_db_user_without_team_security(db_url: str) -> None:
    p = _project(db_url)
    assert "db_user" in p.events().columns
    assert p.events()["db_user"].isna().all()  # stamped only under team security
    assert p.security is None
    p.close()


@pytest.mark.parametrize("end", ["release", "skip", "expire"])
def test_a_gold_lease_that_ends_unsubmitted_stays_out_of_the_pool(db_url: str, end: str) -> None:
    """A released, skipped or expired gold task went back to the pool: served to others
    at gold rate 0 (and taken over as a plain expired lease), and the annotator who let
    it go met the same gold item again."""
    import time

    p = _project(db_url)
    (g,) = p.gold.add(["g1"], [Choice("cat")])
    p.configure(gold_rate=1.0, **({"lease_ttl_s": 0.2} if end == "expire" else {}))
    ana, bo = p.queue("ana"), p.queue("bo")
    t = ana.claim()
    assert t is not None and t.item_id == g
    if end == "release":
        ana.release()
    elif end == "skip":
        ana.skip()
    else:
        time.sleep(0.4)
    p.configure(gold_rate=0.0, lease_ttl_s=600)
    served = []
    while (x := bo.claim()) is not None:
        served.append(x.item_id)
        bo.submit(Choice("dog"))
    assert g not in served and len(served) == 2  # the two regular items only
    p.configure(gold_rate=1.0)
    again = ana.claim()
    assert again is None or again.item_id != g  # ana met it already
    assert g not in p.queue("cy").peek(10)
    if end != "expire":
        gold_tasks = p.tasks()
        assert list(gold_tasks.loc[gold_tasks["item_id"] == g, "status"]) == ["cancelled"]
