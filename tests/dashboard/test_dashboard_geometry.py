"""Geometry-aware agreement in the dashboard: for boxes, polygons, masks and spans two
annotators agree only when their regions agree as ``labelnb.metrics.tiers.agree``
decides (the rule ``project.consensus()`` uses), not merely when their labels match."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import labelnb
from labelnb import Box, Schema, Span
from labelnb.dashboard import data as dd
from labelnb.metrics import DegenerateWarning
from labelnb.metrics.tiers import Agreement, agree, decide
from labelnb.types import Mask, Polygon, Region


def _json(regs: list[Region]) -> list[dict[str, object]]:
    return [r.to_json() for r in regs]


def _random_boxes(rng: np.random.Generator, n: int, labels: list[str]) -> list[Box]:
    """Boxes crowded into a small area, so that one box often overlaps several."""
    out = []
    for _ in range(n):
        x0, y0 = rng.uniform(0, 30, 2)
        w, h = rng.uniform(8, 25, 2)
        out.append(Box(round(x0, 1), round(y0, 1), round(x0 + w, 1), round(y0 + h, 1),
                       str(rng.choice(labels))))
    return out


def _jitter(rng: np.random.Generator, boxes: list[Box], sd: float) -> list[Box]:
    out = []
    for b in rng.permutation(np.array(boxes, dtype=object)).tolist():
        dx, dy = rng.normal(0, sd, 2)
        out.append(Box(b.x0 + dx, b.y0 + dy, b.x1 + dx, b.y1 + dy, b.label))
    return out


@pytest.mark.parametrize("kind", ["boxes", "polygons"])
def test_agree_pairs_equals_tiers_agree_on_random_boxes(kind: str) -> None:
    rng = np.random.default_rng(7)
    annotations: list[list[Region]] = []
    left, right = [], []
    for _ in range(300):
        a = _random_boxes(rng, int(rng.integers(0, 4)), ["cat", "dog"])
        # the other annotator: a jittered copy (agrees or not, near the threshold), or
        # an independent set with the same labels
        b: list[Region] = list(_jitter(rng, a, float(rng.choice([0.5, 2.0, 4.0]))) if
                               rng.random() < 0.7 else
                               _random_boxes(rng, len(a), ["cat", "dog"]))
        if kind == "polygons":  # a box as a 4-vertex polygon (tiers use the bounding box)
            a = [Polygon((r.x0, r.y0, r.x1, r.y0, r.x1, r.y1, r.x0, r.y1), r.label)
                 for r in a]
            b = [Polygon((r.x0, r.y0, r.x1, r.y0, r.x1, r.y1, r.x0, r.y1), r.label)
                 for r in b]
        left.append(len(annotations))
        annotations.append(a)
        right.append(len(annotations))
        annotations.append(b)
    got = dd.agree_pairs([_json(r) for r in annotations], left, right, kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateWarning)
        want = [agree(annotations[i], annotations[j], kind) for i, j in zip(left, right,
                                                                           strict=True)]
    assert got.tolist() == want
    assert 50 < sum(want) < 250  # both outcomes are exercised
    # some pairs are ambiguous (a box near two others) and go to the Hungarian fallback
    _, decided = dd._boxes_agree([_json(r) for r in annotations], np.asarray(left),
                                 np.asarray(right), kind, Agreement())
    assert (~decided).sum() > 0


def test_agree_pairs_uses_the_threshold_and_labels() -> None:
    a = [{"type": "box", "label": "cat", "x0": 0, "y0": 0, "x1": 10, "y1": 10}]
    shifted = [{"type": "box", "label": "cat", "x0": 3, "y0": 0, "x1": 13, "y1": 10}]  # 0.538
    dog = [{"type": "box", "label": "dog", "x0": 0, "y0": 0, "x1": 10, "y1": 10}]
    regions = [a, shifted, dog, None]
    assert dd.agree_pairs(regions, [0, 0, 0], [1, 2, 3], "boxes").tolist() == [True, False,
                                                                               True]
    strict = Agreement(iou=0.6)
    assert dd.agree_pairs(regions, [0], [1], "boxes", strict).tolist() == [False]


def test_agree_pairs_masks_and_spans() -> None:
    m = np.zeros((20, 20), bool)
    m[2:12, 2:12] = True
    near = np.roll(m, 1, axis=1)  # dice 0.9
    far = np.roll(m, 5, axis=1)  # dice 0.5
    masks = [_json([Mask.from_array(x, "cat")]) for x in (m, near, far)]
    assert dd.agree_pairs(masks, [0, 0], [1, 2], "masks").tolist() == [True, False]
    assert dd.agree_pairs(masks, [0], [1], "masks", Agreement(dice=0.95)).tolist() == [False]
    spans = [_json([Span(0, 5, "PER")]), _json([Span(0, 4, "PER")]),
             _json([Span(0, 5, "PER")])]
    assert dd.agree_pairs(spans, [0, 0], [1, 2], "spans").tolist() == [False, True]
    overlap = Agreement(spans="overlap")
    assert dd.agree_pairs(spans, [0, 0], [1, 2], "spans", overlap).tolist() == [True, True]


def test_geometry_keys_group_as_tiers_decide() -> None:
    """On random items of 2-4 annotators the keys split each item exactly as
    tiers.decide groups it: the most common key is held by decide's winning group."""
    rng = np.random.default_rng(3)
    rows = []
    items: dict[int, list[list[Region]]] = {}
    names = ["ana", "bob", "cy", "dee"]
    for item in range(200):
        base = _random_boxes(rng, int(rng.integers(1, 3)), ["cat"])
        n = int(rng.integers(2, 5))
        regs = [_jitter(rng, base, float(rng.choice([0.5, 3.0, 6.0]))) for _ in range(n)]
        items[item] = regs
        for who, r in zip(names, regs, strict=False):
            rows.append({"item_id": item, "author": who, "regions": _json(r)})
    human = dd.annotation_frame(rows, "boxes")
    keys = dd.geometry_keys(human, "boxes")
    human = human.assign(key=keys)
    split = 0
    for item, regs in items.items():
        mine = human[human["item_id"] == item].sort_values("author")
        d = decide(regs, "boxes")
        counts = mine["key"].value_counts()
        assert counts.iloc[0] == len(d.group)
        winners = set(mine["author"].iloc[list(d.group)])
        if (counts == counts.iloc[0]).sum() == 1:  # a unique largest group
            assert set(mine.loc[mine["key"] == counts.index[0], "author"]) == winners
            assert "(other" not in counts.index[0]
        split += len(counts) > 1
    assert 20 < split < 190
    assert any("(other boxes)" in k for k in keys)


