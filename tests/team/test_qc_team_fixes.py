"""Team security mirrors the review / adjudication fixes of the client-side queue (see
``tests/queue/test_qc_calibration_fixes.py``), on the real PostgreSQL:

1. the database's claim and peek never give one of an item's own annotators its
   adjudication, or the review of its consensus;
2. ``labelnb_review`` rejecting a consensus queues an adjudication only when the item
   waits for none, and logs ``adjudication_queued``; the task keeps the item's language,
   qualification and deadline (as ``queries.queue_adjudication`` does);
4. ``labelnb_submit`` never samples a gold question's answer for review.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from labelnb import Annotation
from labelnb.types import Choice

pytestmark = pytest.mark.postgres


def _annotate(team: Any, short: str, label: str) -> None:
    q = team.open(short).queue()
    t = q.claim()
    assert t is not None, f"{short} has nothing to annotate"
    q.submit(Choice(label))


def _count(team: Any, sql: str) -> int:
    row = team.sql().execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_the_database_claim_bars_an_annotator_from_adjudicating_their_item(
        new_team: Any) -> None:
    team = new_team(overlap=2, items=1)
    _annotate(team, "ana", "cat")
    _annotate(team, "lena", "dog")  # the lead voted too
    assert team.owner.consensus()["tier"].tolist() == ["none"]
    assert _count(team, "SELECT count(*) FROM tasks WHERE stage = 'adjudicate' "
                        "AND status = 'open'") == 1
    lena = team.open("lena").adjudication_queue()
    assert lena.peek(3) == []
    assert lena.claim() is None
    team.owner.annotators.update(team.name("bob"), qualifications=["expert"])
    bob = team.open("bob").adjudication_queue()
    item = int(team.owner.items()["id"].iloc[0])
    assert bob.peek(3) == [item]
    t = bob.claim()
    assert t is not None and t.stage == "adjudicate" and t.item.id == item
    bob.submit(Choice("cat"))
    assert team.owner.consensus()["tier"].tolist() == ["adjudicated"]


def test_the_database_claim_bars_an_annotator_from_reviewing_their_consensus(
        new_team: Any) -> None:
    team = new_team(overlap=3, items=1)
    for short, label in (("ana", "cat"), ("bob", "cat"), ("rita", "dog")):
        _annotate(team, short, label)
    cons = team.owner.consensus()
    assert cons["tier"].tolist() == ["majority"]
    rita = team.open("rita").review_queue()
    assert rita.peek(3) == [] and rita.claim() is None  # the dissenter settles nothing
    lena = team.open("lena").review_queue()
    t = lena.claim()
    assert t is not None and t.author == "consensus"
    assert t.target_annotation_id == cons["consensus_id"].iloc[0]
    lena.approve()


def test_rejecting_a_consensus_queues_one_adjudication_and_logs_it(new_team: Any) -> None:
    team = new_team(overlap=1, items=1)
    item = int(team.owner.items()["id"].iloc[0])
    cons = Annotation(item_id=item, regions=(Choice("cat"),), author="consensus",
                      source="consensus", created_at=datetime.now(UTC),
                      schema_version=team.owner.schema_version)
    team.owner.add_annotations([cons])
    team.owner.request_review(cons.id)
    team.owner.request_review(cons.id)  # two reviewers look at it
    adjudications = "SELECT count(*) FROM tasks WHERE stage = 'adjudicate'"
    rita = team.open("rita").review_queue()
    t = rita.claim()
    assert t is not None and t.target_annotation_id == cons.id
    rita.reject("it is a dog")
    assert _count(team, adjudications) == 1
    ev = team.owner.events()
    ev = ev[ev["kind"] == "adjudication_queued"].reset_index(drop=True)
    assert len(ev) == 1
    assert ev.loc[0, "actor"] == team.name("rita")
    assert ev.loc[0, "payload"] == {"reason": "consensus rejected"}
    assert int(ev.loc[0, "item_id"]) == item
    lena = team.open("lena").review_queue()
    t = lena.claim()
    assert t is not None and t.target_annotation_id == cons.id
    lena.reject("not a cat")  # the item already waits for an expert
    assert _count(team, adjudications) == 1
    kinds = team.owner.events()["kind"].tolist()
    assert kinds.count("adjudication_queued") == 1 and kinds.count("review_reject") == 2


def test_the_database_never_samples_a_gold_answer_for_review(new_team: Any) -> None:
    team = new_team(overlap=1, items=1, review_fraction=1.0)
    (gid,) = team.owner.gold.add(["gold cat"], [Choice("cat")])
    team.owner.configure(gold_rate=1.0)
    q = team.open("ana").queue()
    t = q.claim()
    assert t is not None and t.item.id == gid
    q.submit(Choice("dog"))
    reviews = "SELECT count(*) FROM tasks WHERE stage = 'review'"
    assert _count(team, reviews) == 0
    t = q.claim()  # gold used up for ana: the regular item, reviewed as every one is
    assert t is not None and t.item.id != gid
    q.submit(Choice("cat"))
    assert _count(team, reviews) == 1
    row = team.sql().execute("SELECT item_id FROM tasks WHERE stage = 'review'").fetchone()
    assert row is not None and int(row[0]) == t.item.id


def test_a_consensus_rejected_in_the_database_is_adjudicated_with_the_items_routing(
        new_team: Any) -> None:
    team = new_team(overlap=1, items=0)
    due = datetime.now(UTC) + timedelta(hours=5)
    [item] = team.owner.add_items(["un chat"], media="text", language="fr",
                                  required_skill="legal", deadline=due)
    cons = Annotation(item_id=item, regions=(Choice("cat"),), author="consensus",
                      source="consensus", created_at=datetime.now(UTC),
                      schema_version=team.owner.schema_version)
    team.owner.add_annotations([cons])
    team.owner.request_review(cons.id)
    rita = team.open("rita").review_queue()
    t = rita.claim()
    assert t is not None and t.target_annotation_id == cons.id
    rita.reject("it is a dog")
    row = team.sql().execute(
        "SELECT adj.language, adj.required_skill, adj.deadline = first.deadline, "
        "adj.deadline IS NOT NULL, adj.base_priority FROM tasks AS adj "
        "JOIN tasks AS first ON first.item_id = adj.item_id AND first.stage = 'annotate' "
        "WHERE adj.stage = 'adjudicate' AND adj.item_id = %s", (item,)).fetchall()
    assert row == [("fr", "legal", True, True, 5.0)]
    # only a French legal expert gets it
    team.owner.annotators.update(team.name("bob"), qualifications=["expert"],
                                 languages=["fr"])
    assert team.open("bob").adjudication_queue().claim() is None  # no 'legal'
    team.owner.annotators.update(team.name("ana"), qualifications=["expert", "legal"],
                                 languages=["fr"])
    t = team.open("ana").adjudication_queue().claim()
    assert t is not None and t.stage == "adjudicate" and t.item.id == item
