"""Tiered routing of machine labels, end to end on a SQLite project: high confidence
accepted automatically, medium verified by one reviewer, low to full consensus."""

from __future__ import annotations

from pathlib import Path

import pytest

import labelnb
from labelnb.errors import ValidationError
from labelnb.prelabel import MachineTiers, project_tiers, route_machine_labels, set_project_tiers
from labelnb.prelabel.apply import prelabel_with_lfs
from labelnb.prelabel.lf import ABSTAIN, labeling_function
from labelnb.schema import Schema
from labelnb.types import Choice

SCHEMA = Schema("choice", ["pos", "neg"])


def project(tmp_path: Path) -> tuple[labelnb.Project, list[int]]:
    p = labelnb.Project.create(tmp_path / "t.db", "reviews", SCHEMA)
    ids = p.add_items(["sure pos", "probably pos", "unsure", "no score", "also probably neg"])
    p.add_predictions("llm:openai/gpt-x", [
        (ids[0], [Choice("pos", score=0.99)], 0.99),
        (ids[1], [Choice("pos", score=0.85)], 0.85),
        (ids[2], [Choice("neg", score=0.40)], 0.40),
        (ids[3], [Choice("neg")]),
        (ids[4], [Choice("neg", score=0.80)]),  # no prediction score: the regions' mean
    ], source="llm")
    p.annotators.add("rita", role="reviewer")
    return p, ids


def claimable(p: labelnb.Project, who: str) -> list[int]:
    q = p.queue(who)
    got = []
    while (t := q.claim()) is not None:
        got.append(t.item_id)
        q.skip()
    return sorted(set(got))


def test_tiers_end_to_end(tmp_path: Path) -> None:
    p, ids = project(tmp_path)
    set_project_tiers(p, MachineTiers(high=0.95, low=0.7, consensus_overlap=3))
    assert project_tiers(labelnb.open(tmp_path / "t.db")).high == 0.95  # stored
    out = route_machine_labels(p).set_index("item_id")
    assert out.loc[ids, "tier"].tolist() == ["auto", "verify", "consensus", "consensus",
                                             "verify"]
    assert out.loc[ids, "action"].tolist() == ["accepted", "review_queued", "consensus_queued",
                                               "consensus_queued", "review_queued"]
    assert out.loc[ids[4], "score"] == pytest.approx(0.80)
    assert "0.990 >= high 0.95" in out.loc[ids[0], "reason"]
    assert out.loc[ids[3], "reason"] == "no confidence: full consensus (3 annotators)"

    # auto: the machine label is an annotation with its provenance
    anns = p.annotations()
    auto = anns[anns["item_id"] == ids[0]].iloc[0]
    assert (auto["source"], auto["author"], auto["model_version"]) == (
        "llm", "llm:openai/gpt-x", "llm:openai/gpt-x")
    assert auto["labels"] == ["pos"]
    assert auto["meta"]["tier"] == "auto_accepted" and auto["meta"]["confidence"] == 0.99
    assert auto["meta"]["thresholds"] == {"high": 0.95, "low": 0.7, "consensus_overlap": 3}
    tasks = p.tasks()
    for item in (ids[0], ids[1], ids[4]):
        mine = tasks[(tasks["item_id"] == item) & (tasks["stage"] == "annotate")]
        assert mine["status"].tolist() == ["cancelled"]
    # low and unscored: three blind annotate slots each
    for item in (ids[2], ids[3]):
        mine = tasks[(tasks["item_id"] == item) & (tasks["stage"] == "annotate")]
        assert sorted(mine["slot"]) == [0, 1, 2] and set(mine["status"]) == {"open"}
    # annotators only ever see the consensus items; the reviewer sees the medium ones
    assert claimable(p, "zoe") == [ids[2], ids[3]]
    review = p.review_queue("rita")
    t = review.claim()
    assert t is not None and t.item_id == ids[1] and t.author == "llm:openai/gpt-x"
    review.approve()
    t = review.claim()
    assert t is not None and t.item_id == ids[4]
    review.reject("it is positive")
    assert review.claim() is None

    # routing again: the rejected verification goes to consensus; nothing else changes
    n_anns = len(p.annotations())
    again = route_machine_labels(p).set_index("item_id")
    assert again.loc[ids, "action"].tolist() == ["none", "none", "none", "none", "escalated"]
    assert again.loc[ids, "status"].tolist() == ["accepted", "accepted (verified)",
                                                 "in consensus", "in consensus",
                                                 "in consensus"]
    assert len(p.annotations()) == n_anns
    tasks = p.tasks()
    mine = tasks[(tasks["item_id"] == ids[4]) & (tasks["stage"] == "annotate")]
    assert sorted(mine["slot"]) == [0, 1, 2] and set(mine["status"]) == {"open"}
    third = route_machine_labels(p)
    assert set(third["action"]) == {"none"} and len(p.tasks()) == len(tasks)

    # the consensus items are decided by humans as usual
    for who, lab in (("ana", "neg"), ("bob", "neg"), ("cyd", "pos")):
        q = p.queue(who)
        while q.claim() is not None:
            q.submit(Choice(lab))
    cons = p.consensus().set_index("item_id")
    assert cons.loc[ids[2], "tier"] == "majority" and cons.loc[ids[2], "labels"] == ["neg"]
    assert ids[0] not in cons.index  # accepted machine labels need no consensus
    events = p.events()
    assert (events["kind"] == "machine_label_routed").sum() == 5
    assert (events["kind"] == "machine_label_escalated").sum() == 1


