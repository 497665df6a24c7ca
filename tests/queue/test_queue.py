"""The queue suite: every test runs on SQLite and on the real PostgreSQL (``db_url``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import labelnb
from labelnb import Box, Choice, Schema, Span
from labelnb.errors import (
    LeaseExpired,
    NoActiveLease,
    PermissionDenied,
    SchemaError,
    ValidationError,
)
from labelnb.queue.routing import DefaultRouting, NoRouting


def make(db_url: str, n: int = 4, **kw: object) -> labelnb.Project:
    p = labelnb.Project.create(db_url, "q", Schema("choice", ["a", "b", "c"]), **kw)  # type: ignore[arg-type]
    p.add_items([f"text {i}" for i in range(n)])
    return p


def drain(q: labelnb.queue.Queue, label: str = "a") -> list[int]:
    done = []
    while (t := q.claim()) is not None:
        q.submit(Choice(label))
        done.append(t.item_id)
    return done


def test_claim_submit_until_empty(db_url: str) -> None:
    p = make(db_url, 5)
    q = p.queue("ana")
    items = drain(q)
    assert sorted(items) == sorted(p.items()["id"].tolist())
    assert q.claim() is None
    df = p.annotations()
    assert len(df) == 5 and set(df["author"]) == {"ana"}
    assert (df["labels"].map(tuple) == ("a",)).all()
    assert (df["schema_version"] == 1).all()
    assert df["duration_s"].notna().all()
    stats = p.stats()
    assert stats["items_done"] == 5 and stats["progress"] == 1.0
    assert stats["tasks"] == {"annotate:done": 5}


def test_two_annotators_never_share_a_task(db_url: str) -> None:
    p = make(db_url, 6)
    qa, qb = p.queue("ana"), p.queue("bob")
    held = set()
    for _ in range(3):
        ta, tb = qa.claim(), qb.claim()
        assert ta is not None and tb is not None
        assert ta.id != tb.id
        assert not ({ta.id, tb.id} & held)
        held |= {ta.id, tb.id}
        # keep both leases: claiming again releases the previous one, so submit
        qa.submit(Choice("a"))
        qb.submit(Choice("b"))
    assert qa.claim() is None and qb.claim() is None


def test_overlap_gives_distinct_annotators(db_url: str) -> None:
    p = make(db_url, 3, overlap=3)
    queues = [p.queue(n) for n in ("ana", "bob", "cy", "dee")]
    # ana alone can only take one slot per item
    assert len(drain(queues[0])) == 3
    for q in queues[1:]:
        drain(q)
    df = p.annotations()
    assert len(df) == 9
    per_item = df.groupby("item_id")["author"].agg(list)
    for authors in per_item:
        assert len(authors) == 3 and len(set(authors)) == 3
    assert p.stats()["items_done"] == 3


def test_peek_names_each_item_once_under_overlap(db_url: str) -> None:
    p = make(db_url, 5, overlap=2)
    ana, bob = p.queue("ana"), p.queue("bob")
    ids = p.items()["id"].tolist()
    assert ana.peek(3) == ids[:3]  # not [1, 1, 2]: the second slot is someone else's
    for _ in range(2):
        t = ana.claim()
        assert t is not None
        ana.submit(Choice("a"))
    assert ana.peek(10) == ids[2:]  # what ana worked is gone, each other item once
    assert bob.peek(10) == ids
    assert ana.peek(0) == ids[2:3]  # at least one

def test_expired_lease_returns_to_pool_and_stale_submit_is_refused(db_url: str) -> None:
    p = make(db_url, 1, lease_ttl_s=0.4)
    qa, qb = p.queue("ana"), p.queue("bob")
    ta = qa.claim()
    assert ta is not None
    assert qb.claim() is None  # held by ana
    time.sleep(0.6)
    tb = qb.claim()  # no cron: the claim itself takes the expired lease back
    assert tb is not None and tb.id == ta.id and tb.token != ta.token
    with pytest.raises(LeaseExpired, match="expired") as e:
        qa.submit(Choice("a"), task=ta)
    assert f"task {ta.id}" in str(e.value) and "heartbeat" in str(e.value)
    qb.submit(Choice("b"))
    leases = p.leases().set_index("token")
    assert leases.loc[ta.token, "outcome"] == "expired"
    assert leases.loc[tb.token, "outcome"] == "submitted"
    assert "lease_expired" in set(p.events()["kind"])
    assert list(p.annotations()["author"]) == ["bob"]


def test_heartbeat_extends_the_lease(db_url: str) -> None:
    p = make(db_url, 1, lease_ttl_s=0.8)
    qa, qb = p.queue("ana"), p.queue("bob")
    ta = qa.claim()
    assert ta is not None
    for _ in range(3):
        time.sleep(0.4)
        new_expiry = qa.heartbeat()
        assert new_expiry > ta.expires_at
        assert qb.claim() is None
    qa.submit(Choice("c"))
    assert p.annotations()["author"].tolist() == ["ana"]


def test_heartbeat_after_expiry_raises(db_url: str) -> None:
    p = make(db_url, 1, lease_ttl_s=0.3)
    qa = p.queue("ana")
    qa.claim()
    time.sleep(0.5)
    with pytest.raises(LeaseExpired):
        qa.heartbeat()
    assert qa.current is None


def test_an_old_task_refused_keeps_the_live_lease(db_url: str) -> None:
    """A submit (or heartbeat, skip, release) with a Task from before a re-claim of the
    same task is refused, and the handle keeps the live lease it holds now."""
    p = make(db_url, 1)
    qa = p.queue("ana")
    t1 = qa.claim()
    assert t1 is not None
    qa.release()
    t2 = qa.claim()  # the same task again (the highest priority), with a new token
    assert t2 is not None and t2.id == t1.id and t2.token != t1.token
    for call in (lambda: qa.submit(Choice("a"), task=t1), lambda: qa.heartbeat(task=t1),
                 lambda: qa.skip(task=t1)):
        with pytest.raises(LeaseExpired, match="no longer live.*latest queue.claim"):
            call()
        assert qa.current is not None and qa.current.token == t2.token
    qa.heartbeat()
    qa.submit(Choice("b"))  # the live lease still works
    assert p.annotations()["labels"].tolist() == [["b"]]


def test_what_is_not_an_annotation_or_a_task_is_refused_by_name(db_url: str) -> None:
    """submit() of None, a bare label, a number or a dict, and a Task argument that is
    not a Task, get an error that says what to pass; the lease is kept."""
    p = make(db_url, 1)
    qa = p.queue("ana")
    t = qa.claim()
    assert t is not None
    for bad, fix in [(None, r"submit\(\[\]\)"), ("a", r"submit\(Choice\('a'\)\)"),
                     (3, "not int 3"), ({"label": "a"}, "not dict")]:
        with pytest.raises(ValidationError, match=fix):
            qa.submit(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="field 'task' is str 'tok'; give the Task"):
        qa.heartbeat("tok")  # type: ignore[arg-type]
    assert qa.current is not None and qa.current.token == t.token
    qa.submit(Choice("a"))
    assert len(p.annotations()) == 1


def test_foreign_token_is_refused(db_url: str) -> None:
    p = make(db_url, 2)
    qa, qb = p.queue("ana"), p.queue("bob")
    ta = qa.claim()
    assert ta is not None
    with pytest.raises(LeaseExpired, match="belongs to 'ana', not to 'bob'"):
        qb.submit(Choice("a"), task=ta)  # bob presents ana's lease
    with pytest.raises(LeaseExpired):
        qb.heartbeat(task=ta)
    # ana's lease is untouched
    qa.submit(Choice("a"))
    assert p.annotations()["author"].tolist() == ["ana"]


def test_same_client_id_stores_one_annotation(db_url: str) -> None:
    p = make(db_url, 2)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    first = q.submit(Choice("a"), client_id="click-1", task=t)
    again = q.submit(Choice("a"), client_id="click-1", task=t)  # a retried request
    assert first == again
    assert len(p.annotations()) == 1
    # a stale lease without a known client_id is still refused
    with pytest.raises(LeaseExpired):
        q.submit(Choice("a"), client_id="click-2", task=t)


def test_skip_is_not_offered_again_but_release_is(db_url: str) -> None:
    p = make(db_url, 2)
    qa, qb = p.queue("ana"), p.queue("bob")
    t1 = qa.claim()
    assert t1 is not None
    qa.skip("unreadable")
    t2 = qa.claim()
    assert t2 is not None and t2.id != t1.id
    qa.release()
    t3 = qa.claim()
    assert t3 is not None and t3.id == t2.id  # released work may come back
    qa.submit(Choice("a"))
    assert qa.claim() is None  # the skipped one is not offered to ana
    tb = qb.claim()
    assert tb is not None and tb.id == t1.id  # but to bob
    kinds = list(p.events()["kind"])
    assert "skip" in kinds and "release" in kinds
    assert p.events().query("kind == 'skip'")["payload"].iloc[0] == {"reason": "unreadable"}


def test_no_lease_errors(db_url: str) -> None:
    p = make(db_url, 1)
    q = p.queue("ana")
    with pytest.raises(NoActiveLease, match="claim"):
        q.submit(Choice("a"))
    with pytest.raises(NoActiveLease):
        q.skip()


def test_invalid_submission_writes_nothing(db_url: str) -> None:
    p = make(db_url, 1)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    with pytest.raises(SchemaError, match="'zebra' is not in the schema"):
        q.submit(Choice("zebra"))
    with pytest.raises(SchemaError, match="cannot go in a 'choice' project"):
        q.submit(Box(0, 0, 1, 1, "a"))
    with pytest.raises(SchemaError, match="one Choice per annotation"):
        q.submit([Choice("a"), Choice("b")])
    assert p.annotations().empty
    assert q.current is not None  # still leased: fix it and submit
    q.submit(Choice("b"))
    assert p.annotations()["labels"].tolist() == [["b"]]


def test_submit_checks_item_and_author(db_url: str) -> None:
    p = make(db_url, 2)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    other = [i for i in p.items()["id"] if i != t.item_id][0]
    with pytest.raises(ValidationError, match="annotate the leased item"):
        q.submit(labelnb.Annotation(item_id=int(other), regions=(Choice("a"),), author="ana"))
    with pytest.raises(PermissionDenied, match="own name"):
        q.submit(labelnb.Annotation(item_id=t.item_id, regions=(Choice("a"),), author="bob"))
    aid = q.submit(labelnb.Annotation(item_id=t.item_id, regions=(Choice("a"),), author="ana",
                                      duration_s=3.5))
    row = p.annotations().set_index("id").loc[aid]
    assert row["task_id"] == t.id and row["duration_s"] == 3.5


def test_spans_are_checked_against_the_text(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "ner", Schema("spans", ["PER", "ORG"]))
    text = "Zoë 🙂 met ACME"
    p.add_items([text])
    q = p.queue("ana")
    q.claim()
    with pytest.raises(SchemaError, match="outside the text"):
        q.submit(Span(8, len(text) + 1, "ORG"))
    q.submit([Span(0, 3, "PER"), Span(10, 14, "ORG")])
    regs = p.annotation_objects()[0].regions
    assert [r.text_in(text) for r in regs] == ["Zoë", "ACME"]  # type: ignore[attr-defined]


def test_review_approve_reject_correct(db_url: str) -> None:
    p = make(db_url, 3, review_fraction=1.0)
    p.annotators.add("rita", role="reviewer")
    p.annotators.add("lea", role="lead")
    qa = p.queue("ana")
    ann_ids = []
    for _ in range(3):
        t = qa.claim()
        assert t is not None
        ann_ids.append(qa.submit(Choice("a")))
    with pytest.raises(PermissionDenied, match="reviewer"):
        p.review_queue("ana")  # a plain annotator cannot review
    # an unknown (e.g. mistyped) reviewer is refused, not registered as an annotator
    with pytest.raises(labelnb.errors.AnnotatorNotFound,
                       match=r"'ritta' is not an annotator .*annotators.add\('ritta', "
                             r"role='reviewer'\)"):
        p.review_queue("ritta")
    with pytest.raises(labelnb.errors.AnnotatorNotFound, match="role='lead'"):
        p.adjudication_queue("lee")
    assert {"ritta", "lee"}.isdisjoint(p.annotators.table()["name"])
    rq = p.review_queue("rita")
    seen = []
    for decision in ("approve", "reject", "correct"):
        rt = rq.claim()
        assert rt is not None and rt.stage == "review" and rt.author == "ana"
        seen.append(rt.target_annotation_id)
        if decision == "approve":
            rq.approve()
        elif decision == "reject":
            rq.reject("label b, not a")
        else:
            fix = rq.correct(Choice("c"), feedback="it is c")
            assert fix
    assert rq.claim() is None
    assert sorted(seen) == sorted(ann_ids)
    df = p.annotations().set_index("id")
    assert df.loc[seen[0], "status"] == "approve"
    assert df.loc[seen[1], "status"] == "reject"
    assert df.loc[seen[2], "status"] == "correct"
    corr = df[df["corrects"] == seen[2]]
    assert len(corr) == 1 and corr["author"].iloc[0] == "rita"
    assert corr["labels"].iloc[0] == ["c"]
    # the rejected item went back to ana only, with the feedback
    assert p.queue("bob").claim() is None
    fb = {f["decision"]: f["feedback"] for f in qa.feedback()}
    assert fb == {"reject": "label b, not a", "correct": "it is c"}
    t = qa.claim()
    assert t is not None and t.target_annotation_id == seen[1]
    redo = qa.submit(Choice("b"))
    df = p.annotations().set_index("id")
    assert df.loc[redo, "corrects"] == seen[1]
    assert df.loc[seen[1], "labels"] == ["a"]  # append-only: the original is unchanged
    stats = p.annotators.stats().set_index("annotator")
    assert stats.loc["ana", "approved"] == 1 and stats.loc["ana", "rejected"] == 1
    assert stats.loc["ana", "corrected"] == 1
    assert stats.loc["ana", "annotations"] == 4


def test_review_never_by_the_author(db_url: str) -> None:
    p = make(db_url, 1, review_fraction=1.0)
    p.annotators.add("lea", role="lead")
    ql = p.queue("lea")
    ql.claim()
    ql.submit(Choice("a"))
    assert p.review_queue("lea").claim() is None  # only lea's own work is waiting
    p.annotators.add("rita", role="reviewer")
    assert p.review_queue("rita").claim() is not None


def test_reject_needs_feedback(db_url: str) -> None:
    p = make(db_url, 1, review_fraction=1.0)
    p.annotators.add("rita", role="reviewer")
    qa = p.queue("ana")
    qa.claim()
    qa.submit(Choice("a"))
    rq = p.review_queue("rita")
    rq.claim()
    with pytest.raises(ValidationError, match="feedback"):
        rq.reject("  ")


def test_review_fraction_samples(db_url: str) -> None:
    p = make(db_url, 40, review_fraction=0.5)
    drain(p.queue("ana"))
    n = int((p.tasks()["stage"] == "review").sum())
    assert 8 <= n <= 32  # deterministic per annotation id, about half


def test_skill_and_language_routing(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "r", Schema("choice", ["a", "b"]))
    p.annotators.add("med", qualifications=["radiology"], languages=["en", "de"])
    p.annotators.add("gen", languages=["en"])
    plain = p.add_items(["plain 1", "plain 2"])
    rad = p.add_items(["scan report"], required_skill="radiology")
    de = p.add_items(["ein Satz"], language="de")
    en = p.add_items(["a sentence"], language="en")
    got_gen = drain(p.queue("gen"))
    assert set(got_gen) == set(plain + en)
    got_med = drain(p.queue("med"))
    assert set(got_med) == set(rad + de)


def test_difficulty_routing_and_priority(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "d", Schema("choice", ["a", "b"]),
                               routing=DefaultRouting(hard_threshold=0.7, expert_accuracy=0.9))
    p.annotators.add("pro", accuracy=0.95)
    p.annotators.add("new", accuracy=0.6)
    easy = p.add_items(["easy 1", "easy 2"], difficulty=0.1)
    hard = p.add_items(["hard 1"], difficulty=0.9)
    # hard tasks come first for the expert (priority grows with difficulty)
    t = p.queue("pro").claim()
    assert t is not None and t.item_id == hard[0]
    qn = p.queue("new")
    got = drain(qn)
    assert set(got) == set(easy)  # the novice never sees the hard item


def test_deadline_raises_priority(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "dl", Schema("choice", ["a"]))
    later = p.add_items(["later"], deadline=datetime.now(UTC) + timedelta(days=30))
    soon = p.add_items(["soon"], deadline=datetime.now(UTC) + timedelta(hours=1))
    none = p.add_items(["none"])
    order = drain(p.queue("ana"))
    assert order == [soon[0], later[0], none[0]]


def test_weak_label_routing(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "w", Schema("choice", ["cat", "dog"]))
    p.annotators.add("ana", skills={"cat": 0.4, "dog": 0.95})
    ids = p.add_items(["x", "y"])
    p.add_predictions("m1", {ids[0]: [Choice("cat", score=0.55)],
                             ids[1]: [Choice("dog", score=0.9)]})
    diff = p.difficulty_from_predictions()
    assert diff[ids[0]] == pytest.approx(0.45) and diff[ids[1]] == pytest.approx(0.1)
    assert drain(p.queue("ana"), "dog") == [ids[1]]  # ana is weak on cats
    assert drain(p.queue("bob"), "cat") == [ids[0]]


def test_no_routing_is_fifo(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "f", Schema("choice", ["a"]), routing=NoRouting())
    ids = p.add_items(["1", "2", "3"], difficulty=0.99)
    assert drain(p.queue("anyone")) == ids


def test_difficulty_from_disagreement(db_url: str) -> None:
    p = make(db_url, 2, overlap=2)
    ids = p.items()["id"].tolist()
    qa, qb = p.queue("ana"), p.queue("bob")
    for q, labels in ((qa, {ids[0]: "a", ids[1]: "a"}), (qb, {ids[0]: "a", ids[1]: "b"})):
        while (t := q.claim()) is not None:
            q.submit(Choice(labels[t.item_id]))
    d = p.difficulty_from_disagreement()
    assert d == {ids[0]: 0.0, ids[1]: 0.5}
    p.consensus()  # stores a consensus 'a' for item 0: no vote of its own
    assert p.difficulty_from_disagreement() == d
    # priorities: a number, for items of the project
    with pytest.raises(ValidationError, match="give a finite number"):
        p.set_priority(ids, float("nan"))
    with pytest.raises(ValidationError, match="give a finite number"):
        p.set_priority(ids, float("inf"))
    with pytest.raises(labelnb.errors.ItemNotFound, match=r"items \[999\]"):
        p.set_priority([999], 1.0)


def test_schema_versions_recorded(db_url: str) -> None:
    p = make(db_url, 2)
    q = p.queue("ana")
    q.claim()
    q.submit(Choice("a"))
    assert p.set_schema(Schema("choice", ["a", "b", "c"])) == 1  # unchanged: same version
    v2 = p.set_schema(Schema("choice", ["a", "b", "c", "d"]))
    assert v2 == 2
    q.claim()
    q.submit(Choice("d"))
    df = p.annotations()
    assert df["schema_version"].tolist() == [1, 2]
    assert len(p.annotations(schema_version=1)) == 1
    assert p.schema_at(1).names == ["a", "b", "c"]
    assert labelnb.open(db_url, "q").schema.names == ["a", "b", "c", "d"]
    with pytest.raises(SchemaError, match="cannot change"):
        p.set_schema(Schema("spans", ["a"]))


def test_predictions_are_recorded_and_validated(db_url: str) -> None:
    p = make(db_url, 2)
    ids = p.items()["id"].tolist()
    n = p.add_predictions("clf-v1", {ids[0]: [Choice("a", score=0.9)],
                                     ids[1]: [Choice("b", score=0.6)]})
    assert n == 2
    assert p.prediction_regions(ids[0]) == [Choice("a", score=0.9)]
    with pytest.raises(SchemaError, match="'q' is not in the schema"):
        p.add_predictions("clf-v2", {ids[0]: [Choice("a")], ids[1]: [Choice("q")]})
    with pytest.raises(labelnb.errors.ItemNotFound, match="999"):
        p.add_predictions("clf-v2", {999: [Choice("a")]})
    assert set(p.predictions()["model_version"]) == {"clf-v1"}  # nothing half-written


def test_annotation_filters(db_url: str) -> None:
    p = make(db_url, 2, overlap=2)
    drain(p.queue("ana"), "a")
    drain(p.queue("bob"), "b")
    p.add_annotations([labelnb.Annotation(item_id=int(p.items()["id"][0]),
                                          regions=(Choice("c"),), author="clf-v1",
                                          source="model", model_version="clf-v1")])
    assert set(p.annotations(annotator="bob")["author"]) == {"bob"}
    assert len(p.annotations(source="model")) == 1
    assert len(p.annotations(source="human")) == 4
    assert len(p.annotations(status="submitted")) == 5
    with pytest.raises(ValidationError, match="source"):
        p.annotations(source="robot")
    objs = p.annotation_objects(source="model")
    assert objs[0].model_version == "clf-v1" and objs[0].source == "model"


def test_open_by_name_and_errors(db_url: str) -> None:
    make(db_url, 1)
    assert labelnb.open(db_url).name == "q"
    with pytest.raises(labelnb.errors.ProjectNotFound, match="nope"):
        labelnb.open(db_url, "nope")
    with pytest.raises(ValidationError, match="already exists"):
        labelnb.Project.create(db_url, "q", Schema("choice", ["a"]))
    p2 = labelnb.Project.create(db_url, "q", Schema("choice", ["a", "b", "c"]), exist_ok=True)
    assert p2.schema_version == 1
    before = dict(p2.settings)
    # the settings passed are applied to the existing project (they were dropped while
    # the schema was applied); those left out keep the project's values
    p3 = labelnb.Project.create(db_url, "q", Schema("choice", ["a", "b", "c"]), overlap=3,
                                review_fraction=0.5, exist_ok=True)
    assert (p3.settings["overlap"], p3.settings["review_fraction"]) == (3, 0.5)
    assert p3.settings["lease_ttl_s"] == before["lease_ttl_s"]
    assert labelnb.open(db_url, "q").settings["overlap"] == 3
    with pytest.raises(ValidationError, match="overlap"):
        labelnb.Project.create(db_url, "q", Schema("choice", ["a", "b", "c"]), overlap=0,
                               exist_ok=True)
    labelnb.Project.create(db_url, "second", Schema("choice", ["x"]))
    with pytest.raises(labelnb.errors.ProjectNotFound, match="name="):
        labelnb.open(db_url)


def test_annotator_profiles(db_url: str) -> None:
    p = make(db_url, 1)
    prof = p.annotators.add("ana", role="annotator", skills={"a": 0.9},
                            qualifications=["senior"], languages=["en"])
    assert prof.can_review  # senior annotators may review
    prof = p.annotators.update("ana", role="reviewer", accuracy=0.8)
    assert prof.role == "reviewer" and prof.accuracy == 0.8 and prof.skills == {"a": 0.9}
    # a skill is an accuracy per label: a name that is no label is a typo, said so
    with pytest.raises(ValidationError, match=r"skills \['medical'\] name no label .* "
                                              r"qualifications=\[\.\.\.\]"):
        p.annotators.add("bo", skills={"a": 0.8, "medical": 0.9})
    with pytest.raises(ValidationError, match=r"skills \['x'\]"):
        p.annotators.update("ana", skills={"x": 0.5})
    with pytest.raises(ValidationError, match=r"kinds \['foo'\] are not schema kinds"):
        p.annotators.add("cy", kinds=["choice", "foo"])
    with pytest.raises(ValidationError, match="the name is labelnb's own"):
        p.queue("consensus")
    p.set_schema(Schema("choice", ["b", "c", "d"]))  # 'a' dropped: still a label it had
    assert p.annotators.update("ana", skills={"a": 0.7, "d": 0.6}).skills == {"a": 0.7, "d": 0.6}
    with pytest.raises(ValidationError, match="role"):
        p.annotators.update("ana", role="boss")
    with pytest.raises(ValidationError, match=r"skills\['a'\]"):
        p.annotators.update("ana", skills={"a": 1.5})
    with pytest.raises(ValidationError, match="already exists"):
        p.annotators.add("ana")
    with pytest.raises(ValidationError, match="unknown fields"):
        p.annotators.update("ana", salary=3)
    assert "annotator_updated" in set(p.events()["kind"])
    assert p.annotators.table()["name"].tolist() == ["ana"]


def test_reviewer_reviews_every_annotation_of_an_item(db_url: str) -> None:
    p = make(db_url, 2, overlap=2, review_fraction=1.0)
    p.annotators.add("rita", role="reviewer")
    drain(p.queue("ana"))
    drain(p.queue("bob"))
    rq = p.review_queue("rita")
    n = 0
    while rq.claim() is not None:
        rq.approve()
        n += 1
    assert n == 4  # two annotations on each of two items
    assert set(p.annotations()["status"]) == {"approve"}


def test_unknown_task_is_named(db_url: str) -> None:
    import dataclasses

    p = make(db_url, 1)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    ghost = dataclasses.replace(t, id=t.id + 1000)
    with pytest.raises(labelnb.errors.TaskNotFound, match=f"task {t.id + 1000}"):
        q.submit(Choice("a"), task=ghost)
    q.submit(Choice("a"))


def test_client_id_reused_for_other_work_is_refused(db_url: str) -> None:
    p = make(db_url, 2)
    q = p.queue("ana")
    q.claim()
    first = q.submit(Choice("a"), client_id="c-1")
    t2 = q.claim()
    assert t2 is not None
    with pytest.raises(ValidationError, match="'c-1' was already used"):
        q.submit(Choice("b"), client_id="c-1")
    # nothing was lost: the task is still ana's, and a fresh client id goes through
    second = q.submit(Choice("b"), client_id="c-2", task=t2)
    assert {first, second} == set(p.annotations()["id"])


def test_retry_without_task_returns_the_stored_annotation(db_url: str) -> None:
    p = make(db_url, 1)
    q = p.queue("ana")
    q.claim()
    first = q.submit(Choice("a"), client_id="retry-me")
    assert q.current is None
    assert q.submit(Choice("a"), client_id="retry-me") == first
    assert len(p.annotations()) == 1


def test_skip_applies_to_the_item_not_just_the_slot(db_url: str) -> None:
    p = make(db_url, 2, overlap=3)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    q.skip()
    got = drain(q)
    assert got == [i for i in p.items()["id"] if i != t.item_id]


def test_skipped_rework_goes_back_to_the_pool(db_url: str) -> None:
    p = make(db_url, 1, review_fraction=1.0)
    p.annotators.add("rita", role="reviewer")
    qa = p.queue("ana")
    qa.claim()
    qa.submit(Choice("a"))
    rq = p.review_queue("rita")
    rq.claim()
    rq.reject("wrong")
    assert p.queue("bob").claim() is None  # reserved for ana
    t = qa.claim()
    assert t is not None
    qa.skip("not sure")
    tb = p.queue("bob").claim()
    assert tb is not None and tb.id == t.id  # no longer stranded


def test_claim_after_own_lease_ran_out(db_url: str) -> None:
    p = make(db_url, 2, lease_ttl_s=0.3)
    q = p.queue("ana")
    first = q.claim()
    time.sleep(0.5)
    second = q.claim()  # the old lease is gone; no error
    assert second is not None
    q.submit(Choice("a"))
    assert first is not None


def test_reprioritize_keeps_the_given_priority(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "pr", Schema("choice", ["a"]), routing=NoRouting())
    low = p.add_items(["low"])
    high = p.add_items(["high"], priority=5.0)
    p.set_difficulty({low[0]: 0.2})
    p.reprioritize()
    assert drain(p.queue("ana")) == [high[0], low[0]]


def test_hard_tasks_without_calibrated_experts(db_url: str) -> None:
    p = labelnb.Project.create(db_url, "h", Schema("choice", ["a"]),
                               routing=DefaultRouting(hard_threshold=0.7, expert_accuracy=0.9))
    hard = p.add_items(["hard"], difficulty=0.95)
    # nobody's accuracy is known: hard work is open to anyone
    assert drain(p.queue("dan")) == hard
    hard2 = p.add_items(["hard 2"], difficulty=0.95)
    p.annotators.add("best", accuracy=0.8)
    p.annotators.add("weak", accuracy=0.6)
    assert drain(p.queue("weak")) == []
    assert drain(p.queue("best")) == hard2  # no expert in the team: the best one gets it


def test_bad_inputs_name_the_field(db_url: str) -> None:
    p = make(db_url, 1)
    iid = int(p.items()["id"][0])
    with pytest.raises(labelnb.errors.ItemNotFound, match="999"):
        p.set_difficulty({999: 0.5})
    with pytest.raises(ValidationError, match="score"):
        p.add_predictions("m", [(iid, [Choice("a")], 1.5)])
    with pytest.raises(ValidationError, match="prediction #0"):
        p.add_predictions("m", [42])
    a = labelnb.Annotation(item_id=iid, regions=(Choice("a"),), author="x")
    p.add_annotations([a])
    with pytest.raises(ValidationError, match="field 'id' already used"):
        p.add_annotations([a])
    with pytest.raises(labelnb.errors.AnnotatorNotFound, match="annotators.add"):
        p.annotators.profile("ghost")
    assert len(p.annotations()) == 1


def test_items_filter_by_annotator_and_source(db_url: str) -> None:
    p = make(db_url, 3)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    q.submit(Choice("a"))
    assert p.items(annotator="ana")["id"].tolist() == [t.item_id]
    assert p.items(source="model").empty
    assert len(p.items(status="todo")) == 2


def test_lease_times_are_the_databases(db_url: str) -> None:
    p = make(db_url, 1)
    q = p.queue("ana")
    t = q.claim()
    assert t is not None
    row = p.tasks().set_index("id").loc[t.id]
    stored = row["lease_expires_at"]
    got = t.expires_at
    # the Task carries exactly what the database holds (server clock on PostgreSQL)
    import pandas as pd

    assert abs((pd.Timestamp(stored).tz_localize(None) if pd.Timestamp(stored).tzinfo is None
                else pd.Timestamp(stored).tz_convert(None))
               - pd.Timestamp(got).tz_convert(None)) < pd.Timedelta(milliseconds=1)


def test_iterating_a_queue_needs_each_task_finished(db_url: str) -> None:
    """`for task in queue` with a body that neither submits nor skips stopped never: each
    next claim released the task and got it straight back (a lease row each time)."""
    p = make(db_url, 3)
    q = p.queue("ana")
    it = iter(q)
    first = next(it)
    with pytest.raises(ValidationError, match=rf"task {first.id} \(item {first.item_id}\) was "
                       "neither submitted, skipped nor released"):
        next(it)
    assert q.current is not None and q.current.token == first.token  # the lease is kept
    q.submit(Choice("a"))
    seen = []
    for task in q:  # the loop as documented: each task finished
        seen.append(task.item_id)
        q.skip() if len(seen) == 1 else q.submit(Choice("b"))
    assert len(seen) == 2 and q.claim() is None  # item 1 skipped, item 2 submitted
    assert len(p.annotations()) == 2


def test_a_skip_after_the_lease_ran_out_still_counts(db_url: str) -> None:
    """The skip of a task whose lease had run out was lost: the item came straight back
    to the annotator who had said no to it (the widget showed it again)."""
    p = make(db_url, 2, lease_ttl_s=0.3)
    q = p.queue("ana")
    first = q.claim()
    assert first is not None
    time.sleep(0.5)
    q.skip()  # no error: the lease ran out, the annotator's skip is recorded
    nxt = q.claim()
    assert nxt is not None and nxt.item_id != first.item_id
    q.submit(Choice("a"))
    assert q.claim() is None  # the skipped item is not offered to ana again
    other = p.queue("bob").claim()
    assert other is not None and other.item_id == first.item_id  # but to others it is
    ev = p.events()
    skips = ev[ev["kind"] == "skip"]
    assert len(skips) == 1 and skips["payload"].iloc[0] == {"lease": "expired"}
    leases = p.leases()
    late = leases[leases["outcome"] == "skipped"].iloc[0]
    got = pd.Timestamp(late["claimed_at"])  # read back as the other rows are
    got = got.tz_convert("UTC").tz_localize(None) if got.tzinfo else got
    assert got == pd.Timestamp(first.claimed_at).tz_convert("UTC").tz_localize(None)



def test_a_skip_after_a_takeover_keeps_one_history_row_per_lease(db_url: str) -> None:
    """A skip after the lease ran out and another annotator took the task over wrote a
    second row for the same lease (expired, then skipped)."""
    p = make(db_url, 1, overlap=2, lease_ttl_s=0.3)
    ana, bob = p.queue("ana"), p.queue("bob")
    first = ana.claim()
    assert first is not None
    time.sleep(0.5)
    p.configure(lease_ttl_s=600)
    took = bob.claim()  # takes ana's expired lease over
    assert took is not None and took.id == first.id
    ana.skip()  # late: the skip still counts for ana
    rows = p.leases()
    mine = rows[rows["token"] == first.token]
    assert list(mine["outcome"]) == ["skipped"]
    bob.submit(Choice("a"))
    assert ana.claim() is None  # ana said no to the item: its other slot is not hers
    assert len(p.leases()) == 2  # ana's (skipped) and bob's (submitted)

class _ItemsFilter(NoRouting):
    """A custom policy whose filter reads the items table (not allowed: the candidate
    lookups read tasks alone, so it would be matched against another row)."""

    def filters(self, profile, tasks, project_kind):  # type: ignore[no-untyped-def]
        from labelnb.queue.tables import items

        return [items.c.group_key == "g"]


class _TasksFilter(NoRouting):
    def filters(self, profile, tasks, project_kind):  # type: ignore[no-untyped-def]
        return [tasks.c.language.is_(None)]


def test_a_routing_filter_on_another_table_is_refused_by_name(db_url: str) -> None:
    p = make(db_url, n=3)
    with pytest.raises(ValidationError, match=r"reads table\(s\) \['items'\].*only read the tasks"):
        p.queue("ana", routing=_ItemsFilter()).claim()
    # nothing was taken by the refused claim, and a filter on tasks still works
    t = p.queue("ana", routing=_TasksFilter()).claim()
    assert t is not None
    assert int((p.tasks()["status"] == "leased").sum()) == 1


def test_submitted_leases_survive_rework(db_url: str) -> None:
    """Every lease of a task is in project.leases(), also when the task is reopened for
    its author after a rejection (on SQLite a submit keeps its lease on the task row,
    and the reopening moves it to the history first); both databases read the same."""
    p = make(db_url, 1, review_fraction=1.0)
    p.annotators.add("rita", role="reviewer")
    qa = p.queue("ana")
    first = qa.claim()
    assert first is not None
    qa.submit(Choice("a"))
    assert p.tasks().set_index("id").loc[first.id, "lease_token"] is None  # spent
    rq = p.review_queue("rita")
    assert rq.claim() is not None
    rq.reject("wrong")
    second = qa.claim()
    assert second is not None and second.id == first.id and second.token != first.token
    qa.submit(Choice("b"))
    leases = p.leases()
    mine = leases[leases["task_id"] == first.id].set_index("token")
    assert set(mine.index) == {first.token, second.token}
    assert set(mine["outcome"]) == {"submitted"} and mine["ended_at"].notna().all()
    assert list(mine["annotator"]) == ["ana", "ana"]
    anns = p.annotations().set_index("task_id")
    assert len(anns.loc[[first.id]]) == 2
    ends = sorted(pd.to_datetime(mine["ended_at"], utc=True))
    subs = sorted(pd.to_datetime(anns.loc[[first.id], "submitted_at"], utc=True))
    assert ends == subs  # each lease ended when its annotation was stored
    review = leases[leases["annotator"] == "rita"]
    assert list(review["outcome"]) == ["submitted"]
    assert not leases[["task_id", "token"]].duplicated().any()


def test_annotation_values_converts_once() -> None:
    """The SQLite row of a submit is converted in place, and converting it again (as
    submit_annotation does, for a caller that did not) changes nothing."""
    from labelnb.queue import queries as q

    now = datetime(2026, 12, 1, 4, 5, 6, 789, tzinfo=UTC)
    row = {"regions": [{"type": "choice", "label": "a"}], "meta": {}, "created_at": now}
    once = dict(q.annotation_values(row, "sqlite"))
    assert once == {"regions": '[{"type":"choice","label":"a"}]', "meta": "{}",
                    "created_at": "2026-12-01 04:05:06.000789"}
    assert q.annotation_values(row, "sqlite") == once
    assert q.annotation_values({"regions": [], "meta": {"k": 1}, "created_at": now},
                               "sqlite")["meta"] == '{"k":1}'
