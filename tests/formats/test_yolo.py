"""YOLO: label files, data.yaml, and ultralytics' own dataset checks (offline)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from labelnb.errors import FormatError
from labelnb.formats import Dataset, ImageRecord, export, import_dataset, yolo
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Box, Polygon, Region


def _dataset(images: list[Path], kind: str = "boxes") -> Dataset:
    recs = []
    regions: dict[int, list[Region]] = {}
    for i, f in enumerate(images):
        w, h = (64, 48) if i % 3 else (40, 72)
        split = ["train", "train", "val", "test"][i % 4]
        recs.append(ImageRecord(i + 1, f.name, w, h, uri=str(f), split=split))
        if kind == "boxes":
            boxes: list[Region] = [Box(1, 2, 20, 30, "dog"), Box(0, 0, w, h, "cat")]
            regions[i + 1] = boxes[: i % 3]
        else:
            regions[i + 1] = [Polygon((1, 1, 30, 1, 30, 40, 1, 40), "dog")] if i % 2 else []
    return Dataset(recs, regions, ["cat", "dog", "bird"])


def test_data_yaml_names_are_a_dict_in_schema_order(tmp_path: Path, images: list[Path]) -> None:
    path = yolo.save_yolo(_dataset(images), tmp_path / "y")
    data = yolo.read_data_yaml(path)
    assert data["names"] == {0: "cat", 1: "dog", 2: "bird"} and data["nc"] == 3
    assert (data["train"], data["val"], data["test"]) == ("images/train", "images/val",
                                                          "images/test")
    assert "path" not in data  # relocatable: resolved against the YAML's folder
    lab = (tmp_path / "y" / "labels" / "train" / f"{images[1].stem}.txt").read_text()
    assert lab.split("\n")[0].split()[0] == "1"
    assert (tmp_path / "y" / "labels" / "train" / f"{images[0].stem}.txt").read_text() == ""


def test_names_with_yaml_specials_survive(tmp_path: Path, images: list[Path]) -> None:
    ds = Dataset([ImageRecord(1, images[1].name, 64, 48, uri=str(images[1]))],
                 {1: [Box(0, 0, 2, 2, "a: b # c")]},
                 ["a: b # c", "'quoted' \"x\"", "日本", "chat 🐱", "back\\slash \\ud83d"])
    path = yolo.save_yolo(ds, tmp_path / "y")
    assert yolo.read_data_yaml(path)["names"] == {
        0: "a: b # c", 1: "'quoted' \"x\"", 2: "日本", 3: "chat 🐱",  # emoji: beyond the BMP
        4: "back\\slash \\ud83d"}
    assert yolo.load_yolo(path).regions[1][0].label == "a: b # c"
    assert path.read_text(encoding="utf-8").isascii()


@pytest.mark.parametrize("kind", ["boxes", "polygons"])
def test_round_trip(tmp_path: Path, images: list[Path], kind: str) -> None:
    ds = _dataset(images, kind)
    yolo.save_yolo(ds, tmp_path / "y")
    back = yolo.load_yolo(tmp_path / "y")
    assert back.categories == ds.categories
    by_name = {(i.split, i.file_name): i for i in back.images}
    assert len(by_name) == len(ds.images)
    for im in ds.images:
        got = by_name[(im.split, im.file_name)]
        assert (got.width, got.height) == (im.width, im.height)
        want, have = ds.regions[im.id], back.regions[got.id]
        assert [type(r) for r in have] == [type(r) for r in want]
        assert [r.label for r in have] == [r.label for r in want]
        for a, b in zip(want, have, strict=True):
            pa = (a.x0, a.y0, a.x1, a.y1) if isinstance(a, Box) else a.points  # type: ignore[attr-defined]
            pb = (b.x0, b.y0, b.x1, b.y1) if isinstance(b, Box) else b.points  # type: ignore[attr-defined]
            assert max(abs(x - y) for x, y in zip(pa, pb, strict=True)) < 1e-4


def test_mixed_boxes_and_polygons_are_refused() -> None:
    with pytest.raises(FormatError, match="mix detection and segmentation"):
        yolo.to_yolo([Box(0, 0, 1, 1, "a"), Polygon((0, 0, 1, 0, 1, 1), "a")], 5, 5, ["a"])


def test_bad_label_lines_name_file_and_line() -> None:
    with pytest.raises(FormatError, match="f.txt, line 2: field 'class': class '7'"):
        yolo.from_yolo("0 .5 .5 .1 .1\n7 .5 .5 .1 .1\n", 10, 10, ["a"], where="f.txt")
    with pytest.raises(FormatError, match="line 1: field 'coordinates': 3 coordinates"):
        yolo.from_yolo("0 .5 .5 .1\n", 10, 10, ["a"], where="f.txt")


@pytest.mark.usefixtures("offline_ultralytics")
@pytest.mark.parametrize("kind", ["boxes", "polygons"])
def test_ultralytics_checks_pass(tmp_path: Path, images: list[Path], kind: str) -> None:
    from ultralytics.data.utils import check_det_dataset, img2label_paths, verify_image_label

    ds = _dataset(images, kind)
    yaml_path = yolo.save_yolo(ds, tmp_path / "y")
    data = check_det_dataset(str(yaml_path), autodownload=False)
    assert data["nc"] == 3 and data["names"] == {0: "cat", 1: "dog", 2: "bird"}
    for key in ("train", "val", "test"):
        folder = Path(data[key])
        assert folder.is_dir() and folder.parent.parent == (tmp_path / "y").resolve()
    files: list[str | Path] = sorted(
        str(p) for k in ("train", "val", "test") for p in Path(data[k]).iterdir())
    assert len(files) == len(images)
    for im_file, lb_file in zip(files, img2label_paths(files), strict=True):
        # (im_file, lb_file, prefix, keypoint, num_cls, nkpt, ndim, single_cls)
        out = verify_image_label((im_file, lb_file, "", False, 3, 0, 0, False))
        _, lb, shape, segments, _, nm, nf, ne, nc, msg = out
        assert nc == 0 and nm == 0 and nf == 1, msg
        assert msg == ""
        rec = next(r for r in ds.images if Path(im_file).name == r.file_name)
        assert tuple(shape) == (rec.height, rec.width)
        want = ds.regions[rec.id]
        assert len(lb) == len(want) and ne == (0 if want else 1)
        assert sorted(int(c) for c in lb[:, 0]) == sorted(ds.categories.index(r.label)
                                                          for r in want)
        assert len(segments) == (len(want) if kind == "polygons" else 0)


@pytest.mark.usefixtures("offline_ultralytics")
def test_ultralytics_reads_exif_rotated_images_at_the_label_size(
        tmp_path: Path, image_maker: Callable[..., Path]) -> None:
    """A JPEG stored 40x20 with EXIF orientation 6 is 20x40 upright: the export rotates
    the pixels, so ultralytics' size and the labels' size agree."""
    from ultralytics.data.utils import verify_image_label

    src = image_maker(tmp_path / "src" / "rot.jpg", (40, 20), orientation=6)
    ds = Dataset([ImageRecord(1, "rot.jpg", 20, 40, uri=str(src))],
                 {1: [Box(0, 0, 20, 40, "cat")]}, ["cat"])
    yolo.save_yolo(ds, tmp_path / "y")
    im = tmp_path / "y" / "images" / "train" / "rot.jpg"
    lb = tmp_path / "y" / "labels" / "train" / "rot.txt"
    out = verify_image_label((str(im), str(lb), "", False, 1, 0, 0, False))
    assert tuple(out[2]) == (40, 20) and out[8] == 0
    assert yolo.load_yolo(tmp_path / "y").images[0].width == 20


def test_export_to_a_relative_folder_imports_back(tmp_path: Path, boxes_project: Project,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder given relative to the working directory: data.yaml has no 'path', so its
    folders resolve against the YAML's own folder, once (they were joined to it twice)."""
    monkeypatch.chdir(tmp_path)
    export(boxes_project, "yolo", "out/yolo")
    back = Project.create(tmp_path / "back.db", "back", Schema("boxes", ["cat", "dog"]))
    rep = import_dataset(back, "yolo", "out/yolo/data.yaml")
    want = sum(len(a.regions) for a in boxes_project.annotation_objects())
    assert rep.items == len(boxes_project.items()) and rep.regions == want > 0
    rep2 = import_dataset(Project.create(tmp_path / "b2.db", "b", Schema("boxes", ["cat", "dog"])),
                          "yolo", "out/yolo")  # the folder, relative, too
    assert rep2.items == rep.items