def test_rows_without_regions_keep_their_label_keys() -> None:
    rows = [{"item_id": 1, "author": a, "labels": ["cat"]} for a in ("ana", "bob")]
    human = dd.annotation_frame(rows, "boxes")
    assert dd.geometry_keys(human, "boxes").tolist() == ["cat", "cat"]


def test_box_project_agreement_uses_geometry(geometry_project: labelnb.Project) -> None:
    p = geometry_project
    a, b, c = p.ids  # type: ignore[attr-defined]
    s = dd.summarize(dd.load(p))
    h = s.human.set_index(["item_id", "author"])
    assert (h["label_key"] == "cat").all()  # the labels alone agree everywhere
    assert h.loc[(a, "cy"), "key"] == "cat"
    assert h.loc[(b, "cy"), "key"] == "cat (other boxes)"
    assert {h.loc[(c, w), "key"] for w in ("ana", "bob", "cy")} == {
        "cat", "cat (other boxes)", "cat (other boxes #2)"}
    d = s.disagreements.set_index("item_id")
    assert d.loc[a, "agreement"] == 1.0
    assert d.loc[b, "agreement"] == pytest.approx(2 / 3)
    assert d.loc[c, "agreement"] == pytest.approx(1 / 3)
    assert s.disagreements["item_id"].tolist() == [c, b, a]
    # the same tiers as the consensus workflow, which the dashboard does not run
    tiers = p.consensus(queue_tasks=False).set_index("item_id")["tier"]
    assert tiers.to_dict() == {a: "unanimous", b: "majority", c: "none"}
    # kappa and the confusion matrix count the geometry: bob and cy give the label
    # "cat" on every item, yet agree on one of three
    from sklearn.metrics import cohen_kappa_score

    keys = {w: [h.loc[(i, w), "key"] for i in (a, b, c)] for w in ("bob", "cy")}
    assert keys["bob"] != keys["cy"]
    assert s.kappa.loc["bob", "cy"] == pytest.approx(cohen_kappa_score(keys["bob"],
                                                                       keys["cy"]))
    cm = dd.confusion(s.human, "bob", "cy")
    assert cm.loc["cat", "cat (other boxes)"] == 1 and int(cm.to_numpy().trace()) == 1
    pc = s.per_class.set_index("label")
    assert pc.loc["cat", "items"] == 3 and pc.loc["cat", "agreement"] == pytest.approx(1 / 3)
    acc = s.annotators.set_index("annotator")["accuracy"]
    assert acc["ana"] == 1.0 and acc["cy"] == pytest.approx(1 / 2)  # 2 items have a majority


