"""Fixes from a review of the exports: the newest of several votes exported without a
word, YOLO masks whose holes were filled silently, hidden image names ultralytics
never lists, VOC's late error for a label the schema dropped, raw OSErrors naming
temporary folders, and HF's label -1 for a single choice with no class."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelnb.errors import FormatError
from labelnb.formats import export, pipeline, voc, yolo
from labelnb.formats._common import Dataset, ImageRecord, unique_file_names
from labelnb.formats.webdataset import load_webdataset
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Choice, Mask, Polygon

MakeImage = Callable[..., Path]


def _files(root: Path) -> dict[str, str]:
    """relative path → md5 of every file under ``root``."""
    return {str(f.relative_to(root)): hashlib.md5(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*")) if f.is_file()}


def _temp_folders(folder: Path) -> list[str]:
    return [x.name for x in folder.iterdir() if x.name.startswith(".")]


# --- 1. policy "latest" with several annotators -----------------------------------------


def _three_votes(tmp_path: Path) -> tuple[Project, list[int]]:
    """A choice project with overlap 3: 'great' unanimous, 'fine' a majority, 'odd' no
    majority (pos / neg / mixed)."""
    p = Project.create(tmp_path / "c.db", "c", Schema("choice", ["pos", "neg", "mixed"]),
                       overlap=3)
    ids = p.add_items(["great", "fine", "odd"])
    great, fine, odd = ids
    votes = {"ana": {great: "pos", fine: "pos", odd: "pos"},
             "bob": {great: "pos", fine: "pos", odd: "neg"},
             "cy": {great: "pos", fine: "neg", odd: "mixed"}}
    for who, by in votes.items():
        q = p.queue(who)
        while (t := q.claim()) is not None:
            q.submit(Choice(by[t.item_id]))
    return p, ids


def _wds_labels(out: Path) -> dict[int, list[str]]:
    return {int(s.annotation["id"]): [r.label for r in s.regions]
            for s in load_webdataset(out)}


def _vote_warnings(rep: pipeline.ExportReport) -> list[str]:
    return [w for w in rep.warnings if "votes" in w]


def test_latest_warns_about_labels_picked_among_several_votes(tmp_path: Path) -> None:
    p, (great, fine, odd) = _three_votes(tmp_path)
    rep = export(p, "webdataset", tmp_path / "w1")
    # the policy is kept: the newest vote (cy's) is each item's label
    assert _wds_labels(tmp_path / "w1") == {great: ["pos"], fine: ["neg"], odd: ["mixed"]}
    (w,) = _vote_warnings(rep)
    assert w.startswith("policy 'latest': 3 items (ids 1, 2, 3) ")
    assert "project.consensus()" in w and "policy='consensus'" in w
    # the same, in the manifest's copy of the report
    m = json.loads((tmp_path / "w1" / "labelnb_export.json").read_text())
    assert m["report"]["warnings"] == rep.warnings

    # consensus stored for the items with a majority: only 'odd' is still one vote of three
    p.consensus()
    rep = export(p, "webdataset", tmp_path / "w2")
    assert _wds_labels(tmp_path / "w2") == {great: ["pos"], fine: ["pos"], odd: ["mixed"]}
    (w,) = _vote_warnings(rep)
    assert w.startswith(f"policy 'latest': 1 item (id {odd}) was exported")

    # the fix it names: the consensus policy leaves 'odd' out, and warns of nothing
    rep = export(p, "webdataset", tmp_path / "w3", policy="consensus")
    assert _vote_warnings(rep) == [] and rep.unlabeled == 1
    assert _wds_labels(tmp_path / "w3") == {great: ["pos"], fine: ["pos"]}
    # an annotator's labels are one annotator's: nothing to warn about
    assert _vote_warnings(export(p, "webdataset", tmp_path / "w4", policy="annotator:ana")) == []
    # items the filter leaves out are not counted
    rep = export(p, "webdataset", tmp_path / "w5", filter=lambda r: r.item_id != odd)
    assert _vote_warnings(rep) == []


def test_latest_does_not_warn_with_one_annotator_per_item(boxes_project: Project,
                                                          tmp_path: Path) -> None:
    rep = export(boxes_project, "coco", tmp_path / "c")
    assert _vote_warnings(rep) == [] and rep.warnings == []


# --- 2. YOLO: masks with holes ----------------------------------------------------------


def test_trace_mask_counts_the_holes_it_fills() -> None:
    a = np.zeros((48, 64), dtype=bool)
    a[5:40, 5:50] = True
    a[10:20, 10:20] = False  # two holes
    a[25:35, 30:45] = False
    a[28:32, 35:40] = True  # an island in a hole: covered by the fill, not a lost part
    poly, dropped, holes = yolo.trace_mask(Mask.from_array(a, "ring"))
    assert (dropped, holes) == (0, 2)
    # the outline is the outer one (as before): the filled polygon covers the holes
    assert yolo.polygon_to_mask(poly, 64, 48).area == 35 * 45
    assert yolo.mask_to_polygon(Mask.from_array(a, "ring")) == (poly, 0)
    holes_notes: list[str] = []
    yolo.to_yolo([Mask.from_array(a, "ring")], 64, 48, ["ring"], where="image 'x.png' (id 7)",
                 holes=holes_notes)
    assert holes_notes == ["image 'x.png' (id 7): mask 'ring' has 2 holes; YOLO segments "
                           "cannot hold holes, they were filled"]
    solid = np.zeros((48, 64), dtype=bool)
    solid[5:40, 5:50] = True
    assert yolo.trace_mask(Mask.from_array(solid, "ring"))[1:] == (0, 0)


@pytest.mark.usefixtures("offline_ultralytics")
def test_yolo_export_warns_of_a_mask_hole(tmp_path: Path, image_maker: MakeImage) -> None:
    from ultralytics.data.utils import verify_image_label

    src = [image_maker(tmp_path / "src" / f"i{k}.png", (64, 48), (40 * k, 9, 9))
           for k in range(2)]
    p = Project.create(tmp_path / "m.db", "m", Schema("masks", ["a"]))
    ring_id, solid_id = p.add_items([str(f) for f in src])
    ring = np.zeros((48, 64), dtype=bool)
    ring[5:40, 5:50] = True
    ring[15:30, 15:35] = False
    solid = np.zeros((48, 64), dtype=bool)
    solid[5:40, 5:50] = True
    p.add_annotations([Annotation(item_id=ring_id, author="ana",
                                  regions=(Mask.from_array(ring, "a"),)),
                       Annotation(item_id=solid_id, author="ana",
                                  regions=(Mask.from_array(solid, "a"),))])
    rep = export(p, "yolo", tmp_path / "y")
    (w,) = [w for w in rep.warnings if "hole" in w]
    assert w.startswith("YOLO: 1 mask with holes written as one outline each")
    assert f"image 'i0.png' (id {ring_id}): mask 'a' has 1 hole" in w
    assert "export to COCO" in w
    # what ultralytics trains on: the ring's segment covers its hole too
    im = tmp_path / "y" / "images" / "train" / "i0.png"
    lb = tmp_path / "y" / "labels" / "train" / "i0.txt"
    res = verify_image_label((str(im), str(lb), "", False, 1, 0, 0, False))
    assert res[8] == 0 and len(res[3]) == 1, res[9]
    seg = res[3][0] * np.array([64, 48])
    poly = Polygon(tuple(float(v) for v in seg.reshape(-1)), "a")
    assert yolo.polygon_to_mask(poly, 64, 48).area == int(solid.sum()) > int(ring.sum())


# --- 3. hidden image names --------------------------------------------------------------


def test_a_name_starting_with_a_dot_gets_the_id_prefix() -> None:
    names = unique_file_names([(1, "/a/.hidden.jpg"), (2, "/b/x.png"), (3, "/c/.x.png"),
                               (4, "/d/1_.hidden.jpg")])
    assert names[2] == "x.png" and not any(n.startswith(".") for n in names.values())
    assert names[1] == "1_2_.hidden.jpg"  # '1_.hidden.jpg' is another source's name
    assert names[3] == "3_.x.png" and names[4] == "1_.hidden.jpg"
    assert len({Path(n).stem.lower() for n in names.values()}) == 4


@pytest.mark.usefixtures("offline_ultralytics")
def test_ultralytics_lists_an_image_named_with_a_leading_dot(tmp_path: Path,
                                                             image_maker: MakeImage) -> None:
    from ultralytics.data import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    src = [image_maker(tmp_path / "src" / n, (64, 48), (40 * k, 9, 9))
           for k, n in enumerate((".hidden.jpg", "a.png"))]
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["a"]))
    ids = p.add_items([str(f) for f in src])
    p.add_annotations([Annotation(item_id=i, author="ana", regions=(Box(1, 1, 5, 5, "a"),))
                       for i in ids])
    rep = export(p, "yolo", tmp_path / "y")
    data = check_det_dataset(str(tmp_path / "y" / "data.yaml"), autodownload=False)
    ds = YOLODataset(img_path=data["train"], data=data, task="detect")
    seen = sorted(Path(lab["im_file"]).name for lab in ds.labels)
    assert seen == sorted([f"{ids[0]}_.hidden.jpg", "a.png"]) and len(seen) == rep.items
    assert sum(len(lab["cls"]) for lab in ds.labels) == rep.regions
    # the other formats take the same names
    export(p, "coco", tmp_path / "c")
    coco_names = json.loads((tmp_path / "c" / "annotations.json").read_text())["images"]
    assert sorted(im["file_name"] for im in coco_names) == seen
    export(p, "voc", tmp_path / "v")
    assert sorted(f.name for f in (tmp_path / "v" / "Annotations").iterdir()) == \
        sorted([f"{ids[0]}_.hidden.xml", "a.xml"])
    # labelnb's reader counts what ultralytics counts: a hidden file is no image
    (tmp_path / "y" / "images" / "train" / ".extra.png").write_bytes(src[1].read_bytes())
    (tmp_path / "y" / "images" / "train" / ".cache").mkdir()
    (tmp_path / "y" / "images" / "train" / ".cache" / "b.png").write_bytes(src[1].read_bytes())
    back = yolo.load_yolo(tmp_path / "y")
    assert sorted(im.file_name for im in back.images) == seen
    ds2 = YOLODataset(img_path=data["train"], data=data, task="detect")
    assert len(ds2.labels) == len(back.images)


# --- 4. VOC: a label the schema dropped -------------------------------------------------


def test_voc_refuses_a_dropped_label_up_front(tmp_path: Path, image_maker: MakeImage) -> None:
    src = [image_maker(tmp_path / "src" / f"i{k}.png", (64, 48), (40 * k, 9, 9))
           for k in range(2)]
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["a", "b"]))
    ids = p.add_items([str(f) for f in src])
    p.add_annotations([Annotation(item_id=i, author="ana",
                                  regions=(Box(1, 1, 5, 5, "b"), Box(1, 1, 9, 9, "a")))
                       for i in ids])
    p.set_schema(Schema("boxes", ["a", "c"]))
    out = tmp_path / "exports" / "voc"
    with pytest.raises(FormatError) as e:
        export(p, "voc", out)
    msg = str(e.value)
    # the error every other format gives, naming the item, the label and the fix
    assert msg == (f"image 'i0.png' (id {ids[0]}): label 'b' is not among the categories "
                   "(a, c); add it to the schema or map it with label_map")
    with pytest.raises(FormatError) as e_coco:
        export(p, "coco", out)
    assert str(e_coco.value) == msg
    assert not (tmp_path / "exports").exists()
    # the fix it names works
    rep = export(p, "voc", out, label_map={"b": None})
    assert rep.regions == 2 and (out / "labels.txt").read_text() == "a\nc\n"


def test_save_voc_and_to_voc_check_the_categories(tmp_path: Path, image_maker: MakeImage
                                                  ) -> None:
    src = image_maker(tmp_path / "src" / "x.png", (64, 48))
    im = ImageRecord(1, "x.png", 64, 48, uri=str(src))
    ds = Dataset([im], {1: [Box(1, 1, 5, 5, "gone")]}, ["a"])
    root = tmp_path / "voc"
    with pytest.raises(FormatError, match=r"image 'x.png' \(id 1\): label 'gone' is not among"):
        voc.save_voc(ds, root)
    assert not root.exists()  # nothing written
    with pytest.raises(FormatError, match="label 'gone' is not among the categories"):
        voc.to_voc(im, ds.regions[1], categories=["a"])
    assert "<name>gone</name>" in voc.to_voc(im, ds.regions[1])  # without: as before


# --- 5. a destination that cannot be written --------------------------------------------


def _one_box(tmp_path: Path, image_maker: MakeImage) -> Project:
    src = image_maker(tmp_path / "src" / "a.png", (64, 48))
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["a"]))
    (i,) = p.add_items([str(src)])
    p.add_annotations([Annotation(item_id=i, author="ana", regions=(Box(1, 1, 5, 5, "a"),))])
    return p


def _check_unwritable(e: pytest.ExceptionInfo[FormatError], dest: Path) -> str:
    msg = str(e.value)
    assert msg.startswith(f"export: cannot write the export to {str(dest)!r}: ")
    assert "Pick a writable folder" in msg and ".tmp-" not in msg and ".old-" not in msg
    assert isinstance(e.value.__cause__, OSError)
    return msg


def test_a_parent_path_that_is_a_file(tmp_path: Path, image_maker: MakeImage) -> None:
    p = _one_box(tmp_path, image_maker)
    (tmp_path / "f").write_text("x")
    before = sorted(x.name for x in tmp_path.iterdir())
    for dest in (tmp_path / "f" / "sub", tmp_path / "f" / "deep" / "sub"):
        with pytest.raises(FormatError) as e:
            export(p, "coco", dest)
        msg = _check_unwritable(e, dest)
        assert f"{str(tmp_path / 'f')!r} is a file, not a folder" in msg
        assert sorted(x.name for x in tmp_path.iterdir()) == before
        assert (tmp_path / "f").read_text() == "x"


def test_a_folder_that_cannot_be_written(tmp_path: Path, image_maker: MakeImage,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # (tests run as root, which chmod does not stop: the OS's refusal is injected)
    p = _one_box(tmp_path, image_maker)
    out = tmp_path / "out"
    out.mkdir()

    def refuse(prefix: str = "", dir: str = "", **kw: Any) -> str:
        raise PermissionError(errno.EACCES, "Permission denied",
                              os.path.join(dir, f"{prefix}abc123"))

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkdtemp", refuse)
        with pytest.raises(FormatError) as e:
            export(p, "coco", out / "new" / "x")
    msg = _check_unwritable(e, out / "new" / "x")
    assert f"Permission denied, at {str(out / 'new')!r}" in msg
    assert list(out.iterdir()) == []  # the parent folder it made is gone again


def test_a_rename_that_fails_leaves_nothing(tmp_path: Path, image_maker: MakeImage,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    p = _one_box(tmp_path, image_maker)
    out = tmp_path / "out"
    export(p, "coco", out / "old")
    before = _files(out / "old")
    real = os.rename

    def read_only(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
        if ".tmp-" in os.fsdecode(src):  # the finished export cannot move into place
            raise OSError(errno.EROFS, "Read-only file system", src, None, dst)
        real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", read_only)
    with pytest.raises(FormatError) as e:
        export(p, "coco", out / "new")
    msg = _check_unwritable(e, out / "new")
    assert f"Read-only file system, at {str(out)!r}" in msg
    assert sorted(x.name for x in out.iterdir()) == ["old"]
    # overwrite: the earlier export is put back, untouched
    with pytest.raises(FormatError) as e:
        export(p, "coco", out / "old", overwrite=True)
    _check_unwritable(e, out / "old")
    assert sorted(x.name for x in out.iterdir()) == ["old"] and not _temp_folders(out)
    assert _files(out / "old") == before


# --- 6. HF: a single choice with no class -----------------------------------------------


def test_a_choice_with_no_class_is_left_out(tmp_path: Path) -> None:
    from datasets import load_from_disk

    p = Project.create(tmp_path / "c.db", "c", Schema("choice", ["pos", "neg"]))
    good, bad, meh = p.add_items(["good", "bad", "meh"], media="text")
    p.add_annotations([Annotation(item_id=good, author="a", regions=(Choice("pos"),)),
                       Annotation(item_id=bad, author="a", regions=(Choice("neg"),)),
                       Annotation(item_id=meh, author="a", regions=())])
    rep = export(p, "hf", tmp_path / "hf")
    ds = load_from_disk(str(tmp_path / "hf"))
    assert ds["id"] == [good, bad] and ds["label"] == [0, 1]  # no -1
    assert rep.items == 2 and rep.unlabeled == 1
    assert rep.unlabeled_reasons == {pipeline.NO_CHOICE: 1}
    m = json.loads((tmp_path / "hf" / "labelnb_export.json").read_text())
    assert m["left_out"] == [{"item_id": meh, "reason": pipeline.NO_CHOICE}]
    # the other format of choices agrees
    rep = export(p, "webdataset", tmp_path / "w")
    assert _wds_labels(tmp_path / "w") == {good: ["pos"], bad: ["neg"]}
    assert rep.unlabeled_reasons == {pipeline.NO_CHOICE: 1}
    # and with nothing chosen anywhere, nothing to export, saying why
    q = Project.create(tmp_path / "e.db", "e", Schema("choice", ["pos", "neg"]))
    (only,) = q.add_items(["x"], media="text")
    q.add_annotations([Annotation(item_id=only, author="a", regions=())])
    with pytest.raises(FormatError, match="no class chosen"):
        export(q, "hf", tmp_path / "none")


def test_a_multi_choice_with_no_class_stays(tmp_path: Path) -> None:
    from datasets import load_from_disk

    p = Project.create(tmp_path / "m.db", "m", Schema("multi_choice", ["x", "y"]))
    both, none = p.add_items(["both", "none"], media="text")
    p.add_annotations([Annotation(item_id=both, author="a", regions=(Choice("x"), Choice("y"))),
                       Annotation(item_id=none, author="a", regions=())])
    rep = export(p, "hf", tmp_path / "hf")
    assert rep.items == 2 and rep.unlabeled == 0 and rep.unlabeled_reasons == {}
    assert load_from_disk(str(tmp_path / "hf"))["labels"] == [[0, 1], []]
