"""Input that was stored wrongly or failed with a raw error: non-finite number
attributes and NUL characters in attribute texts and annotation fields (on SQLite and
PostgreSQL), a string where the schema wants a list, repeated attribute names, a
decompression-bomb-sized image, a UTF-8 byte-order mark in texts, a folder of images
that also holds text files, and ``labelnb init --exist-ok`` wiping a schema's details."""

from __future__ import annotations

import io
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import labelnb
from labelnb import Annotation, Box, Schema, Span
from labelnb import media as media_mod
from labelnb.cli import main
from labelnb.errors import ItemNotFound, SchemaError, ValidationError
from labelnb.schema import Attribute, LabelClass


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def png(path: Path, color: tuple[int, int, int] = (200, 10, 10),
        size: tuple[int, int] = (40, 30)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


# --- 1. attribute values and annotation fields the databases cannot store -----------
ATTRS = [{"name": "w", "type": "number"}, {"name": "note", "type": "text"}]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -math.inf])
def test_number_attribute_must_be_finite(db_url: str, tmp_path: Path, value: float) -> None:
    p = labelnb.Project.create(db_url, "p", Schema("boxes", ["dog"], attributes=ATTRS))
    try:
        [i] = p.add_items(str(png(tmp_path / "a.png")))
        q = p.queue("ana")
        q.claim()
        with pytest.raises(SchemaError) as e:
            q.submit(Box(0, 0, 5, 5, "dog", attributes={"w": value}))
        msg = str(e.value)
        assert f"item {i}, region 0" in msg and "'w'" in msg and "finite" in msg
        with pytest.raises(SchemaError, match="finite"):
            p.add_annotations([Annotation(item_id=i, author="bob", regions=(
                Box(0, 0, 5, 5, "dog", attributes={"w": value}),))])
        assert len(p.annotations()) == 0
        # a finite number (an int beyond float range too: JSON numbers have no limit)
        q.submit(Box(0, 0, 5, 5, "dog", attributes={"w": 2.5}))
        p.add_annotations([Annotation(item_id=i, author="bob", regions=(
            Box(0, 0, 5, 5, "dog", attributes={"w": 10**400}),))])
        got = sorted(r[0]["attributes"]["w"] for r in p.annotations()["regions"])
        assert got == [2.5, 10**400]
    finally:
        p.close()


def test_text_attribute_refuses_nul(db_url: str, tmp_path: Path) -> None:
    p = labelnb.Project.create(db_url, "p", Schema("boxes", ["dog"], attributes=ATTRS))
    try:
        [i] = p.add_items(str(png(tmp_path / "a.png")))
        with pytest.raises(SchemaError) as e:
            p.add_annotations([Annotation(item_id=i, author="bob", regions=(
                Box(0, 0, 5, 5, "dog", attributes={"note": "a\x00b"}),))])
        msg = str(e.value)
        assert f"item {i}, region 0" in msg and "'note'" in msg and "NUL" in msg
        assert "replace" in msg  # the fix
        q = p.queue("ana")
        q.claim()
        with pytest.raises(SchemaError, match="NUL"):
            q.submit(Box(0, 0, 5, 5, "dog", attributes={"note": "\x00"}))
        assert len(p.annotations()) == 0
        q.submit(Box(0, 0, 5, 5, "dog", attributes={"note": "ok 🐱"}))
        assert p.annotations()["regions"][0][0]["attributes"] == {"note": "ok 🐱"}
    finally:
        p.close()


@pytest.mark.parametrize("field", ["author", "model_version", "client_id", "corrects", "id"])
def test_annotation_text_fields_refuse_nul(field: str) -> None:
    with pytest.raises(ValidationError) as e:
        Annotation(item_id=7, regions=(Box(0, 0, 5, 5, "dog"),), **{field: "b\x00ob"})
    msg = str(e.value)
    assert "item 7" in msg and f"'{field}'" in msg and "NUL" in msg and "replace" in msg
    with pytest.raises(ValidationError, match=f"'{field}' must be a (non-empty )?string"):
        Annotation(item_id=7, **{field: 3})


