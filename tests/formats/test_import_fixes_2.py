"""Import fixes, second round: whole-annotation checks in the check stage (a span given
twice, two Label Studio tasks of one text), Label Studio upload paths, COCO instance
files into a 'boxes' project, YOLO predictions (``save_conf`` lines, label folders
without a data.yaml), and the messages of malformed COCO fields and VOC attributes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labelnb.errors import FormatError
from labelnb.formats import FormatProblems, import_dataset
from labelnb.formats import label_studio as ls_mod
from labelnb.formats import yolo as yolo_mod
from labelnb.formats._common import Problem
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Box, Choice, Mask, Polygon, Span

ImageMaker = Callable[..., Path]


def _problems(p: Project, fmt: str, path: Path, **kw: Any) -> list[Problem]:
    with pytest.raises(FormatProblems) as ei:
        import_dataset(p, fmt, path, **kw)  # type: ignore[arg-type]
    assert "nothing was imported" in str(ei.value)
    return ei.value.problems


def _jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def _ls_choice_task(tid: int, text: str, choice: str, by: int = 3) -> dict[str, Any]:
    return {"id": tid, "data": {"text": text}, "annotations": [{"completed_by": by, "result": [
        {"type": "choices", "from_name": "c", "to_name": "text",
         "value": {"choices": [choice]}}]}]}


# --- 1. whole-annotation checks run in the check stage -------------------------------------


def test_a_span_given_twice_on_one_line_is_a_problem_of_that_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "x.jsonl", [
        {"text": "ok first line", "spans": []},
        {"text": "Anna flew to Paris", "spans": [
            {"start": 0, "end": 4, "label": "PER"},
            {"start": 0, "end": 4, "label": "PER", "score": 0.9}]}])
    p = Project.create(tmp_path / "p.db", "p", Schema("spans", ["PER", "LOC"]))
    [prob] = _problems(p, "jsonl", path)
    assert (prob.item, prob.field, prob.where) == ("text 'Anna flew to Paris'", "spans",
                                                   "line 2, region 1")
    assert "span [0:4] 'PER' is given twice (also line 2, region 0)" in prob.message
    assert "give each span once" in prob.message
    assert len(p.items()) == 0  # the good first line is not written either


def test_a_span_given_twice_across_lines_of_one_text_names_both(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "x.jsonl", [
        {"text": "Anna flew to Paris", "spans": [{"start": 0, "end": 4, "label": "PER"}]},
        {"text": "Anna flew to Paris", "spans": [{"start": 0, "end": 4, "label": "PER",
                                                  "score": 0.5}]}])
    p = Project.create(tmp_path / "p.db", "p", Schema("spans", ["PER", "LOC"]))
    [prob] = _problems(p, "jsonl", path)
    assert prob.where == "line 2, region 0" and prob.field == "spans"
    assert "(also line 1, region 0)" in prob.message
    assert "the file's 2 entries of this text (line 1, line 2) are joined into one " \
           "annotation" in prob.message
    assert len(p.items()) == 0
    # exact repeats are kept once, and other spans are joined, as before
    _jsonl(path, [
        {"text": "Anna flew to Paris", "spans": [{"start": 0, "end": 4, "label": "PER"}]},
        {"text": "Anna flew to Paris", "spans": [{"start": 0, "end": 4, "label": "PER"},
                                                 {"start": 13, "end": 18, "label": "LOC"}]}])
    rep = import_dataset(p, "jsonl", path)
    assert (rep.items, rep.annotations, rep.regions) == (1, 1, 2)
    [ann] = p.annotation_objects()
    assert ann.regions == (Span(0, 4, "PER"), Span(13, 18, "LOC"))


def test_two_label_studio_tasks_of_one_text_are_two_annotations(tmp_path: Path) -> None:
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([_ls_choice_task(1, "great film", "pos"),
                                _ls_choice_task(2, "great film", "neg")]))
    p = Project.create(tmp_path / "p.db", "p", Schema("choice", ["pos", "neg"]))
    rep = import_dataset(p, "label_studio", path)  # was a bare SchemaError, item rolled back
    assert (rep.items, rep.annotations, rep.repeated) == (1, 2, 0)
    anns = p.annotation_objects()
    assert {a.author for a in anns} == {"label-studio:3"}
    assert {a.regions for a in anns} == {(Choice("neg"),), (Choice("pos"),)}
    # labeled alike in both tasks: stored once, and the report says why
    path.write_text(json.dumps([_ls_choice_task(1, "dull plot", "neg"),
                                _ls_choice_task(2, "dull plot", "neg")]))
    rep = import_dataset(p, "label_studio", path)
    assert (rep.annotations, rep.repeated, rep.already_there) == (1, 1, 0)
    assert "1 annotations the file repeats left out" in str(rep)


def test_two_label_studio_tasks_of_one_text_are_not_joined_in_a_spans_project(
        tmp_path: Path) -> None:
    def task(tid: int, start: int, end: int) -> dict[str, Any]:
        return {"id": tid, "data": {"text": "Anna flew to Paris"}, "annotations": [
            {"completed_by": 3, "result": [{"type": "labels", "from_name": "l",
                                            "to_name": "text", "value": {
                                                "start": start, "end": end, "labels": ["PER"]}}]}]}

    path = tmp_path / "ls.json"
    path.write_text(json.dumps([task(1, 0, 4), task(2, 0, 9)]))
    p = Project.create(tmp_path / "p.db", "p", Schema("spans", ["PER", "LOC"]))
    rep = import_dataset(p, "label_studio", path)
    assert rep.annotations == 2
    assert {a.regions for a in p.annotation_objects()} == {
        (Span(0, 4, "PER"),), (Span(0, 9, "PER"),)}


def test_predictions_are_checked_whole_too(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "x.jsonl", [{"text": "great film", "label": "pos"},
                                         {"text": "great film", "label": "neg"}])
    p = Project.create(tmp_path / "p.db", "p", Schema("choice", ["pos", "neg"]))
    [prob] = _problems(p, "jsonl", path, as_predictions=True, model_version="m1")
    assert (prob.item, prob.field, prob.where) == ("text 'great film'", "label",
                                                   "line 1, line 2")
    assert "2 classes given (pos, neg)" in prob.message
    assert "joined into one prediction of 'm1'" in prob.message
    assert len(p.items()) == 0 and len(p.predictions()) == 0


def test_two_files_of_one_content_are_checked_once_joined_by_item(
        tmp_path: Path, image_maker: ImageMaker) -> None:
    # the check stage cannot tell that a.jpg and b.jpg are one item (same bytes); the
    # write stage checks again, and rolls the items back
    image_maker(tmp_path / "a.jpg", (64, 48), (1, 2, 3))
    (tmp_path / "b.jpg").write_bytes((tmp_path / "a.jpg").read_bytes())
    path = _jsonl(tmp_path / "x.jsonl", [{"image": "a.jpg", "label": "cat"},
                                         {"image": "b.jpg", "label": "dog"}])
    p = Project.create(tmp_path / "p.db", "p", Schema("choice", ["cat", "dog"]))
    [prob] = _problems(p, "jsonl", path, as_predictions=True)
    assert prob.field == "label" and "2 classes given (cat, dog)" in prob.message
    assert "image 'b.jpg'" in prob.where
    assert len(p.items()) == 0 and len(p.predictions()) == 0


# --- 2. Label Studio uploads under images=media/upload ---------------------------------------


@pytest.mark.parametrize("sub", ["media/upload", "media", "media/upload/3"])
def test_label_studio_upload_paths(sub: str, tmp_path: Path, image_maker: ImageMaker) -> None:
    image_maker(tmp_path / "media" / "upload" / "3" / "8f2a1c3b-my cat.jpg", (200, 100))
    task = {"id": 1, "data": {"image": "/data/upload/3/8f2a1c3b-my%20cat.jpg"},
            "annotations": [{"completed_by": 1, "result": [
                {"type": "rectanglelabels", "from_name": "label", "to_name": "image",
                 "original_width": 200, "original_height": 100,
                 "value": {"x": 10, "y": 20, "width": 30, "height": 40,
                           "rectanglelabels": ["car"]}}]}]}
    path = tmp_path / "export.json"
    path.write_text(json.dumps([task]))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["car"]))
    rep = import_dataset(p, "label_studio", path, images=tmp_path / sub)
    assert rep.items == 1 and rep.annotations == 1
    assert Path(p.items()["uri"][0]).name == "8f2a1c3b-my cat.jpg"
    assert p.annotation_objects()[0].regions == (Box(20, 20, 80, 60, "car"),)


def test_label_studio_upload_path_stays_under_images(tmp_path: Path,
                                                     image_maker: ImageMaker) -> None:
    image_maker(tmp_path / "secret.jpg", (8, 8))
    (tmp_path / "media" / "upload").mkdir(parents=True)
    found = ls_mod.local_path("/data/upload/../../secret.jpg",
                              images=tmp_path / "media" / "upload")
    assert found is None


# --- 3. COCO instance files into a 'boxes' project -------------------------------------------


def _instances(root: Path, image_maker: ImageMaker) -> Path:
    image_maker(root / "images" / "a.jpg", (64, 48))
    rle = {"size": [48, 64], "counts": [48 * 20 + 10, 10, 38, 10, 48 * 64 - 48 * 20 - 10 - 58]}
    data = {"images": [{"id": 0, "file_name": "a.jpg", "width": 64, "height": 48}],
            "categories": [{"id": 0, "name": "cat"}, {"id": 5, "name": "dog"}],
            "annotations": [
                {"id": 1, "image_id": 0, "category_id": 0, "bbox": [1, 1, 10, 10], "area": 50,
                 "iscrowd": 0, "segmentation": [[1, 1, 11, 1, 11, 11]]},
                {"id": 2, "image_id": 0, "category_id": 5, "bbox": [20, 10, 2, 10],
                 "area": 20, "iscrowd": 1, "segmentation": rle}]}
    path = root / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_instances_into_a_boxes_project_take_the_bbox(tmp_path: Path,
                                                           image_maker: ImageMaker) -> None:
    path = _instances(tmp_path / "c", image_maker)
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    rep = import_dataset(p, "coco", path)
    assert (rep.annotations, rep.regions) == (1, 2)
    assert p.annotation_objects()[0].regions == (Box(1, 1, 11, 11, "cat"),
                                                 Box(20, 10, 22, 20, "dog"))


def test_coco_instances_keep_their_shapes_in_polygon_and_mask_projects(
        tmp_path: Path, image_maker: ImageMaker) -> None:
    path = _instances(tmp_path / "c", image_maker)
    p = Project.create(tmp_path / "m.db", "m", Schema("masks", ["cat", "dog"]))
    rep = import_dataset(p, "coco", path)
    poly, mask = p.annotation_objects()[0].regions
    assert rep.regions == 2 and isinstance(poly, Polygon) and isinstance(mask, Mask)
    assert mask.area == 20
    q = Project.create(tmp_path / "q.db", "q", Schema("polygons", ["cat", "dog"]))
    import_dataset(q, "coco", path, label_map={"dog": None})
    [poly] = q.annotation_objects()[0].regions
    assert isinstance(poly, Polygon) and poly.points == (1, 1, 11, 1, 11, 11)


def test_coco_segmentation_without_bbox_into_boxes_says_so(tmp_path: Path,
                                                           image_maker: ImageMaker) -> None:
    image_maker(tmp_path / "c" / "a.jpg", (64, 48))
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "cat"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                             "segmentation": [[1, 1, 11, 1, 11, 11]]}]}
    path = tmp_path / "c" / "annotations.json"
    path.write_text(json.dumps(data))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    [prob] = _problems(p, "coco", path)
    assert prob.field == "type" and "has no 'bbox'" in prob.message


# --- 4. YOLO predictions ---------------------------------------------------------------------


def test_from_yolo_reads_a_confidence_column() -> None:
    [box] = yolo_mod.from_yolo("0 0.5 0.5 0.25 0.5 0.87", 64, 48, ["cat"])
    assert box == Box(24, 12, 40, 36, "cat", score=0.87)
    problems: list[Problem] = []
    assert yolo_mod.from_yolo("0 0.5 0.5 0.25 0.5 3", 64, 48, ["cat"],
                              problems=problems) == []
    [prob] = problems
    assert prob.field == "conf" and "no confidence in [0, 1]" in prob.message
    # a polygon line with a confidence: an odd count, read only as predictions
    line = "0 0.1 0.1 0.9 0.1 0.5 0.9 0.75"
    [poly] = yolo_mod.from_yolo(line, 100, 100, ["cat"], scores=True)
    assert isinstance(poly, Polygon) and poly.score == 0.75
    with pytest.raises(FormatProblems, match="7 coordinates"):
        yolo_mod.from_yolo(line, 100, 100, ["cat"])


def _predict_run(root: Path, image_maker: ImageMaker, lines: dict[str, str]) -> Path:
    """What ``yolo predict save_txt=True save_conf=True`` leaves: rendered images (other
    pixels than the sources) and labels/, no data.yaml."""
    run = root / "runs" / "detect" / "predict"
    for n, (stem, text) in enumerate(lines.items()):
        image_maker(run / f"{stem}.jpg", (64, 48), (250, 10 * n, 0))
        (run / "labels").mkdir(parents=True, exist_ok=True)
        (run / "labels" / f"{stem}.txt").write_text(text)
    return run


def test_yolo_predict_folder_imports_as_predictions_of_the_project_images(
        tmp_path: Path, image_maker: ImageMaker) -> None:
    src = [image_maker(tmp_path / "src" / f"s{i}.jpg", (64, 48), (10 * i, 20, 30))
           for i in range(3)]
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    ids = p.add_items([str(f) for f in src])
    run = _predict_run(tmp_path, image_maker, {"s0": "1 0.5 0.5 0.25 0.5 0.87\n",
                                               "s2": "0 0.5 0.5 0.25 0.5 0.5\n"})
    rep = import_dataset(p, "yolo", run, as_predictions=True, model_version="yolov8n-2024-05")
    assert (rep.items, rep.predictions, rep.regions) == (2, 2, 2)
    assert rep.item_ids == [ids[0], ids[2]]
    assert len(p.items()) == 3  # the rendered images are not added
    assert p.prediction_regions(ids[0]) == [Box(24, 12, 40, 36, "dog", score=0.87)]
    assert set(p.predictions()["model_version"]) == {"yolov8n-2024-05"}
    # the labels folder itself works too, and labels can come in as annotations
    rep = import_dataset(p, "yolo", run / "labels")
    assert rep.annotations == 2
    assert p.annotation_objects()[0].author == "import:yolo"


def test_yolo_label_folder_problems(tmp_path: Path, image_maker: ImageMaker) -> None:
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    p.add_items([str(image_maker(tmp_path / "a" / "s0.jpg", (64, 48), (1, 2, 3))),
                 str(image_maker(tmp_path / "b" / "s0.png", (64, 48), (4, 5, 6)))])
    run = _predict_run(tmp_path, image_maker, {"s0": "0 0.5 0.5 0.2 0.2\n",
                                               "s9": "3 0.5 0.5 0.2 0.2\n"})
    probs = _problems(p, "yolo", run, as_predictions=True)
    assert [q.field for q in probs] == ["file name", "file name"]
    assert "2 images of project 'p' are named s0.*" in probs[0].message
    assert "no image of project 'p' is named s9.*" in probs[1].message
    assert "add the images first" in probs[1].message
    p.add_items([str(image_maker(tmp_path / "c" / "s9.jpg", (64, 48), (7, 8, 9)))])
    (run / "labels" / "s0.txt").unlink()
    [prob] = _problems(p, "yolo", run)
    assert prob.field == "class" and "project 'p''s labels (schema order)" in prob.message
    with pytest.raises(FormatError, match="label files without a data.yaml"):
        yolo_mod.load_yolo(run)


# --- 5. malformed COCO fields, VOC attributes ------------------------------------------------


@pytest.mark.parametrize("extra, field, message", [
    ({"attributes": ["occluded"]}, "attributes", "is not an object of attribute names"),
    ({"score": "high"}, "score", "'high' is not a confidence in [0, 1]"),
    ({"score": 2.0}, "score", "2.0 is not a confidence in [0, 1]"),
    ({"bbox": ["1", "1", "a", "10"]}, "bbox", "is not [x, y, width, height] as numbers"),
])
def test_malformed_coco_fields_are_named(extra: dict[str, Any], field: str, message: str,
                                         tmp_path: Path, image_maker: ImageMaker) -> None:
    image_maker(tmp_path / "c" / "a.jpg", (64, 48))
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], **extra}
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "cat"}], "annotations": [ann]}
    path = tmp_path / "c" / "annotations.json"
    path.write_text(json.dumps(data))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    [prob] = _problems(p, "coco", path)
    assert prob.field == field and message in prob.message, prob
    assert prob.where == "annotations.json, annotation 1"


def test_voc_attributes_not_in_the_schema_say_how_to_declare_them(
        tmp_path: Path, image_maker: ImageMaker) -> None:
    root = tmp_path / "voc"
    image_maker(root / "JPEGImages" / "2008_000001.jpg", (64, 48))
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "2008_000001.xml").write_text(
        "<annotation><filename>2008_000001.jpg</filename><size><width>64</width>"
        "<height>48</height><depth>3</depth></size><object><name>person</name>"
        "<pose>Frontal</pose><truncated>1</truncated><difficult>0</difficult><bndbox>"
        "<xmin>1</xmin><ymin>1</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>"
        "</annotation>")
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["person"]))
    [prob] = _problems(p, "voc", root)
    assert prob.field == "attributes"
    fix = ("project.set_schema(Schema('boxes', ['person'], attributes=["
           "{'name': 'difficult', 'type': 'bool'}, {'name': 'truncated', 'type': 'bool'}, "
           "{'name': 'pose', 'type': 'text'}]))")
    assert fix in prob.message
    # the fix, as written, works
    p.set_schema(Schema("boxes", ["person"], attributes=[
        {"name": "difficult", "type": "bool"}, {"name": "truncated", "type": "bool"},
        {"name": "pose", "type": "text"}]))
    rep = import_dataset(p, "voc", root)
    assert rep.annotations == 1
    assert p.annotation_objects()[0].regions[0].attributes == {
        "difficult": False, "truncated": True, "pose": "Frontal"}


def test_unknown_attribute_keeps_the_project_attributes_in_the_fix(
        tmp_path: Path, image_maker: ImageMaker) -> None:
    image_maker(tmp_path / "a.jpg", (64, 48))
    path = _jsonl(tmp_path / "x.jsonl", [{"image": "a.jpg", "boxes": [
        {"x0": 1, "y0": 1, "x1": 9, "y1": 9, "label": "cat", "attributes": {"n": 3}}]}])
    p = Project.create(tmp_path / "p.db", "p", Schema(
        "boxes", ["cat"], attributes=[{"name": "occluded", "type": "bool"}]))
    [prob] = _problems(p, "jsonl", path)
    assert prob.field == "attributes"
    assert ("attributes=[{'name': 'occluded', 'type': 'bool'}, {'name': 'n', 'type': "
            "'number'}]") in prob.message
