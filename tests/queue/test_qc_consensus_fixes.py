"""The consensus and adaptive-redundancy workflows after a review found six defects (on
SQLite and PostgreSQL):

A. a reviewer's correction of one annotator's vote was ignored when the item had more
   than one annotator: the consensus counted the superseded vote;
B. an item that lost its majority kept its old consensus up for review: a reviewer
   rejecting that stale consensus queued a second adjudication;
C. two overlapping ``consensus()`` (or ``escalate()``) runs both wrote: two consensus
   annotations, two reviews, two adjudications, twice the extra slots;
D. storing a majority consensus and queueing its review were two transactions: a
   failure between them left a consensus that was never reviewed, and reruns kept it so;
E. escalation's new slots (and adjudication tasks) dropped the item's routing (language,
   qualification, difficulty, deadline), so anyone could take them;
F. an old consensus that a newer one had replaced was brought back when the votes
   returned to it, with its review cancelled: "in review" with nothing to review.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import labelnb
import labelnb.queue.consensus as consensus_mod
import labelnb.queue.redundancy as redundancy_mod
from labelnb import Annotation, Choice, Schema
from labelnb.metrics.redundancy import AdaptiveRedundancy
from tests.queue.qc_helpers import events_of, stage_tasks


def _submit(p: labelnb.Project, who: str, label: str) -> str:
    q = p.queue(who)
    t = q.claim()
    assert t is not None, f"{who} got no task"
    q.submit(Choice(label))
    return str(p.annotations(annotator=who)["id"].iloc[-1])


def _consensus_anns(p: labelnb.Project) -> pd.DataFrame:
    return p.annotations(source="consensus").reset_index(drop=True)


# --- A. a corrected vote counts as its correction ------------------------------------------
@pytest.mark.parametrize("method", ["majority", "dawid_skene"])
def test_a_reviewers_correction_of_a_vote_replaces_the_vote(db_url: str, method: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["cat", "dog"]), overlap=3)
    p.add_items(["x"])
    ana = _submit(p, "ana", "dog")
    bo = _submit(p, "bo", "dog")
    cy = _submit(p, "cy", "cat")
    p.request_review(ana)
    [first] = p.consensus(method).to_dict("records")
    assert (first["tier"], first["labels"], first["status"]) == ("majority", ["dog"],
                                                                  "in review")
    p.annotators.add("rita", role="reviewer")
    rq = p.review_queue("rita")
    t = rq.claim()
    assert t is not None and t.target_annotation_id == ana  # ana's vote, then the consensus
    fix = rq.correct(Choice("cat"), feedback="it's a cat")
    assert fix is not None
    # ana's vote now reads 'cat': two cats against bo's dog
    [row] = p.consensus(method).to_dict("records")
    assert (row["tier"], row["labels"], row["status"]) == ("majority", ["cat"], "in review")
    cons = _consensus_anns(p)
    assert len(cons) == 2
    newest = cons.iloc[-1]
    assert newest["id"] == row["consensus_id"] and newest["labels"] == ["cat"]
    # it rests on the correction (as a single label's consensus_id is the correction),
    # not on the vote it superseded
    assert sorted(newest["meta"]["based_on"]) == sorted([fix, cy])
    assert ana not in newest["meta"]["based_on"] and bo not in newest["meta"]["based_on"]
    # the 'dog' consensus is no longer up for review; the 'cat' one is
    open_reviews = set(stage_tasks(p, "review", "open")["target_annotation_id"])
    assert open_reviews == {row["consensus_id"]}
    # the raw vote is untouched (calibration still grades it)
    assert p.annotations(annotator="ana")["labels"].tolist() == [["dog"]]
    # a rerun changes nothing
    assert p.consensus(method)["consensus_id"].tolist() == [row["consensus_id"]]
    assert len(_consensus_anns(p)) == 2
    p.close()


# --- B. an item that lost its majority: its old consensus is not reviewed any more --------
def test_losing_the_majority_cancels_the_old_consensus_review(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["cat", "dog", "fox"]),
                               overlap=3)
    p.add_items(["a"])
    ana = _submit(p, "ana", "cat")
    _submit(p, "bo", "cat")
    _submit(p, "cy", "dog")
    p.annotators.add("rita", role="reviewer")
    p.annotators.add("rob", role="reviewer")
    p.request_review(ana)
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"]) == ("majority", "in review")
    c1 = row["consensus_id"]
    rq = p.review_queue("rita")
    t = rq.claim()
    assert t is not None and t.target_annotation_id == ana
    rq.reject("look again")
    _submit(p, "ana", "fox")  # the rework: cat, dog, fox
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"]) == ("none", "adjudicating")
    # c1's review was cancelled, and the audit log names it
    c1_reviews = stage_tasks(p, "review")
    c1_reviews = c1_reviews[c1_reviews["target_annotation_id"] == c1]
    assert c1_reviews["status"].tolist() == ["cancelled"]
    ev = events_of(p, "reviews_cancelled")
    assert len(ev) == 1 and ev.loc[0, "actor"] == "consensus"
    assert ev.loc[0, "payload"]["task_ids"] == c1_reviews["id"].astype(int).tolist()
    assert ev.loc[0, "payload"]["annotation_ids"] == [c1]
    # so no reviewer can reject the stale consensus into a second adjudication
    assert p.review_queue("rob").claim() is None
    p.consensus()
    assert len(stage_tasks(p, "adjudicate")) == 1
    assert len(events_of(p, "adjudication_queued")) == 1
    assert len(events_of(p, "reviews_cancelled")) == 1  # nothing more to cancel
    p.close()


# --- C. overlapping runs write once -----------------------------------------------------
def _race(fn, *args) -> None:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn(*args)
        except BaseException as e:  # re-raised in the test's thread below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def test_two_overlapping_consensus_runs_write_once(db_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b", "c"]), overlap=3)
    ids = dict(zip(["maj", "none"], p.add_items(["maj", "none"]), strict=True))
    for who, labs in (("ana", "aa"), ("bo", "ab"), ("cy", "bc")):
        q = p.queue(who)
        for t in q:
            q.submit(Choice(labs[0] if t.item.text == "maj" else labs[1]))
    p.close()
    # both runs read before either writes
    barrier = threading.Barrier(2, timeout=60)
    gold = consensus_mod._gold_truth

    def slow_gold(project):  # type: ignore[no-untyped-def]
        out = gold(project)
        barrier.wait()
        return out

    monkeypatch.setattr(consensus_mod, "_gold_truth", slow_gold)
    results: list[pd.DataFrame] = []

    def one_run() -> None:
        pr = labelnb.open(db_url, "c")
        try:
            results.append(pr.consensus())
        finally:
            pr.close()

    _race(one_run)
    monkeypatch.setattr(consensus_mod, "_gold_truth", gold)
    p = labelnb.open(db_url, "c")
    cons = _consensus_anns(p)
    assert len(cons) == 1 and int(cons.loc[0, "item_id"]) == ids["maj"]
    assert stage_tasks(p, "review")["target_annotation_id"].tolist() == [cons.loc[0, "id"]]
    assert stage_tasks(p, "adjudicate")["item_id"].astype(int).tolist() == [ids["none"]]
    assert len(events_of(p, "consensus_stored")) == 1
    assert len(events_of(p, "adjudication_queued")) == 1
    # both runs report the one stored consensus
    for out in results:
        assert out.set_index("item_id").loc[ids["maj"], "consensus_id"] == cons.loc[0, "id"]
    p.close()


def test_two_overlapping_escalate_runs_write_once(db_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b"]))
    sure, clash = p.add_items(["sure", "clash"])
    q = p.queue("ana")
    for _ in q:
        q.submit(Choice("a"))
    p.add_predictions("m", [(sure, [Choice("a")], 0.99), (clash, [Choice("b")], 0.99)])
    p.close()
    barrier = threading.Barrier(2, timeout=60)

    class SlowGold(redundancy_mod.Gold):
        def truth(self):  # type: ignore[no-untyped-def]
            out = super().truth()
            barrier.wait()
            return out

    monkeypatch.setattr(redundancy_mod, "Gold", SlowGold)

    def one_run() -> None:
        pr = labelnb.open(db_url, "c")
        try:
            pr.escalate(AdaptiveRedundancy(extra=2))
        finally:
            pr.close()

    _race(one_run)
    p = labelnb.open(db_url, "c")
    slots = stage_tasks(p, "annotate").groupby("item_id").size().to_dict()
    assert slots == {sure: 1, clash: 3}  # one slot, plus extra=2 once
    cons = _consensus_anns(p)
    assert cons["item_id"].astype(int).tolist() == [sure]
    assert len(events_of(p, "escalated")) == 1 and len(events_of(p, "model_agreed")) == 1
    p.close()


# --- D. a majority and its review are one write; a rerun repairs a missing review ---------
def test_storing_a_majority_and_its_review_is_one_transaction(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b"]), overlap=3)
    p.add_items(["x"])
    for who, lab in (("ana", "a"), ("bo", "a"), ("cy", "b")):
        _submit(p, who, lab)

    def failing(self, conn, anns, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("the review task could not be written")

    monkeypatch.setattr(type(p), "_queue_reviews", failing)
    with pytest.raises(RuntimeError, match="could not be written"):
        p.consensus()
    monkeypatch.undo()
    # nothing of the failed run was written
    assert _consensus_anns(p).empty
    assert events_of(p, "consensus_stored").empty
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"]) == ("majority", "in review")
    assert stage_tasks(p, "review", "open")["target_annotation_id"].tolist() == [
        row["consensus_id"]]
    assert len(_consensus_anns(p)) == 1
    p.close()


def test_a_rerun_queues_the_review_a_stored_majority_never_got(db_url: str) -> None:
    """A majority consensus stored without its review (by a run that failed half-way
    before this fix) gets one from the next run, once."""
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["a", "b"]), overlap=3)
    [item] = p.add_items(["x"])
    ana = _submit(p, "ana", "a")
    bo = _submit(p, "bo", "a")
    _submit(p, "cy", "b")
    orphan = Annotation(item_id=item, regions=(Choice("a"),), author="consensus",
                        source="consensus", meta={"tier": "majority", "confidence": 0.666667,
                                                  "based_on": sorted([ana, bo]),
                                                  "method": "majority"})
    p.add_annotations([orphan])
    assert stage_tasks(p, "review").empty
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"], row["consensus_id"]) == ("majority", "in review",
                                                                  orphan.id)
    assert stage_tasks(p, "review", "open")["target_annotation_id"].tolist() == [orphan.id]
    ev = events_of(p, "review_requested")
    assert len(ev) == 1 and ev.loc[0, "payload"]["annotation_id"] == orphan.id
    p.consensus()
    assert len(stage_tasks(p, "review")) == 1 and len(_consensus_anns(p)) == 1
    p.annotators.add("rita", role="reviewer")
    rq = p.review_queue("rita")
    t = rq.claim()
    assert t is not None and t.target_annotation_id == orphan.id
    rq.approve()
    assert p.consensus()["status"].tolist() == ["accepted"]
    p.close()


# --- E. new tasks of an item keep its routing ----------------------------------------------
def test_escalated_slots_and_adjudications_keep_the_items_routing(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["cat", "dog"]))
    p.annotators.add("fr1", languages=["fr"], qualifications=["vet"])
    p.annotators.add("fr2", languages=["fr"], qualifications=["vet"])
    p.annotators.add("en1", languages=["en"], qualifications=["vet"])
    due = datetime.now(UTC) + timedelta(hours=6)
    [item] = p.add_items(["un chat"], language="fr", required_skill="vet", difficulty=0.4,
                         deadline=due, priority=2.0)
    _submit(p, "fr1", "cat")
    p.add_predictions("m", [(item, [Choice("dog")], 0.99)])
    dec = p.escalate(AdaptiveRedundancy(extra=2))
    assert dec["decision"].tolist() == ["escalate"]
    slots = stage_tasks(p, "annotate").sort_values("slot").reset_index(drop=True)
    assert slots["slot"].tolist() == [0, 1, 2]
    first = slots.iloc[0]
    for _, new in slots.iloc[1:].iterrows():
        for f in ("language", "required_skill", "difficulty", "base_priority"):
            assert new[f] == first[f], f
        assert pd.Timestamp(new["deadline"]) == pd.Timestamp(first["deadline"])
        # the priority the routing policy gives a new task of the item
        assert new["priority"] == pytest.approx(p.routing.priority(
            difficulty=0.4, deadline=due, skill_supply=3, base=2.0), abs=1e-3)
        assert new["priority"] > 2.0
    assert p.queue("en1").claim() is None  # no French
    t = p.queue("fr2").claim()
    assert t is not None and t.item.id == item
    p.close()


def test_an_adjudication_keeps_the_items_language(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "d", Schema("choice", ["a", "b", "c"]), overlap=3)
    [item] = p.add_items(["x"], language="fr", required_skill="vet")
    for who, lab in (("a1", "a"), ("a2", "b"), ("a3", "c")):
        p.annotators.add(who, languages=["fr"], qualifications=["vet"])
        _submit(p, who, lab)
    assert p.consensus()["tier"].tolist() == ["none"]
    [adj] = stage_tasks(p, "adjudicate").to_dict("records")
    assert (adj["language"], adj["required_skill"], adj["base_priority"]) == ("fr", "vet",
                                                                              5.0)
    p.annotators.add("eve", qualifications=["expert"], languages=["en"])
    p.annotators.add("max", qualifications=["expert", "vet"], languages=["fr"])
    assert p.adjudication_queue("eve").claim() is None  # reads no French
    t = p.adjudication_queue("max").claim()
    assert t is not None and t.item.id == item
    p.close()


# --- F. only the newest consensus is reused ---------------------------------------------------
def test_a_replaced_consensus_is_not_brought_back(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["cat", "dog"]), overlap=3)
    p.add_items(["x"])
    p.annotators.add("rita", role="reviewer")
    _submit(p, "ana", "cat")
    _submit(p, "bo", "cat")
    cy = _submit(p, "cy", "dog")
    rq = p.review_queue("rita")

    def rework(target: str, label: str) -> str:
        t = rq.claim()
        assert t is not None and t.target_annotation_id == target
        rq.reject("look again")
        return _submit(p, "cy", label)

    p.request_review(cy)  # before the consensus's: rita reviews cy first
    [row] = p.consensus().to_dict("records")
    c1 = row["consensus_id"]
    assert (row["tier"], row["labels"]) == ("majority", ["cat"])
    cy2 = rework(cy, "cat")
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"]) == ("unanimous", "accepted")
    c2 = row["consensus_id"]
    p.request_review(cy2)
    rework(cy2, "dog")  # back to the votes c1 rests on
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["labels"], row["status"]) == ("majority", ["cat"], "in review")
    cons = _consensus_anns(p)
    assert cons["id"].tolist()[:2] == [c1, c2] and len(cons) == 3
    assert row["consensus_id"] == cons.loc[2, "id"]  # a new one, not c1 again
    reviews = stage_tasks(p, "review")
    live = reviews[reviews["status"].isin(["open", "leased"])]
    assert live["target_annotation_id"].tolist() == [row["consensus_id"]]
    assert reviews.loc[reviews["target_annotation_id"] == c1, "status"].tolist() == [
        "cancelled"]
    # and the reviewer gets the new one
    t = rq.claim()
    assert t is not None and t.target_annotation_id == row["consensus_id"]
    p.close()


def test_a_voters_correction_of_another_vote_does_not_count(tmp_path: Path) -> None:
    """A reviewer who also labeled the item may be handed a review of another voter's
    label; correcting it to their own answer must not flip the item's majority."""
    p = labelnb.Project.create(tmp_path / "c.db", "c", Schema("choice", ["cat", "dog"]),
                               overlap=3, review_fraction=1.0)
    p.add_items(["x"])
    p.annotators.add("cy", role="reviewer")
    p.annotators.add("rita", role="reviewer")
    for who, lab in (("ana", "dog"), ("bo", "dog"), ("cy", "cat")):
        q = p.queue(who)
        assert q.claim() is not None
        q.submit(Choice(lab))
    rq = p.review_queue("cy")
    t = rq.claim()
    assert t is not None and t.author in ("ana", "bo")
    rq.correct(Choice("cat"))
    res = p.consensus()
    assert res["labels"].tolist() == [["dog"]] and res["tier"].tolist() == ["majority"]
    # a reviewer who did not label the item corrects the other dog: now that counts
    rq = p.review_queue("rita")
    while (t := rq.claim()) is not None:
        if t.author in ("ana", "bo"):
            rq.correct(Choice("cat"))
        else:
            rq.approve()
    res = p.consensus()
    assert res["labels"].tolist() == [["cat"]]
    p.close()