def test_annotation_with_nul_author_stores_nothing(db_url: str, tmp_path: Path) -> None:
    p = labelnb.Project.create(db_url, "p", Schema("boxes", ["dog"]))
    try:
        [i] = p.add_items(str(png(tmp_path / "a.png")))
        with pytest.raises(ValidationError, match="'author' holds a NUL"):
            p.add_annotations([Annotation.from_json(
                {"item_id": i, "author": "b\x00ob",
                 "regions": [{"type": "box", "label": "dog", "x0": 0, "y0": 0, "x1": 5,
                              "y1": 5}]})])
        [aid] = p.add_annotations([Annotation(item_id=i, author="bob", model_version="v1",
                                              client_id="c-1",
                                              regions=(Box(0, 0, 5, 5, "dog"),))])
        [back] = p.annotation_objects()
        assert (back.id, back.author, back.model_version, back.client_id) == (
            aid, "bob", "v1", "c-1")
    finally:
        p.close()


# --- 2. a string where the schema wants a list; repeated attribute names -------------
def test_examples_as_one_string_is_refused() -> None:
    with pytest.raises(SchemaError) as e:
        Schema("boxes", [{"name": "cat", "examples": "a cat sitting"}])
    msg = str(e.value)
    assert "'cat'" in msg and "'examples'" in msg and "list" in msg
    with pytest.raises(SchemaError, match="'examples' is one string"):
        LabelClass("cat", examples="a cat")  # type: ignore[arg-type]
    assert Schema("boxes", [{"name": "cat", "examples": ["a cat sitting"]}]
                  )["cat"].examples == ("a cat sitting",)


def test_options_as_one_string_is_refused() -> None:
    with pytest.raises(SchemaError) as e:
        Schema("boxes", ["cat"], attributes=[{"name": "color", "type": "choice",
                                              "options": "red"}])
    msg = str(e.value)
    assert "'color'" in msg and "'options'" in msg and "list" in msg
    with pytest.raises(SchemaError, match="one string"):
        Attribute("color", "choice", "red")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="one string"):
        Schema("boxes", [{"name": "cat", "attributes": [
            {"name": "color", "type": "choice", "options": "red"}]}])
    assert Schema("boxes", ["cat"], attributes=[{"name": "color", "type": "choice",
                                                 "options": ["red"]}]
                  ).attributes[0].options == ("red",)


def test_repeated_attribute_names_are_refused() -> None:
    with pytest.raises(SchemaError) as e:  # project-wide
        Schema("boxes", ["cat"], attributes=[{"name": "size", "type": "choice",
                                              "options": ["s", "m"]},
                                             {"name": "size", "type": "number"}])
    assert "schema" in str(e.value) and "['size']" in str(e.value)
    with pytest.raises(SchemaError) as e:  # one label's own
        Schema("boxes", [{"name": "cat", "attributes": [{"name": "size"},
                                                         {"name": "size"}]}])
    assert "label 'cat'" in str(e.value) and "['size']" in str(e.value)
    with pytest.raises(SchemaError, match="unique"):  # a stored schema read back
        Schema.from_json({"kind": "boxes", "labels": ["cat"],
                          "attributes": [{"name": "a"}, {"name": "a"}]})
    # a label's own attribute may take a project-wide one's place for that label,
    # and two labels may each have an attribute of one name
    s = Schema("boxes", [{"name": "cat", "attributes": [{"name": "size", "type": "text"}]},
                         {"name": "dog", "attributes": [{"name": "size", "type": "text"}]}],
               attributes=[{"name": "size", "type": "number"}])
    s.check_region(Box(1, 1, 5, 5, "cat", attributes={"size": "big"}), "item 1")
    with pytest.raises(SchemaError, match="'size' is 'big'"):
        Schema("boxes", ["cat", "cow"], attributes=[{"name": "size", "type": "number"}]
               ).check_region(Box(1, 1, 5, 5, "cow", attributes={"size": "big"}), "item 1")


@pytest.mark.parametrize("bad", [{"name": 5}, {"name": "  "}, {"name": None}])
def test_attribute_name_must_be_a_string(bad: dict[str, Any]) -> None:
    with pytest.raises(SchemaError, match="'name' must be a non-empty string"):
        Schema("boxes", ["cat"], attributes=[bad])


@pytest.mark.parametrize("required", ["yes", 1, None])
def test_attribute_required_must_be_a_bool(required: Any) -> None:
    with pytest.raises(SchemaError, match="'required'"):
        Schema("boxes", ["cat"], attributes=[{"name": "x", "type": "bool",
                                              "required": required}])
    assert Attribute("x", "bool", required=True).required is True


def test_attribute_name_and_options_refuse_nul() -> None:
    with pytest.raises(SchemaError, match="NUL"):
        Attribute("a\x00b")
    with pytest.raises(SchemaError, match="NUL"):
        Attribute("c", "choice", ("ok", "b\x00d"))


