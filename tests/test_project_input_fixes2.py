"""Input the project API and the CLI mishandled (second review): numpy ids that matched
nothing on SQLite, settings stored before they were checked, rotated TIFFs measured
with width and height swapped twice, misspelt filters that matched nothing, the
columns of an empty ``annotations()``, paths with spaces read as texts, a locked
database's traceback, pandas values (Timestamp, NaT, NaN meta), truncated JPEGs taken
in, and ``labelnb add`` counting by loading every item."""

from __future__ import annotations

import io
import os
import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import labelnb
from labelnb import Annotation, Choice, Schema
from labelnb import media as media_mod
from labelnb.cli import main
from labelnb.errors import ItemNotFound, StoreError, ValidationError
from labelnb.formats import _common as fmt_common
from labelnb.project import ANNOTATION_COLUMNS
from labelnb.queue import queries as q
from labelnb.queue.routing import DefaultRouting, NoRouting


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def choice_project(url: str) -> labelnb.Project:
    p = labelnb.Project.create(url, "p", Schema("choice", ["pos", "neg"]))
    p.add_items(["a", "b", "c"])
    return p


# --- 1. numpy (and other integer) ids match on both databases; 2.7 is refused --------
def test_numpy_ids_match_and_non_integral_ids_are_refused(db_url: str) -> None:
    p = choice_project(db_url)
    try:
        ids = p.items()["id"]  # numpy int64 values, as a user gets them
        one, two = ids[0], ids[1]
        assert isinstance(one, np.integer)
        p.add_annotations([Annotation(item_id=one, author="ana", regions=(Choice("pos"),))])
        p.add_predictions("m1", {int(one): [Choice("neg", score=0.4)]})

        assert p.item(one).text == "a"
        assert len(p.predictions(item_id=one)) == 1
        assert p.prediction_regions(one) == [Choice("neg", score=0.4)]
        assert len(p.annotations(item_id=one)) == 1
        assert len(p.annotations(schema_version=np.int64(1))) == 1
        assert p.items(schema_version=np.int32(1))["id"].tolist() == [int(one)]
        assert p.set_priority([two], 5.0) == 1

        # a float is no id: truncated, 2.7 would have picked item 2
        for call in (lambda: p.item(2.7), lambda: p.annotations(item_id=2.7),  # type: ignore[arg-type]
                     lambda: p.predictions(item_id=1.0),  # type: ignore[arg-type]
                     lambda: p.items(schema_version=1.5),  # type: ignore[arg-type]
                     lambda: p.set_priority([2.7], 1.0),  # type: ignore[list-item]
                     lambda: p.item(True)):
            with pytest.raises(ValidationError, match="not a whole number"):
                call()
        with pytest.raises(ValidationError, match=r"prediction #0.*item_id=2\.7"):
            p.add_predictions("m2", [(2.7, [Choice("neg")], 0.5)])
        assert set(p.predictions()["model_version"]) == {"m1"}  # nothing stored
    finally:
        p.close()