# --- G. one way of queueing an adjudication -------------------------------------------------
# consensus() and a reviewer's rejection of a consensus queue an adjudication through
# queries.queue_adjudication: the same routing (the item's language, qualification and
# deadline at the routed priority from base 5) and the same lock (the item's row).
def _routed_items(p: labelnb.Project, due: datetime) -> list[int]:
    ids = p.add_items(["un", "deux"], language="fr", required_skill="legal", deadline=due)
    for who in ("ana", "bo", "cy"):
        p.annotators.add(who, languages=["fr"], qualifications=["legal"])
    picks = {"ana": ["a", "a"], "bo": ["a", "b"], "cy": ["b", "c"]}
    for who, labs in picks.items():
        q = p.queue(who)
        for t in q:
            q.submit(Choice(labs[ids.index(t.item.id)]))
    return ids


def test_a_rejected_consensus_is_adjudicated_with_the_items_routing(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "g", Schema("choice", ["a", "b", "c"]), overlap=3)
    due = datetime.now(UTC) + timedelta(hours=3)
    maj, none = _routed_items(p, due)
    res = p.consensus().set_index("item_id")
    assert (res.loc[maj, "tier"], res.loc[none, "tier"]) == ("majority", "none")
    p.annotators.add("rita", role="reviewer")
    rq = p.review_queue("rita")
    t = rq.claim()
    assert t is not None and t.item.id == maj
    rq.reject("it is b")  # the rejected consensus goes to an expert
    adj = stage_tasks(p, "adjudicate").set_index("item_id")
    assert sorted(adj.index.astype(int)) == [maj, none]
    want = p.routing.priority(difficulty=None, deadline=due, skill_supply=3, base=5.0)
    for item in (maj, none):  # the reject path's task is routed as consensus's is
        row = adj.loc[item]
        assert (row["language"], row["required_skill"], row["base_priority"]) == (
            "fr", "legal", 5.0), item
        first = stage_tasks(p, "annotate").sort_values("slot")
        first = first[first["item_id"] == item].iloc[0]
        assert pd.Timestamp(row["deadline"]) == pd.Timestamp(first["deadline"])
        assert pd.notna(row["deadline"])
        assert row["priority"] == pytest.approx(want, abs=1e-3)
        assert row["priority"] > 5.0
    ev = events_of(p, "adjudication_queued")
    assert sorted(zip(ev["item_id"].astype(int), ev["actor"], strict=True)) == sorted(
        [(none, "consensus"), (maj, "rita")])
    # and only a French legal expert gets it
    p.annotators.add("eve", qualifications=["expert", "legal"], languages=["en"])
    p.annotators.add("max", qualifications=["expert", "legal"], languages=["fr"])
    assert p.adjudication_queue("eve").claim() is None
    t = p.adjudication_queue("max").claim()
    assert t is not None and t.item.id in (maj, none)
    p.close()