# --- 3. an image over PIL's decompression-bomb limit --------------------------------
def png_header(path: Path, w: int, h: int) -> Path:
    """A PNG whose header says w x h (Image.open reads only the header)."""
    def chunk(t: bytes, d: bytes) -> bytes:
        return (struct.pack(">I", len(d)) + t + d
                + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))
    return path


def test_huge_image_is_a_validation_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    huge = png_header(tmp_path / "huge.png", 20000, 10000)
    db = str(tmp_path / "h.db")
    p = labelnb.Project.create(db, "p", Schema("boxes", ["cat"]))
    try:
        with pytest.raises(ValidationError) as e:
            p.add_items(str(huge))
        msg = str(e.value)
        assert str(huge) in msg and "200,000,000 pixels" in msg
        assert "PIL.Image.MAX_IMAGE_PIXELS" in msg
        code, _, err = run(capsys, "add", db, str(huge))
        assert code == 2 and "MAX_IMAGE_PIXELS" in err and "Traceback" not in err
        assert len(p.items()) == 0
    finally:
        p.close()


def test_raising_max_image_pixels_lets_the_image_in(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    img = png(tmp_path / "a.png", size=(40, 30))
    p = labelnb.Project.create(tmp_path / "h.db", "p", Schema("boxes", ["cat"]))
    try:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 1200 px > twice 500
        with pytest.raises(ValidationError, match=r"1,200 pixels.*MAX_IMAGE_PIXELS \(500\)"):
            p.add_items(str(img))
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # the setting the error names
        [i] = p.add_items(str(img))
        assert (p.item(i).width, p.item(i).height) == (40, 30)
    finally:
        p.close()


# --- 4. a UTF-8 byte-order mark is not part of the text -----------------------------
def test_text_file_item_drops_bom(tmp_path: Path) -> None:
    f = tmp_path / "bom.txt"
    f.write_bytes(b"\xef\xbb\xbfAna works")
    info = media_mod.probe(str(f))
    assert info.text == "Ana works"
    assert info.content_hash == media_mod.text_hash("Ana works")
    p = labelnb.Project.create(tmp_path / "b.db", "p", Schema("spans", ["PER"]))
    try:
        [i] = p.add_items(str(f))
        assert p.add_items(["Ana works"]) == [i]  # the same text: the same item
        assert p.item(i).text == "Ana works"
        p.add_annotations([Annotation(item_id=i, author="x", regions=(Span(0, 3, "PER"),))])
        assert p.annotation_objects()[0].regions[0] == Span(0, 3, "PER")
    finally:
        p.close()


def test_cli_from_file_drops_bom(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "b.db")
    assert run(capsys, "init", db, "--name", "r", "--kind", "spans", "--labels", "PER")[0] == 0
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"\xef\xbb\xbfgreat film\r\ndull plot\r\n")
    assert run(capsys, "add", db, "--text", "--from-file", str(lines))[0] == 0
    code, out, _ = run(capsys, "add", db, "--text", "great film")
    assert code == 0 and "already there" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("\ufeffdull plot\nnew one\n"))
    assert run(capsys, "add", db, "--text", "--from-file", "-")[0] == 0
    p = labelnb.open(db)
    try:
        assert p.items()["text"].tolist() == ["great film", "dull plot", "new one"]
    finally:
        p.close()