# --- 2. configure checks every setting before it writes ------------------------------
def test_configure_refuses_bad_settings_and_writes_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    p = choice_project(db)
    try:
        before = dict(p.settings)
        events = len(p.events())
        bad = [
            ({"routing": {"hard_treshold": 0.9}},
             r"'routing' has unknown keys \['hard_treshold'\]"),
            ({"routing": "skills"}, r"field 'routing' is 'skills'.*DefaultRouting"),
            ({"routing": {"policy": "fancy"}}, r"names policy 'fancy'"),
            ({"routing": {"hard_threshold": "high"}}, r"'hard_threshold' is 'high'; give a finite"),
            ({"routing": None}, r"field 'routing' is None"),
            ({"agreement": "junk"}, r"field 'agreement' is 'junk'; give a dict"),
            ({"agreement": {"iuo": 0.5}}, r"unknown keys \['iuo'\]"),
            ({"agreement": {"iou": 1.5}}, r"'iou' is 1.5"),
            ({"agreement": {"iou": "0.5"}}, r"key 'iou' is '0.5'"),
            ({"machine_tiers": {"high": "x"}}, r"'machine_tiers'.*'high' is 'x'"),
        ]
        for settings, message in bad:
            with pytest.raises(ValidationError, match=message):
                p.configure(**settings)
        assert p.settings == before and len(p.events()) == events
        again = labelnb.open(db)  # nothing stored that stops the project from opening
        try:
            assert again.settings == before
        finally:
            again.close()

        p.configure(routing=DefaultRouting(hard_threshold=0.9), agreement={"iou": 0.9})
        assert isinstance(p.routing, DefaultRouting) and p.routing.hard_threshold == 0.9
        assert p.settings["agreement"] == {"iou": 0.9}
        p.configure(routing={"policy": "none"})
        assert isinstance(p.routing, NoRouting)
    finally:
        p.close()


def test_a_project_with_broken_stored_routing_opens_and_says_how_to_fix_it(
        tmp_path: Path) -> None:
    db = str(tmp_path / "b.db")
    p = choice_project(db)
    with p.store.write() as conn:  # what an older labelnb let configure() store
        q.set_project_settings(conn, p.id, {**p.settings,
                                            "routing": {"hard_treshold": 0.9}})
    p.close()
    p = labelnb.open(db)  # raised TypeError before
    try:
        assert p.stats()["items"] == 3
        msg = r"'routing' has unknown keys \['hard_treshold'\].*configure\(routing="
        with pytest.raises(ValidationError, match=msg):
            p.routing  # noqa: B018
        with pytest.raises(ValidationError, match=msg):
            p.add_items(["d"])
        assert len(p.items()) == 3
        p.configure(routing=DefaultRouting())  # the fix the message names
        assert p.add_items(["d"]) == [4]
    finally:
        p.close()


# --- 3. a rotated TIFF's size is not swapped twice -----------------------------------
@pytest.mark.parametrize("fmt", ["TIFF", "JPEG", "PNG"])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_rotated_image_sizes_match_the_decoded_image(tmp_path: Path, fmt: str,
                                                     orientation: int) -> None:
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.new("RGB", (200, 100), (10, 20, 30)).save(path, format=fmt, exif=exif)
    expected = (100, 200) if orientation in (5, 6, 7, 8) else (200, 100)

    assert media_mod.load_image(str(path)).size == expected
    info = media_mod.probe(str(path))
    assert (info.width, info.height) == expected
    assert fmt_common.image_size(path) == expected
    with open(path, "rb") as f:
        rotated, size = fmt_common._upright(f, str(path))
    assert size == expected
    if rotated is not None:
        assert Image.open(io.BytesIO(rotated)).size == expected

    p = labelnb.Project.create(tmp_path / "t.db", "t", Schema("boxes", ["a"]))
    try:
        [i] = p.add_items(str(path))
        it = p.item(i)
        assert (it.width, it.height) == expected
        w, h = expected  # a box over the whole image is inside it
        p.add_annotations([Annotation(item_id=i, author="ana",
                                      regions=(labelnb.Box(0, 0, w, h, "a"),))])
    finally:
        p.close()


# --- 4. a misspelt status or media filter is refused, not an empty result ------------
def test_status_and_media_filters_are_checked(tmp_path: Path) -> None:
    p = choice_project(str(tmp_path / "f.db"))
    try:
        qu = p.queue("ana")
        qu.claim()
        qu.submit(Choice("pos"))
        with pytest.raises(ValidationError, match=r"status 'Done'.*'submitted', 'approve'"):
            p.annotations(status="Done")
        with pytest.raises(ValidationError, match=r"media 'images'.*\['image', 'text'\]"):
            p.items(media="images")
        empty = labelnb.Project.create(tmp_path / "e.db", "e", Schema("choice", ["x"]))
        try:  # checked before the (empty) table is read
            with pytest.raises(ValidationError, match="media 'images'"):
                empty.items(media="images")
        finally:
            empty.close()
        assert len(p.annotations(status="submitted")) == 1
        assert len(p.annotations(status="approve")) == 0
        assert len(p.items(media="text")) == 3 and len(p.items(media="image")) == 0
    finally:
        p.close()


