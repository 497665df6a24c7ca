"""``overwrite=True`` replaces an earlier export and nothing else: pointed at the
project's own folder it deleted the database, the images and every other file there."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from PIL import Image

import labelnb
from labelnb import Box, Schema
from labelnb.errors import FormatError
from labelnb.formats import pipeline


@pytest.fixture
def project(tmp_path: Path) -> labelnb.Project:
    Image.new("RGB", (50, 40)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("precious")
    p = labelnb.Project.create(tmp_path / "labels.db", "p", Schema("boxes", ["cat"]))
    p.add_items([tmp_path / "a.png"])
    q = p.queue("ana")
    assert q.claim() is not None
    q.submit([Box(1, 1, 10, 10, "cat")])
    return p


def test_overwrite_refuses_the_projects_own_folder(project: labelnb.Project,
                                                   tmp_path: Path) -> None:
    before = sorted(x.name for x in tmp_path.iterdir())
    with pytest.raises(FormatError, match="not an earlier export"):
        pipeline.export(project, "coco", tmp_path, overwrite=True)
    assert sorted(x.name for x in tmp_path.iterdir()) == before
    assert (tmp_path / "notes.txt").read_text() == "precious"
    assert len(project.annotations()) == 1  # the database is still there


def test_overwrite_refuses_a_file_and_an_export_holding_the_database(
        project: labelnb.Project, tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not a folder"):
        pipeline.export(project, "coco", tmp_path / "notes.txt", overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "precious"
    # an earlier export folder in which the user then made a project's database
    out = tmp_path / "out"
    pipeline.export(project, "coco", out)
    inside = labelnb.Project.create(out / "inside.db", "p", Schema("boxes", ["cat"]))
    inside.add_items([tmp_path / "a.png"])
    with pytest.raises(FormatError, match="holds the project's database"):
        pipeline.export(inside, "coco", out, overwrite=True)
    assert (out / "inside.db").is_file()
    inside.close()


def test_overwrite_replaces_an_earlier_export(project: labelnb.Project,
                                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    pipeline.export(project, "coco", out)
    (out / "stale.txt").write_text("from before")
    pipeline.export(project, "coco", out, overwrite=True)
    assert (out / "labelnb_export.json").is_file() and not (out / "stale.txt").exists()
    umask = os.umask(0)
    os.umask(umask)
    # the folder has the usual mode, not the 0700 of a temporary folder
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