def test_humans_at_work_are_left_alone_and_dry_run(tmp_path: Path) -> None:
    p, ids = project(tmp_path)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None and t.item_id == ids[0]  # leased: a human works on it
    dry = route_machine_labels(p, dry_run=True)
    assert dry.set_index("item_id").loc[ids[0], "action"] == "skipped"
    assert p.events()["kind"].eq("machine_label_routed").sum() == 0 and p.annotations().empty
    q.submit(Choice("neg"))
    out = route_machine_labels(p, tiers=MachineTiers(high=0.5, low=0.1)).set_index("item_id")
    assert out.loc[ids[0], "action"] == "skipped"
    assert out.loc[ids[1:], "action"].tolist() == ["accepted", "review_queued", "consensus_queued",
                                                   "accepted"]


def test_filters_that_name_nothing_are_errors_not_empty_answers(tmp_path: Path) -> None:
    p, ids = project(tmp_path)
    with pytest.raises(ValidationError, match="source 'lf'; expected 'model', 'llm' or"):
        route_machine_labels(p, source="lf")
    with pytest.raises(ValidationError, match=r"no predictions of model_version 'gpt-x'; "
                                              r"the project has \['llm:openai/gpt-x'\]"):
        route_machine_labels(p, model_version="gpt-x")
    with pytest.raises(labelnb.errors.ItemNotFound, match=r"items \[999\] are not in"):
        route_machine_labels(p, item_ids=[ids[0], 999], dry_run=True)
    assert route_machine_labels(p, source="model", dry_run=True).empty  # a real source, none
    out = route_machine_labels(p, model_version="llm:openai/gpt-x", item_ids=[ids[0]],
                               dry_run=True)
    assert out["item_id"].tolist() == [ids[0]]


def test_labeling_function_labels_flow_through_the_tiers(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "lf.db", "r", SCHEMA)
    ids = p.add_items(["great great film", "dull film", "a film"])

    @labeling_function()
    def great(x: labelnb.queue.queue.Item) -> str | int:
        return "pos" if "great" in (x.text or "") else ABSTAIN

    @labeling_function()
    def dull(x: labelnb.queue.queue.Item) -> str | int:
        return "neg" if "dull" in (x.text or "") else ABSTAIN

    rep = prelabel_with_lfs(p, [great, dull], model_version="lf-v1")
    assert rep["item_id"].tolist() == ids[:2]
    out = route_machine_labels(p, source="labeling_function",
                               tiers=MachineTiers(high=0.5, low=0.2))
    assert out["action"].tolist() == ["accepted", "accepted"]
    anns = p.annotations()
    assert set(anns["source"]) == {"labeling_function"} and set(anns["author"]) == {"lf-v1"}