def test_stored_consensus_boxes_match_the_majority_group(
        geometry_project: labelnb.Project) -> None:
    p = geometry_project
    a, b, _ = p.ids  # type: ignore[attr-defined]
    p.consensus()  # stores fused boxes for a and b; c goes to adjudication
    s = dd.summarize(dd.load(p))
    ref = s.reference.set_index("item_id")
    assert ref.loc[a, "origin"] == "stored" and ref.loc[a, "key"] == "cat"
    assert ref.loc[b, "origin"] == "stored" and ref.loc[b, "key"] == "cat"
    # an adjudicator's box that matches nobody: the labels match, the geometry does not
    final = pd.DataFrame({"item_id": [b], "key": ["cat"],
                          "regions": [_json([Box(0, 40, 10, 59, "cat")])]})
    assert dd.stored_geometry_keys(final, s.human, "boxes").tolist() == ["cat (reference)"]
    final = final.assign(regions=[_json([Box(51, 30, 71, 50, "cat")])])  # cy's box
    assert dd.stored_geometry_keys(final, s.human, "boxes").tolist() == ["cat (other boxes)"]


def test_span_project_exact_and_overlap(tmp_path: Path, label: Any) -> None:
    p = labelnb.Project.create(tmp_path / "s.db", "s", Schema("spans", ["PER"]), overlap=2)
    p.add_items(["Ann Lee met Bo"])
    spans = {"ana": [Span(0, 7, "PER")], "bob": [Span(0, 3, "PER")]}
    label(p, lambda who, item: spans[who], ["ana", "bob"])
    s = dd.summarize(dd.load(p))
    assert sorted(s.human["key"]) == ["PER", "PER (other spans)"]
    p.configure(agreement={"spans": "overlap"})
    s = dd.summarize(dd.load(p))
    assert sorted(s.human["key"]) == ["PER", "PER"]
    assert s.disagreements.loc[0, "agreement"] == 1.0


def test_load_on_sqlite_and_postgresql(db_url: str, tmp_path: Path, label: Any) -> None:
    """The dashboard's read (the driver-cursor query, times as text, regions as JSON
    text) gives the same keys, times and agreement on both databases."""
    p = labelnb.Project.create(db_url, "both", Schema("boxes", ["cat", "dog"]), overlap=2)
    try:
        from PIL import Image

        img = tmp_path / "both.png"
        Image.fromarray(np.full((40, 60, 3), 50, np.uint8)).save(img)
        p.add_items([img])
        boxes = {"ana": [Box(1, 1, 20, 20, "cat"), Box(30, 5, 50, 30, "dog")],
                 "bob": [Box(2, 1, 21, 20, "cat"), Box(5, 22, 25, 38, "dog")]}
        label(p, lambda who, it: boxes[who], ["ana", "bob"])
        f = dd.load(p)
        assert len(f.annotations) == 2 and f.items == 1 and f.items_done == 1
        assert f.annotations["submitted_at"].dt.tz is not None
        assert f.annotations["submitted_at"].notna().all()
        assert all(isinstance(r, str) for r in f.annotations["regions"])
        h = f.human.set_index("author")
        assert h["label_key"].tolist() == ["cat|dog", "cat|dog"]
        assert sorted(h["key"]) == ["cat|dog", "cat|dog (other boxes)"]  # the dog boxes
        assert f.tasks.loc["annotate", "done"] == 2
        # the fingerprint made from the rows read equals the fingerprint query's
        assert f.fingerprint == dd.fingerprint(p) and f.fingerprint[0] == 2
    finally:
        p.close()


