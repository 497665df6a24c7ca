"""Small real SQLite projects for the dashboard tests, labeled through the queue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import labelnb
from labelnb import Box, Choice, Schema, Span

#: annotator -> text -> label; ana and bob agree most, cy often differs
CHOICES: dict[str, dict[str, str]] = {
    "ana": {"t0": "cat", "t1": "dog", "t2": "cat", "t3": "bird", "t4": "dog", "t5": "cat",
            "t6": "bird", "t7": "dog", "t8": "cat", "t9": "dog"},
    "bob": {"t0": "cat", "t1": "dog", "t2": "cat", "t3": "bird", "t4": "cat", "t5": "cat",
            "t6": "bird", "t7": "dog", "t8": "dog", "t9": "dog"},
    "cy": {"t0": "cat", "t1": "cat", "t2": "dog", "t3": "bird", "t4": "bird", "t5": "cat",
           "t6": "dog", "t7": "dog", "t8": "bird", "t9": "cat"},
}


@pytest.fixture
def choices() -> dict[str, dict[str, str]]:
    return CHOICES


def label_through_queue(p: labelnb.Project, answer: Callable[[str, object], object],
                        annotators: list[str]) -> None:
    for who in annotators:
        q = p.queue(who)
        while (t := q.claim()) is not None:
            q.submit(answer(who, t.item))


@pytest.fixture
def choice_project(tmp_path: Path) -> labelnb.Project:
    p = labelnb.Project.create(tmp_path / "labels.db", "pets",
                               Schema("choice", ["cat", "dog", "bird"]), overlap=3)
    p.add_items(sorted(CHOICES["ana"]))
    label_through_queue(p, lambda who, item: Choice(CHOICES[who][item.text]),  # type: ignore[attr-defined]
                        list(CHOICES))
    return p


@pytest.fixture
def span_project(tmp_path: Path) -> labelnb.Project:
    p = labelnb.Project.create(tmp_path / "spans.db", "ner", Schema("spans", ["PER", "ORG"]),
                               overlap=2)
    p.add_items(["<b>Ann</b> works at ACME & Co"])
    spans = {"ana": [Span(3, 6, "PER"), Span(20, 24, "ORG")], "bob": [Span(3, 6, "ORG")]}
    label_through_queue(p, lambda who, item: spans[who], ["ana", "bob"])
    return p


@pytest.fixture
def box_project(tmp_path: Path) -> labelnb.Project:
    import numpy as np
    from PIL import Image

    img = tmp_path / "a.png"
    Image.fromarray(np.full((60, 80, 3), 200, np.uint8)).save(img)
    p = labelnb.Project.create(tmp_path / "boxes.db", "b", Schema("boxes", ["cat", "dog"]),
                               overlap=2)
    p.add_items([img])
    boxes = {"ana": [Box(10, 10, 30, 30, "cat")],
             "bob": [Box(12, 10, 32, 30, "cat"), Box(40, 20, 70, 50, "dog")]}
    label_through_queue(p, lambda who, item: boxes[who], ["ana", "bob"])
    return p


@pytest.fixture
def label() -> Callable[[labelnb.Project, Callable[[str, object], object], list[str]], None]:
    """:func:`label_through_queue`, for tests that build their own project."""
    return label_through_queue


def _image(tmp_path: Path, name: str, value: int) -> Path:
    import numpy as np
    from PIL import Image

    path = tmp_path / name
    Image.fromarray(np.full((60, 80, 3), value, np.uint8)).save(path)
    return path


@pytest.fixture
def geometry_project(tmp_path: Path) -> labelnb.Project:
    """Three images, three annotators; everybody says one "cat" box on each, but on
    img-b cy's box is elsewhere, and on img-c all three boxes are elsewhere."""
    p = labelnb.Project.create(tmp_path / "geo.db", "geo", Schema("boxes", ["cat", "dog"]),
                               overlap=3)
    ids = p.add_items([_image(tmp_path, f"img-{c}.png", v)
                       for c, v in (("a", 10), ("b", 100), ("c", 200))])
    boxes = {
        ids[0]: {"ana": Box(10, 10, 30, 30, "cat"), "bob": Box(11, 10, 31, 30, "cat"),
                 "cy": Box(10, 11, 30, 31, "cat")},
        ids[1]: {"ana": Box(10, 10, 30, 30, "cat"), "bob": Box(11, 11, 31, 31, "cat"),
                 "cy": Box(50, 30, 70, 50, "cat")},
        ids[2]: {"ana": Box(0, 0, 20, 20, "cat"), "bob": Box(30, 0, 50, 20, "cat"),
                 "cy": Box(60, 30, 79, 59, "cat")},
    }
    label_through_queue(p, lambda who, item: [boxes[item.id][who]],  # type: ignore[attr-defined]
                        ["ana", "bob", "cy"])
    p.ids = ids  # type: ignore[attr-defined]
    return p