def test_a_label_model_with_its_own_class_order(tmp_path: Path) -> None:
    """LabelModel(classes=[...]) in another order than the schema: the votes are coded in
    schema order, so the model is fitted in schema order (its class_balance reordered to
    match); it named its priors and predictions the wrong way round."""
    p = labelnb.Project.create(tmp_path / "lf.db", "r", SCHEMA)  # pos, neg
    p.add_items([f"good {i}" for i in range(9)] + ["bad"])

    @labeling_function()
    def good(x: labelnb.queue.queue.Item) -> str | int:
        return "pos" if "good" in (x.text or "") else ABSTAIN

    @labeling_function()
    def bad(x: labelnb.queue.queue.Item) -> str | int:
        return "neg" if "bad" in (x.text or "") else ABSTAIN

    from labelnb.prelabel import LabelModel

    rep = prelabel_with_lfs(p, [good, bad], write=False,
                            label_model=LabelModel(classes=["neg", "pos"],
                                                   class_balance=[0.1, 0.9]))
    m = rep.attrs["label_model"]
    assert list(m.classes_) == ["pos", "neg"] and m.class_balance == [0.9, 0.1]
    assert m.priors_["pos"] > m.priors_["neg"]
    assert rep["labels"].iloc[-1] == ["neg"] and m.classes_[m.labels_[-1]] == "neg"
    with pytest.raises(ValidationError, match=r"classes \['x', 'y', 'z'\] are not the "
                                              r"schema's \(pos, neg\)"):
        prelabel_with_lfs(p, [good, bad], write=False,
                          label_model=LabelModel(classes=["x", "y", "z"]))


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValidationError, match="'low' \\(0.9\\) is above 'high'"):
        MachineTiers(high=0.8, low=0.9)
    with pytest.raises(ValidationError, match="'high' is 1.5"):
        MachineTiers(high=1.5)
    with pytest.raises(ValidationError, match="unknown fields \\['hi'\\]"):
        MachineTiers.from_json({"hi": 0.9})


def test_reason_strings_never_round_a_confidence_across_a_threshold() -> None:
    from labelnb.prelabel.tiers import _fmt

    assert _fmt(0.9497) == "0.9497"  # beside "[0.7, 0.95)": not "0.950"
    assert _fmt(0.95) == "0.950" and _fmt(None) == "none"


def test_a_newer_prediction_lifts_waiting_consensus_items_only(tmp_path: Path) -> None:
    """Routing again after a better model: an item waiting for consensus that no human
    started moves to the new prediction's tier (its consensus tasks cancelled); items a
    human works on, and items already accepted, keep their routing and say why."""
    p, ids = project(tmp_path)
    set_project_tiers(p, MachineTiers(high=0.95, low=0.7, consensus_overlap=3))
    first = route_machine_labels(p).set_index("item_id")
    assert first.loc[[ids[2], ids[3]], "tier"].tolist() == ["consensus", "consensus"]
    q = p.queue("ana")  # a human starts on ids[3] (the first consensus task is ids[2]'s)
    while (t := q.claim()) is not None and t.item_id != ids[3]:
        q.skip()
    assert t is not None and t.item_id == ids[3]
    q.submit(Choice("neg"))
    p.add_predictions("llm:openai/gpt-y", [
        (ids[0], [Choice("neg", score=0.99)], 0.99),   # auto-accepted before: stays
        (ids[2], [Choice("neg", score=0.97)], 0.97),   # waiting for consensus: lifted
        (ids[3], [Choice("neg", score=0.98)], 0.98),   # a human started: stays
    ], source="llm")
    again = route_machine_labels(p).set_index("item_id")
    assert again.loc[ids[2], "action"] == "accepted" and again.loc[ids[2], "tier"] == "auto"
    assert again.loc[ids[2], "reason"].startswith("a newer prediction, from consensus: "
                                                  "confidence 0.970 >= high 0.95")
    tasks = p.tasks()
    mine = tasks[(tasks["item_id"] == ids[2]) & (tasks["stage"] == "annotate")]
    assert set(mine["status"]) == {"cancelled"}
    anns = p.annotations()
    lifted = anns[anns["item_id"] == ids[2]]
    assert lifted["model_version"].tolist() == ["llm:openai/gpt-y"]
    assert lifted["labels"].tolist() == [["neg"]]
    for item, was, why in (
            (ids[0], "confidence 0.990 >= high 0.95", "only items waiting for consensus are "
             "routed again"),
            (ids[3], "no confidence: full consensus", "a human already works on it")):
        row = again.loc[item]
        assert row["action"] == "none"
        assert row["reason"].startswith(f"already routed: {was}")  # the original why
        assert row["reason"].endswith(f"is not routed: {why}")
    assert again.loc[ids[0], "model_version"] == "llm:openai/gpt-x"  # the routing that stands
    events = p.events()
    routed = events[events["kind"] == "machine_label_routed"]
    assert len(routed) == 6 and routed.iloc[-1]["payload"]["rerouted_from"] is not None
    # and once more: nothing changes
    third = route_machine_labels(p)
    assert set(third["action"]) == {"none"}
