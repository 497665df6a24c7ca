"""The importer: all-or-nothing (one transaction, SQLite and PostgreSQL), every problem
in one error (item, field, fix), the bad-input policy, and predictions."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from labelnb.errors import FormatError
from labelnb.formats import FormatProblems, ImageRecord, Problem, export, import_dataset
from labelnb.formats.jsonl import JsonlRecord, save_jsonl
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Choice, Mask, Span


def _counts(p: Project) -> dict[str, int]:
    """Everything an import could write."""
    return {"items": len(p.items()), "annotations": len(p.annotations()),
            "predictions": len(p.predictions()), "tasks": len(p.tasks()),
            "events": len(p.events())}


def _coco_file(root: Path, images: list[Path], annotations: list[dict[str, Any]],
               categories: list[dict[str, Any]] | None = None) -> Path:
    """A COCO file beside copies of the images (64x48 and 40x72 ones from conftest)."""
    root.mkdir(parents=True, exist_ok=True)
    recs = []
    for i, f in enumerate(images, start=1):
        shutil.copy(f, root / f.name)
        from PIL import Image

        with Image.open(f) as im:
            recs.append({"id": i, "file_name": f.name, "width": im.width, "height": im.height})
    data = {"images": recs, "annotations": annotations,
            "categories": categories or [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    path = root / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def _ann(aid: int, image_id: int, cat: int, bbox: list[float] | None = None,
         seg: Any = None) -> dict[str, Any]:
    a: dict[str, Any] = {"id": aid, "image_id": image_id, "category_id": cat}
    if bbox is not None:
        a["bbox"] = bbox
    if seg is not None:
        a["segmentation"] = seg
    return a


def _seeded(url: str, images: list[Path], kind: str = "boxes") -> Project:
    """A project that already holds one labeled item (so 'nothing new' means something)."""
    p = Project.create(url, "imp", Schema(kind, ["cat", "dog"]))  # type: ignore[arg-type]
    [iid] = p.add_items([str(images[-1])])
    if kind == "boxes":
        p.add_annotations([Annotation(item_id=iid, regions=(Box(1, 1, 5, 5, "cat"),),
                                      author="ana")])
    return p


# --- all or nothing, every problem -----------------------------------------------------


def test_bad_file_lists_every_problem_and_imports_nothing(db_url: str, tmp_path: Path,
                                                          images: list[Path]) -> None:
    """One good annotation and three bad ones (each wrong in another field): the error
    names all three, with image and field, and the database gains nothing."""
    path = _coco_file(tmp_path / "c", images[:2], [
        _ann(1, 1, 1, [2, 3, 10, 10]),  # good
        _ann(2, 1, 1, [60, 0, 10, 5]),  # outside the 64x48 image
        _ann(3, 2, 7, [1, 1, 2, 2]),  # no category 7
        _ann(4, 2, 2, seg=[[1, 1, 5, 5]]),  # a polygon of 2 points
    ])
    p = _seeded(db_url, images)
    before = _counts(p)
    with pytest.raises(FormatProblems) as ei:
        import_dataset(p, "coco", path)
    err = ei.value
    got = sorted((q.item, q.field) for q in err.problems)
    assert got == [(f"image {images[0].name!r}", "bbox"),
                   (f"image {images[1].name!r}", "category_id"),
                   (f"image {images[1].name!r}", "segmentation")]
    msg = str(err)
    assert "3 problems" in msg and "nothing was imported" in msg
    for q in err.problems:  # each line of the message names image, field and a fix
        assert str(q) in msg and ";" in q.message
    assert "annotation 2" in msg and "annotation 3" in msg and "annotation 4" in msg
    assert "box_policy='clip'" in msg and "at least 3 points" in msg
    assert _counts(p) == before
    p.close()


def test_every_bad_line_of_a_jsonl_file_is_reported(db_url: str, tmp_path: Path) -> None:
    lines = [
        {"text": "Anna flew to Paris", "spans": [{"start": 0, "end": 4, "label": "PER"}]},
        {"text": "Bob", "spans": [{"start": 0, "end": 9, "label": "PER"}]},  # past the end
        {"text": "Carl", "spans": [{"start": 0, "end": 4, "label": "ORG"}]},  # not in schema
        {"text": "Dora", "span": [{"start": 0, "end": 4, "label": "PER"}]},  # typo'd key
        "not json",
    ]
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    p = Project.create(db_url, "t", Schema("spans", ["PER", "LOC"]))
    before = _counts(p)
    with pytest.raises(FormatProblems) as ei:
        import_dataset(p, "jsonl", path)
    got = sorted((q.item, q.field, q.where) for q in ei.value.problems)
    assert got == [("line 5", "(line)", ""), ("text 'Bob'", "spans[0]", "line 2"),
                   ("text 'Carl'", "label", "line 3, region 0"),
                   ("text 'Dora'", "span", "line 4")]
    assert "outside the text" in str(ei.value) and "'ORG' is not in the schema" in str(ei.value)
    assert _counts(p) == before
    p.close()


@pytest.mark.parametrize("fmt", ["jsonl", "label_studio"])
def test_a_folder_where_a_file_is_expected_is_named(fmt: str, tmp_path: Path) -> None:
    p = Project.create(tmp_path / "f.db", "t", Schema("spans", ["PER"]))
    with pytest.raises(FormatError, match=f"{fmt} import: .* is a folder; give"):
        import_dataset(p, fmt, tmp_path)  # type: ignore[arg-type]
    p.close()


def test_a_failure_while_writing_rolls_back_the_items(db_url: str, tmp_path: Path,
                                                      images: list[Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks pass and the items are written; the annotations then fail (here on
    purpose): the items must be gone too - one transaction."""
    path = _coco_file(tmp_path / "c", images[:3], [_ann(1, 1, 1, [2, 3, 10, 10])])
    p = _seeded(db_url, images)
    before = _counts(p)
    real_add_items = p.add_items
    seen: list[int] = []

    def add_items(*a: Any, **kw: Any) -> list[int]:
        ids = real_add_items(*a, **kw)  # written, inside the (uncommitted) transaction,
        seen.extend(ids)  # so another connection does not see them yet
        assert len(p.items()) == before["items"]
        return ids

    def boom(*_: Any, **__: Any) -> list[str]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(p, "add_items", add_items)
    monkeypatch.setattr(p, "add_annotations", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        import_dataset(p, "coco", path)
    assert len(set(seen)) == 3 and min(seen) > max(p.items()["id"])  # new rows, undone
    assert _counts(p) == before
    monkeypatch.undo()
    rep = import_dataset(p, "coco", path)  # and it works once nothing fails
    assert rep.items == 3 and _counts(p)["items"] == before["items"] + 3
    p.close()


def test_a_failing_prediction_write_rolls_back_items_and_annotations(
        db_url: str, tmp_path: Path, images: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([_ls_image_task(images[1], 64, 48)]))
    p = _seeded(db_url, images)
    before = _counts(p)

    def boom(*_: Any, **__: Any) -> int:
        raise RuntimeError("lost connection")

    monkeypatch.setattr(p, "add_predictions", boom)
    with pytest.raises(RuntimeError, match="lost connection"):
        import_dataset(p, "label_studio", path, images=images[1].parent,
                       options={"ignore_types": ["polygonlabels"]})
    assert _counts(p) == before
    p.close()


def test_atomic_blocks_nest_and_roll_back(tmp_path: Path, images: list[Path]) -> None:
    p = Project.create(tmp_path / "a.db", "a", Schema("boxes", ["cat"]))
    with p.atomic():
        [a] = p.add_items([str(images[0])])
        with pytest.raises(RuntimeError), p.atomic():  # an inner block: a savepoint
            p.add_items([str(images[1])])
            raise RuntimeError("inner")
        p.add_annotations([Annotation(item_id=a, regions=(Box(0, 0, 2, 2, "cat"),),
                                      author="ana")])
    assert list(p.items()["id"]) == [a] and len(p.annotations()) == 1
    with pytest.raises(RuntimeError), p.atomic():
        p.add_items([str(images[2])])
        raise RuntimeError("outer")
    assert list(p.items()["id"]) == [a]


# --- the bad-input policy -----------------------------------------------------------------


def _import_problems(p: Project, fmt: str, path: Path, **kw: Any) -> list[Problem]:
    with pytest.raises(FormatProblems) as ei:
        import_dataset(p, fmt, path, **kw)  # type: ignore[arg-type]
    return ei.value.problems


def test_box_outside_the_image_is_rejected_or_clipped(tmp_path: Path,
                                                      images: list[Path]) -> None:
    path = _coco_file(tmp_path / "c", images[1:2], [_ann(1, 1, 1, [50, -4, 20, 20])])
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    [prob] = _import_problems(p, "coco", path)
    assert (prob.field, prob.where) == ("bbox", "annotations.json, annotation 1")
    assert "lies outside the image (64x48)" in prob.message
    rep = import_dataset(p, "coco", path, box_policy="clip")
    assert rep.regions == 1 and len(rep.warnings) == 1
    assert "clipped [50, -4, 70, 16] to [50, 0, 64, 16]" in rep.warnings[0]
    [ann] = p.annotation_objects()
    assert ann.regions == (Box(50, 0, 64, 16, "cat"),)
    with pytest.raises(FormatError, match="box_policy='crop'; expected 'reject'"):
        import_dataset(p, "coco", path, box_policy="crop")  # type: ignore[arg-type]


def test_box_entirely_outside_cannot_be_clipped(tmp_path: Path, images: list[Path]) -> None:
    path = _coco_file(tmp_path / "c", images[1:2], [_ann(1, 1, 1, [70, 5, 10, 10])])
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    [prob] = _import_problems(p, "coco", path, box_policy="clip")
    assert prob.field == "bbox" and "no area once clipped" in prob.message


@pytest.mark.parametrize("ann, field, message", [
    (_ann(1, 1, 1, [5, 5, 0, 10]), "bbox", "has no area (0 x 10 px)"),
    (_ann(1, 1, 1, [5, 5, -3, 10]), "bbox", "negative size"),
    (_ann(1, 1, 1, seg=[[1, 1, 5, 5, 9, 9]]), "segmentation", "polygon (3 points) has no area"),
    (_ann(1, 1, 1, seg=[[1, 1, 5, 5]]), "segmentation", "has 2 points"),
    (_ann(1, 1, 1, seg=[[1, 1, 5, 5, 9]]), "segmentation", "has 5 values"),
    (_ann(1, 1, 1, seg={"size": [10, 10], "counts": [100]}), "segmentation",
     "RLE size [10, 10] (h, w) is not the image's [48, 64]"),
    (_ann(1, 1, 1, seg={"size": [48, 64], "counts": [5, 7]}), "segmentation",
     "sum to 12 pixels, but the 48x64 image has 3072"),
    (_ann(1, 9, 1, [1, 1, 2, 2]), "image_id", "image_id 9 is not among the images"),
    (_ann(1, 1, 3, [1, 1, 2, 2]), "category_id", "were the ids shifted by one?"),
])
def test_bad_coco_annotations_name_image_and_field(tmp_path: Path, images: list[Path],
                                                   ann: dict[str, Any], field: str,
                                                   message: str) -> None:
    path = _coco_file(tmp_path / "c", images[1:2], [ann])
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    [prob] = _import_problems(p, "coco", path)
    assert prob.field == field and message in prob.message, prob
    assert prob.item == (f"image {images[1].name!r}" if field != "image_id" else "annotation 1")
    assert p.items().empty


def test_rle_counts_of_another_size_are_refused(tmp_path: Path, images: list[Path]) -> None:
    small = mask_utils.encode(np.asfortranarray(np.ones((10, 10), dtype=np.uint8)))
    seg = {"size": [48, 64], "counts": small["counts"].decode()}  # encoded at 10x10
    path = _coco_file(tmp_path / "c", images[1:2], [_ann(1, 1, 1, seg=seg)])
    p = Project.create(tmp_path / "p.db", "p", Schema("masks", ["cat", "dog"]))
    [prob] = _import_problems(p, "coco", path)
    assert prob.field == "segmentation" and "covers 100 pixels" in prob.message
    big = Mask.from_array(np.zeros((20, 30), dtype=bool), "cat")
    path = _coco_file(tmp_path / "d", images[1:2], [_ann(1, 1, 1, seg=big.rle)])
    [prob] = _import_problems(p, "coco", path)
    assert "the mask is 20x30 (h x w) but the image is 48x64" in prob.message


@pytest.mark.parametrize("base", [0, 1, 5])
def test_category_ids_of_any_base_are_read_by_their_names(tmp_path: Path, images: list[Path],
                                                          base: int) -> None:
    cats = [{"id": base, "name": "dog"}, {"id": base + 1, "name": "cat"}]
    path = _coco_file(tmp_path / "c", images[1:2], [_ann(1, 1, base, [1, 1, 4, 4]),
                                                    _ann(2, 1, base + 1, [5, 5, 4, 4])], cats)
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    import_dataset(p, "coco", path)
    assert [r.label for r in p.annotation_objects()[0].regions] == ["dog", "cat"]


def test_duplicated_ids_are_problems(tmp_path: Path, images: list[Path]) -> None:
    cats = [{"id": 1, "name": "cat"}, {"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]
    path = _coco_file(tmp_path / "c", images[1:3], [_ann(1, 1, 1, [1, 1, 4, 4]),
                                                    _ann(1, 1, 2, [1, 1, 4, 4])], cats)
    data = json.loads(path.read_text())
    data["images"][1]["id"] = 1  # two images with id 1
    path.write_text(json.dumps(data))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    got = {(q.field, q.message.split(";")[0]) for q in _import_problems(p, "coco", path)}
    assert ("id", "category id 1 is used twice (also by 'cat')") in got
    assert ("name", "the name is used by ids 1 and 2") in got
    assert any(f == "id" and "image id 1 is used twice" in m for f, m in got)
    assert any(f == "id" and "annotation id 1 is used twice" in m for f, m in got)
    assert len(got) == 4


def test_yolo_classes_counted_from_one(tmp_path: Path, images: list[Path]) -> None:
    root = tmp_path / "y"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    shutil.copy(images[1], root / "images" / "train" / images[1].name)
    (root / "labels" / "train" / f"{images[1].stem}.txt").write_text(
        "1 0.5 0.5 0.25 0.5\n2 0.25 0.25 0.1 0.1\n")
    (root / "data.yaml").write_text("train: images/train\nnames: {1: cat, 2: dog}\n")
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    import_dataset(p, "yolo", root)
    regs = p.annotation_objects()[0].regions
    assert [r.label for r in regs] == ["cat", "dog"]
    assert regs[0] == Box(24, 12, 40, 36, "cat")
    # the same file with names as a list: index 2 is past the end, and the hint says why
    (root / "data.yaml").write_text("train: images/train\nnames: [cat, dog]\n")
    [prob] = _import_problems(Project.create(tmp_path / "q.db", "q", p.schema), "yolo", root)
    assert prob.field == "class" and "key the names from 1" in prob.message
    assert prob.item.startswith(f"image {images[1].name!r}") and prob.where == "line 2"


def test_yolo_and_voc_bad_lines(tmp_path: Path, images: list[Path]) -> None:
    ds_dir = tmp_path / "y"
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    from labelnb.formats import Dataset, voc, yolo

    ds = Dataset([ImageRecord(1, images[1].name, 64, 48, uri=str(images[1]))],
                 {1: [Box(1, 1, 9, 9, "cat")]}, ["cat", "dog"])
    yolo.save_yolo(ds, ds_dir)
    lab = ds_dir / "labels" / "train" / f"{images[1].stem}.txt"
    lab.write_text("0 0.5 0.5 0 0.2\n0 1.5 0.5 0.2 0.2\n1 0.5 0.5 0.2\n0 0.1 0.1 0.05 0.05\n")
    got = [(q.where, q.field) for q in _import_problems(p, "yolo", ds_dir)]
    assert got == [("line 1", "cx cy w h"), ("line 2", "cx cy w h"), ("line 3", "coordinates")]
    voc_dir = tmp_path / "v"
    voc.save_voc(ds, voc_dir)
    xml = voc_dir / "Annotations" / f"{images[1].stem}.xml"
    obj = ("<object><name>dog</name><bndbox><xmin>3</xmin><ymin>3</ymin><xmax>{}</xmax>"
           "<ymax>9</ymax></bndbox></object>")
    text = xml.read_text().replace("<xmax>9</xmax>", "<xmax>1</xmax>")  # xmin 2: no pixel
    xml.write_text(text.replace("</annotation>", obj.format(90) + obj.format(1)
                                + "</annotation>"))
    got = [(q.where.split(", ")[-1], q.field, q.message[:30])
           for q in _import_problems(p, "voc", voc_dir)]
    assert got == [("object #0", "bndbox", "the box [1, 1, 1, 9] has no ar"),
                   ("object #1", "bndbox", "the box [2, 2, 90, 9] lies out"),
                   ("object #2", "bndbox", "xmin..xmax 3..1, ymin..ymax 3.")]
    assert p.items().empty


def test_image_whose_file_size_differs_from_the_annotations(tmp_path: Path,
                                                            images: list[Path]) -> None:
    path = _coco_file(tmp_path / "c", images[1:2], [_ann(1, 1, 1, [1, 1, 4, 4])])
    data = json.loads(path.read_text())
    data["images"][0]["width"] = 640
    path.write_text(json.dumps(data))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    [prob] = _import_problems(p, "coco", path)
    assert prob.field == "width/height" and "640x48 image but the file is 64x48" in prob.message


def test_spans_not_on_tokens_are_reported_or_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    save_jsonl([JsonlRecord(text="Anna flew to Paris.", regions=(
        Span(0, 4, "PER"), Span(13, 16, "LOC"), Span(12, 18, "LOC")))], path)
    p = Project.create(tmp_path / "p.db", "p", Schema("spans", ["PER", "LOC"]))
    probs = _import_problems(p, "jsonl", path, misaligned="reject")
    assert [(q.field, q.where) for q in probs] == [("spans", "line 1, region 1"),
                                                  ("spans", "line 1, region 2")]
    assert "falls inside the token 'Paris'" in probs[0].message
    assert "whitespace" in probs[1].message
    rep = import_dataset(p, "jsonl", path)  # the default: imported, and listed
    assert rep.regions == 3 and len(rep.warnings) == 2
    assert "[13:16] 'Par' does not align" in rep.warnings[0]
    rep = import_dataset(p, "jsonl", path, misaligned="ignore")
    assert rep.warnings == []


def test_label_map_and_schema_problems(tmp_path: Path, images: list[Path]) -> None:
    path = _coco_file(tmp_path / "c", images[1:2], [_ann(1, 1, 1, [1, 1, 4, 4]),
                                                    _ann(2, 1, 2, [5, 5, 4, 4])],
                      [{"id": 1, "name": "kitty"}, {"id": 2, "name": "fox"}])
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    probs = _import_problems(p, "coco", path)
    assert [q.field for q in probs] == ["label", "label"]
    assert "map it with label_map" in probs[0].message
    rep = import_dataset(p, "coco", path, label_map={"kitty": "cat", "fox": None})
    assert rep.regions == 1 and rep.regions_dropped == 1
    assert p.annotation_objects()[0].regions == (Box(1, 1, 5, 5, "cat"),)
    q = Project.create(tmp_path / "q.db", "q", Schema("spans", ["cat"]))
    with pytest.raises(FormatError, match="this file holds image items"):
        import_dataset(q, "coco", path)


# --- predictions ----------------------------------------------------------------------------


def test_coco_as_predictions(tmp_path: Path, boxes_project: Project) -> None:
    export(boxes_project, "coco", tmp_path / "out")
    data = json.loads((tmp_path / "out" / "annotations.json").read_text())
    for n, a in enumerate(data["annotations"]):
        a["score"] = round(0.5 + n / (2 * len(data["annotations"])), 3)
    (tmp_path / "out" / "annotations.json").write_text(json.dumps(data))
    p = Project.create(tmp_path / "pred.db", "p", Schema("boxes", ["cat", "dog"]))
    with pytest.raises(FormatError, match="pass as_predictions=True"):
        import_dataset(p, "coco", tmp_path / "out", model_version="det-1")
    rep = import_dataset(p, "coco", tmp_path / "out", as_predictions=True,
                         model_version="det-1")
    assert rep.annotations == 0 and rep.predictions == rep.items == 12
    assert p.annotations().empty
    preds = p.predictions()
    assert set(preds["model_version"]) == {"det-1"} and set(preds["source"]) == {"model"}
    want = {(a["image_id"], a["score"]) for a in data["annotations"]}
    names = {im["id"]: im["file_name"] for im in data["images"]}
    by_name = {Path(p.item(int(i)).uri or "").name: int(i) for i in preds["item_id"]}
    got = {(im_id, r.score) for im_id, name in names.items()
           for r in p.prediction_regions(by_name[name])}
    assert got == want
    assert len(p.tasks()) == 12  # the items are queued for annotators


def test_as_predictions_with_source_and_default_model_version(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    save_jsonl([JsonlRecord(text="great film", regions=(Choice("pos", score=0.8),))], path)
    p = Project.create(tmp_path / "p.db", "p", Schema("choice", ["pos", "neg"]))
    import_dataset(p, "jsonl", path, as_predictions=True, source="llm")
    row = p.predictions().iloc[0]
    assert (row["model_version"], row["source"]) == ("import:jsonl", "llm")
    assert p.prediction_regions(int(row["item_id"])) == [Choice("pos", score=0.8)]


# --- Label Studio -----------------------------------------------------------------------------


def _ls_image_task(image: Path, w: int, h: int) -> dict[str, Any]:
    def rect(x: float, y: float, bw: float, bh: float, label: str, **kw: Any) -> dict[str, Any]:
        return {"type": "rectanglelabels", "from_name": "label", "to_name": "image",
                "original_width": w, "original_height": h,
                "value": {"x": x, "y": y, "width": bw, "height": bh, "rotation": 0,
                          "rectanglelabels": [label]}, **kw}

    return {"id": 11, "data": {"image": f"/data/upload/1/8f2a1c3b-{image.name}"},
            "annotations": [
                {"id": 1, "completed_by": {"id": 3, "email": "ana@example.org"},
                 "lead_time": 12.5, "created_at": "2024-03-01T10:00:00.000000Z",
                 "was_cancelled": False,
                 "result": [rect(0, 0, 50, 25, "cat"), rect(50, 50, 50, 50, "dog")]},
                {"id": 2, "completed_by": 4, "was_cancelled": True, "result": []},
                {"id": 3, "completed_by": 5, "result": [
                    {"type": "polygonlabels", "original_width": w, "original_height": h,
                     "value": {"points": [[0, 0], [100, 0], [50, 100]],
                               "polygonlabels": ["dog"]}}]},
            ],
            "predictions": [{"model_version": "yolo-7", "score": 0.75,
                             "result": [rect(25, 25, 50, 50, "cat", score=0.6)]}]}


def test_label_studio_images_with_annotations_and_predictions(tmp_path: Path,
                                                              images: list[Path]) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([_ls_image_task(images[1], 64, 48)]))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    probs = _import_problems(p, "label_studio", path)  # the upload is not found ...
    assert [q.field for q in probs] == ["data.image"] and "pass images=" in probs[0].message
    p2 = Project.create(tmp_path / "p2.db", "p", Schema("polygons", ["cat", "dog"]))
    probs = _import_problems(p2, "label_studio", path, images=images[1].parent)
    assert {q.field for q in probs} == {"type"}  # boxes cannot go in a polygons project
    rep = import_dataset(p, "label_studio", path, images=images[1].parent,
                         options={"ignore_types": ["polygonlabels"]})
    # the cancelled annotation and the one whose only result is ignored are left out
    assert (rep.items, rep.annotations, rep.predictions, rep.skipped) == (1, 1, 1, 2)
    assert any("left out (ignore_types)" in w for w in rep.warnings)
    assert any("annotations[2]: every result of this annotation is of a type left out" in w
               for w in rep.warnings)
    anns = {a.author: a for a in p.annotation_objects()}
    assert set(anns) == {"ana@example.org"}
    ana = anns["ana@example.org"]
    assert ana.regions == (Box(0, 0, 32, 12, "cat"), Box(32, 24, 64, 48, "dog"))
    assert ana.duration_s == 12.5 and ana.created_at.isoformat().startswith("2024-03-01T10:00")
    assert ana.meta["label_studio"]["completed_by"] == {"id": 3, "email": "ana@example.org"}
    pred = p.predictions().iloc[0]
    assert (pred["model_version"], pred["score"]) == ("yolo-7", 0.75)
    assert p.prediction_regions(int(pred["item_id"])) == [Box(16, 12, 48, 36, "cat", score=0.6)]


def test_label_studio_text_spans_choices_and_authors(tmp_path: Path) -> None:
    text = "😀 Zoë met 東京's Ana\r\nin 🇫🇷 Paris"
    def u16(i: int) -> int:
        return len(text[:i].encode("utf-16-le")) // 2

    def lab(s: int, e: int, label: str) -> dict[str, Any]:
        return {"type": "labels", "value": {"start": u16(s), "end": u16(e),
                                            "text": text[s:e], "labels": [label]}}

    i_zoe, i_tokyo, i_paris = text.index("Zoë"), text.index("東京"), text.index("Paris")
    task = {"id": 1, "data": {"text": text}, "annotations": [
        {"completed_by": 7, "result": [lab(i_zoe, i_zoe + 3, "PER"),
                                       lab(i_tokyo, i_tokyo + 2, "LOC"),
                                       lab(i_paris, i_paris + 5, "LOC")]}]}
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([task], ensure_ascii=False))
    p = Project.create(tmp_path / "p.db", "p", Schema("spans", ["PER", "LOC"]))
    rep = import_dataset(p, "label_studio", path, options={"authors": {7: "zoe"}})
    [a] = p.annotation_objects()
    assert a.author == "zoe"
    assert [text[s.start:s.end] for s in a.regions] == ["Zoë", "東京", "Paris"]  # type: ignore[attr-defined]
    assert rep.warnings == []
    # code points given where UTF-16 is expected: the text check names the fix
    task2 = json.loads(json.dumps(task))
    for r in task2["annotations"][0]["result"]:
        s = next(i for i in range(len(text)) if u16(i) == r["value"]["start"])
        r["value"]["start"], r["value"]["end"] = s, s + len(r["value"]["text"])
    path.write_text(json.dumps([task2], ensure_ascii=False))
    probs = _import_problems(p, "label_studio", path)
    assert {q.field for q in probs} == {"value.text"}
    assert "pass offsets='codepoints'" in probs[0].message
    rep = import_dataset(p, "label_studio", path, options={"offsets": "codepoints"})
    assert rep.regions == 3
    c = Project.create(tmp_path / "c.db", "c", Schema("multi_choice", ["pos", "funny"]))
    path.write_text(json.dumps([{"data": {"text": "ha"}, "annotations": [{"result": [
        {"type": "choices", "value": {"choices": ["pos", "funny"]}}]}]}]))
    import_dataset(c, "label_studio", path)
    assert c.annotation_objects()[0].regions == (Choice("pos"), Choice("funny"))


def test_label_studio_unsupported_and_bad_results(tmp_path: Path, images: list[Path]) -> None:
    task = _ls_image_task(images[1], 64, 48)
    res = task["annotations"][0]["result"]
    res[0]["value"]["rotation"] = 30
    res.append({"type": "brushlabels", "value": {"format": "rle", "rle": [1, 2, 3],
                                                "brushlabels": ["cat"]}})
    res.append({"type": "rectanglelabels", "original_width": 64, "original_height": 48,
                "value": {"x": 90, "y": 0, "width": 20, "height": 10,
                          "rectanglelabels": ["cat"]}})
    task["predictions"][0]["score"] = 7
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([task]))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    probs = _import_problems(p, "label_studio", path, images=images[1].parent)
    got = sorted((q.field, q.where) for q in probs)
    assert got == [("score", "predictions[0]"),
                   ("type", "annotations[0].result[2]"),
                   ("value", "annotations[0].result[3]"),
                   ("value.rotation", "annotations[0].result[0]")]
    msg = str(FormatProblems("x", probs))
    assert "brush RLE" in msg and "rotated by 30 degrees" in msg and "box_policy='clip'" in msg
    assert all(q.item == f"task 11 (image '/data/upload/1/8f2a1c3b-{images[1].name}')"
               for q in probs if q.field != "score")


# --- spaCy and JSONL ------------------------------------------------------------------------


def test_spacy_docbin_import(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    from labelnb.formats.spacy_docbin import TextRecord, save_spacy

    text = "Zoë 😀 met Ana in 東京 and New York"
    i = text.index
    recs = [TextRecord(1, text, (Span(0, 3, "PER"), Span(i("Ana"), i("Ana") + 3, "PER"),
                                 Span(i("東京"), i("東京") + 2, "LOC"),
                                 Span(i("New"), i("York") + 4, "LOC"),
                                 Span(i("York"), i("York") + 4, "LOC"))),  # overlaps: spans[sc]
            TextRecord(2, "nothing here")]
    save_spacy(recs[:1], tmp_path / "d" / "train.spacy")
    save_spacy(recs[1:], tmp_path / "d" / "dev.spacy")
    p = Project.create(tmp_path / "p.db", "p", Schema("spans", ["PER", "LOC"]))
    rep = import_dataset(p, "spacy", tmp_path / "d")
    assert rep.items == 2 and rep.regions == 5
    got = {p.item(a.item_id).text: a.regions for a in p.annotation_objects()}
    assert got == {text: tuple(sorted(recs[0].regions, key=lambda s: (s.start, s.end))),  # type: ignore[attr-defined]
                   "nothing here": ()}
    splits = {it["meta"]["import"]["split"] for _, it in p.items().iterrows()}
    assert splits == {"train", "dev"}
    q = Project.create(tmp_path / "q.db", "q", Schema("spans", ["PER"]))
    probs = _import_problems(q, "spacy", tmp_path / "d" / "train.spacy")
    assert [x.field for x in probs] == ["label"] * 3


def test_jsonl_images_texts_and_schema(tmp_path: Path, images: list[Path],
                                       image_maker: Callable[..., Path]) -> None:
    rle = Mask.from_array(np.pad(np.ones((4, 4), bool), ((2, 42), (3, 57))), "cat").rle
    (tmp_path / "data").mkdir()
    img = image_maker(tmp_path / "data" / "pics" / "a.png", (64, 48))
    lines = [{"image": "pics/a.png", "boxes": [{"x0": 1, "y0": 2, "x1": 30, "y1": 40,
                                                "label": "cat", "score": 0.5},
                                               {"bbox": [10, 10, 5, 5], "label": "dog"}],
              "meta": {"source": "cam-1"}, "group": "g1"},
             {"image": str(images[0]), "width": 40, "height": 72, "regions": []},
             {"image": str(images[2])}]  # an item to label: no annotation
    path = tmp_path / "data" / "boxes.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    rep = import_dataset(p, "jsonl", path)
    assert (rep.items, rep.annotations, rep.regions) == (3, 2, 2)
    it = p.item(rep.item_ids[0])
    assert it.uri == str(img.resolve()) and it.group == "g1" and it.meta["source"] == "cam-1"
    anns = {a.item_id: a.regions for a in p.annotation_objects()}
    assert anns == {rep.item_ids[0]: (Box(1, 2, 30, 40, "cat", score=0.5),
                                      Box(10, 10, 15, 15, "dog")),
                    rep.item_ids[1]: ()}
    m = Project.create(tmp_path / "m.db", "m", Schema("masks", ["cat"]))
    path.write_text(json.dumps({"image": "pics/a.png", "masks": [{"rle": rle, "label": "cat"}]}))
    import_dataset(m, "jsonl", path)
    assert m.annotation_objects()[0].regions[0].area == 16  # type: ignore[attr-defined]
    path.write_text(json.dumps({"image": "pics/gone.png", "label": "cat"}))
    [prob] = _import_problems(p, "jsonl", path)
    assert (prob.item, prob.field) == ("image 'pics/gone.png'", "image")
    shutil.copy(img, tmp_path / "data" / "a.png")  # same base name elsewhere: not taken
    path.write_text(json.dumps({"image": "other/a.png", "label": "cat"}))
    [prob] = _import_problems(p, "jsonl", path)
    assert (prob.item, prob.field) == ("image 'other/a.png'", "image")
    path.write_text(json.dumps({"image": "pics/a.png"}))  # relative to images=...
    rep = import_dataset(p, "jsonl", path, images=tmp_path / "data")
    assert p.item(rep.item_ids[0]).uri == str(img.resolve())


def test_choice_projects_take_one_class(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "ok", "labels": ["pos", "neg"]}) + "\n"
                    + json.dumps({"text": "fine", "label": "pos"}) + "\n")
    p = Project.create(tmp_path / "p.db", "p", Schema("choice", ["pos", "neg"]))
    [prob] = _import_problems(p, "jsonl", path)
    assert prob.field == "label" and "2 classes given" in prob.message
    assert p.items().empty


