"""What an export leaves out, and says so: a reviewer's correction of an expert's
adjudication (exported under the consensus policy), items ``label_map`` leaves
without a class (in the manifest's ``left_out``), and the reasons given for items in
rework or labeled by a machine (they read "no annotations" or "consensus pending")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import labelnb
from labelnb import Annotation, Box, Choice, Schema
from labelnb.errors import FormatError
from labelnb.formats import pipeline
from labelnb.formats.pipeline import LABEL_MAP_DROPPED
from labelnb.prelabel.tiers import MachineTiers, route_machine_labels

REWORK = "in rework: rejected by a reviewer, waiting for its author"
VOTES = "consensus counts the annotators' votes only"


def _manifest(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "labelnb_export.json").read_text()))


def _left_out(out: Path) -> dict[int, str]:
    return {int(e["item_id"]): e["reason"] for e in _manifest(out)["left_out"]}


def _vote(p: labelnb.Project, votes: dict[str, dict[int, str]]) -> None:
    """annotator → item → label, each through their queue."""
    for who, by_item in votes.items():
        q = p.queue(who)
        while (t := q.claim()) is not None:
            q.submit(Choice(by_item[t.item_id]))


def _review(p: labelnb.Project, reviewer: str, target: str, decision: str,
            label: str | None = None) -> str | None:
    """Queue a review of ``target`` and decide it as ``reviewer``; returns a
    correction's id."""
    p.request_review(target)
    rq = p.review_queue(reviewer)
    t = rq.claim()
    assert t is not None and t.target_annotation_id == target
    if decision == "correct":
        assert label is not None
        return rq.correct(Choice(label))
    if decision == "reject":
        rq.reject("look again")
    else:
        rq.approve()
    return None


def test_a_reviewers_correction_of_an_adjudication_is_exported(db_url: str,
                                                               tmp_path: Path) -> None:
    """No majority → an expert adjudicates → a reviewer corrects the adjudication: the
    consensus export wrote the expert's label (the correction was ignored), while the
    'latest' export had the correction. A rejected correction leaves the adjudication;
    a correction of the correction is followed to its end."""
    p = labelnb.Project.create(db_url, "adj", Schema("choice", ["cat", "dog", "fox"]),
                               overlap=3)
    one, two, three = p.add_items(["one", "two", "three"])
    _vote(p, {"ana": {one: "cat", two: "cat", three: "cat"},
              "bo": {one: "dog", two: "dog", three: "dog"},
              "cy": {one: "fox", two: "fox", three: "fox"}})
    p.annotators.add("lea", role="lead")
    for name in ("rita", "rob"):
        p.annotators.add(name, role="reviewer")
    assert set(p.consensus()["tier"]) == {"none"}  # queues the adjudications
    adj = p.adjudication_queue("lea")
    adjudications: dict[int, str] = {}
    while (t := adj.claim()) is not None:
        adjudications[t.item_id] = adj.submit(Choice("fox"))
    fix1 = _review(p, "rita", adjudications[one], "correct", "cat")
    fix2 = _review(p, "rita", adjudications[two], "correct", "dog")
    _review(p, "rob", str(fix2), "reject")  # a rejected correction: the adjudication stands
    fix3 = _review(p, "rita", adjudications[three], "correct", "dog")
    fix4 = _review(p, "rob", str(fix3), "correct", "cat")  # a correction of the correction

    cons = pipeline.consensus_final(p)
    assert {i: (a.id, a.regions) for i, a in cons.final.items()} == {
        one: (fix1, (Choice("cat"),)), two: (adjudications[two], (Choice("fox"),)),
        three: (fix4, (Choice("cat"),))}
    assert cons.tiers == {one: "adjudicated", two: "adjudicated", three: "adjudicated"}
    assert cons.statuses == {one: "corrected", two: "adjudicated", three: "corrected"}

    out = tmp_path / "w"
    rep = pipeline.export(p, "webdataset", out, policy="consensus")
    assert (rep.items, rep.unlabeled) == (3, 0)
    got = {int(e["item_id"]): (e["annotation_id"], e["tier"], e["status"])
           for e in _manifest(out)["images"]}
    assert got == {one: (fix1, "adjudicated", "corrected"),
                   two: (adjudications[two], "adjudicated", "adjudicated"),
                   three: (fix4, "adjudicated", "corrected")}
    from labelnb.formats.webdataset import load_webdataset

    back = {int(s.annotation["id"]): s.regions for s in load_webdataset(out)}
    assert back == {one: (Choice("cat"),), two: (Choice("fox"),), three: (Choice("cat"),)}
    # the same labels as the 'latest' policy, which follows corrections anyway
    _, latest = pipeline.read_final(p, "latest")
    assert {i: a.id for i, a in latest.items()} == {i: a.id for i, a in cons.final.items()}


