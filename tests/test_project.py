"""Project.add_items: paths, globs, folders, URLs, texts, dicts and DataFrames; EXIF-aware
sizes; deduplication; all-or-nothing batches and clear errors."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import labelnb
from labelnb import Box, Schema
from labelnb.errors import ItemNotFound, SchemaError, ValidationError


def write_image(path: Path, w: int, h: int, seed: int, orientation: int | None = None) -> Path:
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    if orientation is None:
        im.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.save(path, exif=exif)
    return path


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    d = tmp_path / "imgs"
    d.mkdir()
    return [write_image(d / f"im{i}.png", 40 + i, 30 + i, i) for i in range(3)]


@pytest.fixture
def boxes(tmp_path: Path) -> labelnb.Project:
    return labelnb.Project.create(tmp_path / "p.db", "boxes", Schema("boxes", ["cat", "dog"]))


def test_paths_globs_and_folders(boxes: labelnb.Project, images: list[Path]) -> None:
    ids = boxes.add_items([str(images[0])])
    assert len(ids) == 1
    ids2 = boxes.add_items(str(images[0].parent / "*.png"))
    assert len(ids2) == 3 and ids2[0] == ids[0]  # the first one was already there
    ids3 = boxes.add_items(images[0].parent)  # a folder
    assert sorted(ids3) == sorted(ids2)
    df = boxes.items()
    assert len(df) == 3
    assert sorted(zip(df["width"], df["height"], strict=True)) == [(40, 30), (41, 31), (42, 32)]
    assert all(Path(u).is_absolute() for u in df["uri"])
    assert (df["overlap"] == 1).all() and (df["done"] == 0).all()


def test_exif_orientation_swaps_size(boxes: labelnb.Project, tmp_path: Path) -> None:
    upright = write_image(tmp_path / "a.jpg", 60, 20, 1, orientation=1)
    rotated = write_image(tmp_path / "b.jpg", 60, 20, 2, orientation=6)  # 90° CW
    ids = boxes.add_items([upright, rotated])
    a, b = boxes.item(ids[0]), boxes.item(ids[1])
    assert (a.width, a.height) == (60, 20)
    assert (b.width, b.height) == (20, 60)
    # the decoded image agrees with the stored size
    assert boxes.load_image(ids[1]).size == (20, 60)


def test_duplicates_by_content(boxes: labelnb.Project, tmp_path: Path) -> None:
    a = write_image(tmp_path / "a.png", 10, 10, 7)
    b = tmp_path / "copy.png"
    b.write_bytes(a.read_bytes())
    ids = boxes.add_items([a, b])
    assert ids[0] == ids[1]
    assert len(boxes.items()) == 1
    assert len(boxes.tasks()) == 1


def test_missing_path_writes_nothing(boxes: labelnb.Project, images: list[Path]) -> None:
    with pytest.raises(ItemNotFound, match="does not exist") as e:
        boxes.add_items([images[0], images[1].parent / "nope.png"])
    assert "nope.png" in str(e.value) and "fix the path" in str(e.value)
    assert boxes.items().empty and boxes.tasks().empty


def test_bad_image_writes_nothing(boxes: labelnb.Project, images: list[Path],
                                  tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not really a png")
    with pytest.raises(ValidationError, match="broken.png"):
        boxes.add_items([*images, bad])
    assert boxes.items().empty


def test_empty_glob(boxes: labelnb.Project, tmp_path: Path) -> None:
    with pytest.raises(ItemNotFound, match="matches no file"):
        boxes.add_items(str(tmp_path / "*.jpeg"))


def test_text_in_an_image_project_is_refused(boxes: labelnb.Project) -> None:
    with pytest.raises(ValidationError, match="labels image"):
        boxes.add_items(["just a sentence"])
    assert boxes.items().empty


def test_texts_dicts_and_dataframes(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "t.db", "t", Schema("spans", ["PER"]))
    ids = p.add_items(["Ada met Bob.", {"text": "Eve", "meta": {"src": "x"}, "group": "g1"}])
    df = pd.DataFrame({"text": ["Ann", "Ben"], "lang": ["en", "de"], "n": [1, 2]})
    ids += p.add_items(df, group="g2")
    items = p.items().set_index("id")
    assert items.loc[ids[0], "text"] == "Ada met Bob."
    assert items.loc[ids[1], "meta"] == {"src": "x"} and items.loc[ids[1], "group_key"] == "g1"
    assert items.loc[ids[3], "meta"] == {"lang": "de", "n": 2}
    assert items.loc[ids[3], "group_key"] == "g2"
    assert p.add_items(["Ada met Bob."]) == [ids[0]]
    with pytest.raises(ValidationError, match="'image'"):
        p.add_items([{"nothing": 1}])


def test_image_dict_and_dataframe(boxes: labelnb.Project, images: list[Path]) -> None:
    df = pd.DataFrame({"image": [str(x) for x in images], "camera": ["a", "b", "c"]})
    ids = boxes.add_items(df)
    assert [boxes.item(i).meta for i in ids] == [{"camera": c} for c in "abc"]


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))

    class Quiet(http.server.ThreadingHTTPServer):
        pass

    srv = Quiet(("127.0.0.1", 0), handler)
    srv.RequestHandlerClass.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", root
    finally:
        srv.shutdown()


def test_http_urls_through_fsspec(boxes: labelnb.Project,
                                  http_root: tuple[str, Path]) -> None:
    base, root = http_root
    write_image(root / "remote.png", 33, 22, 5)
    ids = boxes.add_items([f"{base}/remote.png"])
    it = boxes.item(ids[0])
    assert it.uri == f"{base}/remote.png"
    assert (it.width, it.height) == (33, 22)
    assert boxes.load_image(ids[0]).size == (33, 22)
    with pytest.raises(ItemNotFound, match="the server has no file there"):
        boxes.add_items([f"{base}/missing.png"])
    # a server that cannot be reached is not a wrong path (fsspec reports both as missing)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with pytest.raises(ItemNotFound, match="the server could not be reached") as e:
        boxes.add_items([f"http://127.0.0.1:{dead}/cat.png"])
    assert "does not exist" not in str(e.value)


def test_box_outside_image_is_refused(boxes: labelnb.Project, images: list[Path]) -> None:
    ids = boxes.add_items(images[:1])  # 40 x 30
    q = boxes.queue("ana")
    q.claim()
    with pytest.raises(SchemaError, match="outside the image") as e:
        q.submit(Box(10, 10, 41, 20, "cat"))
    assert f"item {ids[0]}" in str(e.value) and "40x30" in str(e.value)
    q.submit(Box(10, 10, 40, 30, "cat"))
    assert boxes.annotation_objects()[0].regions == (Box(10, 10, 40, 30, "cat"),)


def test_region_without_area_is_refused(tmp_path: Path, boxes: labelnb.Project,
                                        images: list[Path]) -> None:
    """A zero-width box or a flat polygon is no region: stored, it would be exported (COCO
    area 0) and refused by the import of that very export."""
    ids = boxes.add_items(images[:1])
    q = boxes.queue("ana")
    q.claim()
    with pytest.raises(SchemaError, match=r"'cat' is a box with no area \(0 x 10 px\)") as e:
        q.submit(Box(10, 10, 10, 20, "cat"))
    assert f"item {ids[0]}, region 0" in str(e.value)
    with pytest.raises(SchemaError, match="no area"):
        boxes.add_predictions("m", [(ids[0], [Box(1, 1, 5, 1, "cat")], 0.9)])
    q.submit(Box(10, 10, 11, 20, "cat"))
    poly = labelnb.Project.create(tmp_path / "poly.db", "poly", Schema("polygons", ["cat"]))
    [pid] = poly.add_items(images[:1])
    with pytest.raises(SchemaError, match="a polygon with no area .its points on one line"):
        poly.add_annotations([labelnb.Annotation(item_id=pid, author="ana", regions=(
            labelnb.Polygon((1, 1, 5, 5, 9, 9), "cat"),))])
    assert poly.annotations().empty and len(boxes.annotation_objects()) == 1
    # a bow tie crosses itself and its shoelace sum cancels to 0, yet it covers pixels
    poly.add_annotations([labelnb.Annotation(item_id=pid, author="ana", regions=(
        labelnb.Polygon((10, 5, 30, 25, 30, 5, 10, 25), "cat"),))])
    masks = labelnb.Project.create(tmp_path / "mask.db", "mask", Schema("masks", ["cat"]))
    [mid] = masks.add_items(images[:1])  # 40 x 30
    with pytest.raises(SchemaError, match="'cat' is a mask with no pixel set"):
        masks.add_annotations([labelnb.Annotation(item_id=mid, author="ana", regions=(
            labelnb.Mask.from_array(np.zeros((30, 40), bool), "cat"),))])


def test_mask_of_wrong_size_is_refused(tmp_path: Path, images: list[Path]) -> None:
    p = labelnb.Project.create(tmp_path / "m.db", "m", Schema("masks", ["cell"]))
    p.add_items(images[:1])  # 40 x 30
    q = p.queue("ana")
    q.claim()
    wrong = labelnb.Mask.from_array(np.ones((40, 30), bool), "cell")
    with pytest.raises(SchemaError, match="encode the mask at image size"):
        q.submit(wrong)
    right = np.zeros((30, 40), bool)
    right[5:10, 5:20] = True
    q.submit(labelnb.Mask.from_array(right, "cell"))
    got = p.annotation_objects()[0].regions[0]
    assert isinstance(got, labelnb.Mask) and got.area == 75
    assert np.array_equal(got.to_array(), right)


def test_large_batch_is_one_transaction(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "big.db", "big", Schema("choice", ["a"]), overlap=2)
    ids = p.add_items([f"t{i}" for i in range(3000)], progress=False)
    assert len(set(ids)) == 3000
    assert len(p.tasks()) == 6000
    ev = p.events().query("kind == 'items_added'")["payload"].iloc[-1]
    assert ev == {"added": 3000, "duplicates": 0, "overlap": 2}


def test_text_files_become_text_items(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "t.db", "t", Schema("spans", ["PER"]))
    f = tmp_path / "doc.txt"
    f.write_text("Zoë was here", encoding="utf-8")
    (ids,) = [p.add_items([str(f)])]
    it = p.item(ids[0])
    assert it.text == "Zoë was here" and it.uri == str(f.resolve())
    q = p.queue("ana")
    q.claim()
    with pytest.raises(SchemaError, match="outside the text"):
        q.submit(labelnb.Span(0, 30, "PER"))
    q.submit(labelnb.Span(0, 3, "PER"))
    # the same text typed in is the same content: no duplicate
    assert p.add_items(["Zoë was here"]) == ids
    assert labelnb.projects(tmp_path / "t.db") == ["t"]


def test_fsspec_memory_filesystem(boxes: labelnb.Project) -> None:
    import io

    import fsspec

    fs = fsspec.filesystem("memory")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((12, 34, 3), np.uint8)).save(buf, format="PNG")
    fs.pipe("/bucket/a.png", buf.getvalue())
    ids = boxes.add_items(["memory://bucket/a.png"])
    it = boxes.item(ids[0])
    assert it.uri == "memory://bucket/a.png" and (it.width, it.height) == (34, 12)


def test_s3_without_its_extra_names_the_extra(boxes: labelnb.Project) -> None:
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed; this checks the error when it is not")
    with pytest.raises(labelnb.errors.MissingExtra, match=r"labelnb\[s3\]"):
        boxes.add_items(["s3://bucket/image.png"])


def test_opening_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    with pytest.raises(labelnb.errors.ProjectNotFound, match="no database"):
        labelnb.open(path)
    assert not path.exists()
    assert labelnb.projects(path) == []
    assert not path.exists()
    path.touch()  # an empty file: refused without writing labelnb's tables into it
    with pytest.raises(labelnb.errors.ProjectNotFound, match=r"is empty \(0 bytes\)"):
        labelnb.open(path)
    assert path.stat().st_size == 0


def test_memory_is_an_in_memory_database_not_a_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``":memory:"`` is SQLite's name for an in-memory database: it must not become a
    file of that name in the working folder."""
    monkeypatch.chdir(tmp_path)
    p = labelnb.Project.create(":memory:", "m", labelnb.Schema("choice", ["a", "b"]))
    try:
        assert p.add_items(["one", "two"]) and len(p.items()) == 2
        assert p.store.in_memory and p.store.url == "sqlite://"
    finally:
        p.close()
    assert labelnb.projects(":memory:") == []  # a new, empty one
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("setting, value, message", [
    ("overlap", 0, "'overlap' is 0; give how many annotators"),
    ("overlap", -1, "'overlap' is -1"),
    ("overlap", 1.5, "'overlap' is 1.5; give .* a whole number"),
    ("overlap", True, "'overlap' is True; give a number"),
    ("lease_ttl_s", -5, "'lease_ttl_s' is -5; give the seconds"),
    ("lease_ttl_s", float("inf"), "'lease_ttl_s' is inf; give a number"),
    ("review_fraction", 2, "'review_fraction' is 2; give the share"),
    ("review_fraction", "0.5", "'review_fraction' is '0.5'; give a number"),
])
def test_bad_settings_are_refused_by_create_and_configure(
        tmp_path: Path, setting: str, value: object, message: str) -> None:
    """configure() checks what create() checks: overlap 0 would give items no task, and a
    negative lease TTL leases that end before they start. Nothing is changed."""
    with pytest.raises(ValidationError, match=message):
        labelnb.Project.create(tmp_path / "c.db", "c", labelnb.Schema("choice", ["a"]),
                               **{setting: value})  # type: ignore[arg-type]
    p = labelnb.Project.create(tmp_path / "c.db", "c", labelnb.Schema("choice", ["a"]),
                               overlap=2)
    try:
        before = dict(p.settings)
        with pytest.raises(ValidationError, match=message):
            p.configure(**{setting: value})
        assert p.settings == before
        assert labelnb.open(tmp_path / "c.db").settings == before
        p.configure(overlap=np.int64(2), lease_ttl_s=np.float32(60))  # numpy numbers too
        assert (p.settings["overlap"], p.settings["lease_ttl_s"]) == (2, 60.0)
        p.configure(overlap=3.0, lease_ttl_s=30, review_fraction=1)  # whole float is fine
        assert (p.settings["overlap"], p.settings["lease_ttl_s"]) == (3, 30.0)
        p.add_items(["x"])
        assert len(p.tasks()) == 3
    finally:
        p.close()


