"""Fixes from a review of the formats: generated file names that collided, data.yaml's
val split in another case, split names a format reserves, Label Studio annotations
whose every result is ignored, parent folders a failed export left behind, the fix a
Dawid-Skene policy error names, symlinks to missing files, and images whose file
changed size after labeling."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from labelnb.errors import FormatError, ItemNotFound, LabelnbError, ValidationError
from labelnb.formats import export, import_dataset, pipeline, yolo
from labelnb.formats import label_studio as ls
from labelnb.formats._common import unique_file_names
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box

MakeImage = Callable[..., Path]


def _labeled(tmp_path: Path, files: list[Path], *, empty: bool = False) -> Project:
    """A boxes project with these images, each labeled once (a box, or nothing)."""
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat", "dog"]))
    ids = p.add_items([str(f) for f in files])
    p.add_annotations([Annotation(item_id=i, author="ana", regions=() if empty else (
        Box(1, 1, 10, 10, "cat"),)) for i in ids])
    return p


# --- 1. generated file names --------------------------------------------------------------


def test_a_prefixed_name_never_takes_another_images_name() -> None:
    names = unique_file_names([(1, "/a/x.png"), (2, "/b/x.png"), (3, "/c/1_x.png")])
    assert names[3] == "1_x.png"  # the name no other source shares is kept
    stems = [Path(n).stem.lower() for n in names.values()]
    assert len(set(stems)) == 3, names
    # and the same records always give the same names
    assert unique_file_names([(1, "/a/x.png"), (2, "/b/x.png"), (3, "/c/1_x.png")]) == names
    # a counter that is taken too moves on to the next free one
    more = unique_file_names([(1, "/a/x.png"), (2, "/b/x.png"), (3, "/c/1_x.png"),
                              (4, "/d/1_2_X.jpg")])
    assert len({Path(n).stem.lower() for n in more.values()}) == 4, more


def test_coco_voc_and_yolo_pair_each_item_with_its_own_image(tmp_path: Path,
                                                             image_maker: MakeImage) -> None:
    src = [image_maker(tmp_path / "a" / "x.png", (40, 30)),
           image_maker(tmp_path / "b" / "x.png", (20, 16)),
           image_maker(tmp_path / "c" / "1_x.png", (24, 18))]
    p = _labeled(tmp_path, src, empty=True)
    sizes = {int(r["id"]): (int(r["width"]), int(r["height"]))
             for r in p.items().to_dict("records")}
    export(p, "coco", tmp_path / "coco")
    data = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert len({im["file_name"] for im in data["images"]}) == 3
    for im in data["images"]:
        with Image.open(tmp_path / "coco" / "images" / im["file_name"]) as f:
            assert f.size == sizes[im["id"]] == (im["width"], im["height"]), im
    export(p, "voc", tmp_path / "voc")  # (refused before: two images named 1_x.png)
    assert len(list((tmp_path / "voc" / "Annotations").glob("*.xml"))) == 3
    export(p, "yolo", tmp_path / "yolo")
    assert len(list((tmp_path / "yolo" / "labels" / "train").glob("*.txt"))) == 3


# --- 2. data.yaml's val in another case ---------------------------------------------------


def test_data_yaml_finds_the_val_and_test_splits_in_any_case() -> None:
    assert yolo.yaml_splits(["train", "Val"]) == ("train", "Val", None)
    text = yolo.data_yaml(["cat"], ["train", "Val", "TEST"])
    assert 'val: "images/Val"' in text and 'test: "images/TEST"' in text
    assert 'train: "images/train"' in text and "Val:" not in text and "TEST:" not in text
    # an exact name still wins over one in another case
    assert yolo.yaml_splits(["train", "VAL", "val"])[1] == "val"


def test_yolo_export_with_a_capitalised_val_split(tmp_path: Path, images: list[Path]) -> None:
    p = _labeled(tmp_path, images[:6])
    export(p, "yolo", tmp_path / "y", split={"train": 0.5, "Val": 0.5})
    data = yolo.read_data_yaml(tmp_path / "y" / "data.yaml")
    assert data["val"] == "images/Val" and data["train"] == "images/train"
    assert any((tmp_path / "y" / "images" / "Val").iterdir())


# --- 3. split names a format reserves -----------------------------------------------------


@pytest.mark.parametrize("name", ["path", "names", "nc", "channels", "kpt_shape"])
def test_yolo_refuses_split_names_data_yaml_uses_as_settings(tmp_path: Path,
                                                             images: list[Path],
                                                             name: str) -> None:
    p = _labeled(tmp_path, images[:4])
    with pytest.raises(FormatError, match=f"split '{name}' cannot be a yolo split: "
                                          "data.yaml .*; rename the split"):
        export(p, "yolo", tmp_path / "out" / "y", split={"train": 0.5, name: 0.5})
    assert not (tmp_path / "out").exists()


def test_reserved_split_names_only_where_they_break(tmp_path: Path,
                                                   images: list[Path]) -> None:
    p = _labeled(tmp_path, images[:4])
    with pytest.raises(FormatError, match="split 'all' cannot be a voc split"):
        export(p, "voc", tmp_path / "v", split={"train": 0.5, "all": 0.5})
    # COCO has no data.yaml: 'names' is a folder like any other there
    rep = export(p, "coco", tmp_path / "c", split={"train": 0.5, "names": 0.5})
    assert rep.splits == {"train": 2, "names": 2}
    # and YOLO keeps train / val / test, in any case
    export(p, "yolo", tmp_path / "y", split={"Train": 0.5, "test": 0.5})
    data = yolo.read_data_yaml(tmp_path / "y" / "data.yaml")
    assert (data["train"], data["val"], data["test"]) == ("images/Train", "images/test",
                                                          "images/test")


# --- 4. Label Studio annotations whose every result is ignored ----------------------------


def _kp(label: str = "cat") -> dict[str, object]:
    return {"type": "keypointlabels", "original_width": 64, "original_height": 48,
            "value": {"x": 10, "y": 10, "keypointlabels": [label]}}


def test_an_annotation_of_ignored_results_only_is_left_out() -> None:
    notes: list[str] = []
    [t] = ls.from_label_studio({"id": 9, "data": {"image": "a.jpg"}, "annotations": [
        {"completed_by": 1, "result": [_kp(), _kp("dog")]},
        {"completed_by": 2, "result": []},  # nothing found: a real empty annotation
    ], "predictions": [{"model_version": "m", "result": [_kp()]}]},
        ignore_types=["keypointlabels"], notes=notes)
    assert [(x.kind, x.author, x.regions) for x in t.labels] == [
        ("annotation", "label-studio:2", ())]
    assert t.skipped == 1
    left = [n for n in notes if "of a type left out" in n]
    assert len(left) == 2 and "annotations[0]" in left[0] and "predictions[0]" in left[1]


def test_import_does_not_mark_an_item_done_by_an_ignored_annotation(
        tmp_path: Path, image_maker: MakeImage) -> None:
    img = image_maker(tmp_path / "media" / "a.png", (64, 48))
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([{"id": 1, "data": {"image": "a.png"}, "annotations": [
        {"completed_by": 1, "result": [_kp()]}]}]))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"]))
    rep = import_dataset(p, "label_studio", path, images=img.parent,
                         options={"ignore_types": ["keypointlabels"]})
    assert (rep.items, rep.annotations, rep.skipped) == (1, 0, 1)
    assert p.annotations().empty and int(p.items()["done"].iloc[0]) == 0
    assert p.queue("zed").claim() is not None  # still waiting for an annotator
    assert "annotations left out" in str(rep)


# --- 5. parent folders of a failed export -------------------------------------------------


def test_a_failed_export_removes_the_parent_folders_it_made(tmp_path: Path,
                                                            images: list[Path]) -> None:
    src = tmp_path / "gone.png"
    Image.new("RGB", (32, 24)).save(src)
    p = _labeled(tmp_path, [images[0], src])
    src.unlink()
    with pytest.raises(ItemNotFound, match="does not exist"):
        export(p, "coco", tmp_path / "new" / "deeper" / "coco")
    assert not (tmp_path / "new").exists()
    # a parent that was there stays, with what it holds
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    with pytest.raises(ItemNotFound):
        export(p, "yolo", tmp_path / "mine" / "a" / "b" / "y")
    assert sorted(f.name for f in (tmp_path / "mine").iterdir()) == ["keep.txt"]


# --- 6. the fix a Dawid-Skene policy error names ------------------------------------------


def test_dawid_skene_policy_on_boxes_names_the_export_fix(boxes_project: Project,
                                                          tmp_path: Path) -> None:
    with pytest.raises(FormatError) as ei:
        export(boxes_project, "coco", tmp_path / "c", policy="consensus:dawid_skene")
    msg = str(ei.value)
    assert "policy='consensus'" in msg and "method=" not in msg and "'boxes'" in msg
    with pytest.raises(FormatError, match="policy='consensus'"):
        pipeline.read_final(boxes_project, "consensus:dawid_skene")
    assert not (tmp_path / "c").exists()
    # project.consensus() takes method=, and says so
    with pytest.raises(ValidationError, match="method='majority'"):
        boxes_project.consensus(method="dawid_skene")


# --- 7. media="symlink" with a missing source ---------------------------------------------


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_symlink_export_refuses_a_missing_source_as_copy_does(tmp_path: Path,
                                                              images: list[Path],
                                                              fmt: str) -> None:
    src = tmp_path / "gone.png"
    Image.new("RGB", (32, 24)).save(src)
    p = _labeled(tmp_path, [images[0], src])
    src.unlink()
    with pytest.raises(ItemNotFound) as copied:
        export(p, fmt, tmp_path / "copy")  # type: ignore[arg-type]
    with pytest.raises(ItemNotFound) as linked:
        export(p, fmt, tmp_path / "link", media="symlink")  # type: ignore[arg-type]
    assert str(linked.value) == str(copied.value)
    assert str(src) in str(linked.value) and "fix the path" in str(linked.value)
    assert not (tmp_path / "link").exists()


# --- 8. an image file that changed size after labeling ------------------------------------


@pytest.mark.parametrize("fmt,media", [("coco", "copy"), ("coco", "symlink"), ("voc", "copy"),
                                       ("yolo", "copy"), ("tfrecord", "copy"),
                                       ("webdataset", "copy"), ("hf", "copy")])
def test_an_image_resized_after_labeling_is_refused(tmp_path: Path, image_maker: MakeImage,
                                                    fmt: str, media: str) -> None:
    a = image_maker(tmp_path / "src" / "a.png", (64, 48))
    b = image_maker(tmp_path / "src" / "b.png", (64, 48), (0, 90, 200))
    p = _labeled(tmp_path, [a, b])
    image_maker(b, (32, 24))  # the file is replaced by a smaller one
    with pytest.raises(LabelnbError) as ei:
        export(p, fmt, tmp_path / "out", media=media)  # type: ignore[arg-type]
    msg = str(ei.value)
    assert isinstance(ei.value, FormatError), msg
    assert msg.startswith("item 2 (image 'b.png'") and "32x24 px now" in msg \
        and "labeled at 64x48 px" in msg and "Put the original file back" in msg, msg
    assert not (tmp_path / "out").exists()
    # the unchanged image alone exports
    export(p, fmt, tmp_path / "ok", media=media,  # type: ignore[arg-type]
           filter=lambda r: r.item_id != 2)