def test_class_examples_label_map_empties_are_in_left_out(tmp_path: Path) -> None:
    """They were counted in the report but missing from the manifest's left_out (and
    the 'latest' policy wrote no left_out at all)."""
    p = labelnb.Project.create(tmp_path / "c.db", "c", Schema("choice", ["a", "b", "c"]))
    ids = p.add_items(["one", "two", "three", "four"])
    q = p.queue("ana")
    while (t := q.claim()) is not None:
        if t.item_id == ids[3]:
            q.skip()
            continue
        q.submit(Choice("abc"[ids.index(t.item_id)]))
    for policy in ("latest", "consensus"):
        out = tmp_path / policy
        rep = pipeline.export(p, "webdataset", out, policy=policy, label_map={"b": None})
        assert (rep.items, rep.unlabeled) == (2, 2)
        assert rep.unlabeled_reasons[LABEL_MAP_DROPPED] == 1
        assert _left_out(out) == {ids[1]: LABEL_MAP_DROPPED, ids[3]: "no annotations"}
        assert [e["item_id"] for e in _manifest(out)["left_out"]] == [ids[1], ids[3]]


def test_images_whose_every_box_the_map_drops_stay_as_negatives(tmp_path: Path,
                                                                images: list[Path]) -> None:
    """Boxes: an image left with no box is a negative of the classes kept (as an image
    labeled with no boxes is), not left out; one with some boxes kept keeps them."""
    from labelnb.formats import coco

    p = labelnb.Project.create(tmp_path / "b.db", "b", Schema("boxes", ["cat", "dog"]))
    both, dog, empty = p.add_items([str(f) for f in images[1:4]])
    p.add_annotations([
        Annotation(item_id=both, regions=(Box(1, 1, 9, 9, "cat"), Box(2, 2, 8, 8, "dog")),
                   author="ana"),
        Annotation(item_id=dog, regions=(Box(3, 3, 7, 7, "dog"),), author="ana"),
        Annotation(item_id=empty, regions=(), author="ana")])
    out = tmp_path / "coco"
    rep = pipeline.export(p, "coco", out, media="none", label_map={"dog": None})
    assert (rep.items, rep.regions, rep.regions_dropped, rep.unlabeled) == (3, 1, 2, 0)
    assert _left_out(out) == {}
    gt = coco.check_with_pycocotools(out / "annotations.json")
    item_of = {e["file_name"]: int(e["item_id"]) for e in _manifest(out)["images"]}
    n_boxes = {item_of[gt.loadImgs(i)[0]["file_name"]]: len(gt.getAnnIds(imgIds=[i]))
               for i in gt.getImgIds()}
    assert n_boxes == {both: 1, dog: 0, empty: 0}


