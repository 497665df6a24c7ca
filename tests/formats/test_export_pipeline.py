"""The export pipeline end to end on a real Project (SQLite file, PIL images)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from labelnb.errors import FormatError, SchemaError
from labelnb.formats import ImageRecord, coco, export, import_dataset, pipeline, voc, yolo
from labelnb.formats.pipeline import ExportRecord, select_final
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Choice, Span


def _final_regions(p: Project) -> dict[int, list[Box]]:
    _, final = pipeline.read_final(p)
    out = {i: [r for r in a.regions if isinstance(r, Box)] for i, a in final.items()}
    assert all(len(out[i]) == len(a.regions) for i, a in final.items())
    return out


def test_coco_export_with_group_aware_split(boxes_project: Project, tmp_path: Path) -> None:
    p = boxes_project
    out = tmp_path / "coco"
    rep = export(p, "coco", out, split={"train": 0.5, "val": 0.25, "test": 0.25}, seed=1)
    assert rep.items == 12 and rep.unlabeled == 0 and sum(rep.splits.values()) == 12
    assert rep.categories == {1: "cat", 2: "dog"} and rep.validated == 12
    assert rep.regions == sum(len(r) for r in _final_regions(p).values())
    manifest = orjson.loads((out / "labelnb_export.json").read_bytes())
    split_of = {m["item_id"]: m["split"] for m in manifest["images"]}
    items = p.items().set_index("id")
    by_group: dict[str, set[str]] = {}
    for iid, s in split_of.items():
        by_group.setdefault(items.loc[iid, "group_key"], set()).add(s)
    assert all(len(v) == 1 for v in by_group.values())  # no group leaks across splits
    total = 0
    for split, n in rep.splits.items():
        f = out / "annotations" / f"instances_{split}.json"
        if n == 0:
            continue
        gt = coco.check_with_pycocotools(f)
        assert len(gt.getImgIds()) == n
        total += len(gt.getAnnIds())
        for img in gt.loadImgs(gt.getImgIds()):
            assert (out / "images" / split / img["file_name"]).is_file()
            iid = next(m["item_id"] for m in manifest["images"]
                       if m["file_name"] == img["file_name"])
            assert (img["width"], img["height"]) == (items.loc[iid, "width"],
                                                     items.loc[iid, "height"])
    assert total == rep.regions
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".coco.tmp")]
    # same seed, same split
    rep2 = export(p, "coco", tmp_path / "again", split={"train": 0.5, "val": 0.25,
                                                         "test": 0.25}, seed=1)
    m2 = orjson.loads((tmp_path / "again" / "labelnb_export.json").read_bytes())
    assert rep2.splits == rep.splits and m2["images"] == manifest["images"]


@pytest.mark.usefixtures("offline_ultralytics")
def test_yolo_export_passes_ultralytics(boxes_project: Project, tmp_path: Path) -> None:
    from ultralytics.data.utils import check_det_dataset, img2label_paths, verify_image_label

    rep = export(boxes_project, "yolo", tmp_path / "y", split={"train": 0.75, "val": 0.25})
    assert rep.categories == {0: "cat", 1: "dog"}
    data = check_det_dataset(str(tmp_path / "y" / "data.yaml"), autodownload=False)
    assert data["names"] == {0: "cat", 1: "dog"}
    files: list[str | Path] = [str(f) for k in ("train", "val")
                               for f in sorted(Path(data[k]).iterdir())]
    assert len(files) == 12
    n = 0
    for im, lb in zip(files, img2label_paths(files), strict=True):
        res = verify_image_label((str(im), lb, "", False, 2, 0, 0, False))
        assert res[8] == 0, res[9]
        n += len(res[1])
    assert n == rep.regions
    back = yolo.load_yolo(tmp_path / "y")
    assert len(back.images) == 12 and back.region_count() == rep.regions


def test_voc_export(boxes_project: Project, tmp_path: Path) -> None:
    rep = export(boxes_project, "voc", tmp_path / "v", split={"train": 0.5, "val": 0.5})
    ds = voc.load_voc(tmp_path / "v")
    assert len(ds.images) == 12 and ds.region_count() == rep.regions
    assert {i.split for i in ds.images} <= {"train", "val"}
    assert voc.check_sizes(ds) == []


def test_failure_in_validate_leaves_nothing(boxes_project: Project, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kw: object) -> int:
        raise FormatError("injected validation failure")

    monkeypatch.setattr(pipeline, "validate_export", broken)
    out = tmp_path / "exports" / "coco"
    with pytest.raises(FormatError, match="injected"):
        export(boxes_project, "coco", out)
    assert not out.exists()
    # no temp folder left behind, nor the parent folder the export made for it
    assert not (tmp_path / "exports").exists()
    # validate=False skips the stage
    export(boxes_project, "coco", out, validate=False)
    assert (out / "annotations.json").is_file()


def test_existing_path_needs_overwrite(boxes_project: Project, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "c"
    export(boxes_project, "coco", out, media="none")
    with pytest.raises(FormatError, match="already exists"):
        export(boxes_project, "coco", out)
    (out / "marker").write_text("old")
    # a failed overwrite keeps the old export
    monkeypatch.setattr(pipeline, "validate_export",
                        lambda *a, **k: (_ for _ in ()).throw(FormatError("boom")))
    with pytest.raises(FormatError):
        export(boxes_project, "coco", out, overwrite=True)
    assert (out / "marker").read_text() == "old"
    monkeypatch.undo()
    export(boxes_project, "coco", out, overwrite=True)
    assert not (out / "marker").exists() and (out / "images").is_dir()
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".c.")]


def test_policies_corrections_and_sources(boxes_project: Project, tmp_path: Path) -> None:
    p = boxes_project
    anns = {a.item_id: a for a in p.annotation_objects()}
    first = anns[1]
    fix = first.correct([Box(0, 0, 5, 5, "dog")], author="bob")
    p.add_annotations([fix])
    model = Annotation(item_id=2, regions=(Box(0, 0, 3, 3, "cat"),), author="yolo-v8",
                       source="model")
    p.add_annotations([model])
    final = _final_regions(p)
    assert final[1] == [Box(0, 0, 5, 5, "dog")] and final[2] == [Box(0, 0, 3, 3, "cat")]
    _, human = pipeline.read_final(p, human_only=True)
    assert human[2].author == "ana" and human[1].author == "bob"
    _, ana = pipeline.read_final(p, "annotator:ana")
    assert ana[1].id == first.id and all(a.author == "ana" for a in ana.values())
    with pytest.raises(FormatError, match="unknown consensus method 'vote'"):
        export(p, "coco", tmp_path / "x", policy="consensus:vote")
    with pytest.raises(FormatError, match="needs the project"):
        select_final(p.annotation_objects(), {}, "consensus")
    with pytest.raises(FormatError, match="'latest'"):
        export(p, "coco", tmp_path / "x", policy="newest")
    assert not (tmp_path / "x").exists()


def test_select_final_skips_rejected_and_corrected() -> None:
    a1 = Annotation(item_id=1, regions=(Box(0, 0, 1, 1, "a"),), author="ana")
    a2 = Annotation(item_id=1, regions=(Box(0, 0, 2, 2, "a"),), author="ana")
    b1 = Annotation(item_id=2, regions=(Box(0, 0, 1, 1, "a"),), author="ana")
    b2 = b1.correct([Box(0, 0, 3, 3, "a")], author="rev")
    statuses = {a2.id: "reject", b1.id: "correct"}
    final = select_final([a1, a2, b1, b2], statuses)
    assert final[1] is a1 and final[2] is b2
    assert select_final([a1, a2, b1, b2], statuses, "annotator:ana")[2] is b1
    assert select_final([a1], {a1.id: "reject"}) == {}


def test_label_map_filter_and_unlabeled(tmp_path: Path, images: list[Path]) -> None:
    p = Project.create(tmp_path / "q.db", "q", Schema("boxes", ["cat", "dog", "fox"]))
    ids = p.add_items([str(f) for f in images[:6]])
    p.add_annotations([Annotation(item_id=i, regions=(Box(0, 0, 4, 4, "cat"),
                                                      Box(1, 1, 5, 5, "fox")), author="ana")
                       for i in ids[:4]])
    rep = export(p, "yolo", tmp_path / "y", label_map={"cat": "animal", "dog": "animal",
                                                       "fox": None},
                 filter=lambda r: r.item_id != ids[0], progress=True)
    assert rep.categories == {0: "animal"} and rep.unlabeled == 2 and rep.filtered == 1
    assert rep.items == 3 and rep.regions == 3 and rep.regions_dropped == 4
    assert yolo.read_data_yaml(tmp_path / "y" / "data.yaml")["names"] == {0: "animal"}
    with pytest.raises(FormatError, match="not labels of the schema"):
        export(p, "coco", tmp_path / "z", label_map={"wolf": "dog"})


def test_filter_sees_records(boxes_project: Project, tmp_path: Path) -> None:
    seen: list[ExportRecord] = []

    def keep(r: ExportRecord) -> bool:
        seen.append(r)
        return True

    export(boxes_project, "coco", tmp_path / "c", media="none", filter=keep)
    assert len(seen) == 12 and all(r.uri and r.width > 0 for r in seen)


def test_wrong_kind_and_format(tmp_path: Path) -> None:
    p = Project.create(tmp_path / "t.db", "t", Schema("choice", ["pos", "neg"]))
    with pytest.raises(FormatError, match="holds boxes / polygons / masks"):
        export(p, "coco", tmp_path / "x")
    with pytest.raises(FormatError, match="expected one of"):
        export(p, "tfrecord", tmp_path / "x")  # type: ignore[arg-type]


def _key(b: Box) -> tuple[str, int, int, int, int]:
    return (b.label, round(b.x0), round(b.y0), round(b.x1), round(b.y1))


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_import_round_trip(boxes_project: Project, tmp_path: Path, fmt: str) -> None:
    export(boxes_project, fmt, tmp_path / "out", split={"train": 0.5, "val": 0.5})  # type: ignore[arg-type]
    q = Project.create(tmp_path / f"{fmt}.db", "imported", Schema("boxes", ["cat", "dog"]))
    rep = import_dataset(q, fmt, tmp_path / "out")  # type: ignore[arg-type]
    assert rep.items == 12
    src = {Path(boxes_project.item(i).uri or "").name: r
           for i, r in _final_regions(boxes_project).items()}
    got = {Path(q.item(i).uri or "").name: r for i, r in _final_regions(q).items()}
    assert got.keys() == src.keys()
    tol = 1e-3 if fmt == "yolo" else 0.0  # YOLO writes six decimals of normalized values
    for name, regs in src.items():
        a_, b_ = sorted(got[name], key=_key), sorted(regs, key=_key)
        assert [b.label for b in a_] == [b.label for b in b_], name
        for x, y in zip(a_, b_, strict=True):
            assert max(abs(u - v) for u, v in zip((x.x0, x.y0, x.x1, x.y1),
                                                  (y.x0, y.y0, y.x1, y.y1), strict=True)) <= tol
    a = q.annotation_objects()[0]
    assert a.author == f"import:{fmt}" and a.source == "human"
    meta = q.item(a.item_id).meta
    assert meta["import"]["format"] == fmt and meta["import"]["split"] in ("train", "val")


def test_import_refuses_unknown_labels_and_writes_nothing(boxes_project: Project,
                                                          tmp_path: Path) -> None:
    export(boxes_project, "coco", tmp_path / "out")
    q = Project.create(tmp_path / "x.db", "x", Schema("boxes", ["cat"]))
    with pytest.raises(FormatError, match="'dog' is not in the schema"):
        import_dataset(q, "coco", tmp_path / "out")
    assert q.items().empty
    rep = import_dataset(q, "coco", tmp_path / "out", label_map={"dog": None})
    assert rep.items == 12


def test_import_missing_image(tmp_path: Path) -> None:
    data = coco.to_coco([ImageRecord(1, "gone.jpg", 10, 10)], {}, ["cat"])
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    q = Project.create(tmp_path / "x.db", "x", Schema("boxes", ["cat"]))
    with pytest.raises(FormatError, match="'gone.jpg'.*not on disk"):
        import_dataset(q, "coco", tmp_path)


def test_empty_split_is_reported(boxes_project: Project, tmp_path: Path) -> None:
    rep = export(boxes_project, "yolo", tmp_path / "y",
                 split={"train": 0.98, "val": 0.01, "test": 0.01})
    assert rep.splits["train"] >= 10 and rep.warnings
    assert "received no items" in rep.warnings[0]
    data = yolo.read_data_yaml(tmp_path / "y" / "data.yaml")
    if rep.splits["val"] == 0:
        assert data["val"] == "images/train"


# --- policy="consensus" ------------------------------------------------------------------


def _label(p: Project, answers: dict[str, dict[int, Any]], *, stop: dict[str, int]
           | None = None) -> None:
    """answers: annotator → item id → regions; each annotator works their queue, and
    stops (leaving the task claimed) at the item ``stop`` names."""
    for who, by_item in answers.items():
        q = p.queue(who)
        while (task := q.claim()) is not None:
            if stop and stop.get(who) == task.item_id:
                break
            q.submit(by_item[task.item_id])


def test_consensus_policy_on_a_choice_project(tmp_path: Path) -> None:
    """Three annotators (overlap 3), majority: unanimous and majority items are
    exported with the consensus label; no-majority, pending and unlabeled items are
    left out and counted with the reason. Exporting stores and queues nothing."""
    p = Project.create(tmp_path / "c.db", "c", Schema("choice", ["pos", "neg", "mixed"]),
                       overlap=3)
    great, fine, odd, late, fresh = p.add_items(["great", "fine", "odd", "late", "fresh"])
    # fresh: everyone stops before it; late: cy stops before it (2 of 3 annotations)
    answers = {
        "ana": {great: Choice("pos"), fine: Choice("pos"), odd: Choice("pos"),
                late: Choice("neg"), fresh: Choice("pos")},
        "bob": {great: Choice("pos"), fine: Choice("pos"), odd: Choice("neg"),
                late: Choice("neg"), fresh: Choice("pos")},
        "cy": {great: Choice("pos"), fine: Choice("neg"), odd: Choice("mixed"),
               late: Choice("neg"), fresh: Choice("pos")},
    }
    _label(p, answers, stop={"ana": fresh, "bob": fresh, "cy": late})
    tasks_before, anns_before = len(p.tasks()), len(p.annotations())
    _, final = pipeline.read_final(p, "consensus")
    assert {i: [r.label for r in a.regions] for i, a in final.items()} == {
        great: ["pos"], fine: ["pos"]}
    rep = export(p, "webdataset", tmp_path / "w", policy="consensus")
    assert (rep.items, rep.regions, rep.unlabeled) == (2, 2, 3)
    assert rep.unlabeled_reasons == {
        "no consensus: no majority, waiting for adjudication": 1,
        "consensus pending: 2 annotations in, waiting for the other annotators": 1,
        "no annotations": 1}
    assert "no majority, waiting for adjudication: 1" in str(rep)
    assert rep.splits == {"all": 2}
    from labelnb.formats.webdataset import load_webdataset

    got = {int(s.annotation["id"]): s.regions for s in load_webdataset(tmp_path / "w")}
    assert got == {great: (Choice("pos"),), fine: (Choice("pos"),)}
    manifest = orjson.loads((tmp_path / "w" / "labelnb_export.json").read_bytes())
    assert manifest["policy"] == "consensus"
    assert {m["item_id"]: m["tier"] for m in manifest["images"]} == {great: "unanimous",
                                                                      fine: "majority"}
    assert all(m["annotation_id"] is None for m in manifest["images"])  # not stored yet
    assert sorted((m["item_id"], m["reason"].split(":")[0]) for m in manifest["left_out"]) == \
        sorted([(odd, "no consensus"), (late, "consensus pending"), (fresh, "no annotations")])
    assert (len(p.tasks()), len(p.annotations())) == (tasks_before, anns_before)  # read only

    # once project.consensus() has stored the consensus, the export points at it; an
    # expert's adjudication makes the no-majority item exportable
    p.consensus()
    p.annotators.add("eve", role="annotator", qualifications=["expert"])
    aq = p.adjudication_queue("eve")
    assert aq.claim() is not None
    aq.submit(Choice("mixed"))
    rep2 = export(p, "hf", tmp_path / "h", policy="consensus", split={"train": 0.5,
                                                                       "val": 0.5})
    assert rep2.items == 3 and rep2.unlabeled == 2 and sum(rep2.splits.values()) == 3
    m2 = orjson.loads((tmp_path / "h" / "labelnb_export.json").read_bytes())
    tiers = {m["item_id"]: m["tier"] for m in m2["images"]}
    assert tiers == {great: "unanimous", fine: "majority", odd: "adjudicated"}
    stored = {a.id: a for a in p.annotation_objects()}
    for m in m2["images"]:
        a = stored[m["annotation_id"]]
        assert a.item_id == m["item_id"]
        assert a.source == ("human" if m["item_id"] == odd else "consensus")
    from labelnb.formats.hf import load_hf

    back = {t.id: t.regions for part in load_hf(tmp_path / "h").values()
            for t in part}  # type: ignore[union-attr]
    assert back == {great: (Choice("pos"),), fine: (Choice("pos"),), odd: (Choice("mixed"),)}


def test_consensus_policy_on_a_boxes_project(tmp_path: Path, images: list[Path]) -> None:
    """Geometry consensus: agreeing boxes are fused (corners averaged), a reviewer's
    correction of a consensus is what is exported, and an item whose boxes do not
    agree is left out."""
    p = Project.create(tmp_path / "b.db", "b", Schema("boxes", ["cat", "dog"]), overlap=3)
    a, b, c = p.add_items([str(images[i]) for i in (1, 2, 4)])  # 64 x 48
    answers: dict[str, dict[int, Any]] = {
        "ana": {a: [Box(10, 10, 20, 20, "cat")], b: [Box(0, 0, 8, 8, "dog")],
                c: [Box(1, 1, 9, 9, "cat")]},
        "bob": {a: [Box(12, 10, 22, 20, "cat")], b: [Box(0, 0, 8, 8, "dog")],
                c: [Box(20, 20, 30, 30, "cat")]},
        "cy": {a: [Box(30, 30, 45, 40, "cat")], b: [Box(1, 0, 9, 8, "dog")],
               c: [Box(30, 2, 38, 12, "dog")]},
    }
    _label(p, answers)
    rep = export(p, "coco", tmp_path / "coco", policy="consensus", media="none")
    assert (rep.items, rep.unlabeled) == (2, 1)
    assert rep.unlabeled_reasons == {"no consensus: no majority, waiting for adjudication": 1}
    gt = coco.check_with_pycocotools(tmp_path / "coco" / "annotations.json")
    manifest = orjson.loads((tmp_path / "coco" / "labelnb_export.json").read_bytes())
    img_of = {m["file_name"]: m["item_id"] for m in manifest["images"]}
    boxes = {img_of[gt.loadImgs(i)[0]["file_name"]]: [x["bbox"] for x in gt.loadAnns(
        gt.getAnnIds(imgIds=[i]))] for i in gt.getImgIds()}
    assert boxes[a] == [[11.0, 10.0, 10.0, 10.0]]  # ana and bob fused; cy outvoted
    assert boxes[b] == [[pytest.approx(1 / 3), 0.0, 8.0, 8.0]]  # all three fused
    assert {m["item_id"]: m["tier"] for m in manifest["images"]} == {a: "majority",
                                                                      b: "unanimous"}
    # a reviewer corrects the majority consensus of a: the correction is exported
    p.consensus()
    p.annotators.add("rita", role="reviewer")
    rq = p.review_queue("rita")
    assert rq.claim() is not None
    rq.correct([Box(10, 10, 21, 21, "dog")])
    _, final = pipeline.read_final(p, "consensus")
    assert final[a].regions == (Box(10, 10, 21, 21, "dog"),) and final[a].author == "rita"
    assert c not in final
    cons = pipeline.consensus_final(p)
    assert (cons.tiers[a], cons.statuses[a]) == ("majority", "corrected")
    assert cons.left_out == {c: "no consensus: no majority, waiting for adjudication"}
    rep2 = export(p, "voc", tmp_path / "voc", policy="consensus")
    assert rep2.items == 2 and rep2.regions == 2
    m2 = orjson.loads((tmp_path / "voc" / "labelnb_export.json").read_bytes())
    assert {m["item_id"]: (m["tier"], m["status"]) for m in m2["images"]} == {
        a: ("majority", "corrected"), b: ("unanimous", "accepted")}
    assert next(m for m in m2["images"] if m["item_id"] == a)["annotation_id"] == final[a].id
    back = {Path(im.file_name).name: im for im in voc.load_voc(tmp_path / "voc").images}
    assert len(back) == 2


# --- text exports: split counts and regions -------------------------------------------


def _spans(tmp_path: Path) -> Project:
    p = Project.create(tmp_path / "s.db", "s", Schema("spans", ["PER", "LOC"]))
    texts = ["Anna lives in Rome.", "Bob met Bobby"]
    p.add_items(texts)
    gold = {texts[0]: [Span(0, 4, "PER"), Span(14, 18, "LOC")],
            texts[1]: [Span(0, 3, "PER"), Span(8, 11, "PER")]}  # [8:11] cuts "Bobby"
    q = p.queue("ana")
    while (task := q.claim()) is not None:
        q.submit(gold[task.item.text or ""])
    return p


@pytest.mark.parametrize("fmt", ["spacy", "hf", "webdataset"])
def test_text_exports_count_texts_in_splits(tmp_path: Path, fmt: str) -> None:
    """Without split=, a text export reports {"all": n texts} (it said 0: only images
    were counted), and its regions are those the export holds: the span the token
    alignment left out is not counted."""
    p = _spans(tmp_path)
    rep = export(p, fmt, tmp_path / fmt)  # type: ignore[arg-type]
    assert rep.items == 2 and rep.splits == {"all": 2}
    assert "(all: 2)" in str(rep)
    if fmt == "webdataset":  # no tokens: every span is held as given
        assert rep.regions == 4 and rep.alignment is None
    else:
        assert rep.alignment is not None and rep.alignment["dropped"] == 1
        assert rep.regions == 3
        moved = export(p, fmt, tmp_path / f"{fmt}-x",  # type: ignore[arg-type]
                       options={"alignment_mode": "expand"})
        assert moved.regions == 4 and moved.alignment is not None
        assert moved.alignment["moved"] == 1
    manifest = orjson.loads((tmp_path / fmt / "labelnb_export.json").read_bytes())
    assert manifest["report"]["splits"] == {"all": 2}
    assert manifest["report"]["regions"] == rep.regions
    split = export(p, fmt, tmp_path / f"{fmt}-s",  # type: ignore[arg-type]
                   split={"train": 0.5, "val": 0.5}, seed=1)
    assert sum(split.splits.values()) == 2


def test_export_refuses_machine_labels_in_evaluation_splits_unless_overridden(tmp_path: Path
                                                                             ) -> None:
    import labelnb
    from labelnb.errors import CircularValidationError

    p = labelnb.Project.create(tmp_path / "g.db", "g", labelnb.Schema("choice", ["a", "b"]))
    ids = p.add_items([f"text {i}" for i in range(20)])
    q = p.queue("ana")
    for _ in range(10):
        t = q.claim()
        assert t is not None
        q.submit([labelnb.Choice("a" if t.item.id % 2 else "b")])
    # the other ten are labeled by a model only
    p.add_annotations([labelnb.Annotation(item_id=i, regions=(labelnb.Choice("a"),),
                                          author="model-v1", source="model")
                       for i in ids if i not in set(p.annotations()["item_id"])])
    split = {"train": 0.5, "test": 0.5}
    # the fix it names is export()'s own arguments
    with pytest.raises(CircularValidationError,
                       match=r"test.*allow_machine_eval=True, eval_reason='\.\.\.'"):
        labelnb.export(p, "hf", tmp_path / "out", split=split)
    assert not (tmp_path / "out").exists()  # nothing half-written
    rep = labelnb.export(p, "hf", tmp_path / "out", split=split, allow_machine_eval=True,
                         eval_reason="smoke test of the pipeline")
    assert rep is not None
    ev = p.events()
    assert "smoke test of the pipeline" in " ".join(map(str, ev["payload"]))
    # human-only exports pass the guard without an override
    labelnb.export(p, "hf", tmp_path / "human", split=split, human_only=True)
    # an evaluation split by another spelling is one all the same
    for name in ("Val", "valid", "dev"):
        with pytest.raises(CircularValidationError, match=name):
            labelnb.export(p, "hf", tmp_path / f"o-{name}", split={"train": 0.5, name: 0.5})
    with pytest.raises(FormatError, match="without spaces around it"):
        labelnb.export(p, "hf", tmp_path / "sp", split={"train": 0.5, "test ": 0.5},
                       human_only=True)


def test_an_empty_project_says_it_has_no_items(tmp_path: Path) -> None:
    from labelnb import Schema
    from labelnb.formats import Problem

    p = Project.create(tmp_path / "e.db", "e", Schema("boxes", ["a"]))
    with pytest.raises(FormatError, match="it has no image items; add items and label them"):
        export(p, "coco", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    p.close()
    # a problem located by its line alone names the line once
    assert str(Problem("line 3", "text", "missing", "line 3")) == "line 3: field 'text': missing"


@pytest.mark.parametrize("split, val", [({"train": .7, "validation": .3}, "validation"),
                                        ({"training": .7, "dev": .3}, "dev"),
                                        ({"all": .5, "val": .5}, "val")])
def test_yolo_validates_on_the_held_out_split_whatever_its_name(
        boxes_project: Project, tmp_path: Path, split: dict[str, float], val: str) -> None:
    """data.yaml's `val` is the held-out split (it pointed at the training images when the
    split was called "validation"), and splits with other names read back by folder."""
    from ultralytics.data.utils import check_det_dataset

    out = tmp_path / "y"
    export(boxes_project, "yolo", out, split=split)
    info = check_det_dataset(str(out / "data.yaml"), autodownload=False)
    assert Path(info["val"]).name == val
    assert Path(info["train"]).name != val


def test_yolo_import_without_image_folders_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "data.yaml").write_text("names: {0: cat, 1: dog}\n")
    with pytest.raises(FormatError, match="names no image folder"):
        yolo.load_yolo(tmp_path)


def test_label_map_that_merges_two_classes_keeps_one(tmp_path: Path) -> None:
    """[funny, sad] with {"funny": "sad"} is one 'sad', not the same class twice (which
    the project itself refuses); the merged copy counts as dropped by the label map."""
    pytest.importorskip("datasets")
    from datasets import load_from_disk

    p = Project.create(tmp_path / "m.db", "m", Schema("multi_choice", ["funny", "sad", "long"]))
    [i, j] = p.add_items(["a film", "another film"])
    p.add_annotations([Annotation(item_id=i, regions=(Choice("funny"), Choice("sad")),
                                  author="ana"),
                       Annotation(item_id=j, regions=(Choice("long"),), author="ana")])
    rep = export(p, "hf", tmp_path / "hf", label_map={"funny": "sad"})
    assert rep.regions == 2 and rep.regions_dropped == 1
    ds = load_from_disk(str(tmp_path / "hf"))
    names = ds.features["labels"].feature.names
    assert sorted([names[k] for k in row["labels"]] for row in ds) == [["long"], ["sad"]]


def test_a_class_example_whose_label_the_map_drops_is_left_out(tmp_path: Path) -> None:
    """It was written with label -1 (no class), which a classifier's loss cannot take."""
    pytest.importorskip("datasets")
    from datasets import load_from_disk

    p = Project.create(tmp_path / "c.db", "c", Schema("choice", ["a", "b", "c"]))
    ids = p.add_items(["one", "two", "three"])
    p.add_annotations([Annotation(item_id=i, regions=(Choice(lab),), author="ana")
                       for i, lab in zip(ids, "abc", strict=True)])
    rep = export(p, "hf", tmp_path / "hf", label_map={"b": None})
    assert rep.items == 2 and rep.unlabeled == 1
    assert rep.unlabeled_reasons == {"label_map dropped every label it had": 1}
    assert sorted(load_from_disk(str(tmp_path / "hf"))["label"]) == [0, 1]


def test_a_span_given_twice_is_refused(tmp_path: Path) -> None:
    """The same span twice in one annotation made consensus see a disagreement between
    annotators who agreed; an import keeps a file's exact repeats once."""
    p = Project.create(tmp_path / "s.db", "s", Schema("spans", ["PER"]))
    [i] = p.add_items(["Anna flew"])
    with pytest.raises(SchemaError, match=r"region 1: span \[0:4\] 'PER' is given twice"):
        p.add_annotations([Annotation(item_id=i, regions=(Span(0, 4, "PER"), Span(0, 4, "PER")),
                                      author="ana")])
    path = tmp_path / "dup.jsonl"
    path.write_text(json.dumps({"text": "Bob ran", "spans": [
        {"start": 0, "end": 3, "label": "PER"}, {"start": 0, "end": 3, "label": "PER"}]}) + "\n",
        encoding="utf-8")
    import_dataset(p, "jsonl", path)
    [ann] = p.annotation_objects()
    assert ann.regions == (Span(0, 3, "PER"),)