def test_text_a_database_cannot_store_is_refused_by_name(db_url: str, tmp_path: Path) -> None:
    """NUL characters (PostgreSQL refuses them in text; SQLite kept them) and lone
    surrogates (text decoded wrongly) in item texts, text files, label, annotator and
    project names, and blank texts, are refused on both databases before anything is
    written, with the item and the field named."""
    with pytest.raises(SchemaError, match=r"label 'a\\x00b': field 'name' holds a NUL"):
        labelnb.Schema("choice", ["a\x00b"])
    with pytest.raises(ValidationError, match="field 'name' holds a NUL"):
        labelnb.Project.create(db_url, "p\x00", labelnb.Schema("choice", ["a"]))
    p = labelnb.Project.create(db_url, "t", labelnb.Schema("choice", ["a", "b"]))
    try:
        for bad, message in [
            (["fine", "nul\x00here"], r"item #1: field 'text' holds a NUL character \(\\x00\) "
                                     "at offset 3"),
            ([{"text": "bad \ud800 text"}], r"item #0: field 'text' holds '\\ud800' at offset 4"),
            (["ok", "   "], "item #1: field 'text' is empty"),
        ]:
            with pytest.raises(ValidationError, match=message):
                p.add_items(bad, media="text")
        f = tmp_path / "nul.txt"
        f.write_bytes(b"one\x00two")
        with pytest.raises(ValidationError, match=r"nul.txt'.*holds a NUL"):
            p.add_items([f])
        assert len(p.items()) == 0
        for name in ("ana\x00", "", "bob \udc80"):
            with pytest.raises(ValidationError, match="annotator.*field 'name'"):
                p.queue(name)
            with pytest.raises(ValidationError, match="annotator.*field 'name'"):
                p.annotators.add(name)
        assert p.annotators.table().empty
    finally:
        p.close()


def test_texts_with_glob_characters_are_texts_and_path_globs_are_globs(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "g.db", "g", labelnb.Schema("choice", ["a", "b"]))
    ids = p.add_items(["Why did my monthly price go up?", "is [this] ok*"])
    assert p.items()["text"].tolist() == ["Why did my monthly price go up?", "is [this] ok*"]
    assert len(ids) == 2
    with pytest.raises(ItemNotFound, match="the glob matches no file"):
        p.add_items([str(tmp_path / "photos" / "*.png")])  # looks like a path: a glob


def test_annotations_of_one_write_come_back_in_the_order_they_were_made(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "o.db", "o", labelnb.Schema("choice", ["a", "b"]))
    (item,) = p.add_items(["one text"])
    anns = [labelnb.Annotation(item_id=item, regions=(labelnb.Choice("a" if k % 2 else "b"),),
                               author=f"m{k}", source="model") for k in range(30)]
    p.add_annotations(anns)  # one transaction: one submitted_at for all
    assert p.annotations()["author"].tolist() == [f"m{k}" for k in range(30)]
