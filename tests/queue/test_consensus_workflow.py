"""The tiered consensus workflow end to end, on SQLite and PostgreSQL: three blind
annotators, a review of a majority label and an adjudication."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import labelnb
from labelnb import Box, Choice, Schema
from labelnb.errors import PermissionDenied
from labelnb.metrics.tiers import Agreement, decide


def label_all(p: labelnb.Project, answers: dict[str, dict[str, str]]) -> dict[str, int]:
    """answers: annotator -> text -> label. Returns text -> item id."""
    ids = {it: int(i) for it, i in zip(p.items()["text"], p.items()["id"], strict=True)}
    for who, labels in answers.items():
        q = p.queue(who)
        while (t := q.claim()) is not None:
            q.submit(Choice(labels[t.item.text or ""]))
    return ids


def test_three_annotators_review_and_adjudication(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["pos", "neg", "mixed"]),
                               overlap=3)
    p.add_items(["great", "fine", "odd"])
    ids = label_all(p, {
        "ana": {"great": "pos", "fine": "pos", "odd": "pos"},
        "bob": {"great": "pos", "fine": "pos", "odd": "neg"},
        "cy": {"great": "pos", "fine": "neg", "odd": "mixed"},
    })
    raw_before = p.annotations()[["id", "labels"]].copy()
    out = p.consensus().set_index("item_id")
    assert out.loc[ids["great"], "tier"] == "unanimous"
    assert out.loc[ids["great"], "labels"] == ["pos"]
    assert out.loc[ids["great"], "status"] == "accepted"
    assert out.loc[ids["great"], "confidence"] == 1.0
    assert out.loc[ids["fine"], "tier"] == "majority"
    assert out.loc[ids["fine"], "labels"] == ["pos"]
    assert out.loc[ids["fine"], "confidence"] == pytest.approx(2 / 3)
    assert out.loc[ids["fine"], "status"] == "in review"
    assert out.loc[ids["odd"], "tier"] == "none"
    assert out.loc[ids["odd"], "status"] == "adjudicating"
    # idempotent: no second consensus, review or adjudication
    p.consensus()
    tasks = p.tasks()
    assert (tasks["stage"] == "review").sum() == 1
    assert (tasks["stage"] == "adjudicate").sum() == 1
    assert (p.annotations()["source"] == "consensus").sum() == 2
    # the majority label is reviewed and approved
    p.annotators.add("rita", role="reviewer")
    rq = p.review_queue("rita")
    rt = rq.claim()
    assert rt is not None and rt.item_id == ids["fine"] and rt.author == "consensus"
    rq.approve()
    # an expert adjudicates the item with no majority
    with pytest.raises(PermissionDenied, match="expert"):
        p.adjudication_queue("ana")
    p.annotators.add("eve", role="annotator", qualifications=["expert"])
    aq = p.adjudication_queue("eve")
    at = aq.claim()
    assert at is not None and at.item_id == ids["odd"] and at.stage == "adjudicate"
    aq.submit(Choice("mixed"))
    final = p.consensus().set_index("item_id")
    assert final.loc[ids["fine"], "status"] == "accepted"
    assert final.loc[ids["odd"], "tier"] == "adjudicated"
    assert final.loc[ids["odd"], "labels"] == ["mixed"]
    # raw annotations never overwritten
    after = p.annotations().set_index("id")
    for _, r in raw_before.iterrows():
        assert after.loc[r["id"], "labels"] == r["labels"]


def test_rejected_consensus_goes_to_adjudication(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "r", Schema("choice", ["a", "b"]), overlap=3)
    p.add_items(["x"])
    label_all(p, {"ana": {"x": "a"}, "bob": {"x": "a"}, "cy": {"x": "b"}})
    p.consensus()
    p.annotators.add("rita", role="reviewer")
    rq = p.review_queue("rita")
    rq.claim()
    rq.reject("it is b")
    assert (p.tasks()["stage"] == "adjudicate").sum() == 1
    assert p.consensus()["status"].tolist() == ["adjudicating"]


def test_box_consensus_fuses_the_majority(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(img)
    p = labelnb.Project.create(db_url, "b", Schema("boxes", ["cat"]), overlap=3)
    p.add_items([img])
    boxes = {"ana": Box(10, 10, 20, 20, "cat"), "bob": Box(12, 10, 22, 20, "cat"),
             "cy": Box(30, 30, 45, 45, "cat")}
    for who, b in boxes.items():
        q = p.queue(who)
        q.claim()
        q.submit(b)
    out = p.consensus()
    assert out["tier"].tolist() == ["majority"]
    (fused,) = out["regions"].iloc[0]
    assert (fused.x0, fused.x1) == (11.0, 21.0)


def test_dawid_skene_method(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "d", Schema("choice", ["a", "b"]), overlap=3)
    p.add_items(["1", "2"])
    label_all(p, {"ana": {"1": "a", "2": "b"}, "bob": {"1": "a", "2": "b"},
                  "cy": {"1": "a", "2": "a"}})
    out = p.consensus(method="dawid_skene").set_index("item_id")
    assert sorted(out["labels"].map(tuple)) == [("a",), ("b",)]
    assert (out["confidence"] > 0.5).all()


def test_pending_items_wait() -> None:
    d = decide([[Choice("a")]], "choice")
    assert d.tier == "unanimous" and d.n == 1
    with pytest.raises(labelnb.errors.ValidationError, match="iou"):
        Agreement(iou=0)


def test_calibration_flags_and_retrains(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "cal", Schema("choice", ["a", "b"]), overlap=3)
    texts = [f"t{i}" for i in range(6)]
    p.add_items(texts)
    # ana and bob always agree; cy is wrong on every 'b' item
    gold = {t: ("a" if i % 2 else "b") for i, t in enumerate(texts)}
    label_all(p, {"ana": gold, "bob": gold, "cy": {t: "a" for t in texts}})
    p.consensus()
    cal = p.calibrate(threshold=0.9, min_items=3).set_index("annotator")
    assert cal.loc["ana", "accuracy"] == 1.0 and not cal.loc["ana", "flagged"]
    assert cal.loc["cy", "accuracy"] == 0.5 and cal.loc["cy", "flagged"]
    assert cal.loc["cy", "per_label"] == {"a": 1.0, "b": 0.0}
    assert cal.loc["cy", "retraining_tasks"] == 3
    prof = p.annotators.profile("cy")
    assert prof.accuracy == 0.5 and prof.skills == {"a": 1.0, "b": 0.0}
    assert "calibration_flag" in set(p.events()["kind"])
    assert p.retraining_queue("ana").claim() is None  # reserved for cy
    with pytest.raises(labelnb.errors.AnnotatorNotFound, match="'cyy' is not an annotator"):
        p.retraining_queue("cyy")  # a typo is not registered as a new annotator
    rq = p.retraining_queue("cy")
    seen = 0
    while (t := rq.claim()) is not None:
        assert t.stage == "retrain" and t.target_annotation_id is not None
        rq.acknowledge()
        seen += 1
    assert seen == 3
    # calibrating again queues nothing twice
    assert p.calibrate(threshold=0.9, min_items=3).set_index("annotator").loc[
        "cy", "retraining_tasks"] == 0


def test_adaptive_redundancy(db_url: str) -> None:
    from labelnb.metrics.redundancy import AdaptiveRedundancy

    p = labelnb.Project.create(db_url, "ad", Schema("choice", ["a", "b"]))
    p.add_items(["sure", "unsure", "clash", "nomodel"])
    ids = label_all(p, {"ana": {"sure": "a", "unsure": "a", "clash": "a", "nomodel": "b"}})
    p.add_predictions("m1", [(ids["sure"], [Choice("a")], 0.97),
                             (ids["unsure"], [Choice("a")], 0.6),
                             (ids["clash"], [Choice("b")], 0.99)])
    dec = p.escalate(AdaptiveRedundancy(threshold=0.9)).set_index("item_id")
    assert dec.loc[ids["sure"], "decision"] == "accept"
    assert dec.loc[ids["unsure"], "reason"].startswith("model unsure")
    assert dec.loc[ids["clash"], "reason"].startswith("model disagrees")
    assert dec.loc[ids["nomodel"], "reason"] == "no model prediction"
    assert p.escalate().empty  # every item decided once
    # escalated items now need two more annotators; accepted ones don't
    got = label_all(p, {"bob": {"unsure": "a", "clash": "b", "nomodel": "b"},
                        "cy": {"unsure": "a", "clash": "b", "nomodel": "b"}})
    assert got == ids
    final = p.consensus().set_index("item_id")
    assert final.loc[ids["sure"], "tier"] == "model_agreed"
    assert final.loc[ids["unsure"], "tier"] == "unanimous"
    assert final.loc[ids["clash"], "labels"] == ["b"]
    assert final.loc[ids["clash"], "tier"] == "majority"
    ev = p.events().query("kind == 'escalated'")
    assert len(ev) == 3 and all("reason" in x for x in ev["payload"])
    assert len(p.annotations(source="human")) == 1 + 3 * 3  # 10 labels instead of 12


def test_calibration_skips_a_rejected_consensus_and_bad_arguments_are_named(
        tmp_path: object) -> None:
    """A majority the reviewer rejected (now with an expert) is no reference: nobody is
    graded against it. Unknown model versions and bad numeric arguments are refused by
    name (a typo'd model version escalated every item)."""
    from pathlib import Path

    from labelnb.errors import ValidationError
    from labelnb.metrics import soft_labels
    from labelnb.metrics.redundancy import AdaptiveRedundancy

    p = labelnb.Project.create(Path(str(tmp_path)) / "r.db", "r", Schema("choice", ["a", "b"]),
                               overlap=3)
    texts = [f"t{i}" for i in range(4)]
    p.add_items(texts)
    label_all(p, {"ana": {t: "a" for t in texts}, "bob": {t: "a" for t in texts},
                  "cy": {t: "b" for t in texts}})
    assert set(p.consensus()["tier"]) == {"majority"}
    p.annotators.add("lead", role="lead")
    rq = p.review_queue("lead")
    while rq.claim() is not None:
        rq.reject("these are b")
    assert set(p.consensus(queue_tasks=False)["status"]) == {"adjudicating"}
    cal = p.calibrate(min_items=1).set_index("annotator")
    assert not cal["flagged"].any() and cal["retraining_tasks"].sum() == 0
    with pytest.raises(ValidationError, match="'model_version' is 'nope', which has no"):
        p.escalate(AdaptiveRedundancy(), model_version="nope")
    for bad in ({"threshold": "0.9"}, {"window": 2.5}, {"min_items": 0}):
        with pytest.raises(ValidationError, match=f"field '{next(iter(bad))}'"):
            p.calibrate(**bad)  # type: ignore[arg-type]
    for kw in ({"extra": 1.5}, {"threshold": "0.9"}, {"threshold": 0}):
        with pytest.raises(ValidationError, match=f"field '{next(iter(kw))}'"):
            AdaptiveRedundancy(**kw)  # type: ignore[arg-type]
    d = AdaptiveRedundancy().decide([Choice("a")], [Choice("a")], float("nan"), "choice")
    assert not d.accept and "unknown" in d.reason
    with pytest.raises(ValidationError, match="field 'smoothing'"):
        soft_labels(p.annotations().rename(columns={"item_id": "item", "author": "annotator"})
                    .assign(label=lambda f: [x[0] for x in f["labels"]]), smoothing="1")
    p.close()


def test_calibration_does_not_grade_a_single_label_against_itself(tmp_path: object) -> None:
    """With overlap 1 every item's 'consensus' is its one label: no reference, so the
    annotator gets no accuracy of 1.0 from their own work."""
    from pathlib import Path

    p = labelnb.Project.create(Path(str(tmp_path)) / "o.db", "o", Schema("choice", ["a", "b"]))
    p.add_items(["x", "y", "z"])
    label_all(p, {"ana": {"x": "a", "y": "b", "z": "a"}})
    p.consensus()
    assert p.calibrate(min_items=1).empty  # nothing to grade against
    assert p.annotators.profile("ana").accuracy is None
    p.close()


def test_region_consensus_is_stored_as_plain_regions(tmp_path: Path) -> None:
    """Masks: the fused mask carried 'votes' and a score, which the schema refused (the
    consensus crashed whenever annotators agreed); boxes: a required attribute was lost
    in the fused box (crash), an optional one silently."""
    import numpy as np
    from PIL import Image

    from labelnb import Mask
    from labelnb.schema import Attribute

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(img)
    m = np.zeros((40, 60), bool)
    m[2:8, 3:9] = True
    masks = labelnb.Project.create(tmp_path / "m.db", "m", Schema("masks", ["x"]), overlap=2)
    masks.add_items([str(img)])
    for who in ("ana", "bo"):
        q = masks.queue(who)
        for _ in q:
            q.submit([Mask.from_array(m, "x")])
    [row] = masks.consensus().to_dict("records")
    assert (row["tier"], row["status"]) == ("unanimous", "accepted")
    stored = [a for a in masks.annotation_objects() if a.source == "consensus"]
    assert stored[0].regions == (Mask.from_array(m, "x"),)  # no score, no votes
    boxes = labelnb.Project.create(
        tmp_path / "b.db", "b", Schema("boxes", ["car"], attributes=[
            Attribute("occluded", "bool", required=True)]), overlap=2)
    boxes.add_items([str(img)])
    for who, x in (("ana", 2), ("bo", 3)):
        q = boxes.queue(who)
        for _ in q:
            q.submit([Box(x, 2, 20, 20, "car", attributes={"occluded": True})])
    [row] = boxes.consensus().to_dict("records")
    assert row["regions"] == [Box(2.5, 2, 20, 20, "car", attributes={"occluded": True})]


def test_a_replaced_consensus_is_no_longer_reviewed(db_url: str) -> None:
    """A majority consensus queued for review, then the dissenting label is rejected and
    reworked: the item is unanimous under a new consensus. The old review was still
    offered, and rejecting it sent the (now unanimous) item to an expert, whose answer
    then overrode it. Meanwhile the rejected label counted as a vote."""
    p = labelnb.Project.create(db_url, "c", Schema("choice", ["cat", "dog"]), overlap=3)
    p.add_items(["a"])
    ids = label_all(p, {"ana": {"a": "cat"}, "bo": {"a": "cat"}, "cy": {"a": "dog"}})
    item = ids["a"]
    cy_ann = p.annotations(annotator="cy")["id"].iloc[0]
    p.annotators.add("rita", role="reviewer")
    p.request_review(cy_ann)
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"]) == ("majority", "in review")
    rq = p.review_queue("rita")
    t = rq.claim()
    assert t is not None and t.target_annotation_id == cy_ann
    rq.reject("look again")
    # cy's rejected label is no vote while it waits for rework
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["n_annotations"]) == ("pending", 2)
    q = p.queue("cy")
    assert q.claim() is not None
    q.submit(Choice("cat"))
    [row] = p.consensus().to_dict("records")
    assert (row["tier"], row["status"]) == ("unanimous", "accepted")
    # the old consensus's review was cancelled: nothing left for rita
    assert rq.claim() is None
    review = p.tasks()[p.tasks()["stage"] == "review"]
    assert sorted(review["status"]) == ["cancelled", "done"]
    assert (p.tasks()["stage"] == "adjudicate").sum() == 0
    [row] = p.consensus().to_dict("records")
    assert row["labels"] == ["cat"] and row["item_id"] == item
    # the audit log says what happened to the item (it said "annotations_imported")
    ev = p.events()
    stored = ev[ev["kind"] == "consensus_stored"]
    assert len(stored) == 2 and set(stored["actor"]) == {"consensus"}
    assert set(stored["item_id"]) == {item}
    assert [pl["tier"] for pl in stored["payload"]] == ["majority", "unanimous"]
    assert (ev["kind"] == "review_requested").sum() == 2  # cy's label, the majority
    assert (ev["kind"] == "annotations_imported").sum() == 0


