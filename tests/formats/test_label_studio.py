"""Label Studio: percent coordinates and UTF-16 offsets (hypothesis, edges included),
and the export's structure both ways.

Tolerance: a box or polygon survives pixels -> percent -> pixels within 1e-9 of the
image's larger side (two float divisions and multiplications); a box on the image's
edges (0 and width/height) comes back exactly once fitted to its image, as the importer
does. Offsets are integers: exact."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelnb.errors import FormatError
from labelnb.formats import FormatProblems
from labelnb.formats import label_studio as ls
from labelnb.formats._common import fit_region
from labelnb.types import Box, Choice, Polygon, Span

# every kind of character the offsets must survive: ASCII, Latin with precomposed and
# combining accents, CJK (BMP and the astral Extension B), emoji (astral, with ZWJ and
# skin tones and flags), CR/LF
ALPHABET = st.sampled_from(list("aZ é\u0301\r\n東京\u20000😀👍🏽🇫🇷\u200d👩‍🔬.,"))


@pytest.mark.parametrize("name", ["labelnb.formats.label_studio", "labelnb.formats.jsonl",
                                  "labelnb.formats.importer", "labelnb.formats._common"])
def test_docstring_examples(name: str) -> None:
    res = doctest.testmod(importlib.import_module(name),
                          optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


@st.composite
def image_and_box(draw: st.DrawFn) -> tuple[int, int, Box]:
    w = draw(st.integers(1, 8000))
    h = draw(st.integers(1, 8000))
    frac = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1, allow_nan=False))
    xa, xb = sorted((draw(frac) * w, draw(frac) * w))
    ya, yb = sorted((draw(frac) * h, draw(frac) * h))
    return w, h, Box(xa, ya, xb, yb, "car")


@settings(max_examples=300, deadline=None)
@given(image_and_box())
def test_box_pixels_percent_pixels(case: tuple[int, int, Box]) -> None:
    w, h, box = case
    value = ls.box_to_ls(box, w, h)
    assert all(-1e-9 <= value[k] <= 100 + 1e-9 for k in ("x", "y", "width", "height"))
    back = ls.box_from_ls(value, w, h, "car")
    tol = 1e-9 * max(w, h)
    assert max(abs(a - b) for a, b in zip((back.x0, back.y0, back.x1, back.y1),
                                          (box.x0, box.y0, box.x1, box.y1),
                                          strict=True)) <= tol
    # edges (0 and width / height) come back exactly once the importer has fitted the
    # box to its image ((x + width) * W / 100 can land a float's width past W)
    fitted, note = fit_region(back, w, h, tol=tol, degenerate="keep")
    assert note is None
    for a, b, size in ((box.x0, fitted.x0, w), (box.y0, fitted.y0, h),  # type: ignore[attr-defined]
                       (box.x1, fitted.x1, w), (box.y1, fitted.y1, h)):  # type: ignore[attr-defined]
        if a in (0.0, float(size)):
            assert b == a


@pytest.mark.parametrize("w, h", [(1, 1), (640, 480), (4000, 3000), (4999, 7)])
def test_full_image_box_is_exact(w: int, h: int) -> None:
    value = ls.box_to_ls(Box(0, 0, w, h, "x"), w, h)
    assert (value["x"], value["y"], value["width"], value["height"]) == (0, 0, 100, 100)
    assert ls.box_from_ls(value, w, h, "x") == Box(0, 0, w, h, "x")


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8000), st.integers(1, 8000),
       st.lists(st.tuples(st.one_of(st.sampled_from([0.0, 100.0]), st.floats(0, 100)),
                          st.one_of(st.sampled_from([0.0, 100.0]), st.floats(0, 100))),
                min_size=3, max_size=12))
def test_polygon_percent_pixels_percent(w: int, h: int, pts: list[tuple[float, float]]
                                        ) -> None:
    poly = ls.polygon_from_ls([list(p) for p in pts], w, h, "roof")
    assert len(poly.points) == 2 * len(pts)
    assert all(0 <= x <= w and 0 <= y <= h for x, y in poly.xy.tolist())
    back = ls.polygon_to_ls(poly, w, h)
    assert max(abs(a - b) for p, q in zip(back, pts, strict=True)
               for a, b in zip(p, q, strict=True)) <= 1e-9 * 100


@settings(max_examples=400, deadline=None)
@given(st.text(ALPHABET, max_size=40), st.data())
def test_utf16_offsets_against_python_slicing(text: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, len(text)))
    u0, u1 = ls.to_utf16(text, i), ls.to_utf16(text, j)
    utf16 = text.encode("utf-16-le")
    assert utf16[2 * u0:2 * u1].decode("utf-16-le") == text[i:j]  # what JavaScript slices
    assert ls.from_utf16(text, u0) == i and ls.from_utf16(text, u1) == j
    assert ls.utf16_index(text)[-1] == len(utf16) // 2


def test_offsets_inside_a_surrogate_pair_or_past_the_end_are_refused() -> None:
    with pytest.raises(FormatError, match="falls inside the character '😀'"):
        ls.from_utf16("a😀b", 2)
    with pytest.raises(FormatError, match="lies outside the text"):
        ls.from_utf16("a😀b", 5)
    task = {"data": {"text": "a😀b"}, "annotations": [{"result": [
        {"type": "labels", "value": {"start": 0, "end": 2, "labels": ["X"]}}]}]}
    with pytest.raises(FormatProblems) as ei:
        ls.from_label_studio([task])
    [p] = ei.value.problems
    assert (p.item, p.field, p.where) == ("tasks[0] (text 'a😀b')", "value.start/end",
                                          "annotations[0].result[0]")


def test_known_offsets() -> None:
    """Checked by hand against a browser's String.prototype.length."""
    text = "😀 met 東京 🇫🇷 Paris"
    assert len(text.encode("utf-16-le")) // 2 == len(text) + 3  # 😀 and the two flag halves
    assert [ls.to_utf16(text, text.index(w)) for w in ("met", "東京", "Paris")] == [3, 7, 15]


