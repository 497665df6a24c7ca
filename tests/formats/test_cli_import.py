"""``labelnb import``: the command line over import_dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelnb.cli import main
from labelnb.formats.jsonl import JsonlRecord, save_jsonl
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Box, Span


def _db(tmp_path: Path, kind: str, labels: list[str]) -> str:
    db = str(tmp_path / "labels.db")
    Project.create(db, "p", Schema(kind, labels)).close()  # type: ignore[arg-type]
    return db


def test_import_jsonl_with_label_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    db = _db(tmp_path, "spans", ["PER", "LOC"])
    path = save_jsonl([JsonlRecord(text="Anna flew to Paris",
                                   regions=(Span(0, 4, "person"), Span(13, 18, "GPE"),
                                            Span(5, 9, "verb")))], tmp_path / "t.jsonl")
    rc = main(["import", db, "--format", "jsonl", str(path),
               "--label-map", "person=PER,GPE=LOC,verb="])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "jsonl import from" in out.out and "1 items, 1 annotations" in out.out
    assert "1 regions dropped by label_map" in out.out
    p = Project.open(db, "p")
    assert p.annotation_objects()[0].regions == (Span(0, 4, "PER"), Span(13, 18, "LOC"))
    p.close()


def test_bad_file_exits_2_with_every_problem(tmp_path: Path, images: list[Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = _db(tmp_path, "boxes", ["cat"])
    path = save_jsonl([JsonlRecord(image=str(images[1]), regions=(Box(0, 0, 99, 9, "cat"),)),
                       JsonlRecord(image=str(images[2]), regions=(Box(0, 0, 9, 9, "dog"),)),
                       JsonlRecord(image=str(images[4]), regions=(Box(0, 0, 9, 9, "cat"),))],
                      tmp_path / "b.jsonl")
    rc = main(["import", db, "--format", "jsonl", str(path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "nothing was imported: 2 problems" in err
    assert f"image {str(images[1])!r}" in err and "field 'boxes'" in err
    assert f"image {str(images[2])!r}" in err and "field 'label'" in err
    p = Project.open(db, "p")
    assert p.items().empty
    p.close()
    rc = main(["import", db, "--format", "jsonl", str(path), "--box-policy", "clip",
               "--label-map", "dog=cat", "--as-predictions", "--model-version", "m-1"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "3 predictions" in out.out and "warning: image" in out.out and "clipped" in out.out
    p = Project.open(db, "p")
    assert set(p.predictions()["model_version"]) == {"m-1"} and p.annotations().empty
    p.close()


def test_label_studio_offsets_flag_and_usage_errors(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    db = _db(tmp_path, "spans", ["LOC"])
    text = "😀 Paris"
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([{"data": {"text": text}, "annotations": [{"result": [
        {"type": "labels", "value": {"start": 2, "end": 7, "text": "Paris",
                                     "labels": ["LOC"]}}]}]}], ensure_ascii=False))
    assert main(["import", db, "--format", "label_studio", str(path)]) == 2
    assert "pass offsets='codepoints'" in capsys.readouterr().err
    assert main(["import", db, "--format", "label_studio", str(path),
                 "--offsets", "codepoints"]) == 0
    p = Project.open(db, "p")
    assert p.annotation_objects()[0].regions == (Span(2, 7, "LOC"),)
    p.close()
    assert main(["import", db, "--format", "jsonl", str(path), "--label-map", "x"]) == 2
    assert "is not OLD=NEW" in capsys.readouterr().err
    assert main(["import", db, "--format", "csv", str(path)]) == 2
    assert main(["import", str(tmp_path / "none.db"), "--format", "jsonl", str(path)]) == 2
    assert "does not exist" in capsys.readouterr().err