def test_masks_come_back_whole_through_yolo(tmp_path: Path) -> None:
    """Masks go out as outlines through pixel centres (what ultralytics fills back to the
    same pixels); imported into a masks project they were read as continuous outlines
    and lost half a pixel all round (a 10 x 5 mask came back with IoU 0.72)."""
    import numpy as np
    from PIL import Image

    from labelnb.types import Annotation, Mask

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(img)
    shapes = []
    for y0, y1, x0, x1 in [(5, 10, 3, 13), (20, 40, 30, 50), (50, 51, 10, 40), (0, 60, 79, 80)]:
        a = np.zeros((60, 80), bool)
        a[y0:y1, x0:x1] = True
        shapes.append(a)
    l_shape = np.zeros((60, 80), bool)
    l_shape[30:50, 5:10] = True
    l_shape[45:50, 5:25] = True
    shapes.append(l_shape)
    src = Project.create(tmp_path / "m.db", "m", Schema("masks", ["c"]))
    [iid] = src.add_items([str(img)])
    src.add_annotations([Annotation(item_id=iid, author="ana", regions=tuple(
        Mask.from_array(a, "c") for a in shapes))])
    export(src, "yolo", tmp_path / "y")
    back = Project.create(tmp_path / "b.db", "b", Schema("masks", ["c"]))
    import_dataset(back, "yolo", tmp_path / "y")
    [ann] = back.annotation_objects()
    got = [r.to_array() for r in ann.regions if isinstance(r, Mask)]
    assert len(got) == len(shapes)
    for want, have in zip(shapes, got, strict=True):
        assert np.array_equal(want, have)