def _tasks() -> list[ls.LSTask]:
    text = "Zoë 😀 met Ana in 東京\r\nand 👩‍🔬 Bob"
    spans = tuple(Span(text.index(w), text.index(w) + len(w), lab)
                  for w, lab in (("Zoë", "PER"), ("東京", "LOC"), ("Bob", "PER")))
    return [
        ls.LSTask(1, "image", image="a.jpg", width=640, height=480, labels=(
            ls.LSLabels("annotation", (Box(0, 0, 640, 480, "car"), Box(10.5, 20.25, 30, 40,
                                                                        "bus")),
                        author="ana@example.org", duration_s=3.5),
            ls.LSLabels("annotation", (Polygon((0, 0, 640, 0, 320, 480), "road"),),
                        author="bob@example.org"),
            ls.LSLabels("prediction", (Box(1, 2, 3, 4, "car", score=0.25),),
                        model_version="yolo-1", score=0.5))),
        ls.LSTask(2, "text", text=text, labels=(
            ls.LSLabels("annotation", spans, author="label-studio:3"),
            ls.LSLabels("prediction", spans[:1], model_version="ner-2"))),
        ls.LSTask(3, "text", text="great film", labels=(
            ls.LSLabels("annotation", (Choice("pos"),), author="ana@example.org"),)),
    ]


def test_to_and_from_label_studio_round_trip() -> None:
    tasks = _tasks()
    data = ls.to_label_studio(tasks)
    r0 = data[0]["annotations"][0]["result"][1]
    assert r0["type"] == "rectanglelabels" and r0["original_width"] == 640
    assert r0["value"]["x"] == pytest.approx(10.5 / 640 * 100)
    spans = data[1]["annotations"][0]["result"]
    text = tasks[1].text or ""
    for r in spans:  # UTF-16 in the file: JavaScript's slice gives the named text
        u = text.encode("utf-16-le")
        assert u[2 * r["value"]["start"]:2 * r["value"]["end"]].decode("utf-16-le") == \
            r["value"]["text"]
    back = ls.from_label_studio(data)
    assert [(t.id, t.key, t.image, t.text, t.width, t.height) for t in back] == \
        [(t.id, t.key, t.image, t.text, t.width, t.height) for t in tasks]
    for a, b in zip(back, tasks, strict=True):
        assert [(x.kind, x.author, x.model_version, x.score, x.duration_s) for x in a.labels] \
            == [(x.kind, x.author, x.model_version, x.score, x.duration_s) for x in b.labels]
        for x, y in zip(a.labels, b.labels, strict=True):
            assert len(x.regions) == len(y.regions)
            for r, s in zip(x.regions, y.regions, strict=True):
                if isinstance(r, Box) and isinstance(s, Box):
                    assert max(abs(p - q) for p, q in zip((r.x0, r.y0, r.x1, r.y1),
                                                          (s.x0, s.y0, s.x1, s.y1),
                                                          strict=True)) <= 1e-9 * 640
                    assert (r.label, r.score) == (s.label, s.score)
                elif isinstance(r, Polygon) and isinstance(s, Polygon):
                    assert max(abs(p - q) for p, q in zip(r.points, s.points,
                                                          strict=True)) <= 1e-9 * 640
                else:
                    assert r == s