def test_consensus_waits_for_the_items_lock_a_rejection_holds(pg_schema: str) -> None:
    """On PostgreSQL a rejection (queries.queue_adjudication, in the reviewer's open
    transaction) and a consensus run that decided the same item has no majority queue
    one adjudication between them: consensus takes the item's row lock too."""
    from labelnb.queue import queries as q

    p = labelnb.Project.create(pg_schema, "g", Schema("choice", ["a", "b", "c"]), overlap=3)
    due = datetime.now(UTC) + timedelta(hours=3)
    _, none = _routed_items(p, due)
    fields = consensus_mod.adjudication_fields(p, [none])[none]
    results: list[pd.DataFrame] = []
    errors: list[BaseException] = []

    def run() -> None:
        pr = labelnb.open(pg_schema, "g")
        try:
            results.append(pr.consensus())
        except BaseException as e:  # re-raised in the test's thread below
            errors.append(e)
        finally:
            pr.close()

    with p.store.engine.connect() as conn:
        tx = conn.begin()
        # the rejection's transaction, not committed yet: it holds the item's row
        assert q.queue_adjudication(conn, project_id=p.id, item_id=none, actor="rita",
                                    now=datetime.now(UTC), reason="consensus rejected",
                                    fields=fields)
        th = threading.Thread(target=run)
        th.start()
        th.join(3)
        assert th.is_alive(), "consensus() did not wait for the item's row lock"
        tx.commit()
    th.join(60)
    assert not th.is_alive()
    if errors:
        raise errors[0]
    assert stage_tasks(p, "adjudicate")["item_id"].astype(int).tolist() == [none]
    assert len(events_of(p, "adjudication_queued")) == 1
    p.close()


