"""The dashboard grades each annotator as ``project.calibrate()`` does: the same votes
against the same reference labels, so its accuracy and flags are calibrate()'s.

Each test builds a small SQLite project through the queue and compares the annotator
table with ``calibrate(min_items=1, retrain=False)`` on it. The cases are those where
the two parted: a vote a reviewer corrected (consensus counts the correction; one by
the item's own voter does not), a stored consensus made before a vote was corrected
(stale) or whose votes stand (kept, with its own correction), a gold question (the
first answer is graded, not the rework), and a vote graded against a final label its
own author made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import update

import labelnb
from labelnb import Choice, Schema
from labelnb.dashboard import data as dd
from labelnb.queue.tables import tasks as tasks_t


def _parity(p: labelnb.Project) -> tuple[dict[str, Any], dict[str, Any]]:
    """(dashboard, calibrate) per graded annotator: (graded items, accuracy, flagged)."""
    cal = p.calibrate(min_items=1, retrain=False)
    frames = dd.load(p)
    summary = dd.summarize(frames).annotators.set_index("annotator")
    flags = dd.annotator_table(frames, min_items=1).set_index("annotator")["flagged"]
    dash = {str(w): (int(summary.loc[w, "scored"]), round(float(summary.loc[w, "accuracy"]), 4),
                     bool(flags[w]))
            for w in summary.index if summary.loc[w, "scored"]}
    return dash, {str(r.annotator): (int(r.n), float(r.accuracy), bool(r.flagged))
                  for r in cal.itertuples()}


def _vote(p: labelnb.Project, votes: dict[str, list[str]]) -> None:
    for who, picks in votes.items():
        q = p.queue(who)
        while (t := q.claim()) is not None:
            q.submit(Choice(picks[t.item.id - 1]))


def _correct(p: labelnb.Project, reviewer: str, fixes: dict[str, str]) -> list[str]:
    """``reviewer`` corrects each annotation id in ``fixes`` to its label (every other
    review they are handed is approved). Returns the corrections' ids."""
    tasks = p.tasks()
    queued = set(tasks.loc[(tasks["stage"] == "review") & (tasks["status"] == "open"),
                           "target_annotation_id"].astype(str))
    for aid in fixes.keys() - queued:  # (a majority consensus has its review queued)
        p.request_review(aid)
    rq = p.review_queue(reviewer)
    made = []
    while (t := rq.claim()) is not None:
        target = str(t.target_annotation_id)
        if target in fixes:
            made.append(str(rq.correct(Choice(fixes[target]))))
        else:
            rq.approve()
    assert len(made) == len(fixes)
    return made


def _vote_ids(p: labelnb.Project, who: str) -> dict[int, str]:
    """item id -> ``who``'s annotation id."""
    a = p.annotations(annotator=who)
    return dict(zip(a["item_id"].astype(int), a["id"].astype(str), strict=True))


def test_a_corrected_vote_counts_as_its_correction(tmp_path: Path) -> None:
    """consensus() counts a vote a reviewer corrected as the correction, so calibrate()
    grades against the majority of the corrected votes; a correction by one of the
    item's own voters does not count. The dashboard took the majority of the raw votes
    (ana and bo 1.0, cy 0.0 and flagged)."""
    p = labelnb.Project.create(tmp_path / "c.db", "c", Schema("choice", ["cat", "dog"]),
                               overlap=3)
    p.add_items([f"x{i}" for i in range(8)])
    _vote(p, {"ana": ["dog"] * 8, "bo": ["dog"] * 8, "cy": ["cat"] * 8})
    p.annotators.add("rita", role="reviewer")
    p.annotators.update("cy", role="reviewer")
    ana, bo = _vote_ids(p, "ana"), _vote_ids(p, "bo")
    _correct(p, "rita", {ana[i]: "cat" for i in (1, 2, 3)})  # x0..x2: cat 2 to 1
    _correct(p, "cy", {bo[i]: "cat" for i in range(4, 9)})  # cy voted: does not count
    final = p.consensus(queue_tasks=False).set_index("item_id")["labels"]
    assert [final[i] for i in range(1, 9)] == [["cat"]] * 3 + [["dog"]] * 5
    dash, cal = _parity(p)
    assert cal == {"ana": (8, 0.625, True), "bo": (8, 0.625, True), "cy": (8, 0.375, True)}
    assert dash == cal
    ref = dd.reference_labels(dd.load(p)).set_index("item_id")["key"]
    assert ref.tolist() == ["cat"] * 3 + ["dog"] * 5


