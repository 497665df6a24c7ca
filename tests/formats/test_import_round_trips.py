"""Round trips through each importer back to the labelnb types.

types -> format file -> ``import_dataset`` -> the project's annotations / predictions.
Tolerances, by what the format stores: JSONL and spaCy keep exact values (JSON floats
round-trip, offsets are integers); Label Studio's percent coordinates come back
within 1e-9 of the image's larger side; COCO is exact, VOC (integer corners) and YOLO
(six decimals) are covered in test_export_pipeline.py's import round trip."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelnb.formats import export, import_dataset
from labelnb.formats import jsonl as jsonl_mod
from labelnb.formats import label_studio as ls
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span

TEXT = "Zoë 😀 met Ana in 東京\r\nand 👩‍🔬 Bob at Cafe\u0301 Noir"


def _spans(text: str) -> tuple[Span, ...]:
    return tuple(Span(text.index(w), text.index(w) + len(w), lab) for w, lab in (
        ("Zoë", "PER"), ("東京", "LOC"), ("Bob", "PER"), ("Cafe\u0301 Noir", "LOC")))


def _close(a: Region, b: Region, tol: float) -> bool:
    if type(a) is not type(b) or a.label != b.label or a.score != b.score:
        return False
    if isinstance(a, Box) and isinstance(b, Box):
        return all(abs(x - y) <= tol for x, y in zip((a.x0, a.y0, a.x1, a.y1),
                                                     (b.x0, b.y0, b.x1, b.y1), strict=True))
    if isinstance(a, Polygon) and isinstance(b, Polygon):
        return len(a.points) == len(b.points) and all(
            abs(x - y) <= tol for x, y in zip(a.points, b.points, strict=True))
    return a == b


@settings(max_examples=150, deadline=None)
@given(st.text(st.sampled_from(list("ab é\u0301東😀🇫🇷\r\n\u2028\u2029\u0085\x1c")),
               min_size=1, max_size=30),
       st.data())
def test_jsonl_spans_round_trip(text: str, data: st.DataObject) -> None:
    spans = []
    for _ in range(data.draw(st.integers(0, 3))):
        i = data.draw(st.integers(0, len(text) - 1))
        j = data.draw(st.integers(i + 1, len(text)))
        spans.append(Span(i, j, data.draw(st.sampled_from(["A", "B"]))))
    rec = jsonl_mod.JsonlRecord(text=text, regions=tuple(spans), meta={"k": [1, "ü"]})
    [back] = jsonl_mod.from_jsonl(jsonl_mod.to_jsonl([rec]))
    assert back.regions == rec.regions and back.text == text and back.meta == rec.meta
    assert [text[s.start:s.end] for s in back.regions or ()] == \
        [text[s.start:s.end] for s in spans]


def test_jsonl_lines_end_at_newline_only(tmp_path: Path) -> None:
    """U+2028 / U+2029 / U+0085 are legal raw inside JSON strings (Python's json writes
    them so with ensure_ascii=False); reading cut the line there ('not valid JSON')."""
    import json

    texts = ["Anna\u2028in Paris", "p1\u2029p2", "NEL\u0085here"]
    path = tmp_path / "raw.jsonl"
    path.write_text("".join(json.dumps({"text": t, "spans": [{"start": 0, "end": 2,
                                                              "label": "PER"}]},
                                       ensure_ascii=False) + "\r\n" for t in texts),
                    encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")  # raw, not escaped
    p = Project.create(tmp_path / "t.db", "t", Schema("spans", ["PER"]))
    rep = import_dataset(p, "jsonl", path)
    assert rep.items == 3 and sorted(p.items()["text"]) == sorted(texts)
    assert "\u2028" not in jsonl_mod.to_jsonl([jsonl_mod.JsonlRecord(text=texts[0])])


def test_jsonl_import_round_trip(tmp_path: Path, images: list[Path]) -> None:
    mask = Mask.from_array(np.pad(np.ones((5, 7), bool), ((3, 40), (2, 55))), "cat")
    recs = [
        jsonl_mod.JsonlRecord(image=str(images[1]), regions=(
            Box(0.25, 1.5, 63.75, 48, "cat", score=0.9, attributes={"occluded": True}),
            Box(0, 0, 1, 1, "dog"))),
        jsonl_mod.JsonlRecord(image=str(images[4]), regions=(
            Polygon((0.5, 0.5, 63.5, 0.5, 32.0, 47.25), "dog"),)),
    ]
    p = Project.create(tmp_path / "b.db", "b", Schema(
        "boxes", ["cat", "dog"], attributes=[{"name": "occluded", "type": "bool"}]))
    path = jsonl_mod.save_jsonl(recs, tmp_path / "boxes.jsonl")
    assert "a Polygon cannot go in a 'boxes' project" in _problems(p, "jsonl", path)
    path = jsonl_mod.save_jsonl(recs[:1], tmp_path / "boxes.jsonl")
    rep = import_dataset(p, "jsonl", path)
    got = {p.item(a.item_id).uri: a.regions for a in p.annotation_objects()}
    assert got == {str(images[1]): recs[0].regions} and rep.items == 1
    g = Project.create(tmp_path / "g.db", "g", Schema("polygons", ["cat", "dog"]))
    path = jsonl_mod.save_jsonl(recs[1:], tmp_path / "polygons.jsonl")
    import_dataset(g, "jsonl", path)
    assert g.annotation_objects()[0].regions == recs[1].regions
    q = Project.create(tmp_path / "m.db", "m", Schema("masks", ["cat"]))
    path = jsonl_mod.save_jsonl([jsonl_mod.JsonlRecord(image=str(images[1]), regions=(mask,))],
                                tmp_path / "m.jsonl")
    import_dataset(q, "jsonl", path)
    assert q.annotation_objects()[0].regions == (mask,)
    t = Project.create(tmp_path / "t.db", "t", Schema("spans", ["PER", "LOC"]))
    path = jsonl_mod.save_jsonl([jsonl_mod.JsonlRecord(text=TEXT, regions=_spans(TEXT))],
                                tmp_path / "t.jsonl")
    rep = import_dataset(t, "jsonl", path)
    [a] = t.annotation_objects()
    assert a.regions == _spans(TEXT) and rep.warnings == []
    assert [TEXT[s.start:s.end] for s in a.regions] == ["Zoë", "東京", "Bob",  # type: ignore[attr-defined]
                                                        "Cafe\u0301 Noir"]


def _problems(p: Project, fmt: str, path: Path) -> str:
    from labelnb.formats import FormatProblems

    with pytest.raises(FormatProblems) as ei:
        import_dataset(p, fmt, path)  # type: ignore[arg-type]
    return str(ei.value)


def _text_project(tmp_path: Path, name: str) -> Project:
    p = Project.create(tmp_path / f"{name}.db", name, Schema("spans", ["PER", "LOC"]))
    texts = [TEXT, "Anna flew to Paris.", "nobody here"]
    ids = p.add_items(texts, media="text")
    p.add_annotations([
        Annotation(item_id=ids[0], regions=_spans(TEXT), author="ana"),
        Annotation(item_id=ids[1], regions=(Span(0, 4, "PER"), Span(13, 18, "LOC")),
                   author="ana"),
        Annotation(item_id=ids[2], regions=(), author="ana"),
    ])
    return p


def test_spacy_export_import_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    src = _text_project(tmp_path, "src")
    rep = export(src, "spacy", tmp_path / "out", split={"train": 0.5, "dev": 0.5}, seed=1)
    assert rep.alignment is not None and rep.alignment["dropped"] == 0
    want = {src.item(a.item_id).text: a.regions for a in src.annotation_objects()}
    dst = Project.create(tmp_path / "dst.db", "dst", Schema("spans", ["PER", "LOC"]))
    rep_in = import_dataset(dst, "spacy", tmp_path / "out")
    assert rep_in.items == 3
    got = {dst.item(a.item_id).text: a.regions for a in dst.annotation_objects()}
    assert got == want
    pred = Project.create(tmp_path / "pred.db", "pred", Schema("spans", ["PER", "LOC"]))
    import_dataset(pred, "spacy", tmp_path / "out", as_predictions=True, model_version="ner-1")
    got = {pred.item(i).text: tuple(pred.prediction_regions(i))
           for i in pred.items()["id"].tolist()}
    assert got == want and pred.annotations().empty


def _ls_tasks(images: list[Path]) -> list[ls.LSTask]:
    from PIL import Image

    out = []
    for n, f in enumerate(images[:4], start=1):
        with Image.open(f) as im:
            w, h = im.size
        out.append(ls.LSTask(n, "image", image=f"/data/upload/1/0a1b2c3d-{f.name}", width=w,
                             height=h, labels=(
            ls.LSLabels("annotation", (Box(0, 0, w, h, "cat"),
                                       Box(w / 3, h / 7, w * 0.9, h, "dog")),
                        author=f"annotator{n % 2}@example.org", duration_s=1.5 * n),
            ls.LSLabels("prediction", (Box(1, 1, w / 2, h / 3, "cat", score=0.125 * n),),
                        model_version=f"det-{n % 2}", score=0.2 * n))))
    return out


def test_label_studio_import_round_trip(tmp_path: Path, images: list[Path]) -> None:
    media = tmp_path / "media"
    media.mkdir()
    for f in images[:4]:
        shutil.copy(f, media / f.name)
    tasks = _ls_tasks(images)
    path = ls.save_label_studio(tasks, tmp_path / "export.json")
    p = Project.create(tmp_path / "ls.db", "ls", Schema("boxes", ["cat", "dog"]))
    rep = import_dataset(p, "label_studio", path, images=media)
    assert (rep.items, rep.annotations, rep.predictions) == (4, 4, 4)
    by_name = {Path(p.item(i).uri or "").name: i for i in rep.item_ids}
    anns = {a.item_id: a for a in p.annotation_objects()}
    preds = p.predictions()
    for t, f in zip(tasks, images[:4], strict=True):
        assert t.width is not None and t.height is not None
        tol = 1e-9 * max(t.width, t.height)
        iid = by_name[f.name]
        a = anns[iid]
        want = t.labels[0]
        assert (a.author, a.duration_s, a.source) == (want.author, want.duration_s, "human")
        assert len(a.regions) == 2 and all(_close(x, y, tol) for x, y in
                                          zip(a.regions, want.regions, strict=True))
        assert a.regions[0] == Box(0, 0, t.width, t.height, "cat")  # edges: exact
        row = preds[preds["item_id"] == iid].iloc[0]
        assert (row["model_version"], row["score"]) == (t.labels[1].model_version,
                                                        t.labels[1].score)
        [pr] = p.prediction_regions(iid)
        assert _close(pr, t.labels[1].regions[0], tol)


def test_label_studio_text_import_round_trip(tmp_path: Path) -> None:
    tasks = [ls.LSTask(1, "text", text=TEXT, labels=(
        ls.LSLabels("annotation", _spans(TEXT), author="zoe@example.org"),
        ls.LSLabels("prediction", _spans(TEXT)[:2], model_version="ner-3", score=0.5)))]
    path = ls.save_label_studio(tasks, tmp_path / "t.json")
    p = Project.create(tmp_path / "t.db", "t", Schema("spans", ["PER", "LOC"]))
    import_dataset(p, "label_studio", path)
    [a] = p.annotation_objects()
    assert a.regions == _spans(TEXT) and a.author == "zoe@example.org"
    assert tuple(p.prediction_regions(a.item_id)) == _spans(TEXT)[:2]
    c = Project.create(tmp_path / "c.db", "c", Schema("choice", ["pos", "neg"]))
    path = ls.save_label_studio([ls.LSTask(None, "text", text="great", labels=(
        ls.LSLabels("annotation", (Choice("pos"),), author="ana"),))], tmp_path / "c.json")
    import_dataset(c, "label_studio", path)
    assert c.annotation_objects()[0].regions == (Choice("pos"),)


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_as_predictions_round_trip(boxes_project: Project, tmp_path: Path, fmt: str) -> None:
    export(boxes_project, fmt, tmp_path / "out")  # type: ignore[arg-type]
    p = Project.create(tmp_path / "pr.db", "pr", Schema("boxes", ["cat", "dog"]))
    rep = import_dataset(p, fmt, tmp_path / "out", as_predictions=True,  # type: ignore[arg-type]
                         model_version=f"{fmt}-gt")
    assert rep.predictions == 12 and p.annotations().empty
    src = {Path(boxes_project.item(a.item_id).uri or "").name: a.regions
           for a in boxes_project.annotation_objects()}
    tol = 1e-3 * 64 if fmt == "yolo" else 0.0  # six decimals; VOC: integer corners
    for iid in rep.item_ids:
        got = p.prediction_regions(iid)
        want = src[Path(p.item(iid).uri or "").name]
        key = lambda r: (r.label, r.x0, r.y0)  # noqa: E731
        assert len(got) == len(want)
        assert all(_close(x, y, tol) for x, y in zip(sorted(got, key=key),  # type: ignore[arg-type]
                                                     sorted(want, key=key), strict=True))  # type: ignore[arg-type]


def _item_extras(p: Project) -> dict[str, tuple[Any, Any]]:
    """{image file name or text: (meta without this import's provenance, group)}."""
    out = {}
    for row in p.items().to_dict("records"):
        meta = {k: v for k, v in (row["meta"] or {}).items() if k != "import"}
        out[row["text"] if row["uri"] is None else Path(row["uri"]).name] = (meta,
                                                                            row["group_key"])
    return out


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_export_import_keeps_item_meta_and_group(tmp_path: Path, images: list[Path],
                                                 fmt: str) -> None:
    """The formats have no place for an item's meta and group: the export's manifest
    carries them and the import of that export gives them back (by file name and split)."""
    src = Project.create(tmp_path / "src.db", "src", Schema("boxes", ["cat", "dog"]))
    ids = src.add_items([{"image": str(f), "group": f"g{i // 3}",
                          "meta": {"camera": i % 2, "note": f"ü{i}"}}
                         for i, f in enumerate(images)])
    src.add_annotations([Annotation(item_id=i, regions=(Box(1, 2, 20, 30, "cat"),),
                                    author="ana") for i in ids])
    root = tmp_path / fmt
    export(src, fmt, root, split={"train": 0.5, "val": 0.5}, seed=3)  # type: ignore[arg-type]
    dst = Project.create(tmp_path / "dst.db", "dst", Schema("boxes", ["cat", "dog"]))
    import_dataset(dst, fmt, root)  # type: ignore[arg-type]
    assert _item_extras(dst) == _item_extras(src)
    assert all(m["import"]["format"] == fmt for m in dst.items()["meta"])
    if fmt == "coco":  # one split's file, inside the export's annotations/ folder
        one = Project.create(tmp_path / "one.db", "one", Schema("boxes", ["cat", "dog"]))
        import_dataset(one, "coco", root / "annotations" / "instances_val.json")
        got = _item_extras(one)
        assert 0 < len(got) < len(images) and all(got[k] == _item_extras(src)[k] for k in got)
    # without the manifest (a dataset from elsewhere) the items simply have none
    (root / "labelnb_export.json").unlink()
    bare = Project.create(tmp_path / "bare.db", "bare", Schema("boxes", ["cat", "dog"]))
    import_dataset(bare, fmt, root)  # type: ignore[arg-type]
    assert {g for _, g in _item_extras(bare).values()} == {None}


def test_spacy_export_import_keeps_item_meta_and_group(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    src = Project.create(tmp_path / "src.db", "src", Schema("spans", ["PER", "LOC"]))
    texts = [TEXT, "Anna flew to Paris.", "nobody here"]
    ids = src.add_items([{"text": t, "group": "doc-a" if i < 2 else "doc-b",
                          "meta": {"line": i}} for i, t in enumerate(texts)])
    src.add_annotations([Annotation(item_id=i, regions=(), author="ana") for i in ids])
    export(src, "spacy", tmp_path / "out", split={"train": 0.5, "dev": 0.5}, seed=1)
    dst = Project.create(tmp_path / "dst.db", "dst", Schema("spans", ["PER", "LOC"]))
    import_dataset(dst, "spacy", tmp_path / "out")
    assert _item_extras(dst) == _item_extras(src)
    assert _item_extras(dst)[TEXT] == ({"line": 0}, "doc-a")