def test_unknown_format_and_options(tmp_path: Path) -> None:
    p = Project.create(tmp_path / "p.db", "p", Schema("spans", ["PER"]))
    with pytest.raises(FormatError, match="expected one of"):
        import_dataset(p, "csv", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="options \\['offsets'\\] do not apply to the jsonl"):
        import_dataset(p, "jsonl", tmp_path, options={"offsets": "utf16"})
    with pytest.raises(FormatError, match="does not exist"):
        import_dataset(p, "jsonl", tmp_path / "nope.jsonl")


def test_the_same_content_twice_is_one_item(tmp_path: Path, images: list[Path]) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "ok", "label": "pos"}) + "\n"
                    + json.dumps({"text": "ok", "label": "neg"}) + "\n")
    p = Project.create(tmp_path / "p.db", "p", Schema("choice", ["pos", "neg"]))
    rep = import_dataset(p, "jsonl", path)
    assert rep.items == 1 and len(set(rep.item_ids)) == 1 and rep.annotations == 2
    assert sorted(a.regions[0].label for a in p.annotation_objects()) == ["neg", "pos"]
    path.write_text(json.dumps({"image": str(images[1]), "boxes": [
        {"x0": 1, "y0": 1, "x1": 5, "y1": 5, "label": "cat"}]}) + "\n" + json.dumps(
        {"image": str(images[1]), "boxes": [{"x0": 1, "y0": 1, "x1": 5, "y1": 5, "label": "cat"},
                                            {"x0": 2, "y0": 2, "x1": 9, "y1": 9,
                                             "label": "dog"}]}) + "\n")
    b = Project.create(tmp_path / "b.db", "b", Schema("boxes", ["cat", "dog"]))
    rep = import_dataset(b, "jsonl", path)
    assert (rep.items, rep.annotations) == (1, 1)
    assert b.annotation_objects()[0].regions == (Box(1, 1, 5, 5, "cat"), Box(2, 2, 9, 9, "dog"))