def test_a_stored_consensus_goes_stale_when_a_vote_of_it_is_corrected(
        tmp_path: Path) -> None:
    """A consensus stands while it rests on the votes as they stand (its ``based_on``
    equals the current basis): a correction of one of its votes makes it stale (the
    dashboard kept it, as no vote was newer than it), a correction of a vote outside
    its group does not (a check on times would call it stale and drop the reviewer's
    correction of the consensus)."""
    p = labelnb.Project.create(tmp_path / "s.db", "s",
                               Schema("choice", ["cat", "dog", "bird"]), overlap=3)
    p.add_items([f"x{i}" for i in range(6)])
    _vote(p, {"ana": ["dog"] * 6, "bo": ["dog"] * 6, "cy": ["cat"] * 6})
    p.annotators.add("rita", role="reviewer")
    stored = p.consensus().set_index("item_id")["consensus_id"]  # dog, reviews queued
    ana, cy = _vote_ids(p, "ana"), _vote_ids(p, "cy")
    # x0..x2: ana's vote corrected to cat: the stored dog rests on it, stale now; x4: the
    # consensus itself corrected to cat; x5: approved
    fixes = {ana[i]: "cat" for i in (1, 2, 3)} | {str(stored[5]): "cat"}
    _correct(p, "rita", fixes)
    # x4: cy's vote (outside the dog group) corrected to bird: the consensus still rests
    # on ana's and bo's votes, so its correction stands
    _correct(p, "rita", {cy[5]: "bird"})
    final = p.consensus(queue_tasks=False).set_index("item_id")
    assert final["labels"].tolist() == [["cat"]] * 3 + [["dog"], ["cat"], ["dog"]]
    assert final["status"].tolist()[3:] == ["accepted", "corrected", "accepted"]
    dash, cal = _parity(p)
    assert cal == {"ana": (6, 0.3333, True), "bo": (6, 0.3333, True),
                   "cy": (6, 0.6667, True)}
    assert dash == cal
    ref = dd.reference_labels(dd.load(p)).set_index("item_id")
    assert ref["key"].tolist() == ["cat"] * 3 + ["dog", "cat", "dog"]
    assert ref["origin"].tolist() == ["majority"] * 3 + ["stored"] * 3
    # consensus() stores the new majorities (resting on the corrections): stored now
    p.consensus()
    ref = dd.reference_labels(dd.load(p)).set_index("item_id")
    assert ref["origin"].tolist() == ["stored"] * 6
    assert ref["key"].tolist() == ["cat"] * 3 + ["dog", "cat", "dog"]
    dash, cal = _parity(p)
    assert dash == cal


def test_a_gold_question_grades_the_first_answer(tmp_path: Path) -> None:
    """calibrate() grades each annotator's first answer of a gold item (as
    gold.score() does), not the rework after a reviewer's feedback; the dashboard
    graded the rework (1.0 where calibrate() says 0.0)."""
    p = labelnb.Project.create(tmp_path / "g.db", "g", Schema("choice", ["pos", "neg"]))
    p.gold.add(["a masterpiece", "a bore"], [Choice("pos"), Choice("neg")])
    p.configure(gold_rate=1.0)
    p.annotators.add("rita", role="reviewer")
    q = p.queue("ana")
    answers = {"a masterpiece": "neg", "a bore": "neg"}
    first = []
    while (t := q.claim()) is not None:
        first.append(q.submit(Choice(answers[str(t.item.text)])))
    for aid in first:
        p.request_review(str(aid))
    r = p.review_queue("rita")
    while (t := r.claim()) is not None:
        r.reject("look again")
    while (t := q.claim()) is not None:  # the reworks, as the reviewer taught
        q.submit(Choice("pos" if t.item.text == "a masterpiece" else "neg"))
    assert p.gold.score()["accuracy"].tolist() == [0.5]
    dash, cal = _parity(p)
    assert cal == {"ana": (2, 0.5, True)}
    assert dash == cal


def test_a_vote_is_not_graded_against_its_own_authors_final_label(tmp_path: Path) -> None:
    """Data from before the claim refused it: eve adjudicated items she had labeled.
    calibrate() skips a vote graded against a final label its own author made; the
    dashboard graded her 1.0 against herself."""
    p = labelnb.Project.create(tmp_path / "o.db", "o", Schema("choice", ["a", "b", "c"]),
                               overlap=3)
    p.add_items([f"t{i}" for i in range(3)])
    p.annotators.add("eve", qualifications=["expert"])
    p.annotators.add("max", qualifications=["expert"])
    _vote(p, {"eve": ["a"] * 3, "bo": ["b"] * 3, "cy": ["c"] * 3})
    p.consensus()  # no majority: adjudications queued
    hidden = (tasks_t.c.project_id == p.id) & (tasks_t.c.stage == "annotate") & (
        tasks_t.c.assignee == "eve")
    with p.store.write() as conn:  # as an older labelnb saw it: no bar on her
        conn.execute(update(tasks_t).where(hidden).values(assignee=None))
    aq = p.adjudication_queue("eve")
    t = aq.claim()
    assert t is not None
    aq.submit(Choice("a"))  # in her own favour, on one item
    with p.store.write() as conn:
        conn.execute(update(tasks_t).where(
            (tasks_t.c.project_id == p.id) & (tasks_t.c.stage == "annotate")
            & tasks_t.c.assignee.is_(None)).values(assignee="eve"))
    mx = p.adjudication_queue("max")
    while mx.claim() is not None:
        mx.submit(Choice("b"))  # the other two
    assert set(p.consensus(queue_tasks=False)["tier"]) == {"adjudicated"}
    dash, cal = _parity(p)
    assert cal == {"bo": (3, 0.6667, True), "cy": (3, 0.0, True), "eve": (2, 0.0, True)}
    assert dash == cal