def test_dawid_skene_decides_by_weight_and_stores_who_it_is_based_on(db_url: str) -> None:
    """The votes decided the tier and the group, then Dawid-Skene's label replaced the
    group's: a consensus of 'fox' based on two annotations of 'dog', and items whose
    weighted answer was clear still went to adjudication."""
    rng = np.random.default_rng(7)
    classes = ["fox", "cat", "dog"]
    texts = [f"t{i}" for i in range(40)]
    truth = {t: classes[int(rng.integers(3))] for t in texts}

    def noisy(t: str) -> str:  # right about 45% of the time
        return truth[t] if rng.random() < 0.45 else classes[int(rng.integers(3))]

    p = labelnb.Project.create(db_url, "ds", Schema("choice", classes), overlap=3)
    p.add_items(texts)
    label_all(p, {"ana": truth, "bo": {t: noisy(t) for t in texts},
                  "cy": {t: noisy(t) for t in texts}})
    out = p.consensus(method="dawid_skene").set_index("item_id")
    anns = p.annotations().set_index("id")
    cons = anns[anns["source"] == "consensus"]
    labels_of = {i: tuple(v) for i, v in anns["labels"].items()}
    outvoted = 0
    for _, c in cons.iterrows():
        based = c["meta"]["based_on"]
        assert based and all(labels_of[b] == tuple(c["labels"]) for b in based)
        votes = [labels_of[i] for i in anns.index[(anns["item_id"] == c["item_id"])
                                                  & (anns["source"] == "human")]]
        outvoted += votes.count(tuple(c["labels"])) < 2  # chosen against the plain vote
    assert outvoted > 0  # the weighting changed some answers (else this tests nothing)
    assert (out.loc[out["tier"] == "none", "confidence"] <= 0.5).all()
    decided = out[out["tier"].isin(["unanimous", "majority"])]
    assert (decided["confidence"] > 0.5).all()
    ids = {it: int(i) for it, i in zip(p.items()["text"], p.items()["id"], strict=True)}
    assert sum(out.loc[ids[t], "labels"] == [truth[t]] for t in texts
               if out.loc[ids[t], "tier"] != "none") >= 0.9 * len(decided)
