"""Review, rework, adjudication and calibration after a rejection: the cases a
first-user hunt found inconsistent (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

import labelnb
from labelnb import Choice, Schema
from labelnb.errors import ValidationError


def _reviewed(db_url: str) -> tuple[labelnb.Project, str]:
    """One text, every submit reviewed; ana labeled it 'neg' (returned: its id)."""
    p = labelnb.Project.create(db_url, "r", Schema("choice", ["pos", "neg"]),
                               review_fraction=1.0)
    p.add_items(["a"])
    for name in ("rita", "rob"):
        p.annotators.add(name, role="reviewer")
    q = p.queue("ana")
    assert q.claim() is not None
    return p, q.submit(Choice("neg"))


def test_a_rejected_correction_stays_with_review_and_the_chain_is_followed(db_url: str
                                                                          ) -> None:
    """Rejecting a reviewer's correction reopened the reviewer's own review task, on
    which they then approved their own correction; a correction of a correction was
    ignored by consensus, and the consensus export mixed the two."""
    p, a0 = _reviewed(db_url)
    rita = p.review_queue("rita")
    assert rita.claim() is not None
    c1 = rita.correct(Choice("pos"))
    p.request_review(c1)
    rob = p.review_queue("rob")
    assert rob.claim() is not None
    rob.reject("your correction is wrong")
    assert rita.claim() is None  # nothing of her own comes back to her
    tasks = p.tasks()
    assert set(tasks.loc[tasks["stage"] == "review", "status"]) == {"done"}
    # a correction of a correction: the end of the chain is the final label
    p.request_review(a0)  # a fresh review of ana's label
    assert rob.claim() is not None
    c2 = rob.correct(Choice("neg"))
    p.request_review(c2)
    assert rita.claim() is not None
    c3 = rita.correct(Choice("pos"))
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"], row["labels"]) == ("single", "corrected", ["pos"])
    assert row["consensus_id"] == c3
    from labelnb.formats.pipeline import consensus_final

    final = consensus_final(p).final[row["item_id"]]
    assert final.id == c3 and final.regions == (Choice("pos"),)
    with pytest.raises(ValidationError, match="not the string 'pos'"):
        p.review_queue("rob").correct("pos")  # type: ignore[arg-type]


def test_rework_lease_survives_a_second_rejection_and_input_is_checked(db_url: str) -> None:
    p, a0 = _reviewed(db_url)
    p.request_review(a0)  # two review tasks on one annotation
    rita, rob = p.review_queue("rita"), p.review_queue("rob")
    assert rita.claim() is not None and rob.claim() is not None
    with pytest.raises(ValidationError, match="field 'feedback' is int 123"):
        rita.reject(123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="field 'feedback' is dict"):
        rita.approve({"x": 1})  # type: ignore[arg-type]
    rita.reject("look again")
    ana = p.queue("ana")
    t = ana.claim()
    assert t is not None and t.target_annotation_id == a0  # the rework
    rob.reject("and again")  # while ana works on it
    ana.submit(Choice("pos"))  # her lease was not pulled from under her
    assert p.annotations(annotator="ana")["labels"].tolist() == [["neg"], ["pos"]]


def test_a_skipped_review_hides_that_task_only(db_url: str) -> None:
    p, a0 = _reviewed(db_url)
    rq = p.review_queue("rita")
    assert rq.claim() is not None
    rq.skip()
    assert rq.claim() is None  # that task is not offered again
    p.request_review(a0)
    t = rq.claim()  # but a later review of the item is
    assert t is not None and t.target_annotation_id == a0


def test_a_rejected_single_label_is_in_rework_not_gone(db_url: str) -> None:
    p, a0 = _reviewed(db_url)
    rq = p.review_queue("rita")
    assert rq.claim() is not None
    rq.reject("wrong class")
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"], row["n_annotations"]) == ("pending", "in rework", 0)


def test_a_rejected_adjudication_is_not_final(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "a", Schema("choice", ["cat", "dog", "fox"]),
                               overlap=3)
    [item] = p.add_items(["photo"])
    for who, lab in (("ana", "cat"), ("bo", "dog"), ("cy", "fox")):
        q = p.queue(who)
        assert q.claim() is not None
        q.submit(Choice(lab))
    p.annotators.add("lea", role="lead")
    p.annotators.add("rita", role="reviewer")
    assert p.consensus().iloc[0]["tier"] == "none"
    adj = p.adjudication_queue("lea")
    assert adj.claim() is not None
    adj_id = adj.submit(Choice("fox"))
    assert p.consensus().iloc[0]["tier"] == "adjudicated"
    p.request_review(adj_id)
    rq = p.review_queue("rita")
    assert rq.claim() is not None
    rq.reject("it is a cat")
    [row] = p.consensus(queue_tasks=False).to_dict("records")
    assert (row["tier"], row["status"]) == ("none", "adjudicating")
    t = adj.claim()  # the expert's rework
    assert t is not None and t.item_id == item
    adj.submit(Choice("cat"))
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["labels"]) == ("adjudicated", ["cat"])


def test_retraining_stays_with_its_owner_and_calibration_scores_the_rework(db_url: str
                                                                          ) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["cat", "dog"]), overlap=3)
    ids = p.add_items([f"t{i}" for i in range(6)])
    truth = {i: ("cat" if k % 2 else "dog") for k, i in enumerate(ids)}
    for who in ("ana", "bo", "cy"):
        q = p.queue(who)
        for t in q:
            wrong = who == "cy" and t.item_id in ids[:3]
            q.submit(Choice({"cat": "dog", "dog": "cat"}[truth[t.item_id]] if wrong
                            else truth[t.item_id]))
    p.consensus()
    cal = p.calibrate(min_items=1, threshold=0.9).set_index("annotator")
    assert cal.loc["cy", "n"] == 6 and cal.loc["cy", "retraining_tasks"] == 3
    rt = p.retraining_queue("cy")
    t = rt.claim()
    assert t is not None
    rt.skip()  # skipped, it stays cy's: nobody else may acknowledge her mistake
    assert p.retraining_queue("ana").claim() is None
    tasks = p.tasks()
    assert set(tasks.loc[tasks["stage"] == "retrain", "reserved_for"]) == {"cy"}
    # a rejected label that cy reworked is scored once, by the rework
    p.annotators.add("rita", role="reviewer")
    wrong = p.annotations(annotator="cy").sort_values("item_id")["id"].iloc[0]
    p.request_review(wrong)
    rq = p.review_queue("rita")
    while (t := rq.claim()) is not None and t.target_annotation_id != wrong:
        rq.skip()  # the consensus reviews of the majority items: another time
    assert t is not None
    rq.reject("look again")
    q = p.queue("cy")
    t = q.claim()
    assert t is not None and t.item_id == ids[0]
    q.submit(Choice(truth[ids[0]]))
    cal = p.calibrate(min_items=1, retrain=False).set_index("annotator")
    assert cal.loc["cy", "n"] == 6 and cal.loc["cy", "accuracy"] == pytest.approx(4 / 6, abs=1e-4)


def test_a_second_rejection_of_reworked_work_is_recorded_only(db_url: str) -> None:
    """Two reviews of the same annotation: the first rejection sends it back and the
    author reworks it; the second (stale) rejection used to send the author back to it
    a third time."""
    p, a0 = _reviewed(db_url)
    p.request_review(a0)  # a second review of the same work
    rita, rob, ana = p.review_queue("rita"), p.review_queue("rob"), p.queue("ana")
    assert rita.claim() is not None
    rita.reject("wrong")
    t = ana.claim()
    assert t is not None and t.target_annotation_id == a0
    a1 = ana.submit(Choice("pos"))
    while (r := rob.claim()) is not None and r.target_annotation_id != a0:
        rob.approve()  # (the review of the rework)
    assert r is not None
    rob.reject("wrong too")
    assert ana.claim() is None  # no third round on the same item
    anns = p.annotations()
    assert sorted(anns.loc[anns["author"] == "ana", "id"]) == sorted([a0, a1])
    assert set(p.reviews()["decision"]) == {"reject"}
    assert p.stats()["items_done"] == 1


def test_a_released_rework_keeps_its_author_off_the_items_other_slots(db_url: str) -> None:
    """Releasing a rework (also the release a second claim() does) cleared its assignee
    but kept it reserved, so its author could take the item's other slot (here one
    whose lease ran out, which a claim tries first), and the rework then waited for
    them for ever."""
    import time

    p = labelnb.Project.create(db_url, "o", Schema("choice", ["pos", "neg"]), overlap=2,
                               review_fraction=1.0)
    p.add_items(["x"])
    p.annotators.add("rita", role="reviewer")
    ana, bo, rita = p.queue("ana"), p.queue("bo"), p.review_queue("rita")
    assert ana.claim() is not None
    ana.submit(Choice("neg"))
    assert rita.claim() is not None
    rita.reject("wrong")
    p.configure(lease_ttl_s=0.2)
    slot1 = bo.claim()
    assert slot1 is not None
    p.configure(lease_ttl_s=600)
    time.sleep(0.5)  # bo's lease runs out
    t = ana.claim()
    assert t is not None and t.stage == "annotate" and t.target_annotation_id
    again = ana.claim()  # releases the rework first
    assert again is not None and again.id == t.id  # the rework again, not bo's slot
    ana.submit(Choice("pos"))
    assert bo.claim() is not None  # bo's slot, back in the pool
    bo.submit(Choice("pos"))
    slots = p.tasks()
    assert sorted(slots.loc[slots["stage"] == "annotate", "status"]) == ["done", "done"]
    anns = p.annotations()
    assert sorted(anns.loc[anns["author"] == "ana", "task_id"].unique()) == [t.id]


def test_a_client_id_reused_on_a_rework_is_refused(db_url: str) -> None:
    """A rework runs under the same task id: its submit with the first round's client id
    was taken for a retry of it, stored nothing and left the task leased."""
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["pos", "neg"]),
                               review_fraction=1.0)
    p.add_items(["a"])
    p.annotators.add("rita", role="reviewer")
    ana, rita = p.queue("ana"), p.review_queue("rita")
    t = ana.claim()
    assert t is not None
    a0 = ana.submit(Choice("neg"), client_id=f"task-{t.id}")
    assert ana.submit(Choice("neg"), client_id=f"task-{t.id}") == a0  # a retry: the same id
    assert rita.claim() is not None
    rita.reject("wrong")
    t2 = ana.claim()
    assert t2 is not None and t2.id == t.id
    with pytest.raises(ValidationError, match="before this claim of the task"):
        ana.submit(Choice("pos"), client_id=f"task-{t.id}")
    assert ana.current is not None  # the lease is still ana's: submit with a new id
    a1 = ana.submit(Choice("pos"), client_id=f"task-{t.id}-2")
    assert a1 != a0 and set(p.annotations()["id"]) == {a0, a1}
    assert ana.submit(Choice("pos"), client_id=f"task-{t.id}-2") == a1  # its retry


def test_deactivating_an_author_frees_their_open_rework(db_url: str) -> None:
    p, a0 = _reviewed(db_url)
    rita = p.review_queue("rita")
    assert rita.claim() is not None
    rita.reject("wrong")
    p.annotators.ensure("ana")
    p.annotators.update("ana", active=False)
    t = p.queue("bo").claim()  # the rework, anyone's now
    assert t is not None and t.target_annotation_id == a0
    ev = p.events()
    upd = ev[ev["kind"] == "annotator_updated"]
    assert upd["payload"].iloc[-1]["tasks_unreserved"] == 1
