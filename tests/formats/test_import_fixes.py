"""Import fixes: file names with glob characters, VOC split lists (stems with spaces,
official devkits), VOC attribute types, spaCy DocBins into class projects, and images
a file does not label (COCO image_info, YOLO splits without labels)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labelnb import media
from labelnb.errors import FormatError
from labelnb.formats import Dataset, ImageRecord, export, import_dataset, voc
from labelnb.formats import coco as coco_mod
from labelnb.formats.pipeline import validate_export
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box

ImageMaker = Callable[..., Path]


def _coco(root: Path, names: list[str], *, annotations: list[dict[str, Any]] | None = None,
          with_key: bool = True) -> Path:
    data: dict[str, Any] = {
        "images": [{"id": i, "file_name": n, "width": 64, "height": 48}
                   for i, n in enumerate(names, start=1)],
        "categories": [{"id": 1, "name": "cat"}]}
    if with_key:
        data["annotations"] = annotations or []
    path = root / "annotations.json"
    path.write_text(json.dumps(data))
    return path


def _counts(p: Project) -> tuple[int, int, int]:
    """(items, annotations, open tasks)."""
    tasks = p.tasks()
    return len(p.items()), len(p.annotations()), int((tasks["status"] == "open").sum())


# --- 1. file names with glob characters ----------------------------------------------------


def test_expand_takes_an_existing_path_literally(tmp_path: Path,
                                                 image_maker: ImageMaker) -> None:
    bracket = image_maker(tmp_path / "cat[1].jpg", (64, 48), (1, 2, 3))
    image_maker(tmp_path / "cat1.jpg", (64, 48), (4, 5, 6))
    query = image_maker(tmp_path / "a?.jpg", (64, 48), (7, 8, 9))
    image_maker(tmp_path / "ab.jpg", (64, 48), (10, 11, 12))
    assert media.expand(str(bracket)) == [str(bracket.resolve())]
    assert media.expand(str(query)) == [str(query.resolve())]
    # a pattern that is no file is still a pattern
    assert [Path(x).name for x in media.expand(str(tmp_path / "cat[0-9].jpg"))] == ["cat1.jpg"]
    assert len(media.expand(str(tmp_path / "a*.jpg"))) == 2
    # a web address is taken as it is: its '?' starts a query (a presigned link)
    url = "https://bucket.s3.amazonaws.com/cat.jpg?X-Amz-Signature=ab*cd&x=[1]"
    assert media.expand(url) == [url]


@pytest.mark.parametrize("name,others", [("cat[1].jpg", ["cat1.jpg"]),  # the glob's match
                                         ("cat[1].jpg", []),  # the glob matches nothing
                                         ("a?.jpg", ["ab.jpg", "ac.jpg"]),  # matches two
                                         ("star*.png", ["star-2.png"])])
def test_coco_image_names_with_glob_characters(name: str, others: list[str], tmp_path: Path,
                                               image_maker: ImageMaker) -> None:
    root = tmp_path / "c"
    for n, f in enumerate([name, *others]):
        image_maker(root / f, (64, 48), (20 * n, 40, 60))
    path = _coco(root, [name], annotations=[{"id": 1, "image_id": 1, "category_id": 1,
                                             "bbox": [1, 1, 10, 10]}])
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    rep = import_dataset(p, "coco", path)
    assert rep.items == 1 and rep.annotations == 1
    assert [Path(u).name for u in p.items()["uri"]] == [name]


def test_jsonl_image_names_with_glob_characters(tmp_path: Path,
                                                image_maker: ImageMaker) -> None:
    image_maker(tmp_path / "pics" / "dog[2].png", (64, 48), (1, 1, 1))
    image_maker(tmp_path / "pics" / "dog2.png", (64, 48), (2, 2, 2))
    (tmp_path / "lines.jsonl").write_text(json.dumps(
        {"image": "pics/dog[2].png", "boxes": [{"x0": 1, "y0": 1, "x1": 9, "y1": 9,
                                                "label": "cat"}]}) + "\n")
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    assert import_dataset(p, "jsonl", tmp_path / "lines.jsonl").items == 1
    assert [Path(u).name for u in p.items()["uri"]] == ["dog[2].png"]


# --- 2. VOC split lists ----------------------------------------------------------------


def _voc_xml(stem: str, name: str = "person", extra: str = "") -> str:
    return (f"<annotation><filename>{stem}.jpg</filename><size><width>64</width>"
            f"<height>48</height><depth>3</depth></size><object><name>{name}</name>"
            f"{extra}<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax><ymax>40</ymax>"
            "</bndbox></object></annotation>")


def _voc_root(root: Path, stems: list[str], image_maker: ImageMaker,
              lists: dict[str, str], extra: str = "") -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for n, stem in enumerate(stems):
        image_maker(root / "JPEGImages" / f"{stem}.jpg", (64, 48), (n * 30, 0, 0))
        (root / "Annotations" / f"{stem}.xml").write_text(_voc_xml(stem, extra=extra))
    for name, text in lists.items():
        (root / "ImageSets" / "Main" / name).write_text(text)
    return root


def test_voc_stems_with_spaces_keep_their_split(tmp_path: Path, images: list[Path]) -> None:
    src = tmp_path / "named"
    src.mkdir()
    paths = []
    for i, f in enumerate(images[1:5]):
        paths.append(src / f"my photo {i}{f.suffix}")
        paths[-1].write_bytes(f.read_bytes())
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    ids = p.add_items([str(x) for x in paths])
    p.add_annotations([Annotation(item_id=i, author="ana", regions=(Box(1, 2, 30, 40, "cat"),))
                       for i in ids])
    rep = export(p, "voc", tmp_path / "voc", split={"train": 0.5, "val": 0.5})
    assert rep.validated == 4
    back = {im.file_name: im.split for im in voc.load_voc(tmp_path / "voc").images}
    assert sorted(str(s) for s in back.values()) == ["train", "train", "val", "val"]
    assert set(back) == {x.name for x in paths}


def test_voc_split_lines_and_per_class_lines(tmp_path: Path, image_maker: ImageMaker) -> None:
    # "a 1" is an image of its own; "b 1" is the per-class line of image "b"
    root = _voc_root(tmp_path / "v", ["a 1", "b", "c d"], image_maker, {
        "train.txt": "a 1\nb\n", "val.txt": "c d\n", "cat_train.txt": "b  1\nc d -1\n"})
    got = {im.file_name: im.split for im in voc.load_voc(root).images}
    assert got == {"a 1.jpg": "train", "b.jpg": "train", "c d.jpg": "val"}


def test_voc_official_layout_prefers_train_and_val_over_trainval(
        tmp_path: Path, image_maker: ImageMaker) -> None:
    stems = ["2008_000001", "2008_000002", "2008_000003", "2008_000004"]
    root = _voc_root(tmp_path / "VOC2012", stems, image_maker, {
        "train.txt": "2008_000001\n", "val.txt": "2008_000002\n2008_000003\n",
        "trainval.txt": "".join(s + "\n" for s in stems),
        "person_train.txt": "2008_000001  1\n", "person_trainval.txt": "2008_000004 -1\n"},
        extra="<pose>Frontal</pose><truncated>1</truncated><difficult>0</difficult>")
    got = [(im.file_name, im.split) for im in voc.load_voc(root).images]
    assert got == [("2008_000001.jpg", "train"), ("2008_000002.jpg", "val"),
                   ("2008_000003.jpg", "val"), ("2008_000004.jpg", "trainval")]
    # VOC's own flags into a schema that declares them (difficult required): an
    # explicit <difficult>0</difficult> is difficult=False, not missing
    attrs: list[dict[str, Any]] = [{"name": "truncated", "type": "bool"},
                                   {"name": "difficult", "type": "bool", "required": True},
                                   {"name": "pose", "type": "text"}]
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["person"], attributes=attrs))
    assert import_dataset(p, "voc", root).annotations == 4
    assert {a.regions[0].attributes["difficult"] for a in p.annotation_objects()} == {False}
    assert p.annotation_objects()[0].regions[0].attributes == {
        "truncated": True, "difficult": False, "pose": "Frontal"}


# --- 3. VOC attributes -----------------------------------------------------------------


ATTRS: list[dict[str, Any]] = [
    {"name": "difficult", "type": "bool"}, {"name": "truncated", "type": "bool"},
    {"name": "track", "type": "text"},
    {"name": "occl", "type": "choice", "options": ["0", "1", "2"]},
    {"name": "weight", "type": "number"}, {"name": "seen", "type": "bool"}]


def test_attribute_value_follows_the_type() -> None:
    av = voc.attribute_value
    assert [av("007", "text"), av("1", "choice"), av("1", "text")] == ["007", "1", "1"]
    assert [av("0", "bool"), av("True", "bool"), av("false", "bool")] == [False, True, False]
    assert [av("3", "number"), av("2.5", "number"), av("x", "number")] == [3, 2.5, "x"]
    # guessed only where the value writes back as the same text
    assert [av("007"), av("7"), av("1.5"), av("1.50"), av("true")] == ["007", 7, 1.5, "1.50",
                                                                        True]


def test_voc_export_reimports_with_attribute_types(tmp_path: Path,
                                                   images: list[Path]) -> None:
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"], attributes=ATTRS))
    ids = p.add_items([str(f) for f in images[1:3]])
    first = {"difficult": False, "truncated": True, "track": "007", "occl": "1",
             "weight": 2.5, "seen": True}
    p.add_annotations([
        Annotation(item_id=ids[0], author="ana",
                   regions=(Box(1, 2, 30, 40, "cat", attributes=first),)),
        Annotation(item_id=ids[1], author="ana",
                   regions=(Box(1, 2, 30, 40, "dog", attributes={"track": " 12 ",
                                                                 "weight": 3}),))])
    export(p, "voc", tmp_path / "voc")
    q = Project.create(tmp_path / "q.db", "q", Schema("boxes", ["cat", "dog"], attributes=ATTRS))
    rep = import_dataset(q, "voc", tmp_path / "voc")
    assert rep.annotations == 2
    got = {a.regions[0].label: a.regions[0].attributes for a in q.annotation_objects()}
    assert got["cat"] == first
    # the 0 flags VOC always writes are "no flag" in a file labelnb wrote: not added
    assert got["dog"] == {"track": " 12 ", "weight": 3}


def test_voc_attribute_types_follow_label_map(tmp_path: Path) -> None:
    from labelnb.formats.importer import attribute_types

    schema = Schema("boxes", [{"name": "car", "attributes": [{"name": "plate", "type": "text"}]},
                              "bus"], attributes=[{"name": "plate", "type": "number"}])
    types = attribute_types(schema, {"automobile": "car", "junk": None})
    assert types("automobile")["plate"] == "text"  # the label's own attribute wins
    assert types("bus")["plate"] == "number"
    assert types("junk") == {"plate": "number"}


def _written(tmp_path: Path, image_maker: ImageMaker, attrs: dict[str, Any]) -> Dataset:
    f = image_maker(tmp_path / "src" / "a.jpg", (64, 48))
    return Dataset([ImageRecord(1, "a.jpg", 64, 48, uri=str(f))],
                   {1: [Box(1, 2, 30, 40, "cat", attributes=attrs)]}, ["cat"])


def test_voc_read_back_compares_attributes(tmp_path: Path, image_maker: ImageMaker) -> None:
    ds = _written(tmp_path, image_maker, {"track": "007", "n": 1, "truncated": True})
    voc.save_voc(ds, tmp_path / "voc")
    assert validate_export("voc", tmp_path / "voc", ds) == 1  # "007" reads back as text
    xml = tmp_path / "voc" / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<value>007</value>", "<value>008</value>"))
    with pytest.raises(FormatError, match="reads back"):
        validate_export("voc", tmp_path / "voc", ds)


def test_coco_read_back_compares_attributes(tmp_path: Path, image_maker: ImageMaker) -> None:
    ds = _written(tmp_path, image_maker, {"track": "007"})
    coco_mod.save_coco(ds, tmp_path / "coco")
    assert validate_export("coco", tmp_path / "coco", ds) == 1
    f = tmp_path / "coco" / "annotations.json"
    data = json.loads(f.read_text())
    data["annotations"][0]["attributes"] = {"track": 7}
    f.write_text(json.dumps(data))
    with pytest.raises(FormatError, match="reads back"):
        validate_export("coco", tmp_path / "coco", ds)


# --- 4. spaCy DocBin into a class project ------------------------------------------------


@pytest.mark.parametrize("kind", ["choice", "multi_choice"])
def test_spacy_into_a_class_project_is_refused(kind: str, tmp_path: Path) -> None:
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    docs = []
    for text, cat in [("great film", "pos"), ("dull plot", "neg")]:
        doc = nlp.make_doc(text)
        doc.cats = {"pos": float(cat == "pos"), "neg": float(cat == "neg")}
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    p = Project.create(tmp_path / "p.db", "p", Schema(kind, ["pos", "neg"]))  # type: ignore[arg-type]
    with pytest.raises(FormatError) as ei:
        import_dataset(p, "spacy", tmp_path / "train.spacy")
    msg = str(ei.value)
    assert "train.spacy" in msg and f"labels {kind!r}" in msg and "doc.cats" in msg
    assert "'spans' project" in msg and "'jsonl'" in msg
    assert len(p.items()) == 0


# --- 5. images a file does not label ------------------------------------------------------


def test_coco_image_info_adds_images_unlabeled(tmp_path: Path, image_maker: ImageMaker) -> None:
    root = tmp_path / "c"
    for n, name in enumerate(["a.jpg", "b.jpg"]):
        image_maker(root / name, (64, 48), (n * 50, 9, 9))
    path = _coco(root, ["a.jpg", "b.jpg"], with_key=False)
    assert coco_mod.load_coco(path).regions == {}
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    rep = import_dataset(p, "coco", path)
    assert (rep.items, rep.annotations) == (2, 0)
    assert _counts(p) == (2, 0, 2)  # to label, not done
    # with an annotations list, an image it says nothing about is labeled empty
    q = Project.create(tmp_path / "q.db", "q", Schema("boxes", ["cat"]))
    path = _coco(root, ["a.jpg", "b.jpg"], annotations=[
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]}])
    assert import_dataset(q, "coco", path).annotations == 2
    assert _counts(q) == (2, 2, 0)
    assert sorted(len(a.regions) for a in q.annotation_objects()) == [0, 1]


def test_yolo_images_without_labels(tmp_path: Path, image_maker: ImageMaker) -> None:
    root = tmp_path / "y"
    for n, name in enumerate(["train/with.jpg", "train/empty.jpg", "train/background.jpg",
                              "test/new1.jpg", "test/new2.jpg"]):
        image_maker(root / "images" / name, (64, 48), (n * 40, 5, 5))
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "with.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "train" / "empty.txt").write_text("")  # labeled: nothing there
    # background.jpg has no label file beside the others: labeled empty (ultralytics)
    # test/ has no labels folder at all: its images are not labeled
    (root / "data.yaml").write_text("train: images/train\ntest: images/test\nnames: [cat]\n")
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    rep = import_dataset(p, "yolo", root)
    assert (rep.items, rep.annotations, rep.regions) == (5, 3, 1)
    items = p.items().set_index("id")
    labeled = {Path(str(items.loc[a.item_id, "uri"])).name: len(a.regions)
               for a in p.annotation_objects()}
    assert labeled == {"with.jpg": 1, "empty.jpg": 0, "background.jpg": 0}
    assert _counts(p) == (5, 3, 2)
    # predictions: an image without labels gets no (empty) prediction
    q = Project.create(tmp_path / "q.db", "q", Schema("boxes", ["cat"]))
    assert import_dataset(q, "yolo", root, as_predictions=True).predictions == 3