def test_left_out_reasons_say_rework_and_machine_labels(tmp_path: Path) -> None:
    """A label a reviewer rejected read "consensus pending: 0 annotations in, waiting
    for the other annotators"; items labeled by a machine (accepted automatically,
    waiting for or after verification) and imported human labels read "no
    annotations"."""
    p = labelnb.Project.create(tmp_path / "r.db", "r", Schema("choice", ["cat", "dog", "fox"]))
    rework, ok, auto, verify, verified, fixed, imported, nothing = p.add_items(
        [f"t{i}" for i in range(8)])
    p.annotators.add("rita", role="reviewer")
    p.add_predictions("m1", [(auto, [Choice("cat")], 0.99), (verify, [Choice("dog")], 0.8),
                             (verified, [Choice("dog")], 0.8), (fixed, [Choice("dog")], 0.8)])
    route_machine_labels(p, tiers=MachineTiers(high=0.95, low=0.7))
    q = p.queue("ana")
    mine: dict[int, str] = {}
    while (t := q.claim()) is not None:
        if t.item_id in (imported, nothing):
            q.skip()
            continue
        mine[t.item_id] = q.submit(Choice("cat"))
    assert set(mine) == {rework, ok}
    p.add_annotations([Annotation(item_id=imported, regions=(Choice("fox"),), author="bob")])
    rq = p.review_queue("rita")  # the verifications route_machine_labels queued
    while (t := rq.claim()) is not None:
        if t.item_id == verified:
            rq.approve()
        elif t.item_id == fixed:
            rq.correct(Choice("fox"))
        else:
            rq.skip()  # 'verify' waits for a reviewer
    _review(p, "rita", mine[rework], "reject")

    out = tmp_path / "cons"
    rep = pipeline.export(p, "webdataset", out, policy="consensus")
    want = {rework: REWORK,
            auto: f"accepted by a machine (auto tier); {VOTES}",
            verify: "machine label waiting for a reviewer to verify it",
            verified: f"machine label verified by a reviewer; {VOTES}",
            fixed: f"machine label corrected by a reviewer; {VOTES}",
            imported: "human labels added without an annotate task (an import or "
                      f"add_annotations); {VOTES}",
            nothing: "no annotations"}
    assert _left_out(out) == want
    assert rep.unlabeled == 7 and rep.unlabeled_reasons == {r: 1 for r in want.values()}
    assert pipeline.consensus_final(p).left_out == {k: v for k, v in want.items()
                                                     if k != nothing}

    out = tmp_path / "latest"
    rep = pipeline.export(p, "webdataset", out, policy="latest", human_only=True)
    assert _left_out(out) == {rework: REWORK, nothing: "no annotations",
                              **{i: "machine labels only (human_only=True)"
                                 for i in (auto, verify, verified)}}
    assert rep.unlabeled_reasons == {}  # (the latest policy's reasons: the manifest's)
    out = tmp_path / "ana"
    pipeline.export(p, "webdataset", out, policy="annotator:bob")
    assert _left_out(out) == {**{i: "no annotation by 'bob'" for i in
                                 (rework, ok, auto, verify, verified, fixed)},
                              nothing: "no annotations"}


def test_reasons_of_a_rejected_adjudication_and_rework_among_votes(db_url: str,
                                                                   tmp_path: Path) -> None:
    """Overlap 3: one vote rejected (its author reworks it) is "in rework", not "pending";
    an adjudication a reviewer rejected waits for the expert's rework."""
    p = labelnb.Project.create(db_url, "v", Schema("choice", ["cat", "dog", "fox"]),
                               overlap=3)
    split, back = p.add_items(["split", "back"])
    p.annotators.add("lea", role="lead")
    p.annotators.add("rita", role="reviewer")
    _vote(p, {"ana": {split: "cat", back: "cat"}, "bo": {split: "dog", back: "cat"},
              "cy": {split: "fox", back: "dog"}})
    cy = {a.item_id: a.id for a in p.annotation_objects(annotator="cy")}
    _review(p, "rita", cy[back], "reject")
    p.consensus()  # queues the adjudication of 'split'
    adj = p.adjudication_queue("lea")
    assert adj.claim() is not None
    _review(p, "rita", adj.submit(Choice("fox")), "reject")
    cons = pipeline.consensus_final(p)
    assert cons.final == {}
    assert cons.left_out == {
        split: "no consensus: a reviewer rejected the expert's adjudication, waiting for "
               "the expert's rework",
        back: f"{REWORK} (2 other annotations in)"}
    with pytest.raises(FormatError, match=r"in rework: .*author \(2 other annotations in\): 1"):
        pipeline.export(p, "webdataset", tmp_path / "w", policy="consensus")