def test_structure_problems_are_all_named() -> None:
    tasks: list[dict[str, Any]] = [
        {"id": 1, "data": {"url": "a.jpg", "caption": "x"}},  # which field is the media?
        {"id": 2},  # no data
        {"id": 3, "data": {"image": "b.jpg"}, "annotations": [{"result": [
            {"type": "rectanglelabels", "value": {"x": 1, "y": 1, "width": 5, "height": 5,
                                                  "rectanglelabels": ["car"]}}]}]},
        {"id": 4, "data": {"image": "c.jpg"}, "annotations": [{"result": [
            {"type": "rectanglelabels", "original_width": 10, "original_height": 10,
             "image_rotation": 90,
             "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["car"]}},
            {"type": "rectanglelabels", "original_width": 10, "original_height": 10,
             "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": []}},
            {"type": "relation", "from_id": "a", "to_id": "b"}]}]},
    ]
    notes: list[str] = []
    with pytest.raises(FormatProblems) as ei:
        ls.from_label_studio(tasks, notes=notes)
    got = [(p.item, p.field) for p in ei.value.problems]
    assert got == [("task 1", "data"), ("task 2", "data"),
                   ("task 3 (image 'b.jpg')", "original_width/original_height"),
                   ("task 4 (image 'c.jpg')", "image_rotation"),
                   ("task 4 (image 'c.jpg')", "value.rectanglelabels")]
    assert "pass data_key=" in str(ei.value)
    assert len(notes) == 1 and "relation" in notes[0]
    assert ls.from_label_studio(tasks[:1], data_key="url")[0].image == "a.jpg"


def _span_task(text: str, start: int, end: int, named: str) -> dict[str, Any]:
    return {"id": 1875, "data": {"text": text}, "annotations": [{"completed_by": 1, "result": [
        {"type": "labels", "from_name": "label", "to_name": "text",
         "value": {"start": start, "end": end, "text": named, "labels": ["LOC"]}}]}]}


def test_span_text_with_collapsed_whitespace_is_accepted() -> None:
    """Label Studio stores value.text as the browser shows it, runs of whitespace
    collapsed (HumanSignal/label-studio issue 3078): the offsets are still right."""
    text = "Text: Berlin,  Germany.\r\n\tand  Paris"
    i, j = text.index("Paris"), text.index("Berlin")
    task = _span_task(text, j, i + 5, "Berlin, Germany. and Paris")
    offsets: ls.Offsets
    for offsets in ("utf16", "codepoints"):  # no emoji: both count the same
        [t] = ls.from_label_studio([task], offsets=offsets)
        assert t.labels[0].regions == (Span(j, i + 5, "LOC"),)
    with pytest.raises(FormatProblems, match="slices 'Berlin,  Ge'"):  # not a whitespace slip
        ls.from_label_studio([_span_task(text, j, j + 11, "Berlin, Germany")])


def test_span_text_mismatch_hint_suggests_only_an_offsets_mode_that_fits() -> None:
    text = "😀 Text: Berlin, Germany"
    j = text.index("Berlin")
    u = j + 1  # the UTF-16 offset of 'Berlin': the emoji is 2 code units
    # code points given, UTF-16 expected: offsets='codepoints' fits, so it is suggested
    with pytest.raises(FormatProblems) as ei:
        ls.from_label_studio([_span_task(text, j, j + 6, "Berlin")])
    [p] = ei.value.problems
    assert p.field == "value.text" and "pass offsets='codepoints'" in p.message
    assert ls.from_label_studio([_span_task(text, j, j + 6, "Berlin")], offsets="codepoints")
    # offsets that fit neither way: no mode is suggested (that looped between the two)
    offsets: ls.Offsets
    for offsets, other in (("utf16", "codepoints"), ("codepoints", "utf16")):
        with pytest.raises(FormatProblems) as ei:
            ls.from_label_studio([_span_task(text, u, u + 6, "Oslo")], offsets=offsets)
        [p] = ei.value.problems
        assert p.field == "value.text" and p.item.startswith("task 1875")
        assert f"offsets={other!r} does not slice it either" in p.message
        assert f"pass offsets={other!r}" not in p.message
        assert "verify_text=False" in p.message
    assert ls.from_label_studio([_span_task(text, u, u + 6, "Oslo")], verify_text=False)


def test_cancelled_annotations_are_skipped_and_counted() -> None:
    [t] = ls.from_label_studio({"data": {"text": "hi"}, "annotations": [
        {"was_cancelled": True, "result": []}, {"completed_by": 2, "result": []}]})
    assert t.skipped == 1 and [x.author for x in t.labels] == ["label-studio:2"]


def test_local_path_finds_uploads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "media").mkdir()
    f = tmp_path / "media" / "cat.jpg"
    f.write_bytes(b"x")
    assert ls.local_path("/data/upload/3/8f2a1c3b-cat.jpg", images=tmp_path / "media") == f
    assert ls.local_path("/data/local-files/?d=media/cat.jpg", root=tmp_path) == \
        tmp_path / "media" / "cat.jpg"
    assert ls.local_path("media/cat.jpg", root=tmp_path) == tmp_path / "media" / "cat.jpg"
    assert ls.local_path("/data/upload/3/dog.jpg", images=tmp_path / "media") is None
