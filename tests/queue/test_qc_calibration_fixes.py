"""Calibration and the review / adjudication claims, after a review found five defects
(on SQLite and PostgreSQL):

1. one of an item's own annotators could adjudicate it, or review its consensus, and
   calibration then graded them against their own answer;
2. rejecting a consensus queued a second adjudication of an item that already waited
   for one, and logged none;
3. ``calibrate(min_items=...)`` wrote profiles (accuracy, skills) from one graded item;
4. a gold answer was sampled for review, and calibration graded its rework (what the
   reviewer taught) where ``gold.score`` grades the first answer;
5. retraining tasks queued against a label that later changed stayed open.
"""

from __future__ import annotations

from sqlalchemy import update

import labelnb
from labelnb import Choice, Schema
from labelnb.queue.tables import tasks as tasks_t
from tests.queue.qc_helpers import events_of, stage_tasks


def _vote(p: labelnb.Project, votes: dict[str, str]) -> None:
    for who, lab in votes.items():
        q = p.queue(who)
        for _ in q:
            q.submit(Choice(lab))


# --- 1. no review or adjudication of one's own item -----------------------------------------
def test_an_annotator_of_the_item_cannot_adjudicate_it(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b", "c"]), overlap=3)
    p.add_items(["t0", "t1"])
    p.annotators.add("eve", qualifications=["expert"])
    p.annotators.add("max", qualifications=["expert"])
    _vote(p, {"eve": "a", "bo": "b", "cy": "c"})
    assert set(p.consensus()["tier"]) == {"none"}
    assert len(stage_tasks(p, "adjudicate", "open")) == 2
    eve = p.adjudication_queue("eve")
    assert eve.peek(5) == []
    assert eve.claim() is None  # she voted on both items
    mx = p.adjudication_queue("max")
    assert sorted(mx.peek(5)) == sorted(stage_tasks(p, "adjudicate")["item_id"].astype(int))
    t = mx.claim()
    assert t is not None and t.stage == "adjudicate"
    mx.submit(Choice("b"))
    p.close()


def test_an_annotator_of_the_item_cannot_review_its_consensus(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b"]), overlap=3)
    p.add_items(["t0", "t1"])
    p.annotators.add("cy", role="reviewer")
    p.annotators.add("rita", role="reviewer")
    _vote(p, {"ana": "a", "bo": "a", "cy": "b"})
    p.consensus()
    reviews = stage_tasks(p, "review", "open")
    assert len(reviews) == 2 and set(reviews["author"]) == {"consensus"}
    cy = p.review_queue("cy")
    assert cy.peek(5) == [] and cy.claim() is None  # the dissenter settles nothing
    # a review of someone else's annotation (not a consensus) is still hers to take
    p.request_review(str(p.annotations(annotator="ana")["id"].iloc[0]))
    t = cy.claim()
    assert t is not None and t.author == "ana"
    cy.release()
    rita = p.review_queue("rita")
    t = rita.claim()
    assert t is not None and t.author == "consensus"
    rita.approve()
    p.close()


def test_the_review_widget_says_a_lead_may_not_settle_items_they_labeled(
        db_url: str) -> None:
    """A lead who also labels is barred from the consensus reviews of their items; the
    review widget's empty-queue hint names that reason."""
    import anywidget  # noqa: F401  (a core dependency: the review widget needs it)
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b"]), overlap=3)
    p.add_items(["t0"])
    p.annotators.add("lea", role="lead")
    _vote(p, {"ana": "a", "bo": "a", "lea": "b"})
    assert p.consensus()["status"].tolist() == ["in review"]
    w = p.review("lea")
    assert w.session.task is None
    assert w._done and "1 open task cannot go to 'lea'" in w._status
    assert "items they labeled themselves" in w._status
    p.close()


def test_calibration_skips_a_vote_graded_against_its_own_adjudication(db_url: str) -> None:
    """Data from before the claim refused it: eve adjudicated items she had labeled."""
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b", "c"]), overlap=3)
    p.add_items([f"t{i}" for i in range(3)])
    p.annotators.add("eve", qualifications=["expert"])
    _vote(p, {"eve": "a", "bo": "b", "cy": "c"})
    p.consensus()
    hidden = (tasks_t.c.project_id == p.id) & (tasks_t.c.stage == "annotate") & (
        tasks_t.c.assignee == "eve")
    with p.store.write() as conn:  # as an older labelnb saw it: no bar on her
        conn.execute(update(tasks_t).where(hidden).values(assignee=None))
    aq = p.adjudication_queue("eve")
    for _ in aq:
        aq.submit(Choice("a"))  # in her own favour
    with p.store.write() as conn:
        conn.execute(update(tasks_t).where(
            (tasks_t.c.project_id == p.id) & (tasks_t.c.stage == "annotate")
            & tasks_t.c.assignee.is_(None)).values(assignee="eve"))
    assert set(p.consensus()["tier"]) == {"adjudicated"}
    cal = p.calibrate(min_items=3, retrain=False).set_index("annotator")
    assert "eve" not in cal.index  # nothing left to grade her on
    assert cal.loc["bo", "n"] == 3 and cal.loc["bo", "accuracy"] == 0.0
    p.close()


# --- 2. one adjudication per item, logged ----------------------------------------------------
def test_rejecting_a_consensus_queues_one_adjudication_and_logs_it(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b", "c"]), overlap=3)
    p.add_items(["x"])
    _vote(p, {"ana": "a", "bo": "a", "cy": "b"})
    p.annotators.add("rita", role="reviewer")
    p.annotators.add("rob", role="reviewer")
    cons = p.consensus()
    cid = str(cons["consensus_id"].iloc[0])
    r = p.review_queue("rita")
    t = r.claim()
    assert t is not None and t.target_annotation_id == cid
    p.request_review(cid)  # a second look at the same consensus, by rob
    r.reject("it is b")
    adj = stage_tasks(p, "adjudicate")
    assert len(adj) == 1 and adj["status"].tolist() == ["open"]
    ev = events_of(p, "adjudication_queued")
    assert len(ev) == 1
    assert ev.loc[0, "actor"] == "rita" and ev.loc[0, "payload"] == {
        "reason": "consensus rejected"}
    assert int(ev.loc[0, "item_id"]) == int(adj["item_id"].iloc[0])
    rob = p.review_queue("rob")
    t = rob.claim()
    assert t is not None and t.target_annotation_id == cid
    rob.reject("not a")  # the item already waits for an expert
    assert len(stage_tasks(p, "adjudicate")) == 1
    assert len(events_of(p, "adjudication_queued")) == 1
    assert len(events_of(p, "review_reject")) == 2
    p.close()


def test_rejecting_a_consensus_joins_an_adjudication_still_open(db_url: str) -> None:
    """No majority → adjudication A1; a vote reworked, a majority now, its consensus
    rejected: A1 is what the item waits for, not a second task."""
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b", "c"]), overlap=3)
    p.add_items(["x"])
    _vote(p, {"ana": "a", "bo": "b", "cy": "c"})
    cy = str(p.annotations(annotator="cy")["id"].iloc[0])
    p.annotators.add("rita", role="reviewer")
    p.request_review(cy)
    assert p.consensus()["tier"].tolist() == ["none"]
    r = p.review_queue("rita")
    t = r.claim()
    assert t is not None and t.target_annotation_id == cy
    r.reject("it is a")
    q = p.queue("cy")
    assert q.claim() is not None
    q.submit(Choice("a"))
    assert p.consensus()[["tier", "status"]].values.tolist() == [["majority", "in review"]]
    t = r.claim()
    assert t is not None and t.author == "consensus"
    r.reject("no, b")
    adj = stage_tasks(p, "adjudicate")
    assert len(adj) == 1 and adj["status"].tolist() == ["open"]
    p.close()


# --- 3. min_items guards the profile ---------------------------------------------------------
def test_calibration_writes_no_profile_from_too_few_items(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["cat", "dog"]))
    gid = p.gold.add(["gold cat"], [Choice("cat")])[0]
    p.configure(gold_rate=1.0)
    for who in ("ana", "bo"):
        q = p.queue(who)
        t = q.claim()
        assert t is not None and t.item.id == gid
        q.submit(Choice("dog"))
    p.configure(gold_rate=0.0)
    cal = p.calibrate(min_items=5).set_index("annotator")
    assert cal.loc["ana", "accuracy"] == 0.0 and not cal.loc["ana", "flagged"]  # reported
    for who in ("ana", "bo"):
        prof = p.annotators.profile(who)
        assert prof.accuracy is None and prof.skills == {}
    ids = p.add_items(["photo 1"])
    p.set_difficulty({ids[0]: 0.2}, focus_label={ids[0]: "cat"})
    q = p.queue("ana")
    t = q.claim()  # one slip on one cat item does not bar her from cat items
    assert t is not None and t.item.id == ids[0]
    p.close()


def test_calibration_keeps_a_skill_measured_on_too_few_items(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["cat", "dog"]))
    answers = ["dog"] * 4 + ["cat"]
    p.gold.add([f"g{i}" for i in range(5)], [Choice(a) for a in answers])
    p.annotators.add("ana", skills={"cat": 0.97})
    p.configure(gold_rate=1.0)
    q = p.queue("ana")
    for _ in range(5):
        t = q.claim()
        assert t is not None
        q.submit(Choice("dog"))  # right on the four dogs, wrong on the cat
    cal = p.calibrate(min_items=4, retrain=False).set_index("annotator")
    assert cal.loc["ana", "per_label"] == {"cat": 0.0, "dog": 1.0}
    prof = p.annotators.profile("ana")
    assert prof.accuracy == 0.8
    assert prof.skills == {"cat": 0.97, "dog": 1.0}  # one cat item is no measure
    p.close()


# --- 4. gold answers: never reviewed, graded by the first answer ----------------------------
def test_a_gold_answer_is_not_sampled_for_review(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "g", Schema("choice", ["pos", "neg"]),
                               review_fraction=1.0)
    gid = p.gold.add(["a masterpiece"], [Choice("pos")])[0]
    p.add_items(["plain"])
    p.configure(gold_rate=1.0)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None and t.item.id == gid
    q.submit(Choice("neg"))
    assert stage_tasks(p, "review").empty
    t = q.claim()  # no gold left for her: a regular item, reviewed as every one is
    assert t is not None and t.item.id != gid
    q.submit(Choice("pos"))
    reviews = stage_tasks(p, "review")
    assert reviews["item_id"].astype(int).tolist() == [t.item.id]
    p.close()


def test_calibration_grades_the_first_gold_answer(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "g", Schema("choice", ["pos", "neg"]))
    gid = p.gold.add(["a masterpiece"], [Choice("pos")])[0]
    p.configure(gold_rate=1.0)
    p.annotators.add("rita", role="reviewer")
    q = p.queue("ana")
    t = q.claim()
    assert t is not None and t.item.id == gid
    first = q.submit(Choice("neg"))
    p.request_review(first)  # a lead asked for it by hand
    r = p.review_queue("rita")
    assert r.claim() is not None
    r.reject("it is positive")
    t = q.claim()
    assert t is not None and t.item.id == gid
    q.submit(Choice("pos"))  # the rework, taught by the reviewer
    score = p.gold.score().set_index("annotator")
    cal = p.calibrate(min_items=1, retrain=False).set_index("annotator")
    assert score.loc["ana", "accuracy"] == 0.0
    assert cal.loc["ana", "n"] == 1 and cal.loc["ana", "accuracy"] == 0.0
    assert cal.loc["ana", "gold_n"] == 1 and cal.loc["ana", "gold_accuracy"] == 0.0
    p.close()


# --- 5. retraining against a label that changed ---------------------------------------------
def test_retraining_against_a_label_since_overturned_is_cancelled(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b"]), overlap=3)
    p.add_items([f"t{i}" for i in range(3)])
    _vote(p, {"ana": "a", "bo": "a", "cy": "b"})
    p.consensus()
    cal = p.calibrate(min_items=1).set_index("annotator")
    assert cal.loc["cy", "retraining_tasks"] == 3
    p.annotators.add("lea", role="lead")
    rq = p.retraining_queue("cy")
    held = rq.claim()  # she is reading one now: it stays hers
    assert held is not None
    r = p.review_queue("lea")
    for _ in r:
        r.reject("these are b")
    aq = p.adjudication_queue("lea")
    for _ in aq:
        aq.submit(Choice("b"))
    assert set(p.consensus()["labels"].map(tuple)) == {("b",)}
    cal = p.calibrate(min_items=1).set_index("annotator")
    assert cal.loc["cy", "accuracy"] == 1.0
    assert cal.loc["ana", "retraining_tasks"] == 3
    mine = stage_tasks(p, "retrain")
    mine = mine[mine["reserved_for"] == "cy"].set_index("id")
    assert sorted(mine["status"]) == ["cancelled", "cancelled", "leased"]
    assert mine.loc[held.id, "status"] == "leased"
    ev = events_of(p, "retraining_cancelled")
    assert sorted(ev["task_id"].astype(int)) == sorted(
        mine.index[mine["status"] == "cancelled"])
    assert all(pl["annotator"] == "cy" for pl in ev["payload"])
    rq.acknowledge()
    assert rq.claim() is None
    again = p.calibrate(min_items=1).set_index("annotator")  # nothing more to cancel
    assert again.loc["cy", "retraining_tasks"] == 0
    assert len(events_of(p, "retraining_cancelled")) == 2
    p.close()
