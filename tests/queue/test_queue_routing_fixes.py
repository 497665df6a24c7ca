"""Queue cases a first-user hunt found stuck or misleading (SQLite and PostgreSQL):
rework that routing or a late skip kept from everyone, labels with ':' in routed SQL,
difficulty that kept reviewers from review tasks, inactive or demoted annotators still
claiming, and a foreign author's submit that lost the lease."""

from __future__ import annotations

import time

import pytest

import labelnb
from labelnb import Annotation, Choice, Schema
from labelnb.errors import PermissionDenied


def _reviewed(db_url: str, texts: list[str], **kw: object) -> labelnb.Project:
    p = labelnb.Project.create(db_url, "p", Schema("choice", ["a", "b"]), overlap=1,
                               review_fraction=1.0, **kw)  # type: ignore[arg-type]
    if texts:
        p.add_items(texts)
    p.annotators.add("rita", role="reviewer")
    return p


def test_rework_reaches_its_author_whatever_the_routing_says_now(db_url: str) -> None:
    p = _reviewed(db_url, [])
    p.add_items(["tricky"], difficulty=0.9)
    ana = p.queue("ana")
    for _ in ana:  # no accuracy known yet: anyone gets hard tasks
        ana.submit(Choice("a"))
    p.annotators.update("ana", accuracy=0.6)  # e.g. written by calibrate()
    p.annotators.add("bo", accuracy=0.95)
    rq = p.review_queue("rita")
    assert rq.claim() is not None
    rq.reject("look again")
    ana.refresh()
    assert p.queue("bo").claim() is None  # it is ana's rework
    t = ana.claim()
    assert t is not None and t.target_annotation_id is not None


def test_a_late_skip_of_rework_frees_the_task(db_url: str) -> None:
    p = _reviewed(db_url, ["x1"])
    ana, bo = p.queue("ana"), p.queue("bo")
    assert ana.claim() is not None
    ana.submit(Choice("a"))
    rita = p.review_queue("rita")
    assert rita.claim() is not None
    rita.reject("wrong")
    p.configure(lease_ttl_s=0.3)
    ana = p.queue("ana")  # a handle that sees the short lease
    assert ana.claim() is not None
    time.sleep(0.45)
    ana.skip("can't")  # after the lease ran out: recorded, and the task freed
    assert ana.claim() is None  # not offered to ana again
    t = bo.claim()
    assert t is not None and t.stage == "annotate"
    outcomes = p.leases().sort_values("claimed_at")["outcome"].tolist()
    assert outcomes.count("skipped") == 1 and "expired" not in outcomes


def test_routing_values_with_colons(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "p", Schema("choice", [":thumbsup:", ":thumbsdown:"]))
    p.add_items(["good", "bad"])
    p.set_difficulty({1: 0.1}, focus_label={1: ":thumbsup:"})
    p.annotators.add("ana", skills={":thumbsup:": 0.2})
    p.add_items(["x"], required_skill=":senior", language=":en")
    p.annotators.add("bo", qualifications=[":senior"], languages=[":en"])
    ana, bo = p.queue("ana"), p.queue("bo")
    assert ana.peek(5) == [2]  # weak at ':thumbsup:', no ':senior' qualification
    assert ana.claim() is not None
    assert 3 in bo.peek(5)
    got = {bo.claim().item.id for _ in range(2)}  # type: ignore[union-attr]
    assert 3 in got or bo.claim() is not None


def test_difficulty_does_not_keep_reviewers_from_review_tasks(db_url: str) -> None:
    p = _reviewed(db_url, ["x1", "x2"])
    p.annotators.add("ana", accuracy=0.9)
    q = p.queue("ana")
    for _ in q:
        q.submit(Choice("a"))
    p.set_difficulty({1: 0.9})  # e.g. from a model, after the work was submitted
    rq = p.review_queue("rita")  # rita has no measured accuracy
    got = []
    while (t := rq.claim()) is not None:
        got.append(t.item.id)
        rq.approve()
    assert sorted(got) == [1, 2]


def test_inactive_or_demoted_annotators_take_nothing(db_url: str) -> None:
    p = _reviewed(db_url, ["x1", "x2"])
    rq = p.review_queue("rita")
    ana = p.queue("ana")
    for _ in ana:
        ana.submit(Choice("a"))
    p.annotators.update("rita", role="annotator")
    rq.refresh()
    with pytest.raises(PermissionDenied, match="reviewing needs role"):
        rq.claim()
    p.add_items(["x3"])
    p.annotators.update("ana", active=False)
    ana.refresh()
    with pytest.raises(PermissionDenied, match=r"inactive.*active=True"):
        ana.claim()
    p.annotators.update("ana", active=True)
    ana.refresh()
    assert ana.claim() is not None


def test_a_foreign_author_is_refused_and_the_lease_kept(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "p", Schema("choice", ["a", "b"]))
    p.add_items(["x1"])
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    model = Annotation(item_id=t.item.id, regions=(Choice("a"),), author="resnet",
                       source="model")
    with pytest.raises(PermissionDenied, match="add_predictions"):
        q.submit(model)
    assert q.current is t  # still ana's
    q.submit(Choice("b"))
    assert p.annotations()["author"].tolist() == ["ana"]


def test_progress_reaches_one_with_gold_questions(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "p", Schema("choice", ["pos", "neg"]))
    p.add_items(["i1", "i2"])
    p.gold.add(["g1"], [Choice("pos")])
    q = p.queue("ana")
    for _ in q:
        q.submit(Choice("pos"))
    s = p.stats()
    assert (s["items"], s["items_done"], s["progress"]) == (3, 3, 1.0)
    assert len(p.items(status="done")) == 3 and p.items(status="todo").empty


def test_a_leads_configure_reaches_handles_open_elsewhere(db_url: str,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    import labelnb.project as project_mod

    lead = labelnb.Project.create(db_url, "p", Schema("choice", ["a", "b"]))
    lead.add_items(["x", "y"])
    kernel = labelnb.open(db_url, "p")  # an annotator's kernel, open before the change
    ana = kernel.queue("ana")
    lead.configure(review_fraction=1.0, lease_ttl_s=60.0)
    lead.set_schema(Schema("choice", ["a", "b", "c"]))
    monkeypatch.setattr(project_mod, "SETTINGS_TTL_S", 0.0)  # instead of waiting seconds
    t = ana.claim()
    assert t is not None and round((t.expires_at - t.claimed_at).total_seconds()) == 60
    ana.submit(Choice("c"))  # the new schema's label
    assert lead.stats()["tasks"].get("review:open") == 1
    # a configure in one kernel keeps what another changed meanwhile
    kernel.configure(overlap=2)
    assert lead.settings["lease_ttl_s"] == 60.0 and labelnb.open(db_url, "p").settings == {
        **lead.settings, "overlap": 2}