# --- 5. a folder gives the files of the media the project labels --------------------
@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Images with a YOLO label .txt beside each, a README.md, and a text in a subfolder."""
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    for k in range(3):
        png(d / f"img{k}.jpg", color=(k * 40, 10, 10))
        (d / f"img{k}.txt").write_text(f"0 0.5 0.5 0.2 0.{k + 1}\n")
    (d / "README.md").write_text("# my dataset\n")
    (d / "sub" / "note.txt").write_text("Ana works at Acme\n")
    return d


def test_expand_folder_keeps_the_media_wanted(mixed_folder: Path) -> None:
    names = lambda paths: sorted(Path(x).name for x in paths)  # noqa: E731
    assert names(media_mod.expand(str(mixed_folder), ("image",))) == [
        "img0.jpg", "img1.jpg", "img2.jpg"]
    assert names(media_mod.expand(str(mixed_folder), ("text",))) == [
        "README.md", "img0.txt", "img1.txt", "img2.txt", "note.txt"]
    assert len(media_mod.expand(str(mixed_folder))) == 8  # both, as before
    with pytest.raises(ItemNotFound) as e:
        media_mod.expand(str(mixed_folder / "sub"), ("image",))
    assert "no image file" in str(e.value) and "1 text file" in str(e.value)


def test_image_project_takes_the_images_of_a_folder(mixed_folder: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    db = str(tmp_path / "f.db")
    p = labelnb.Project.create(db, "p", Schema("boxes", ["cat"]))
    try:
        assert len(p.add_items(str(mixed_folder))) == 3
        assert len(p.add_items(str(mixed_folder), media="image")) == 3
        assert len(p.add_items({"image": str(mixed_folder)})) == 3
        assert set(p.items()["media"]) == {"image"} and len(p.items()) == 3
        with pytest.raises(ItemNotFound, match="no image file"):
            p.add_items(str(mixed_folder / "sub"))
    finally:
        p.close()
    code, out, _ = run(capsys, "add", db, str(mixed_folder))
    assert code == 0 and "3 already there" in out


def test_text_project_takes_the_texts_of_a_folder(mixed_folder: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "t.db")
    p = labelnb.Project.create(db, "p", Schema("spans", ["PER"]))
    try:
        ids = p.add_items({"path": str(mixed_folder)})
        assert len(ids) == 5 and set(p.items()["media"]) == {"text"}
    finally:
        p.close()
    code, out, _ = run(capsys, "add", db, str(mixed_folder))
    assert code == 0 and "5 already there" in out
    c = labelnb.Project.create(tmp_path / "c.db", "c", Schema("choice", ["a", "b"]))
    try:  # a choice project labels both; media= picks one (a str with media="text" is
        # the text itself, so the folder goes in a dict)
        assert len(c.add_items(str(mixed_folder), media="image")) == 3
        assert len(c.add_items({"path": str(mixed_folder)}, media="text")) == 5
        assert sorted(c.items()["media"].value_counts().items()) == [("image", 3),
                                                                    ("text", 5)]
        assert len(c.add_items(str(mixed_folder))) == 8  # both, all there already
        assert len(c.items()) == 8
    finally:
        c.close()


# --- 6. init --exist-ok keeps the schema's details ----------------------------------
def detailed_schema() -> Schema:
    return Schema("boxes", [
        {"name": "cat", "color": "#000000", "description": "a small feline",
         "examples": ["a tabby"], "hotkey": "c",
         "attributes": [{"name": "occluded", "type": "bool", "required": True}]},
        {"name": "dog", "color": "#4e79a7"},
    ], attributes=[{"name": "note", "type": "text"}], instructions="Draw tight boxes")


def test_init_exist_ok_same_labels_keeps_the_schema(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "e.db")
    labelnb.Project.create(db, "pets", detailed_schema(), overlap=2).close()
    code, out, _ = run(capsys, "init", db, "--name", "pets", "--kind", "boxes",
                       "--labels", "cat,dog", "--exist-ok")
    assert code == 0 and "schema v1" in out
    p = labelnb.open(db, "pets")
    try:
        assert p.schema_version == 1
        assert p.schema.to_json() == detailed_schema().to_json()
        assert p.settings["overlap"] == 2
    finally:
        p.close()


def test_init_exist_ok_changed_labels_keeps_the_details_of_those_that_stay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "e.db")
    labelnb.Project.create(db, "pets", detailed_schema()).close()
    code, out, _ = run(capsys, "init", db, "--name", "pets", "--kind", "boxes",
                       "--labels", "cat,bird", "--exist-ok")
    assert code == 0 and "schema v2" in out and "cat, bird" in out
    p = labelnb.open(db, "pets")
    try:
        s = p.schema
        assert s.names == ["cat", "bird"]
        assert s["cat"] == detailed_schema()["cat"]  # colour, key, description, attributes
        assert s.attributes == detailed_schema().attributes
        assert s.instructions == "Draw tight boxes"
        assert s["bird"].color not in ("#000000", None) and s["bird"].hotkey not in ("c", None)
        # the dropped label's colour is free again, but no kept label shares a colour
        assert len({c.color for c in s.labels}) == 2
    finally:
        p.close()
    # a new project still gets the plain schema of the command line
    code, _, _ = run(capsys, "init", db, "--name", "new", "--kind", "spans", "--labels",
                     "PER,ORG", "--exist-ok")
    assert code == 0
    q = labelnb.open(db, "new")
    try:
        assert q.schema.to_json() == Schema("spans", ["PER", "ORG"]).to_json()
    finally:
        q.close()


def test_a_folder_path_in_a_text_project_adds_its_texts(tmp_path: Path) -> None:
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("Ada Lovelace", encoding="utf-8")
    p = labelnb.Project.create(tmp_path / "p.db", "p", labelnb.Schema("spans", ["PER"]))
    p.add_items([str(folder)])  # the folder's texts, not its path as a text
    assert p.items()["text"].tolist() == ["Ada Lovelace"]


# --- session 13: a fresh user's walkthrough -----------------------------------------------
def test_an_image_rows_text_is_kept_in_meta(tmp_path: Path) -> None:
    """A row with an image and a ``text`` (a caption) keeps the text, in meta like
    every other key; a row with a text alone is a text item as before."""
    import pandas as pd

    p = labelnb.Project.create(tmp_path / "c.db", "c", Schema("boxes", ["cat"]))
    img = png(tmp_path / "a.png")
    p.add_items(pd.DataFrame({"image": [str(img)], "text": ["a red square"],
                              "src": ["cam 1"]}))
    row = p.items().iloc[0]
    assert row["media"] == "image" and row["meta"] == {"text": "a red square", "src": "cam 1"}
    t = labelnb.Project.create(tmp_path / "t.db", "t", Schema("choice", ["a"]))
    t.add_items([{"image": None, "text": "just words"}])
    assert t.items().iloc[0]["text"] == "just words"


def test_media_hints_suggest_only_what_the_project_takes(tmp_path: Path) -> None:
    boxes = labelnb.Project.create(tmp_path / "b.db", "b", Schema("boxes", ["cat"]))
    (tmp_path / "notes.txt").write_text("some words")
    with pytest.raises(ValidationError) as e:
        boxes.add_items([str(tmp_path / "notes.txt")])
    assert "media=" not in str(e.value) and "add image items here" in str(e.value)
    with pytest.raises(ItemNotFound) as nf:
        boxes.add_items([str(tmp_path / "nope.png")])
    assert "fix the path" in str(nf.value) and "media=" not in str(nf.value)
    spans = labelnb.Project.create(tmp_path / "s.db", "s", Schema("spans", ["PER"]))
    img = png(tmp_path / "a.png")
    with pytest.raises(ValidationError) as e:
        spans.add_items([str(img)])
    assert "pass media='text'" in str(e.value)
    assert spans.add_items([str(img)], media="text")  # the hint works as it says
    choice = labelnb.Project.create(tmp_path / "c.db", "c", Schema("choice", ["a"]))
    with pytest.raises(ItemNotFound, match="pass media='text'"):
        choice.add_items([str(tmp_path / "missing" / "x.png")])


def test_demo_folder_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "coins.png"
    f.write_bytes(b"not a folder")
    code, _, err = run(capsys, "demo", "--dir", str(f / "sub"), "--no-browser")
    assert code == 2 and "is a file, not a folder" in err and "--dir FOLDER" in err
    assert f.read_bytes() == b"not a folder"


def test_load_image_of_a_deleted_file_names_the_item(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "c.db", "c", Schema("boxes", ["cat"]))
    [iid] = p.add_items([str(png(tmp_path / "a.png"))])
    (tmp_path / "a.png").unlink()
    with pytest.raises(ItemNotFound) as e:
        p.load_image(iid)
    assert str(e.value).startswith(f"item {iid} (") and "a.png" in str(e.value)
    assert "does not exist" in str(e.value)


def test_label_names_exports_cannot_carry_are_refused_when_new(tmp_path: Path) -> None:
    """A label with spaces around it came back trimmed from VOC's labels.txt, and one
    with a line break broke TFRecord's label map; a project that already has one still
    opens and changes."""
    import sqlite3

    db = tmp_path / "l.db"
    with pytest.raises(SchemaError, match=r"label ' cat': field 'name' has spaces.*'cat'"):
        labelnb.Project.create(db, "p", Schema("boxes", [" cat"]))
    with pytest.raises(SchemaError, match=r"control character.*'big cat'"):
        labelnb.Project.create(db, "p", Schema("boxes", ["big\ncat"]))
    p = labelnb.Project.create(db, "p", Schema("boxes", ["cat"]))
    with pytest.raises(SchemaError, match="spaces around it"):
        p.set_schema(Schema("boxes", ["cat", "dog "]))
    assert list(p.schema.names) == ["cat"]
    p.close()
    # grandfathered: a label stored before this check stays usable
    with sqlite3.connect(db) as c:
        body = c.execute("SELECT body FROM schemas").fetchone()[0]
        c.execute("UPDATE schemas SET body = ?", (body.replace('"cat"', '" cat"'),))
    c.close()
    old = labelnb.open(db, "p")
    assert list(old.schema.names) == [" cat"]
    assert old.set_schema(Schema("boxes", [" cat", "dog"])) == 2