def test_corrected_box_votes_grade_against_the_fused_majority(tmp_path: Path) -> None:
    """For region kinds the majority of the corrected votes is fused (as consensus()
    fuses it) and each annotator's own boxes are graded against it with agree(): a
    correction's geometry has no key among the annotators' own."""
    from PIL import Image

    from labelnb import Box

    images = []
    for i in range(5):  # five distinct images (one image would be one item)
        images.append(tmp_path / f"i{i}.png")
        Image.new("RGB", (100, 100), (i, 0, 0)).save(images[-1])
    p = labelnb.Project.create(tmp_path / "b.db", "b", Schema("boxes", ["car"]), overlap=3)
    p.add_items(images)
    at = {"ana": 0.0, "bo": 1.0, "cy": 40.0}
    for who, x in at.items():
        q = p.queue(who)
        while q.claim() is not None:
            q.submit([Box(x, 0, x + 20, 20, "car")])
    p.annotators.add("rita", role="reviewer")
    ana = _vote_ids(p, "ana")
    items = sorted(ana)
    for aid in (ana[items[0]], ana[items[1]]):  # ana's box moved onto cy's: 2 of 3 there
        p.request_review(aid)
    rq = p.review_queue("rita")
    while rq.claim() is not None:
        rq.correct([Box(41.0, 0, 61.0, 20, "car")])
    final = p.consensus(queue_tasks=False).set_index("item_id")
    assert final.loc[items[0], "regions"][0].x0 == 40.5  # fused: cy's and the correction
    dash, cal = _parity(p)
    assert cal == {"ana": (5, 0.6, True), "bo": (5, 0.6, True), "cy": (5, 0.4, True)}
    assert dash == cal



def _random_chains(seed: int) -> tuple[list[dict[str, Any]], frozenset[str]]:
    """Votes on six items and 25 corrections of random targets (votes or corrections,
    by voters or reviewers), a fifth of the corrections rejected."""
    import random
    from datetime import datetime, timedelta

    rng = random.Random(seed)
    names = ["ana", "bo", "cy", "dee", "rita", "rob"]
    t0 = datetime(2026, 1, 1)
    rows: list[dict[str, Any]] = []
    targets: dict[int, list[str]] = {}

    def add(item: int, author: str, stage: str, corrects: str | None = None) -> None:
        rid = f"a{len(rows):04d}"
        rows.append({"id": rid, "item_id": item, "author": author, "stage": stage,
                     "labels": [rng.choice(["cat", "dog"])], "corrects": corrects,
                     "submitted_at": (t0 + timedelta(seconds=len(rows))).isoformat()})
        targets.setdefault(item, []).append(rid)

    for item in range(1, 7):
        for who in rng.sample(names[:4], rng.randint(1, 4)):
            add(item, who, "annotate")
    for _ in range(25):
        item = rng.choice(list(targets))
        add(item, rng.choice(names), "review", rng.choice(targets[item]))
    rejected = frozenset(r["id"] for r in rows if r["corrects"] is not None
                         and rng.random() < 0.2)
    return rows, rejected


def test_vote_bases_equal_corrected_votes_on_random_chains() -> None:
    """The dashboard finds every vote's chain end at once (vote_bases); it must equal
    consensus's own corrected_votes(): chains of corrections, corrections by the item's
    own voters (not counted, at any step), rejected corrections, several corrections of
    one annotation (the newest counts)."""
    import pandas as pd

    from labelnb.queue.consensus import corrected_votes

    for seed in range(20):
        rows, rejected = _random_chains(seed)
        anns = dd.annotation_frame(rows, "choice")
        frames = dd.Frames("choice", ["cat", "dog"], anns, pd.DataFrame(), rejected=rejected)
        status = ["reject" if i in rejected else "submitted" for i in anns["id"]]
        want = corrected_votes(anns.assign(status=status), frames.human)["basis"].tolist()
        got = dd.counted_votes(frames)["basis"].tolist()
        assert got == want, seed