# --- 5. annotations() has the same columns whether anything matches or not ----------
def test_annotations_columns_are_the_same_when_nothing_matches(tmp_path: Path) -> None:
    p = choice_project(str(tmp_path / "a.db"))
    try:
        assert list(p.annotations().columns) == ANNOTATION_COLUMNS
        p.add_annotations([Annotation(item_id=1, author="ana", regions=(Choice("pos"),))])
        assert list(p.annotations().columns) == ANNOTATION_COLUMNS
        assert list(p.annotations(item_id=2).columns) == ANNOTATION_COLUMNS
        assert list(p.annotations(status="reject").columns) == ANNOTATION_COLUMNS
        assert len(ANNOTATION_COLUMNS) == 16
    finally:
        p.close()


# --- 6. in a project that labels no text, a path with spaces is a path ---------------
def test_image_project_takes_paths_with_spaces_as_paths(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my photos").mkdir()
    Image.new("RGB", (20, 10)).save(tmp_path / "my photos" / "a b.png")
    p = labelnb.Project.create(tmp_path / "s.db", "s", Schema("boxes", ["a"]))
    try:
        with pytest.raises(ItemNotFound, match=r"'photos/my cat.png'.*does not exist"):
            p.add_items("photos/my cat.png")
        with pytest.raises(ItemNotFound, match=r"'my cat.png'.*does not exist"):
            p.add_items(["my photos/a b.png", "my cat.png"])
        assert p.items().empty  # nothing half-written
        assert len(p.add_items("my photos/a b.png")) == 1
        assert p.add_items("my photos/*.png") == p.add_items("my photos")  # glob, folder
        # a sentence is still refused as a text, with that reason
        with pytest.raises(ValidationError, match="labels image"):
            p.add_items("just a sentence")
    finally:
        p.close()


# --- 7. a locked database is an error that names it, not a traceback -----------------
def test_locked_database_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import labelnb.queue.store as store_mod

    db = str(tmp_path / "l.db")
    choice_project(db).close()
    monkeypatch.setattr(store_mod, "SQLITE_BUSY_TIMEOUT_MS", 200)  # keep the test fast
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        code, out, err = run(capsys, "add", db, "--text", "new one")
        assert code == 2, err
        assert "is locked" in err and "write lock" in err and repr(db) in err
        assert "Traceback" not in err and out == ""
        p = labelnb.open(db)
        try:
            with pytest.raises(StoreError, match=r"is locked: another process.*0\.2 s"):
                p.add_items(["newer"])
        finally:
            p.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert run(capsys, "add", db, "--text", "new one")[0] == 0  # free again


# --- 8. pandas values: Timestamp and NaT deadlines, NaN meta, bad model versions -----
def test_pandas_inputs(tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "d.db", "d", Schema("choice", ["pos", "neg"]))
    try:
        [a] = p.add_items(["a"], deadline=datetime(2030, 1, 1, 12))
        [b] = p.add_items(["b"], deadline=pd.Timestamp("2030-01-01 12:00"))
        [c] = p.add_items(["c"], deadline=pd.Timestamp("2030-01-01 12:00", tz="UTC"))
        [d] = p.add_items(["d"], deadline=pd.NaT)
        [e] = p.add_items(["e"], deadline=np.datetime64("NaT"))
        dl = p.tasks().set_index("item_id")["deadline"]
        assert dl[a] == dl[b]  # a naive Timestamp is read as a naive datetime is
        assert pd.Timestamp(dl[c]).tz_localize(None) == pd.Timestamp("2030-01-01 12:00")
        assert dl[d] is None or pd.isna(dl[d])
        assert dl[e] is None or pd.isna(dl[e])

        df = pd.DataFrame({"text": ["f", "g"], "meta": [{"k": 1}, np.nan]})
        ids = p.add_items(df)
        meta = p.items().set_index("id")["meta"]
        assert meta[ids[0]] == {"k": 1} and meta[ids[1]] == {}
        bad = pd.DataFrame({"text": ["h", "i"], "meta": [{"k": 1}, '{"k": 2}']})
        with pytest.raises(ValidationError, match=r"item #1: field 'meta' is a str.*json\.loads"):
            p.add_items(bad)
        assert "h" not in set(p.items()["text"])  # nothing half-written

        for mv in (None, "", "  ", 3):
            with pytest.raises(ValidationError, match="field 'model_version'"):
                p.add_predictions(mv, {a: [Choice("pos")]})  # type: ignore[arg-type]
        assert p.predictions().empty
    finally:
        p.close()


# --- 9. a truncated JPEG is refused when it is added ---------------------------------
def test_truncated_jpeg_is_refused_at_add(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    good = tmp_path / "good.jpg"
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(good,
                                                                                quality=90)
    data = good.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 6 // 10])
    trailer = tmp_path / "motion.jpg"  # data after the image (a phone's motion photo)
    trailer.write_bytes(data + b"ftypmp42" + bytes(5000))
    p = labelnb.Project.create(tmp_path / "j.db", "j", Schema("boxes", ["a"]))
    try:
        with pytest.raises(ValidationError, match=r"cut\.jpg'.*truncated or damaged"):
            p.add_items([str(good), str(cut)])
        assert p.items().empty
        ids = p.add_items([str(good), str(trailer)])
        assert len(ids) == 2
        assert p.load_image(ids[1]).size == (160, 120)
    finally:
        p.close()


# --- 10. labelnb add counts with COUNT, and says what was already there --------------
def test_cli_add_counts_without_loading_items(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "c.db")
    assert run(capsys, "init", db, "--name", "t", "--kind", "choice", "--labels", "a,b")[0] == 0
    assert run(capsys, "add", db, "--text", "one")[0] == 0

    def no_items(*a: object, **k: object) -> None:
        raise AssertionError("labelnb add loaded every item")

    monkeypatch.setattr(labelnb.Project, "items", no_items)
    code, out, err = run(capsys, "add", db, "--text", "one", "two", "two", "three")
    assert code == 0, err
    assert ("added 2 new items to 't' (1 already there, 1 given more than once); "
            "3 items in all") in out
    code, out, _ = run(capsys, "add", db, "--text", "four", "four")
    assert code == 0 and "added 1 new item to 't' (1 given more than once); 4 items" in out
    assert "already there" not in out


def test_folder_skips_hidden_and_macosx_files(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "unzipped"
    for sub in ("", "sub", "__MACOSX", "__MACOSX/sub", ".thumbs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 10)).save(folder / "a.jpg")
    Image.new("RGB", (20, 10), (9, 9, 9)).save(folder / "sub" / "b.png")
    appledouble = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(100)
    for junk in ("._a.jpg", "__MACOSX/._a.jpg", "__MACOSX/sub/._b.png", ".DS_Store",
                 ".thumbs/a.jpg"):
        (folder / junk).write_bytes(appledouble)
    names = sorted(os.path.basename(x) for x in media_mod.expand(str(folder), ("image",)))
    assert names == ["a.jpg", "b.png"]
    db = str(tmp_path / "m.db")
    assert run(capsys, "init", db, "--name", "m", "--kind", "boxes", "--labels", "x")[0] == 0
    code, out, err = run(capsys, "add", db, str(folder))
    assert code == 0, err
    assert "added 2 new items" in out
