"""Golden files: a small fixed project exported to each of the seven formats and
compared with the committed outputs in ``tests/formats/golden/<format>/``.

The project: four images (``golden/src``: committed files, so their bytes never
change) labeled with boxes - edges on the image border, fractional corners that VOC
snaps and YOLO rounds, a one-pixel box, an image without boxes - and three texts with
spans (emoji, CJK, CRLF, an overlap that IOB2 cannot hold), split 50/50 with seed 0.
Annotation ids are fixed, so the export is deterministic.

Compared byte for byte: every file, except

* ``labelnb_export.json``: its ``created_at`` is dropped and ``report.path`` (the
  temporary folder) replaced by ``<export>``;
* the images the export copies: they must equal the source bytes in ``golden/src``,
  and ``MEDIA.txt`` in the golden folder lists where each went;
* spaCy's ``.spacy`` files, compared structurally through ``<name>.spacy.json`` (each
  doc's text, tokens, entities, span groups and user data): a DocBin is zlib-compressed
  msgpack whose string table and hashes depend on the spaCy version, not on us;
* Hugging Face's ``.arrow`` files, compared structurally through ``<name>.arrow.json``
  (the features and every row, read with ``datasets``): the Arrow IPC bytes depend on
  the pyarrow version; and ``state.json``, whose ``_fingerprint`` is random.

TFRecord shards and WebDataset tars are compared byte for byte: both are written by
our own code (protobuf wire format with masked crc32c; tar members with fixed
metadata), so any change in them is a change in labelnb.

To regenerate after an intended change of an output::

    LABELNB_UPDATE_GOLDEN=1 python -m pytest -p no:cacheprovider tests/formats/test_golden.py

(the tests then write the golden folders and skip), and review ``git diff
tests/formats/golden`` before committing.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from pathlib import Path

import pytest

from labelnb.formats import export
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Annotation, Box, Span

GOLDEN = Path(__file__).parent / "golden"
SRC = GOLDEN / "src"
UPDATE = os.environ.get("LABELNB_UPDATE_GOLDEN") == "1"
MEDIA_SUFFIXES = (".png", ".jpg")
TEXTS = ["Zoë 😀 met Ana in 東京\r\nyesterday.", "Anna flew to Paris 🇫🇷.", "nothing here"]


def _image_project(tmp: Path) -> Project:
    p = Project.create(tmp / "images.db", "golden", Schema("boxes", ["cat", "dog", "bird"]))
    ids = p.add_items([str(SRC / n) for n in ("a.png", "b.jpg", "c.png", "d.png")])
    assert ids == [1, 2, 3, 4]
    p.add_annotations([
        Annotation(item_id=1, regions=(Box(0, 0, 32, 24, "cat"), Box(2.25, 3.5, 10.75, 12,
                                                                      "dog")),
                   author="ana", id="golden-a"),
        Annotation(item_id=2, regions=(Box(1, 1, 2, 2, "bird"),), author="ana", id="golden-b"),
        Annotation(item_id=3, regions=(), author="ana", id="golden-c"),
        Annotation(item_id=4, regions=(Box(0.4, 19.5, 20, 20, "dog"), Box(5, 5, 15, 15, "cat")),
                   author="ana", id="golden-d"),
    ])
    return p


def _text_project(tmp: Path) -> Project:
    p = Project.create(tmp / "texts.db", "golden-text", Schema("spans", ["PER", "LOC"]))
    assert p.add_items(TEXTS, media="text") == [1, 2, 3]
    p.add_annotations([
        Annotation(item_id=1, regions=(Span(0, 3, "PER"), Span(10, 13, "PER"),
                                       Span(17, 19, "LOC")), author="ana", id="golden-1"),
        Annotation(item_id=2, regions=(Span(0, 4, "PER"), Span(13, 18, "LOC"),
                                       Span(13, 20, "LOC")), author="ana", id="golden-2"),
        Annotation(item_id=3, regions=(), author="ana", id="golden-3"),
    ])
    return p


def _manifest(data: bytes) -> bytes:
    m = json.loads(data)
    m.pop("created_at")
    m["report"]["path"] = "<export>"
    return (json.dumps(m, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _spacy_dump(path: Path) -> bytes:
    from spacy.tokens import DocBin

    from labelnb.formats.spacy_docbin import blank

    docs = []
    for doc in DocBin().from_disk(path).get_docs(blank("en").vocab):
        docs.append({
            "text": doc.text, "tokens": [t.text for t in doc],
            "ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents],
            "spans": {k: [[s.start_char, s.end_char, s.label_] for s in v]
                      for k, v in sorted(doc.spans.items())},
            "user_data": {str(k): v for k, v in doc.user_data.items()},
        })
    return (json.dumps(docs, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _arrow_dump(folder: Path) -> bytes:
    import datasets

    ds = datasets.load_from_disk(str(folder))
    out = {"features": ds.features.to_dict(), "rows": ds.to_list()}
    return (json.dumps(out, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def snapshot(root: Path) -> dict[str, bytes]:
    """What the golden folder holds for an export in ``root`` (see the module doc)."""
    out: dict[str, bytes] = {}
    media: list[str] = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        if f.suffix in MEDIA_SUFFIXES:
            assert f.read_bytes() == (SRC / f.name).read_bytes(), f"{rel} is not its source"
            media.append(f"{rel} = src/{f.name}")
        elif f.name == "labelnb_export.json":
            out[rel] = _manifest(f.read_bytes())
        elif f.suffix == ".spacy":
            out[rel + ".json"] = _spacy_dump(f)
        elif f.suffix == ".arrow":
            out[rel + ".json"] = _arrow_dump(f.parent)
        elif f.name == "state.json":
            state = json.loads(f.read_bytes())
            state["_fingerprint"] = "<random>"
            out[rel] = (json.dumps(state, indent=2) + "\n").encode()
        else:
            out[rel] = f.read_bytes()
    if media:
        out["MEDIA.txt"] = "".join(m + "\n" for m in media).encode()
    return out


def _diff(name: str, want: bytes, got: bytes) -> str:
    try:
        a, b = want.decode("utf-8"), got.decode("utf-8")
    except UnicodeDecodeError:
        return f"{name}: binary content differs ({len(want)} bytes golden, {len(got)} now)"
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                        f"golden/{name}", f"now/{name}", n=2))[:4000]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("spacy")
    pytest.importorskip("datasets")
    pytest.importorskip("google_crc32c")
    tmp = tmp_path_factory.mktemp("golden")
    images, texts = _image_project(tmp), _text_project(tmp)
    out: dict[str, Path] = {}
    for fmt in ("coco", "voc", "yolo", "tfrecord", "webdataset", "spacy", "hf"):
        project = texts if fmt in ("spacy", "hf") else images
        export(project, fmt, tmp / fmt, split={"train": 0.5, "val": 0.5}, seed=0)  # type: ignore[arg-type]
        out[fmt] = tmp / fmt
    images.close()
    texts.close()
    return out


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo", "spacy", "hf", "tfrecord",
                                 "webdataset"])
def test_export_matches_golden(exports: dict[str, Path], fmt: str) -> None:
    got = snapshot(exports[fmt])
    folder = GOLDEN / fmt
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        for rel, data in got.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        pytest.skip(f"golden/{fmt} written (LABELNB_UPDATE_GOLDEN=1): review git diff")
    assert folder.is_dir(), (f"no golden/{fmt}; create it with LABELNB_UPDATE_GOLDEN=1 "
                             "(see this module's docstring)")
    want = {f.relative_to(folder).as_posix(): f.read_bytes()
            for f in sorted(folder.rglob("*")) if f.is_file()}
    assert sorted(got) == sorted(want), "the export writes other files than the golden one"
    changed = [rel for rel in want if want[rel] != got[rel]]
    assert not changed, "\n".join(_diff(rel, want[rel], got[rel]) for rel in changed)


def test_golden_inputs_are_the_committed_files() -> None:
    """The images are inputs, never regenerated: a re-encoded PNG would change the
    TFRecord and WebDataset bytes for reasons that have nothing to do with labelnb."""
    from PIL import Image

    sizes = {}
    for f in sorted(SRC.iterdir()):
        with Image.open(f) as im:
            sizes[f.name] = (im.format, im.size)
    assert sizes == {"a.png": ("PNG", (32, 24)), "b.jpg": ("JPEG", (24, 32)),
                     "c.png": ("PNG", (32, 24)), "d.png": ("PNG", (20, 20))}