# --- H. a run commits in chunks; an item it cannot store does not stop it -------------------
def _unanimous(p: labelnb.Project, n: int) -> list[int]:
    ids = p.add_items([f"t{i}" for i in range(n)])
    p.add_annotations([Annotation(item_id=i, regions=(Choice("cat"),), author=who,
                                  source="human") for who in ("ana", "bo") for i in ids],
                      fill_tasks=True)
    return ids


def test_a_consensus_run_commits_in_chunks(db_url: str, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    p = labelnb.Project.create(db_url, "h", Schema("choice", ["cat", "dog"]), overlap=2)
    ids = _unanimous(p, 5)
    monkeypatch.setattr(consensus_mod, "APPLY_CHUNK", 2)
    writes = 0
    write = p.store.write

    def counted():  # type: ignore[no-untyped-def]
        nonlocal writes
        writes += 1
        return write()

    monkeypatch.setattr(p.store, "write", counted)
    res = p.consensus()
    assert writes == 3  # 2 + 2 + 1 items
    assert res["status"].tolist() == ["accepted"] * 5
    assert sorted(_consensus_anns(p)["item_id"].astype(int)) == ids
    p.close()


def test_a_failure_in_a_later_chunk_keeps_the_earlier_chunks(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    p = labelnb.Project.create(db_url, "h", Schema("choice", ["cat", "dog"]), overlap=2)
    ids = _unanimous(p, 5)
    monkeypatch.setattr(consensus_mod, "APPLY_CHUNK", 2)
    one = consensus_mod._apply_one

    def failing(project, conn, plan, *args):  # type: ignore[no-untyped-def]
        if plan.item == ids[4]:
            raise RuntimeError("the disk is full")
        return one(project, conn, plan, *args)

    monkeypatch.setattr(consensus_mod, "_apply_one", failing)
    with pytest.raises(RuntimeError, match="disk is full"):
        p.consensus()
    # the first two chunks were committed; the third was rolled back
    assert sorted(_consensus_anns(p)["item_id"].astype(int)) == ids[:4]
    monkeypatch.setattr(consensus_mod, "_apply_one", one)
    assert p.consensus()["status"].tolist() == ["accepted"] * 5  # a rerun finishes it
    assert sorted(_consensus_anns(p)["item_id"].astype(int)) == ids
    p.close()


def test_an_item_whose_consensus_cannot_be_stored_is_skipped_with_a_warning(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    p = labelnb.Project.create(db_url, "h", Schema("choice", ["cat", "dog", "fox"]),
                               overlap=2)
    ids = p.add_items(["a", "b", "c", "d"])
    votes = {ids[0]: "cat", ids[1]: "fox", ids[2]: "dog", ids[3]: "fox"}
    for who in ("ana", "bo"):
        q = p.queue(who)
        for t in q:
            q.submit(Choice(votes[t.item.id]))
    p.set_schema(Schema("choice", ["cat", "dog"]))  # 'fox' is gone
    monkeypatch.setattr(consensus_mod, "APPLY_CHUNK", 3)  # the bad items in both chunks
    with pytest.warns(UserWarning, match=rf"2 item\(s\).*item {ids[1]}: .*'fox'.*"
                                         rf"item {ids[3]}: .*'fox'"):
        res = p.consensus().set_index("item_id")
    assert res.loc[[ids[1], ids[3]], "status"].tolist() == ["not stored"] * 2
    assert res.loc[[ids[1], ids[3]], "consensus_id"].isna().all()
    assert res.loc[[ids[0], ids[2]], "status"].tolist() == ["accepted"] * 2
    cons = _consensus_anns(p)
    assert sorted(cons["item_id"].astype(int)) == [ids[0], ids[2]]
    assert set(res.loc[[ids[0], ids[2]], "consensus_id"]) == set(cons["id"])
    assert len(events_of(p, "consensus_stored")) == 2
    p.close()
