"""Docstring examples, import hygiene, polygon/mask projects and EXIF through the pipeline."""

from __future__ import annotations

import ast
import doctest
import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest

from labelnb.errors import FormatError
from labelnb.formats import ImageRecord, coco, export, import_dataset, yolo
from labelnb.formats._common import unique_file_names
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Mask, Polygon

MODULES = ["labelnb.formats.coco", "labelnb.formats.voc", "labelnb.formats.yolo",
           "labelnb.formats.splits"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    res = doctest.testmod(importlib.import_module(name),
                          optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def _runtime_imports(path: Path) -> set[str]:
    """Modules a file imports at run time (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_format_modules_do_not_import_the_project_layer() -> None:
    import labelnb.formats

    folder = Path(labelnb.formats.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert len(files) >= 6
    for f in files:
        bad = {m for m in _runtime_imports(f)
               if m.startswith(("labelnb.project", "labelnb.queue", "ultralytics", "torch"))}
        assert not bad, f"{f.name} imports {bad}"


def test_unique_file_names() -> None:
    names = unique_file_names([(1, "/a/x.jpg"), (2, "/b/x.jpg"), (3, "/b/X.png"),
                               (4, "s3://bkt/y.jpg?v=2"), (5, "/c/z.png")])
    assert names == {1: "1_x.jpg", 2: "2_x.jpg", 3: "3_X.png", 4: "y.jpg", 5: "z.png"}


def test_polygon_project_to_coco_and_yolo(tmp_path: Path, images: list[Path]) -> None:
    p = Project.create(tmp_path / "poly.db", "poly", Schema("polygons", ["cat", "dog"]))
    ids = p.add_items([str(f) for f in images[:4]])
    p.add_annotations([Annotation(item_id=i, regions=(
        Polygon((1, 1, 20, 1, 20, 30, 1, 30), "dog"),), author="ana") for i in ids])
    rep = export(p, "coco", tmp_path / "c")
    gt = coco.check_with_pycocotools(tmp_path / "c" / "annotations.json")
    assert rep.regions == 4 and len(gt.getAnnIds()) == 4
    export(p, "yolo", tmp_path / "y")
    back = yolo.load_yolo(tmp_path / "y")
    assert all(isinstance(r, Polygon) for rs in back.regions.values() for r in rs)


def test_mask_project_to_coco_and_yolo(tmp_path: Path, images: list[Path]) -> None:
    p = Project.create(tmp_path / "m.db", "m", Schema("masks", ["cat"]))
    ids = p.add_items([str(f) for f in images[:3]])
    anns = []
    for i in ids:
        it = p.item(i)
        assert it.width is not None and it.height is not None
        a = np.zeros((it.height, it.width), dtype=bool)
        a[2:9, 3:17] = True
        anns.append(Annotation(item_id=i, regions=(Mask.from_array(a, "cat"),), author="ana"))
    p.add_annotations(anns)
    rep = export(p, "coco", tmp_path / "c", media="none")
    ds = coco.load_coco(tmp_path / "c")
    assert rep.validated == 3
    assert [r.area for rs in ds.regions.values() for r in rs] == [98, 98, 98]  # type: ignore[attr-defined]
    rep = export(p, "yolo", tmp_path / "y")
    assert rep.validated == 3 and rep.regions == 3
    back = yolo.load_yolo(tmp_path / "y")
    polys = [r for rs in back.regions.values() for r in rs]
    assert all(isinstance(r, Polygon) for r in polys)
    for r in polys:  # six decimals of normalized coordinates
        assert r.bbox.xywh == pytest.approx((3.5, 2.5, 13.0, 6.0), abs=1e-3)  # type: ignore[attr-defined]


def test_mask_to_polygon() -> None:
    a = np.zeros((20, 30), dtype=bool)
    a[2:9, 3:17] = True
    poly, dropped = yolo.mask_to_polygon(Mask.from_array(a, "cat"))
    assert dropped == 0 and poly.label == "cat"
    assert sorted(zip(poly.points[::2], poly.points[1::2], strict=True)) == \
        [(3.5, 2.5), (3.5, 8.5), (16.5, 2.5), (16.5, 8.5)]  # pixel centres
    a[15:18, 20:22] = True  # a second, smaller part
    a[0, 29] = True  # and a single pixel
    poly2, dropped2 = yolo.mask_to_polygon(Mask.from_array(a, "cat"))
    assert dropped2 == 2 and poly2.bbox == poly.bbox
    notes: list[str] = []
    text = yolo.to_yolo([Mask.from_array(a, "cat")], 30, 20, ["cat"], notes=notes)
    assert len(text.split()) == 9 and "3 parts" in notes[0]
    b = np.zeros((5, 5), dtype=bool)
    b[1, 2] = True
    dot, _ = yolo.mask_to_polygon(Mask.from_array(b, "cat"))
    # a lone pixel becomes its square, just inside its edges (a fill with truncated
    # vertices, as ultralytics does, covers that pixel alone)
    assert dot.bbox.xywh == pytest.approx((2.01, 1.01, 0.98, 0.98))
    assert np.array_equal(yolo.polygon_to_mask(dot, 5, 5).to_array(), b)


@pytest.mark.usefixtures("offline_ultralytics")
def test_exif_rotated_item_exports_upright(tmp_path: Path,
                                           image_maker: Callable[..., Path]) -> None:
    from ultralytics.data.utils import verify_image_label

    src = image_maker(tmp_path / "src" / "rot.jpg", (40, 20), orientation=6)
    p = Project.create(tmp_path / "r.db", "r", Schema("boxes", ["cat"]))
    (iid,) = p.add_items([str(src)])
    it = p.item(iid)
    assert (it.width, it.height) == (20, 40)  # the store keeps the upright size
    p.add_annotations([Annotation(item_id=iid, regions=(Box(0, 30, 20, 40, "cat"),),
                                  author="ana")])
    export(p, "yolo", tmp_path / "y")
    out = verify_image_label((str(tmp_path / "y" / "images" / "train" / "rot.jpg"),
                              str(tmp_path / "y" / "labels" / "train" / "rot.txt"), "", False, 1,
                              0, 0, False))
    assert tuple(out[2]) == (40, 20) and out[8] == 0
    from PIL import Image

    with Image.open(tmp_path / "y" / "images" / "train" / "rot.jpg") as im:
        assert im.size == (20, 40) and im.getexif().get(0x0112, 1) == 1


def test_nothing_to_export_is_an_error_and_writes_nothing(tmp_path: Path,
                                                          images: list[Path]) -> None:
    p = Project.create(tmp_path / "e.db", "e", Schema("boxes", ["cat"]))
    p.add_items([str(f) for f in images[:2]])
    with pytest.raises(FormatError, match="2 image items have no final annotation"):
        export(p, "coco", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("offline_ultralytics")
def test_symlinked_images_pass_ultralytics(boxes_project: Project, tmp_path: Path) -> None:
    from ultralytics.data.utils import check_det_dataset, verify_image_label

    export(boxes_project, "yolo", tmp_path / "y", media="symlink")
    data = check_det_dataset(str(tmp_path / "y" / "data.yaml"), autodownload=False)
    files = sorted(Path(data["train"]).iterdir())
    assert len(files) == 12 and all(f.is_symlink() for f in files)
    for f in files:
        lb = tmp_path / "y" / "labels" / "train" / f"{f.stem}.txt"
        assert verify_image_label((str(f), str(lb), "", False, 2, 0, 0, False))[8] == 0
    with pytest.raises(FormatError, match="media='none' cannot work"):
        export(boxes_project, "yolo", tmp_path / "z", media="none")


def test_import_official_coco_layout(tmp_path: Path, images: list[Path]) -> None:
    """annotations/instances_val2017.json with the images in val2017/ beside it."""
    import shutil

    root = tmp_path / "coco2017"
    (root / "val2017").mkdir(parents=True)
    recs = []
    for i, f in enumerate(images[:3]):
        shutil.copy(f, root / "val2017" / f.name)
        w, h = (64, 48) if i % 3 else (40, 72)
        recs.append(ImageRecord(100 + i, f.name, w, h))
    data = coco.to_coco(recs, {100: [Box(0, 0, 4, 4, "dog")]}, ["cat", "dog"])
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_val2017.json").write_bytes(orjson.dumps(data))
    p = Project.create(tmp_path / "i.db", "i", Schema("boxes", ["cat", "dog"]))
    rep = import_dataset(p, "coco", root / "annotations" / "instances_val2017.json")
    assert rep.items == 3 and rep.regions == 1
    other = tmp_path / "elsewhere"
    shutil.copytree(root / "val2017", other)
    shutil.rmtree(root / "val2017")
    with pytest.raises(FormatError, match="not on disk"):
        import_dataset(p, "coco", root / "annotations" / "instances_val2017.json")
    rep = import_dataset(p, "coco", root, images=other)
    assert rep.items == 3
