"""Pascal VOC: XML round trip, escaping, the devkit layout."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labelnb.errors import FormatError
from labelnb.formats import Dataset, ImageRecord, export, import_dataset, voc
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Polygon, Region


def test_xml_fields_and_round_trip() -> None:
    im = ImageRecord(1, "a&b <1>.jpg", 64, 48)
    regs: list[Region] = [
        Box(0, 0, 64, 48, "cat"),
        Box(10, 20, 30, 40, 'dog "big" & <bad>', attributes={"difficult": True,
                                                             "colour": "brown"}),
    ]
    xml = voc.to_voc(im, regs)
    root = ET.fromstring(xml)  # well-formed despite &, <, " in names
    assert root.findtext("filename") == "a&b <1>.jpg"
    assert root.findtext("size/width") == "64" and root.findtext("size/height") == "48"
    objs = root.findall("object")
    assert [o.findtext("name") for o in objs] == ["cat", 'dog "big" & <bad>']
    assert [objs[0].findtext(f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")] == \
        ["1", "1", "64", "48"]
    assert objs[1].findtext("difficult") == "1"
    back_im, back = voc.from_voc(xml)
    assert (back_im.file_name, back_im.width, back_im.height) == ("a&b <1>.jpg", 64, 48)
    assert back == regs


def test_polygons_become_boxes_with_a_note() -> None:
    notes: list[str] = []
    xml = voc.to_voc(ImageRecord(1, "a.jpg", 64, 48),
                     [Polygon((1, 2, 30, 2, 30, 40), "cat")], notes=notes)
    assert voc.from_voc(xml)[1] == [Box(1, 2, 30, 40, "cat")]
    assert len(notes) == 1 and "bounding box" in notes[0]


def test_zero_based_boxes_from_other_tools_are_clipped() -> None:
    xml = ("<annotation><filename>x.jpg</filename><size><width>10</width><height>10</height>"
           "</size><object><name>cat</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>11</xmax>"
           "<ymax>5</ymax></bndbox></object></annotation>")
    assert voc.from_voc(xml)[1] == [Box(0, 0, 10, 5, "cat")]


@pytest.mark.parametrize("xml, message", [
    ("<annotation><filename>x.jpg</filename></annotation>", "size"),
    ("<annotation><filename>x.jpg</filename><size><width>9</width><height>9</height></size>"
     "<object><name>a</name><bndbox><xmin>1</xmin></bndbox></object></annotation>",
     "bndbox/ymin"),
    ("<annotation><filename>x.jpg", "not well-formed"),
    ("<notvoc/>", "not <annotation>"),
])
def test_bad_xml_names_the_problem(xml: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        voc.from_voc(xml, where="f.xml")


def test_save_and_load_layout(tmp_path: Path, images: list[Path]) -> None:
    recs = [ImageRecord(i + 1, f.name, 64 if i % 3 else 40, 48 if i % 3 else 72, uri=str(f),
                        split="train" if i < 9 else "test") for i, f in enumerate(images)]
    regions: dict[int, list[Region]] = {
        r.id: [Box(1, 2, 20.4, 30.6, "dog"), Box(0, 0, 1, 1, "cat")] for r in recs}
    ds = Dataset(recs, regions, ["cat", "dog"])
    xmls = voc.save_voc(ds, tmp_path / "voc")
    assert len(xmls) == 12
    root = tmp_path / "voc"
    assert (root / "labels.txt").read_text() == "cat\ndog\n"
    assert (root / "ImageSets" / "Main" / "test.txt").read_text().split() == \
        [Path(f.name).stem for f in images[9:]]
    assert (root / "JPEGImages" / images[0].name).read_bytes() == images[0].read_bytes()
    back = voc.load_voc(root)
    assert back.categories == ["cat", "dog"]
    assert sorted((i.file_name, i.split) for i in back.images) == \
        sorted((r.file_name, r.split) for r in recs)
    for im in back.images:  # integer VOC: edges snapped to the pixel grid
        assert back.regions[im.id] == [Box(1, 2, 20, 31, "dog"), Box(0, 0, 1, 1, "cat")]
    assert voc.check_sizes(back) == []


def test_stem_collisions_are_refused(tmp_path: Path) -> None:
    ds = Dataset([ImageRecord(1, "a.jpg", 5, 5), ImageRecord(2, "a.png", 5, 5)], {}, ["cat"])
    with pytest.raises(FormatError, match="share the name 'a'"):
        voc.save_voc(ds, tmp_path, media="none")


def test_per_class_lists_are_not_splits(tmp_path: Path) -> None:
    ds = Dataset([ImageRecord(1, "x_1.jpg", 5, 5, split="my_split")],
                 {1: [Box(0, 0, 2, 2, "cat")]}, ["cat"])
    voc.save_voc(ds, tmp_path, media="none")
    (tmp_path / "ImageSets" / "Main" / "cat_trainval.txt").write_text("x_1  1\n")
    back = voc.load_voc(tmp_path)
    assert back.images[0].split == "my_split"


def test_depth_is_the_images_channel_count(tmp_path: Path) -> None:
    """<size><depth> was always 3, for grey and RGBA images too."""
    from PIL import Image

    recs = []
    for i, mode in enumerate(("L", "RGB", "RGBA")):
        f = tmp_path / f"{mode}.png"
        Image.new(mode, (8, 6)).save(f)
        recs.append(ImageRecord(i + 1, f.name, 8, 6, uri=str(f)))
    voc.save_voc(Dataset(recs, {}, ["cat"]), tmp_path / "voc")
    depths = [ET.parse(tmp_path / "voc" / "Annotations" / f"{m}.xml").findtext("size/depth")
              for m in ("L", "RGB", "RGBA")]
    assert depths == ["1", "3", "4"]


FLAG_ATTRS = [{"name": "difficult", "type": "bool"}, {"name": "truncated", "type": "bool"}]
FLAG_CASES: list[dict[str, bool]] = [
    {}, {"difficult": False}, {"difficult": True}, {"truncated": False},
    {"difficult": False, "truncated": True}, {"difficult": True, "truncated": False}]


def test_difficult_and_truncated_round_trip_exactly(tmp_path: Path,
                                                    images: list[Path]) -> None:
    """Absent, False and True flags each come back as they were (VOC writes 0 for an
    absent flag: it used to come back as False)."""
    p = Project.create(tmp_path / "p.db", "p", Schema("boxes", ["cat"], attributes=FLAG_ATTRS))
    [iid] = p.add_items([str(images[1])])
    regs = tuple(Box(1 + 4 * n, 2, 10 + 4 * n, 30, "cat", attributes=a)
                 for n, a in enumerate(FLAG_CASES))
    p.add_annotations([Annotation(item_id=iid, author="ana", regions=regs)])
    export(p, "voc", tmp_path / "voc")  # its own read-back check compares the flags too
    [xml] = (tmp_path / "voc" / "Annotations").glob("*.xml")
    objs = ET.parse(xml).getroot().findall("object")
    assert [o.findtext("difficult") for o in objs] == ["0", "0", "1", "0", "0", "1"]
    q = Project.create(tmp_path / "q.db", "q", Schema("boxes", ["cat"], attributes=FLAG_ATTRS))
    assert import_dataset(q, "voc", tmp_path / "voc").regions == len(regs)
    [a] = q.annotation_objects()
    assert [r.attributes for r in a.regions] == FLAG_CASES
    # the plain functions, with and without the attribute types
    ds = voc.load_voc(tmp_path / "voc")
    assert [r.attributes for r in next(iter(ds.regions.values()))] == FLAG_CASES


def test_flags_of_files_other_tools_wrote_and_stale_entries() -> None:
    xml = voc.to_voc(ImageRecord(1, "a.jpg", 64, 48),
                     [Box(1, 2, 30, 40, "cat"), Box(1, 2, 30, 40, "cat",
                                                    attributes={"difficult": False})])
    types = {"difficult": "bool", "truncated": "bool"}
    # another tool's file (not <database>labelnb</database>): an explicit 0 of a flag
    # the schema declares is False, as VOC's own files mean it
    other = xml.replace("<database>labelnb</database>", "<database>VOC2012</database>")
    _, back = voc.from_voc(other, attribute_types=lambda label: types)
    assert [r.attributes for r in back] == [{"difficult": False, "truncated": False}] * 2
    # edited elsewhere to difficult 1, the entry left behind: the element wins
    edited = xml.replace("<difficult>0</difficult>", "<difficult>1</difficult>")
    _, back = voc.from_voc(edited, attribute_types=lambda label: types)
    assert [r.attributes for r in back] == [{"difficult": True}] * 2