def test_texts_add_items_would_refuse_are_import_problems_with_their_line(
        tmp_path: Path) -> None:
    """A blank text or one with a NUL character is listed with the file's other problems
    and its line, instead of stopping the import at add_items with a batch position."""
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "Anna", "spans": [{"start": 0, "end": 4, "label": "PER"}]}\n'
                    '{"text": "   "}\n{"text": "a\\u0000b", "spans": []}\n')
    p = Project.create(tmp_path / "t.db", "t", Schema("spans", ["PER"]))
    with pytest.raises(FormatProblems) as ei:
        import_dataset(p, "jsonl", path)
    got = sorted((q.where, q.field) for q in ei.value.problems)
    assert got == [("line 2", "text"), ("line 3", "text")]
    assert "is empty" in str(ei.value) and "NUL character" in str(ei.value)
    assert p.items().empty
    p.close()


def test_imported_labels_fill_the_queue_and_a_second_import_adds_nothing(
        db_url: str, tmp_path: Path) -> None:
    """Imported human labels are work done: each fills one annotate slot of its item (the
    queue does not hand the item out again for it, progress and consensus count it);
    importing the same file again stores no second copy."""
    p = Project.create(db_url, "rev", Schema("choice", ["pos", "neg"]), overlap=2)
    p.add_items(["fresh text"])
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in [
        {"text": "great film", "label": "pos"},
        {"text": "dull film", "label": "neg"},
        {"text": "unlabeled film"}]), encoding="utf-8")
    rep = import_dataset(p, "jsonl", path)
    assert (rep.items, rep.annotations, rep.already_there) == (3, 2, 0)
    tasks = p.tasks()
    done = tasks[tasks["status"] == "done"]
    assert len(done) == 2 and set(done["assignee"]) == {"import:jsonl"}
    assert set(p.annotations()["task_id"]) == set(done["id"])
    # ana may still label each item once (overlap 2: one slot left on the imported ones)
    q = p.queue("ana")
    seen = []
    while (t := q.claim()) is not None:
        seen.append(t.item.text)
        q.submit(Choice("pos"))
    assert sorted(seen) == ["dull film", "fresh text", "great film", "unlabeled film"]
    assert p.queue("bo").claim() is not None  # the two slots left: fresh and unlabeled
    cons = p.consensus(queue_tasks=False).set_index("n_annotations")
    assert sorted(p.consensus(queue_tasks=False)["n_annotations"]) == [1, 1, 2, 2]
    assert set(cons.loc[2, "tier"]) == {"unanimous", "none"}
    again = import_dataset(p, "jsonl", path)
    assert (again.annotations, again.already_there, again.regions) == (0, 2, 0)
    assert "2 annotations already in the project left out" in str(again)
    assert len(p.annotations()) == 6


def test_a_multi_ring_coco_polygon_in_a_polygons_project_says_why(tmp_path: Path,
                                                                  images: list[Path]) -> None:
    """Two rings are one mask to COCO: the refusal said 'a Mask cannot go in' for a file
    holding no mask at all."""
    path = _coco_file(tmp_path / "c", images[:1], [
        _ann(1, 1, 1, seg=[[1, 1, 9, 1, 9, 9], [20, 20, 30, 20, 30, 30]])])
    p = Project.create(tmp_path / "p.db", "p", Schema("polygons", ["cat", "dog"]))
    with pytest.raises(FormatProblems, match="several polygon rings, or an RLE, is one mask; "
                                             "split the rings"):
        import_dataset(p, "coco", path)
