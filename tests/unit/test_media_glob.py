"""A glob given to add_items picks the project's media as a folder does: files that
match but are no media for the project are skipped; a glob with nothing usable is an
error that names the pattern and the fix; a file named on its own is never dropped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PIL import Image

import labelnb
from labelnb import Schema
from labelnb import media as media_mod
from labelnb.errors import ItemNotFound, ValidationError


def _png(path: Path, color: tuple[int, int, int] = (10, 20, 30)) -> Path:
    Image.new("RGB", (8, 6), color).save(path, format="PNG")
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Two images beside a YOLO label, a README, a binary without an extension and a
    macOS .DS_Store."""
    d = tmp_path / "photos"
    d.mkdir()
    _png(d / "a0.jpg", (1, 2, 3))
    _png(d / "a1.png", (4, 5, 6))
    (d / "a0.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (d / "README.md").write_text("# photos\n")
    (d / "notes").write_bytes(b"\x00\x01\x02 binary")
    (d / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\x00\x00")
    return d


def names(paths: list[str]) -> list[str]:
    return sorted(Path(x).name for x in paths)


def test_expand_glob_keeps_the_media_wanted(photos: Path) -> None:
    pattern = str(photos / "*")
    assert names(media_mod.expand(pattern, ("image",))) == ["a0.jpg", "a1.png"]
    assert names(media_mod.expand(pattern, ("text",))) == ["README.md", "a0.txt"]
    assert names(media_mod.expand(pattern)) == ["README.md", "a0.jpg", "a0.txt", "a1.png"]
    # the same as the folder gives (.DS_Store and the binary are no media either way)
    assert media_mod.expand(pattern, ("image",)) == media_mod.expand(str(photos), ("image",))
    hidden = str(photos / ".*")  # a pattern that matches the dot file itself
    with pytest.raises(ItemNotFound, match="the glob matches 1 file"):
        media_mod.expand(hidden, ("image",))


def test_expand_glob_logs_what_it_skipped(photos: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="labelnb"):
        media_mod.expand(str(photos / "*"), ("image",))
    assert "skipped" in caplog.text and "a0.txt" in caplog.text and "notes" in caplog.text


def test_a_glob_with_no_media_names_the_pattern_and_the_fix(photos: Path) -> None:
    pattern = str(photos / "a0.t?t")
    with pytest.raises(ItemNotFound) as e:
        media_mod.expand(pattern, ("image",))
    msg = str(e.value)
    assert repr(pattern) in msg and "no image file" in msg and "1 text file" in msg
    assert "a0.txt" in msg and repr(str(photos / "*.jpg")) in msg  # the fix
    with pytest.raises(ItemNotFound, match="no text file"):
        media_mod.expand(str(photos / "a?.[jp]*"), ("text",))
    with pytest.raises(ItemNotFound, match="matches no file"):  # as before
        media_mod.expand(str(photos / "zz*"), ("image",))


def test_a_glob_that_spells_out_an_extension_takes_those_files(photos: Path) -> None:
    scan = _png(photos / "scan.img")  # an image under an extension labelnb does not list
    assert media_mod.expand(str(photos / "*.img"), ("image",)) == [str(scan.resolve())]
    assert str(scan.resolve()) not in media_mod.expand(str(photos / "*"), ("image",))


def test_image_project_adds_the_images_a_glob_matches(photos: Path, tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "i.db", "p", Schema("boxes", ["cat"]))
    try:
        ids = p.add_items(str(photos / "*"))
        assert len(ids) == 2
        items = p.items()
        assert set(items["media"]) == {"image"}
        assert names(items["uri"].tolist()) == ["a0.jpg", "a1.png"]
        assert p.add_items({"image": str(photos / "*")}) == ids  # the dict form too
        with pytest.raises(ItemNotFound, match="no image file"):
            p.add_items(str(photos / "R*"))  # README.md only
        # named on its own, a file that is no image is refused, not dropped
        for bad in ("a0.txt", "notes", ".DS_Store"):
            with pytest.raises(ValidationError, match="field 'media'"):
                p.add_items(str(photos / bad))
        # as is a glob that asks for such files by their extension
        with pytest.raises(ValidationError, match="field 'media' is 'text'"):
            p.add_items(str(photos / "*.txt"))
        assert len(p.items()) == 2  # nothing partial
    finally:
        p.close()


def test_text_project_adds_the_texts_a_glob_matches(photos: Path, tmp_path: Path) -> None:
    p = labelnb.Project.create(tmp_path / "t.db", "p", Schema("spans", ["PER"]))
    try:
        assert len(p.add_items(str(photos / "*"))) == 2
        assert sorted(p.items()["text"]) == ["# photos\n", "0 0.5 0.5 0.1 0.1\n"]
        with pytest.raises(ItemNotFound, match=r"no text file.*2 image files"):
            p.add_items(str(photos / "a[01].[jp]*"))
    finally:
        p.close()


def test_a_remote_glob_keeps_the_media_wanted() -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "/lnb-glob-test"
    try:
        fs.pipe({f"{root}/a.jpg": b"x", f"{root}/b.PNG": b"y", f"{root}/c.txt": b"z",
                 f"{root}/.DS_Store": b"\x00"})
        got = media_mod.expand(f"memory://{root}/*", ("image",))
        assert [u.rsplit("/", 1)[1] for u in got] == ["a.jpg", "b.PNG"]
        assert all(u.startswith("memory://") for u in got)
        with pytest.raises(ItemNotFound, match=r"no image file.*1 text file"):
            media_mod.expand(f"memory://{root}/*.t*", ("image",))
    finally:
        fs.rm(root, recursive=True)