@pytest.mark.parametrize("kind", ["boxes", "polygons"])
def test_load_keys_equal_the_general_path(tmp_path: Path, label: Any, kind: str) -> None:
    """:func:`dd.load` builds the box table and the label keys in bulk (numpy, lazy
    decoding of ambiguous rows only, one grouping per pattern of pair outcomes); the
    keys must equal those of the plain path (decoded regions, :func:`dd.label_key`,
    :func:`dd.geometry_keys` without a table) on crowded, jittered boxes."""
    from PIL import Image

    rng = np.random.default_rng(11)
    names, sd = ["ana", "bob", "cy", "dee"], {"ana": 0.3, "bob": 1.0, "cy": 2.5, "dee": 6.0}
    p = labelnb.Project.create(tmp_path / "f.db", "f", Schema(kind, ["cat", "dog", "eel"]),
                               overlap=4)
    paths = []
    for i in range(40):
        path = tmp_path / f"i{i}.png"
        Image.fromarray(np.full((60, 80, 3), i, np.uint8)).save(path)
        paths.append(path)
    ids = p.add_items(paths)
    truth = {i: _random_boxes(rng, int(rng.integers(0, 4)), ["cat", "dog", "eel"]) for i in ids}

    def answer(who: str, item: Any) -> list[Region]:
        boxes = [Box(max(b.x0, 0), max(b.y0, 0), min(b.x1, 80), min(b.y1, 60), b.label)
                 for b in _jitter(rng, truth[item.id], sd[who])]
        if kind == "boxes":
            return list(boxes)
        return [Polygon((b.x0, b.y0, b.x1, b.y0, b.x1, b.y1), b.label) for b in boxes]

    label(p, answer, names)
    fast = dd.load(p).human.sort_values(["item_id", "author"]).reset_index(drop=True)
    plain = fast[["item_id", "author", "regions"]].copy()
    plain["regions"] = dd.decode_regions(plain["regions"].to_numpy(dtype=object))
    plain["key"] = [dd.label_key([r["label"] for r in regs], kind) for regs in plain["regions"]]
    assert fast["label_key"].tolist() == plain["key"].tolist()
    slow = dd.geometry_keys(plain, kind)
    assert fast["key"].tolist() == slow.tolist()
    assert (fast["key"] != fast["label_key"]).sum() >= 5  # the geometry mattered


