"""COCO: pure round trip, pycocotools load, COCOeval of the ground truth against itself."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import orjson
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from labelnb.errors import FormatError
from labelnb.formats import Dataset, ImageRecord, coco
from labelnb.types import Box, Mask, Polygon, Region


def _mask(h: int, w: int, y0: int, y1: int, x0: int, x1: int, label: str) -> Mask:
    a = np.zeros((h, w), dtype=bool)
    a[y0:y1, x0:x1] = True
    return Mask.from_array(a, label)


def _dataset() -> Dataset:
    images = [ImageRecord(1, "a.jpg", 64, 48), ImageRecord(2, "b.png", 40, 72),
              ImageRecord(5, "c.jpg", 100, 100)]
    regions: dict[int, list[Region]] = {
        1: [Box(2, 3, 12.5, 8, "cat", score=0.9), Box(20, 20, 64, 48, "dog",
                                                         attributes={"occluded": True})],
        2: [Polygon((1, 1, 30, 1, 30, 60, 1, 60), "dog"),
            _mask(72, 40, 10, 30, 5, 25, "cat")],
        5: [],
    }
    return Dataset(images, regions, ["cat", "dog", "bird"])


def test_round_trip_is_lossless() -> None:
    ds = _dataset()
    data = coco.to_coco(*ds)
    back = coco.from_coco(data)
    assert back.categories == ds.categories
    assert [(i.id, i.file_name, i.width, i.height) for i in back.images] == \
        [(i.id, i.file_name, i.width, i.height) for i in ds.images]
    assert back.regions == ds.regions
    # and through JSON bytes
    assert coco.from_coco(orjson.loads(orjson.dumps(data))).regions == ds.regions


def test_fields_follow_coco() -> None:
    data = coco.to_coco(*_dataset())
    assert data["categories"] == [{"id": 1, "name": "cat", "supercategory": ""},
                                  {"id": 2, "name": "dog", "supercategory": ""},
                                  {"id": 3, "name": "bird", "supercategory": ""}]
    a = {x["id"]: x for x in data["annotations"]}
    assert a[1]["bbox"] == [2.0, 3.0, 10.5, 5.0] and a[1]["area"] == 52.5
    assert a[1]["category_id"] == 1 and a[1]["score"] == 0.9 and a[1]["segmentation"] == []
    assert a[2]["attributes"] == {"occluded": True}
    assert a[3]["segmentation"] == [[1.0, 1.0, 30.0, 1.0, 30.0, 60.0, 1.0, 60.0]]
    assert a[3]["area"] > 0 and a[3]["bbox"] == [1.0, 1.0, 29.0, 59.0]
    assert a[4]["segmentation"]["size"] == [72, 40] and isinstance(
        a[4]["segmentation"]["counts"], str)
    assert a[4]["area"] == 400.0 and a[4]["bbox"] == [5.0, 10.0, 20.0, 20.0]
    assert all(x["iscrowd"] == 0 for x in data["annotations"])


def test_multi_ring_polygon_and_uncompressed_rle_load_as_masks() -> None:
    data = coco.to_coco([ImageRecord(1, "a.jpg", 20, 20)], {}, ["cat"])
    data["annotations"] = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 10, 10],
         "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4], [10, 10, 14, 10, 14, 14, 10, 14]]},
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 20, 20],
         "segmentation": {"size": [20, 20], "counts": [0, 400]}},
    ]
    regs = coco.from_coco(data).regions[1]
    assert isinstance(regs[0], Mask) and regs[0].area > 0
    assert isinstance(regs[1], Mask) and regs[1].area == 400


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["annotations"].__setitem__(0, {**d["annotations"][0], "image_id": 99}),
     "image_id 99 is not among the images"),
    (lambda d: d["annotations"].__setitem__(0, {**d["annotations"][0], "category_id": 9}),
     "category_id 9"),
    (lambda d: d["annotations"].__setitem__(0, {**d["annotations"][0], "bbox": [60, 0, 10, 5]}),
     "lies outside the image"),
    (lambda d: d["images"].append(dict(d["images"][0])), "image id 1 is used twice"),
    # a segmentation that is neither a polygon list nor an RLE is not swapped for the bbox
    (lambda d: d["annotations"].__setitem__(0, {**d["annotations"][0], "segmentation": "abc"}),
     "field 'segmentation': 'segmentation' is 'abc', neither a polygon list nor an RLE"),
])
def test_validation_names_the_problem(mutate, message) -> None:  # type: ignore[no-untyped-def]
    data = coco.to_coco(*_dataset())
    assert coco.validate_coco(data) == []
    mutate(data)
    with pytest.raises(FormatError, match=message):
        coco.validate_coco(data)
    with pytest.raises(FormatError, match=message):
        coco.from_coco(data)


def test_unknown_label_and_mask_size_are_refused() -> None:
    with pytest.raises(FormatError, match="'fox' is not among the categories"):
        coco.to_coco([ImageRecord(1, "a.jpg", 10, 10)], {1: [Box(0, 0, 1, 1, "fox")]}, ["cat"])
    with pytest.raises(FormatError, match="encode the mask at image size"):
        coco.to_coco([ImageRecord(1, "a.jpg", 10, 10)], {1: [_mask(5, 5, 0, 2, 0, 2, "cat")]},
                     ["cat"])


def _quiet_eval(gt: COCO, iou_type: str) -> float:
    dets = []
    for a in gt.dataset["annotations"]:
        d = {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0}
        if iou_type == "bbox":
            d["bbox"] = a["bbox"]
        else:
            rle = gt.annToRLE(a)  # results carry RLE (polygons are GT-only in pycocotools)
            d["segmentation"] = {"size": rle["size"], "counts": rle["counts"]}
        dets.append(d)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def test_pycocotools_loads_it_and_cocoeval_of_gt_against_itself_is_1(tmp_path: Path) -> None:
    images = [ImageRecord(i, f"{i}.jpg", 64, 48) for i in range(1, 9)]
    rng = np.random.default_rng(0)
    regions: dict[int, list[Region]] = {}
    for im in images:
        regs: list[Region] = []
        for k in range(3):
            x0, y0 = float(rng.uniform(0, 40)), float(rng.uniform(0, 30))
            regs.append(Box(x0, y0, x0 + float(rng.uniform(4, 20)), y0 + float(rng.uniform(4, 15)),
                            ["cat", "dog"][k % 2]))
        regions[im.id] = regs
    ds = Dataset(images, regions, ["cat", "dog"])
    files = coco.save_coco(ds, tmp_path / "out", media="none")
    assert files == [tmp_path / "out" / "annotations.json"]
    gt = coco.check_with_pycocotools(files[0])
    assert len(gt.getImgIds()) == 8 and len(gt.getAnnIds()) == 24
    assert gt.loadCats(gt.getCatIds()) == [{"id": 1, "name": "cat", "supercategory": ""},
                                           {"id": 2, "name": "dog", "supercategory": ""}]
    assert _quiet_eval(gt, "bbox") == pytest.approx(1.0)


def test_cocoeval_segm_of_polygons_and_masks_is_1(tmp_path: Path) -> None:
    images = [ImageRecord(1, "a.jpg", 64, 48), ImageRecord(2, "b.jpg", 64, 48)]
    regions: dict[int, list[Region]] = {
        1: [Polygon((2, 2, 30, 2, 30, 30, 2, 30), "cat"), _mask(48, 64, 5, 40, 35, 60, "dog")],
        2: [_mask(48, 64, 0, 48, 0, 64, "cat")],
    }
    files = coco.save_coco(Dataset(images, regions, ["cat", "dog"]), tmp_path, media="none")
    gt = coco.check_with_pycocotools(files[0])
    assert _quiet_eval(gt, "segm") == pytest.approx(1.0)
    assert _quiet_eval(gt, "bbox") == pytest.approx(1.0)


def test_save_and_load_with_splits_and_images(tmp_path: Path, images: list[Path]) -> None:
    recs = [ImageRecord(i + 1, f.name, 64 if i % 3 else 40, 48 if i % 3 else 72, uri=str(f),
                        split="train" if i < 8 else "val") for i, f in enumerate(images)]
    regions: dict[int, list[Region]] = {r.id: [Box(0, 0, 5, 5, "cat")] for r in recs}
    ds = Dataset(recs, regions, ["cat"])
    files = coco.save_coco(ds, tmp_path / "out")
    assert sorted(f.name for f in files) == ["instances_train.json", "instances_val.json"]
    assert (tmp_path / "out" / "images" / "val" / images[9].name).read_bytes() == \
        images[9].read_bytes()
    back = coco.load_coco(tmp_path / "out")
    assert {(i.split, i.file_name) for i in back.images} == {(r.split, r.file_name) for r in recs}
    assert all(i.uri is not None and Path(i.uri).is_file() for i in back.images)
    one = coco.load_coco(tmp_path / "out" / "annotations" / "instances_val.json")
    assert len(one.images) == 4 and all(i.split == "val" for i in one.images)
    for f in files:
        coco.check_with_pycocotools(f)