def test_box_columns_equal_region_columns() -> None:
    """The pyarrow path (:func:`dd.box_columns`, straight from the JSON texts) gives the
    same labels, keys and box table as decoding the texts and :func:`dd.region_columns`;
    texts it cannot read as lists of boxes give None (the caller then decodes)."""
    import json

    pytest.importorskip("pyarrow")  # the [dashboard] extra; without it load() decodes
    rng = np.random.default_rng(5)
    labels = ["cat", "dög", 'say "hi"', "a|b", "🐟"]
    texts = []
    for i in range(300):
        regs = []
        for _ in range(int(rng.integers(0, 5))):
            x0, y0 = (int(v) if i % 3 == 0 else float(v) for v in rng.uniform(0, 100, 2))
            regs.append({"type": "box", "label": labels[int(rng.integers(0, 5))], "x0": x0,
                         "y0": y0, "x1": x0 + 5.5, "y1": y0 + 3, "attributes": {"k": [1]}})
        texts.append(json.dumps(regs, ensure_ascii=i % 2 == 0))
    got = dd.box_columns(texts)
    assert got is not None
    want = dd.region_columns(dd.decode_regions(texts), "boxes")
    assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    assert want[2] is not None
    for a, b in zip(got[2], want[2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert dd.box_columns(["[]", "[]"]) is not None and dd.box_columns([]) is None
    box = '{"type": "box", "label": "cat", "x0": 1, "y0": 1, "x1": 2, "y1": 2}'
    for bad in ['[{"type": "polygon", "label": "cat", "points": [1, 2, 3, 4, 5, 6]}]',
                '[{"type": "box", "x0": 1, "y0": 1, "x1": 2, "y1": 2}]',  # no label
                '[{"type": "box", "label": "cat", "x0": "1", "y0": 1, "x1": 2, "y1": 2}]',
                f"[{box},\n {box}]",  # JSON over two lines
                "null", '{"label": "cat"}', "[1, 2]", "not json"]:
        assert dd.box_columns([f"[{box}]", bad]) is None, bad


def test_annotation_columns_equal_the_rows(db_url: str, tmp_path: Path, label: Any) -> None:
    """The dashboard reads the annotations as columns (on SQLite aggregated into one row
    in one step, so the read never waits for the interpreter lock per row); they equal
    the row-by-row read, also with annotations that have no task, a correction, a
    duration, and a regions text with a raw newline (re-read as a JSON array)."""
    from PIL import Image
    from sqlalchemy import update

    from labelnb.queue import queries as q
    from labelnb.queue.tables import annotations as at

    p = labelnb.Project.create(db_url, "cols", Schema("boxes", ["cat", "dog"]), overlap=2)
    try:
        with p.store.read() as conn:  # no annotations yet
            assert q.dashboard_annotation_columns(conn, p.id) == [[] for _ in range(9)]
        paths = []
        for i in range(3):
            paths.append(tmp_path / f"c{i}.png")
            Image.fromarray(np.full((40, 60, 3), 30 * i, np.uint8)).save(paths[-1])
        ids = p.add_items(paths)
        label(p, lambda who, it: [Box(1, 1, 20 + it.id % 7, 20, "cat")], ["ana", "bob"])
        first = p.annotations().iloc[0]
        fix = labelnb.Annotation(item_id=ids[0], regions=(Box(2, 2, 9, 9, "dog"),),
                                 author="lead", source="consensus",
                                 corrects=str(first["id"]), duration_s=1.25)
        p.add_annotations([fix])

        def both() -> tuple[list[Any], list[list[Any]]]:
            with p.store.read() as conn:
                cols = q.dashboard_annotation_columns(conn, p.id)
                rows = q.dashboard_annotation_rows(conn, p.id)
            return [list(c) for c in cols], [list(c) for c in zip(*rows, strict=True)]

        cols, rows = both()
        assert len(cols[0]) == 7 and None in cols[4] and str(first["id"]) in cols[8]
        assert cols == rows
        if p.store.dialect == "sqlite":  # a text spread over two lines
            with p.store.write() as conn:
                conn.execute(update(at).where(at.c.id == fix.id).values(
                    regions=[{"type": "box", "label": "dog", "x0": 2, "y0": 2, "x1": 9,
                              "y1": 9, "note": "two\nlines"}]))
                conn.exec_driver_sql("UPDATE annotations SET regions = replace(regions, "
                                     "', \"x0\"', char(10) || ', \"x0\"') WHERE id = ?",
                                     (fix.id,))
            cols, rows = both()
            assert any("\n" in t for t in cols[5]) and cols == rows
            assert dd.load(p).annotations["key"].tolist().count("dog") == 1
    finally:
        p.close()


def test_load_gives_each_annotation_its_tasks_stage(geometry_project: labelnb.Project) -> None:
    """The annotation read does not join tasks; the stages of the tasks that are not
    annotate tasks come from a read of their own. An expert's adjudication must stay an
    adjudication: not an annotator's own label, not a kappa row."""
    p = geometry_project
    _, _, c = p.ids  # type: ignore[attr-defined]
    p.consensus()  # c goes to adjudication
    p.annotators.add("lead", role="lead")
    q = p.adjudication_queue("lead")
    task = q.claim()
    assert task is not None and task.item_id == c and task.stage == "adjudicate"
    q.submit([Box(10, 10, 30, 30, "cat")])
    f = dd.load(p)
    by_author = f.annotations.groupby("author")["stage"].agg(lambda s: set(s))
    assert by_author["lead"] == {"adjudicate"}
    assert by_author["ana"] == {"annotate"}
    assert f.annotations.loc[f.annotations["source"] == "consensus", "stage"].isna().all()
    s = dd.summarize(f)
    assert "lead" not in set(s.human["author"]) and "lead" not in s.kappa.index
    ref = s.reference.set_index("item_id")
    assert ref.loc[c, "origin"] == "stored"  # the adjudication settles c


def test_load_in_memory_and_past_sqlites_value_limit(tmp_path: Path) -> None:
    """An in-memory SQLite database is invisible to a second connection: its counts are
    read in the same transaction. And when the aggregated read would pass SQLite's
    value limit (1 GB by default: e.g. 100k large masks), it reads row by row."""
    import sqlite3

    from labelnb import Choice
    from labelnb.queue import queries as q

    mem = labelnb.Project.create("sqlite://", "m", Schema("choice", ["a", "b"]), overlap=1)
    mem.add_items(["x", "y"])
    qu = mem.queue("ana")
    while qu.claim() is not None:
        qu.submit(Choice("a"))
    f = dd.load(mem)
    assert len(f.annotations) == 2 and f.items == 2 and f.items_done == 2
    p = labelnb.Project.create(tmp_path / "lim.db", "lim", Schema("choice", ["a", "b"]),
                               overlap=1)
    p.add_items([f"text {i}" for i in range(30)])
    qu = p.queue("ana")
    while qu.claim() is not None:
        qu.submit(Choice("b"), duration_s=0.1 + 0.2)
    with p.store.read() as conn:
        full = q.dashboard_annotation_columns(conn, p.id)
        raw = conn.connection.dbapi_connection
        assert raw is not None
        old = raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 500)  # the regions would not fit
        try:
            with pytest.raises(sqlite3.DataError):
                q.DASHBOARD_ANNOTATION_ARRAYS.run(conn, {"pid": p.id}).fetchone()
            small = q.dashboard_annotation_columns(conn, p.id)
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, old)
    assert small[0] == full[0] and small[5] == full[5] and len(small[0]) == 30
    assert small[7] == [0.1 + 0.2] * 30  # row by row: the stored float
    assert full[7] == pytest.approx(small[7], rel=1e-14)  # aggregated: 15 digits
