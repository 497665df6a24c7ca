"""The importer: COCO, Pascal VOC, YOLO, spaCy DocBin, JSON Lines and Label Studio
exports come into a project as items plus annotations, or as predictions
(pre-annotations).

>>> import json, os, tempfile, labelnb
>>> d = tempfile.mkdtemp()
>>> p = labelnb.Project.create(os.path.join(d, "ner.db"), "ner",
...                            labelnb.Schema("spans", ["PER", "LOC"]))
>>> with open(os.path.join(d, "spans.jsonl"), "w", encoding="utf-8") as f:
...     _ = f.write(json.dumps({"text": "Anna flew to Paris", "spans": [
...         {"start": 0, "end": 4, "label": "PER"}, {"start": 13, "end": 18, "label": "ORG"}]}))
>>> import_dataset(p, "jsonl", os.path.join(d, "spans.jsonl"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
labelnb.formats._common.FormatProblems: jsonl import from '...spans.jsonl': nothing was \
imported: 1 problem:
  - text 'Anna flew to Paris', line 1, region 1: field 'label': 'ORG' is not in the schema \
(PER, LOC); add it with project.set_schema(...), or map it with label_map={...: 'name' or None}
>>> print(import_dataset(p, "jsonl", os.path.join(d, "spans.jsonl"),
...                      label_map={"ORG": "LOC"}))  # doctest: +ELLIPSIS
jsonl import from ...spans.jsonl: 1 items, 1 annotations and 0 predictions with 2 regions
>>> p.annotation_objects()[0].regions[1]
Span(start=13, end=18, label='LOC', score=None, attributes={})

Elsewhere: ``import_dataset(project, "coco", "annotations/instances_val2017.json")``
(into a 'boxes' project, every annotation's ``bbox``; into a 'polygons' or 'masks'
project, its segmentation), ``import_dataset(project, "yolo", "runs/detect/predict",
as_predictions=True, model_version="yolov8n-2024-05")`` (the label files of ``yolo
predict save_txt=True [save_conf=True]``, without a data.yaml: each labels the
project's image of the same file name, class indices are the project's labels in
schema order, and a ``conf`` column is the score), ``import_dataset(project,
"label_studio", "export.json", images="media/upload")``.

Three stages, each a plain function:

1. read - the format's reader (``load_coco`` ...; see :data:`IMPORT_FORMATS`) turns
   the file into import items: an image (its file) or a text, the size its regions
   are drawn on, and one or more sets of labels (Label Studio: every annotation and
   prediction of a task).
2. check - every item and region is checked, and every problem is collected: an
   image that is not on disk or whose size differs from the annotations', a box or
   polygon outside its image (``box_policy``: ``"reject"`` by default, or ``"clip"``),
   a degenerate box or polygon, an RLE of the wrong size, a category id that points
   nowhere, a label that is not in the schema (``label_map`` renames or drops), a
   region type the project does not label, a span outside its text. Spans that do
   not align with word tokens are listed in the report's warnings (``misaligned=
   "reject"`` makes them problems). If anything is wrong,
   :class:`~labelnb.formats._common.FormatProblems` lists **every** problem - which
   image or text, which field, what to fix - and nothing is written.
3. write - in one database transaction (:meth:`labelnb.Project.atomic`): the items
   (``add_items``; an image or text already in the project keeps its item), then the
   annotations (``source="human"``, author: the file's annotator where it names one,
   else ``import:<format>``; each fills one open annotate slot of its item, and one
   equal to a stored annotation is left out), then the predictions. A failure anywhere
   rolls all of it back.

An image or text a file gives twice is one item: its label sets by one author become
one annotation (their regions joined, exact repeats once), except a Label Studio
task's annotation, which stays one (two tasks of the same text by one annotator: two
annotations, the second left out only where it equals the first), and a class
choice. Each annotation (and each model's prediction of an item) is checked whole in
stage 2 - one class in a 'choice' project, each span once - and a problem names the
file's lines or tasks it came from.

With ``as_predictions=True`` the file's labels become predictions of
``model_version`` (default ``import:<format>``, ``source="model"``): pre-annotations
that annotators correct, not ground truth. Label Studio exports bring both:
``annotations`` become annotations and ``predictions`` predictions (with their own
``model_version`` and ``score``).
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from labelnb.errors import FormatError, LabelnbError
from labelnb.formats import coco as coco_mod
from labelnb.formats import jsonl as jsonl_mod
from labelnb.formats import label_studio as ls_mod
from labelnb.formats import spacy_docbin as spacy_mod
from labelnb.formats import voc as voc_mod
from labelnb.formats import yolo as yolo_mod
from labelnb.formats._common import (
    BoxPolicy,
    Dataset,
    FormatProblems,
    Problem,
    check_box_policy,
    fit_region,
    image_size,
    map_labels,
    text_name,
)
from labelnb.formats.hf import regex_tokenizer
from labelnb.formats.spacy_docbin import misaligned_reason
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span, text_problem

if TYPE_CHECKING:
    import pandas as pd

    from labelnb.project import Project
    from labelnb.schema import Schema

ImportFormat = Literal["coco", "voc", "yolo", "spacy", "jsonl", "label_studio"]
IMPORT_FORMATS: tuple[str, ...] = ("coco", "voc", "yolo", "spacy", "jsonl", "label_studio")
Misaligned = Literal["report", "reject", "ignore"]
PredictionSource = Literal["model", "llm", "labeling_function"]
#: how many warnings the report keeps word for word (the count is always exact)
_WARNINGS_KEPT = 1000


@dataclass(slots=True)
class ImportReport:
    """What an import wrote."""

    format: str
    path: str
    items: int = 0
    annotations: int = 0
    predictions: int = 0
    regions: int = 0
    item_ids: list[int] = field(default_factory=list)
    #: Label Studio annotations left out: marked was_cancelled, or every result of a type
    #: left out (ignore_types, relations; warnings names each)
    skipped: int = 0
    regions_dropped: int = 0  # by label_map
    already_there: int = 0  # annotations equal to stored ones (imported before), not stored
    #: items whose predictions equal their newest stored ones of that model version
    #: (imported before), not stored again
    predictions_already_there: int = 0
    repeated: int = 0  # annotations the file gives twice (Label Studio tasks), stored once
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.format} import from {self.path}: {self.items} items, "
                f"{self.annotations} annotations and {self.predictions} predictions with "
                f"{self.regions} regions"
                + (f"; {self.skipped} annotations left out (cancelled, or no result imported)"
                   if self.skipped else "")
                + (f"; {self.regions_dropped} regions dropped by label_map"
                   if self.regions_dropped else "")
                + (f"; {self.already_there} annotations already in the project left out"
                   if self.already_there else "")
                + (f"; {self.predictions_already_there} items' predictions already in the "
                   "project left out" if self.predictions_already_there else "")
                + (f"; {self.repeated} annotations the file repeats left out"
                   if self.repeated else "")
                + (f"; {len(self.warnings)} warnings (first: {self.warnings[0]})"
                   if self.warnings else ""))


@dataclass(slots=True)
class ImportLabels:
    """One set of labels for an item: an annotation or a prediction."""

    regions: list[Region]
    kind: Literal["annotation", "prediction"] = "annotation"
    author: str | None = None
    model_version: str | None = None
    score: float | None = None
    created_at: datetime | None = None
    duration_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # e.g. "annotations[1]" for a Label Studio task
    #: where each region sits in the file (set by the check stage): the problems of a
    #: whole annotation (a span given twice) cite them
    origins: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ImportItem:
    """One item of an import: an image (a local path or a URI) or a text, the size its
    regions are drawn on, and its labels. ``name`` is how problems call it."""

    name: str
    image: str | None = None
    text: str | None = None
    width: int | None = None
    height: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    labels: list[ImportLabels] = field(default_factory=list)
    #: an item already in the project (YOLO label files matched to its items by file
    #: name): not added again, its size taken from the project
    item_id: int | None = None


# --- 1. read -----------------------------------------------------------------------------


def load_dataset(format: ImportFormat, path: str | os.PathLike[str], *,
                 images: str | os.PathLike[str] | None = None) -> Dataset:
    """Read a COCO / VOC / YOLO dataset from disk (``images``: COCO's image folder, when
    it is not beside the annotations)."""
    fmt = str(format).lower()
    if fmt not in ("coco", "voc", "yolo"):
        readers = {"spacy": "spacy_docbin.load_spacy", "hf": "hf.load_hf",
                   "tfrecord": "tfrecord.load_tfrecord",
                   "webdataset": "webdataset.load_webdataset", "jsonl": "jsonl.load_jsonl",
                   "label_studio": "label_studio.load_label_studio"}
        extra = (f" (read a {fmt} file with labelnb.formats.{readers[fmt]})"
                 if fmt in readers else "")
        raise FormatError(f"load_dataset format {format!r}; expected one of ['coco', 'voc', "
                          "'yolo']" + extra)
    p = Path(path)
    if fmt == "coco":
        return coco_mod.load_coco(p, images=images)
    if images is not None:
        raise FormatError(f"import: images=... applies to COCO; {fmt} finds its images itself")
    if fmt == "voc":
        return voc_mod.load_voc(p)
    return yolo_mod.load_yolo(p)


def _dataset_items(fmt: str, ds: Dataset, problems: list[Problem]) -> list[ImportItem]:
    out: list[ImportItem] = []
    where = {"coco": "beside the annotations (or pass images=...)",
             "voc": "in JPEGImages/", "yolo": "in images/"}[fmt]
    for im in ds.images:
        name = f"image {im.file_name!r}"
        if im.uri is None or not Path(im.uri).is_file():
            problems.append(Problem(name, "file_name", f"the image is not on disk {where}; put "
                                    "it there or fix file_name"
                                    + (f" (split {im.split!r})" if im.split else "")))
            continue
        # an image with no entry in regions (a COCO image_info file, a YOLO split
        # without labels) comes in unlabeled, as a JSONL line without label keys
        out.append(ImportItem(name, image=im.uri, width=im.width, height=im.height,
                              meta={"import": {"format": fmt, "file_name": im.file_name,
                                               "split": im.split}},
                              labels=[ImportLabels(list(ds.regions[im.id]))]
                              if im.id in ds.regions else []))
    return out


def _spacy_items(path: Path, options: Mapping[str, Any]) -> list[ImportItem]:
    files = [path] if path.is_file() else sorted(path.glob("*.spacy"))
    if not files:
        raise FormatError(f"{str(path)!r}: no .spacy file there; give a DocBin file or a "
                          "folder of them")
    out: list[ImportItem] = []
    for f in files:
        split = None if path.is_file() or f.stem == "data" else f.stem
        recs = spacy_mod.load_spacy(f, lang=options.get("lang", "en"),
                                    spans_key=options.get("spans_key", "sc"), split=split)
        for n, r in enumerate(recs):
            out.append(ImportItem(
                text_name(r.text), text=r.text,
                meta={"import": {"format": "spacy", "file_name": f.name, "doc": n,
                                 "split": split}},
                labels=[ImportLabels(list(r.regions), where=f"{f.name}, doc {n}")]))
    return out


def _resolve_image(ref: str, root: Path, images: Path | None) -> str | None:
    """A Label Studio image reference: a local path (absolute) or a remote URI, or
    None (see :func:`~labelnb.formats.label_studio.local_path`)."""
    from labelnb import media as media_mod

    if media_mod.is_uri(ref) and not ref.startswith("file://"):
        return ref
    found = ls_mod.local_path(ref, root=root, images=images)
    return str(found.resolve()) if found is not None else None


def _jsonl_image(ref: str, root: Path, images: Path | None) -> str | None:
    """A JSONL line's image: a URI as it is; a path as given (absolute) or relative to
    ``images``, else to the JSONL file's folder. No search by base name: a line names
    its file exactly."""
    from labelnb import media as media_mod

    if media_mod.is_uri(ref) and not ref.startswith("file://"):
        return ref
    p = Path(ref[len("file://"):] if ref.startswith("file://") else ref).expanduser()
    cands = [p] if p.is_absolute() else [d / p for d in (images, root) if d is not None]
    found = next((c for c in cands if c.is_file()), None)
    return str(found.resolve()) if found is not None else None


def _jsonl_items(path: Path, images: Path | None, problems: list[Problem]
                 ) -> list[ImportItem]:
    out: list[ImportItem] = []
    for r in jsonl_mod.load_jsonl(path, problems=problems):
        meta = {**r.meta, "import": {"format": "jsonl", "line": r.line}}
        where = f"line {r.line}"
        labels = [] if r.regions is None else [ImportLabels(list(r.regions), where=where)]
        if r.image is not None:
            uri = _jsonl_image(r.image, path.parent, images)
            if uri is None:
                problems.append(Problem(r.name, "image", "the file is not on disk (relative "
                                        "paths are read from the JSONL file's folder, or from "
                                        "images=...); fix the path", where))
                continue
            meta["import"]["image"] = r.image
            out.append(ImportItem(r.name, image=uri, width=r.width, height=r.height,
                                  meta=meta, group=r.group, labels=labels))
        else:
            out.append(ImportItem(r.name, text=r.text, meta=meta, group=r.group,
                                  labels=labels))
    return out


def _yolo_label_items(project: Project, files: list[Path], *, box_policy: BoxPolicy,
                      scores: bool, problems: list[Problem], notes: list[str]
                      ) -> list[ImportItem]:
    """YOLO label files without a data.yaml (``yolo predict save_txt=True``'s
    ``labels/``), each matched to the project's image of the same file name (stem);
    class indices are the positions of the project's labels (the order its YOLO
    export writes)."""
    from labelnb.formats._common import _basename

    by_stem: dict[str, list[tuple[int, str, int | None, int | None]]] = {}
    df = project.items(media="image")
    for row in (df.to_dict("records") if not df.empty else []):
        w, h = row.get("width"), row.get("height")
        size: tuple[int | None, int | None] = (None, None)
        if isinstance(w, int | float) and isinstance(h, int | float) and w == w and h == h:
            size = (int(w), int(h))  # (NaN != NaN: a size not stored)
        by_stem.setdefault(Path(_basename(str(row["uri"]))).stem, []).append(
            (int(row["id"]), str(row["uri"]), *size))
    names = project.schema.names
    out: list[ImportItem] = []
    for f in files:
        label_name = f"labels {str(f)!r}"
        same = by_stem.get(f.stem, [])
        if len(same) != 1:
            shown = ", ".join(repr(_basename(u)) for _, u, _, _ in same[:5])
            problems.append(Problem(label_name, "file name", (
                f"no image of project {project.name!r} is named {f.stem}.*; label files "
                "without a data.yaml label images already in the project (matched by file "
                "name): add the images first (project.add_items([...])), or import a YOLO "
                "dataset (data.yaml, images/, labels/)") if not same else (
                f"{len(same)} images of project {project.name!r} are named {f.stem}.* "
                f"({shown}), so the file cannot say which it labels; import a YOLO dataset "
                "(data.yaml, images/, labels/) instead")))
            continue
        iid, uri, w, h = same[0]
        name = f"image {_basename(uri)!r}"
        if w is None or h is None:
            try:
                w, h = _image_size(uri)
            except LabelnbError as e:
                problems.append(Problem(name, "image", str(e)))
                continue
        regions = yolo_mod.from_yolo(
            f.read_text(encoding="utf-8"), w, h, names, where=f"{name} ({label_name})",
            box_policy=box_policy, problems=problems, notes=notes, degenerate="reject",
            scores=scores, names_from=f"project {project.name!r}'s labels (schema order)")
        out.append(ImportItem(name, image=uri, width=w, height=h, item_id=iid,
                              meta={"import": {"format": "yolo", "file_name": f.name}},
                              labels=[ImportLabels(regions)]))
    return out


def _parse_time(v: Any) -> datetime | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _ls_items(path: Path, images: Path | None, options: Mapping[str, Any],
              box_policy: BoxPolicy, problems: list[Problem], notes: list[str]
              ) -> tuple[list[ImportItem], int]:
    def size_of(ref: str) -> tuple[int, int]:
        uri = _resolve_image(ref, path.parent, images)
        if uri is None:
            raise FormatError(f"the result has no original_width/original_height and the image "
                              f"{ref!r} is not on disk to read its size; pass images=...")
        return _image_size(uri)

    tasks = ls_mod.load_label_studio(path, problems=problems, notes=notes,
                                     box_policy=box_policy, image_size=size_of,
                                     **{k: options[k] for k in options})
    out: list[ImportItem] = []
    skipped = 0
    for t in tasks:
        skipped += t.skipped
        meta: dict[str, Any] = {"import": {"format": "label_studio", "task": t.id}}
        extra = {k: v for k, v in t.data.items() if isinstance(v, str | int | float | bool)}
        if extra:
            meta["label_studio_data"] = extra
        labels = [ImportLabels(list(lab.regions), kind=lab.kind, author=lab.author,
                               model_version=lab.model_version, score=lab.score,
                               created_at=_parse_time(lab.created_at),
                               duration_s=lab.duration_s, meta=dict(lab.meta),
                               where=f"{lab.kind}s[{n}]")
                  for n, lab in enumerate(t.labels)]
        if t.image is not None:
            uri = _resolve_image(t.image, path.parent, images)
            if uri is None:
                problems.append(Problem(t.name, f"data.{t.key}", "the image is not on disk; "
                                        "pass images=... (the folder holding Label Studio's "
                                        "media/upload files, or your local-files root)"))
                continue
            meta["import"]["image"] = t.image
            out.append(ImportItem(t.name, image=uri, width=t.width, height=t.height,
                                  meta=meta, labels=labels))
        else:
            out.append(ImportItem(t.name, text=t.text, meta=meta, labels=labels))
    return out, skipped


_LS_OPTIONS = ("offsets", "verify_text", "data_key", "authors", "ignore_types")
_OPTIONS: dict[str, tuple[str, ...]] = {
    "coco": (), "voc": (), "yolo": (), "jsonl": (),
    "spacy": ("lang", "spans_key"),
    "label_studio": _LS_OPTIONS,
}


def read_import(format: ImportFormat, path: str | os.PathLike[str], *,
                images: str | os.PathLike[str] | None = None,
                box_policy: BoxPolicy = "reject", options: Mapping[str, Any] | None = None,
                problems: list[Problem] | None = None, notes: list[str] | None = None,
                attribute_types: voc_mod.AttributeTypes | None = None,
                coco_geometry: coco_mod.Geometry = "segmentation"
                ) -> tuple[list[ImportItem], int]:
    """Stage 1: the items of a file (and how many Label Studio annotations were left
    out: cancelled, or nothing of them imported). Problems are appended to
    ``problems`` (raised when it is ``None``).
    ``attribute_types`` (a label of the file → its attributes' types, see
    :func:`attribute_types`): how VOC's attribute text is read. ``coco_geometry``:
    ``"bbox"`` reads every COCO annotation as its bbox (for a 'boxes' project; see
    :func:`~labelnb.formats.coco.from_coco`)."""
    fmt = str(format).lower()
    if fmt not in IMPORT_FORMATS:
        raise FormatError(f"import format {format!r}; expected one of {list(IMPORT_FORMATS)}")
    check_box_policy(box_policy)
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(_OPTIONS[fmt]))
    if unknown:
        raise FormatError(f"import: options {unknown} do not apply to the {fmt} format; it "
                          f"takes {list(_OPTIONS[fmt]) or 'none'}")
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{fmt} import: {str(p)!r} does not exist; fix the path")
    if fmt in ("jsonl", "label_studio") and p.is_dir():
        what = "the .jsonl file" if fmt == "jsonl" else "its JSON export file"
        raise FormatError(f"{fmt} import: {str(p)!r} is a folder; give {what} (images=... "
                          "says where relative image paths start)")
    img = Path(images) if images is not None else None
    if img is not None and fmt in ("voc", "yolo", "spacy"):
        raise FormatError(f"import: images=... applies to COCO, JSONL and Label Studio; {fmt} "
                          "finds its images itself")
    found: list[Problem] = []
    notes_: list[str] = notes if notes is not None else []
    skipped = 0
    if fmt == "coco":
        items = _dataset_items(fmt, coco_mod.load_coco(
            p, images=img, box_policy=box_policy, problems=found, notes=notes_,
            degenerate="reject", geometry=coco_geometry), found)
    elif fmt == "voc":
        items = _dataset_items(fmt, voc_mod.load_voc(
            p, box_policy=box_policy, problems=found, notes=notes_, degenerate="reject",
            attribute_types=attribute_types), found)
    elif fmt == "yolo":
        items = _dataset_items(fmt, yolo_mod.load_yolo(
            p, box_policy=box_policy, problems=found, notes=notes_, degenerate="reject"), found)
    elif fmt == "spacy":
        items = _spacy_items(p, opts)
    elif fmt == "jsonl":
        items = _jsonl_items(p, img, found)
    else:
        items, skipped = _ls_items(p, img, opts, box_policy, found, notes_)
    restore_items(p, items)
    if found:
        if problems is None:
            raise FormatProblems(f"{fmt} import from {str(p)!r}", found)
        problems.extend(found)
    return items, skipped


def attribute_types(schema: Schema, label_map: Mapping[str, str | None] | None = None
                    ) -> voc_mod.AttributeTypes:
    """A file's label → the types of the attributes ``schema`` gives it (after
    ``label_map``): the project's attributes, and the label's own over them."""

    def types(label: str) -> dict[str, str]:
        name = label_map.get(label, label) if label_map else label
        out: dict[str, str] = {a.name: a.type for a in schema.attributes}
        if name is not None and name in schema:
            out.update({a.name: a.type for a in schema[name].attributes})
        return out

    return types


def restore_items(path: Path, items: list[ImportItem]) -> int:
    """Give the items of a labelnb export back their ``group`` and ``meta``, which the
    formats have no place for, from the export's manifest (``labelnb_export.json``
    beside ``path``, or in it when it is a folder); an item keeps its own ``group`` and
    its ``meta["import"]`` (this import's provenance); a COCO file of an export's
    ``annotations/`` folder finds the manifest above it. Images are found by file name
    (and split, where a name is in several), texts by their hash. Returns how many
    items were matched; without a readable manifest, none."""
    import orjson

    from labelnb.formats.pipeline import MANIFEST
    from labelnb.media import text_hash

    root = path if path.is_dir() else path.parent
    if root.name == "annotations" and not (root / MANIFEST).exists():
        root = root.parent  # COCO's per-split files: <export>/annotations/instances_x.json
    try:
        manifest = orjson.loads((root / MANIFEST).read_bytes())
        entries = [e for e in manifest["images"] if isinstance(e, dict)] \
            if manifest.get("labelnb_export") else []
    except (OSError, orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        return 0  # not a labelnb export (or a manifest edited out of shape): nothing to do
    by_text: dict[str, dict[str, Any]] = {}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        if isinstance(e.get("text_hash"), str):
            by_text[e["text_hash"]] = e
        elif isinstance(e.get("file_name"), str):
            by_name.setdefault(e["file_name"], []).append(e)
    matched = 0
    for it in items:
        own = it.meta.get("import") or {}
        if it.text is not None:
            entry = by_text.get(text_hash(it.text))
        else:
            same = by_name.get(str(own.get("file_name")), [])
            if len(same) > 1:  # one file name in two splits
                same = [e for e in same if e.get("split") == own.get("split")]
            entry = same[0] if len(same) == 1 else None
        if entry is None:
            continue
        matched += 1
        if isinstance(entry.get("meta"), dict):
            it.meta = {**entry["meta"], **({"import": own} if "import" in it.meta else {})}
        if it.group is None and isinstance(entry.get("group"), str):
            it.group = entry["group"]
    return matched


# --- 2. check ----------------------------------------------------------------------------


def _image_size(uri: str) -> tuple[int, int]:
    from labelnb import media as media_mod

    if media_mod.is_uri(uri):
        info = media_mod.probe(uri)
        if info.width is None or info.height is None:
            raise FormatError(f"{uri!r} is not an image Pillow can read")
        return info.width, info.height
    return image_size(uri)


def _literal(image: str) -> str:
    """An image's local path escaped for :func:`labelnb.media.expand`, which
    ``add_items`` applies to every path: a file named ``cat[1].jpg`` or ``a?.jpg`` is
    that file, never a pattern matching others. URIs go as they are."""
    from labelnb import media as media_mod

    return image if media_mod.is_uri(image) else glob.escape(image)


def _field_of(region: Region) -> str:
    """The field a region sits in (named as JSONL's keys)."""
    return {Box: "boxes", Polygon: "polygons", Mask: "masks", Span: "spans",
            Choice: "label"}.get(type(region), "regions")


def check_items(project: Project, items: list[ImportItem], *,
                label_map: Mapping[str, str | None] | None = None,
                box_policy: BoxPolicy = "reject", misaligned: Misaligned = "report",
                problems: list[Problem], warnings: list[str],
                as_predictions: bool = False, model_version: str | None = None) -> int:
    """Stage 2: check (and fit) every item and region in place, appending what is
    wrong to ``problems`` and what was changed or looks off to ``warnings``; then
    every annotation and prediction as it will be written (the label sets of one
    image or text joined, see :func:`import_dataset`) against the schema's rules for
    a whole annotation (one class in a 'choice' project, each span once).
    ``as_predictions`` / ``model_version`` as in :func:`import_dataset`. Returns how
    many regions ``label_map`` dropped."""
    schema = project.schema
    dropped = 0
    kinds = {"image" if it.image is not None else "text" for it in items}
    wrong = sorted(kinds - set(schema.media))
    if wrong:
        raise FormatError(f"project {project.name!r} labels {schema.kind!r} on "
                          f"{' or '.join(schema.media)} items; this file holds "
                          f"{' and '.join(wrong)} items: import it into a project of another "
                          "kind")
    good: list[ImportItem] = []  # the items whose own checks passed
    for it in items:
        if it.text is not None:  # what add_items would refuse, said with the file's place
            if (bad := text_problem(it.text)) is not None:
                line = (it.meta.get("import") or {}).get("line")
                problems.append(Problem(it.name, "text", bad, f"line {line}" if line else (
                    it.labels[0].where if it.labels else "")))
                continue
        if it.image is not None and not (it.item_id is not None and it.width is not None):
            try:
                w, h = _image_size(it.image)
            except LabelnbError as e:
                problems.append(Problem(it.name, "image", str(e)))
                continue
            if it.width is not None and (it.width, it.height) != (w, h):
                problems.append(Problem(
                    it.name, "width/height", f"the labels are drawn on a {it.width}x{it.height} "
                    f"image but the file is {w}x{h} (after EXIF orientation); fix the size in "
                    "the file, or the image"))
                continue
            it.width, it.height = w, h
        good.append(it)
        fmt = (it.meta.get("import") or {}).get("format")
        for lab in list(it.labels):
            regs, d = map_labels(lab.regions, label_map)
            dropped += d
            if lab.regions and not regs and schema.kind in ("choice", "multi_choice"):
                # a class example whose every class the map drops has no label left:
                # stored empty, it would fill the item's slot (done, never queued) with
                # "no class" (as export leaves such an item out, so does import)
                it.labels.remove(lab)
                warnings.append(f"{it.name}" + (f", {lab.where}" if lab.where else "")
                                + ": label_map dropped every class it had; no "
                                f"{lab.kind} is stored (the item stays open for labeling)")
                continue
            kept: list[Region] = []
            origins: list[str] = []
            for n, r in enumerate(regs):
                where = (f"{lab.where}, " if lab.where else "") + f"region {n}"
                if r.label not in schema:
                    problems.append(Problem(it.name, "label", f"{r.label!r} is not in the schema "
                                            f"({', '.join(schema.names)}); add it with "
                                            "project.set_schema(...), or map it with "
                                            "label_map={...: 'name' or None}", where))
                    continue
                if it.width is not None and it.height is not None:
                    try:
                        r, note = fit_region(r, it.width, it.height, box_policy)
                    except FormatError as e:
                        problems.append(Problem(it.name, _field_of(r), str(e), where))
                        continue
                    if note is not None:
                        warnings.append(f"{it.name}, {where}: {note}")
                try:
                    schema.check_region(r, where, width=it.width, height=it.height,
                                        text=it.text)
                except LabelnbError as e:
                    msg = str(e).removeprefix(f"{where}: ")
                    if "cannot go in" in msg and fmt == "coco" and schema.kind == "boxes":
                        msg += (" (the annotation has no 'bbox', which is what a 'boxes' "
                                "project reads from COCO; add it)")
                    elif isinstance(r, Mask) and "cannot go in" in msg and fmt == "coco":
                        msg += (" (a COCO 'segmentation' of several polygon rings, or an "
                                "RLE, is one mask; split the rings into separate annotations "
                                "or label masks)")
                    if "is not in the schema (known:" in msg:
                        msg += _attribute_fix(schema, r, fmt)
                    fld = ("type" if "cannot go in" in msg else
                           "attributes" if "attribute" in msg else _field_of(r))
                    problems.append(Problem(it.name, fld, msg, where))
                    continue
                if isinstance(r, Span) and it.text is not None and misaligned != "ignore":
                    reason = _misaligned(it.text, r)
                    if reason is not None:
                        msg = (f"[{r.start}:{r.end}] {r.text_in(it.text)!r} does not align "
                               f"with the word tokens: {reason}")
                        if misaligned == "reject":
                            problems.append(Problem(it.name, "spans", msg + "; fix the span, "
                                                    "or import with misaligned='report'",
                                                    where))
                            continue
                        warnings.append(f"{it.name}, {where}: {msg}")
                kept.append(r)
                origins.append(where)
            lab.regions = kept
            lab.origins = origins
    # the whole annotations, as the write stage joins them (the item: its content)
    fmts = {(it.meta.get("import") or {}).get("format") for it in good}
    fmt_all = str(next(iter(fmts))) if len(fmts) == 1 else ""
    anns, preds = _groups(fmt_all, schema.kind, good, [_content_key(it) for it in good],
                          as_predictions=as_predictions,
                          default_mv=_default_mv(fmt_all, model_version))
    for g in anns.values():
        if (p := _group_problem(schema, g, "annotation")) is not None:
            problems.append(p)
    for (mv, _), g in preds.items():
        if (p := _group_problem(schema, g, f"prediction of {mv!r}")) is not None:
            problems.append(p)
    return dropped


def _attribute_fix(schema: Schema, region: Region, fmt: str | None) -> str:
    """The fix for an attribute the schema does not know: declare it, in the Schema
    syntax (the project's attributes kept; for VOC, its three object attributes)."""
    def decl(name: str, t: str) -> str:
        return f"{{'name': {name!r}, 'type': {t!r}}}"

    def type_of(v: Any) -> str:
        return ("bool" if isinstance(v, bool) else "number" if isinstance(v, int | float)
                else "text")

    known = {a.name for a in schema.attributes} | {a.name for a in schema[region.label].attributes}
    add = {k: type_of(v) for k, v in region.attributes.items() if k not in known}
    if fmt == "voc":
        voc = {k: t for k, t in (("difficult", "bool"), ("truncated", "bool"), ("pose", "text"))
               if k not in known}
        add = {**voc, **add}
        what = "VOC's object attributes"
    else:
        what = "the attribute"
    shown = [decl(a.name, a.type) for a in schema.attributes] + [decl(k, t) for k, t in add.items()]
    labels = ", ".join(repr(n) for n in schema.names[:3]) + (", ..." if len(schema.names) > 3
                                                              else "")
    return (f"; declare {what} in the schema, e.g. project.set_schema(Schema("
            f"{schema.kind!r}, [{labels}], attributes=[{', '.join(shown)}])), or remove the "
            "attribute from the file")


@dataclass(slots=True)
class _Group:
    """The label sets of a file that become one annotation (or one prediction) of an
    item, their regions each once."""

    item: ImportItem  # the first item (its name names the problems)
    first: ImportLabels  # the first label set (its author, time, meta)
    regions: list[Region] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)  # where each region is in the file
    parts: list[str] = field(default_factory=list)  # where each label set is in the file
    seen: set[Region] = field(default_factory=set)  # the regions, to find repeats fast


def _default_mv(fmt: str, model_version: str | None) -> str:
    return model_version or (f"import:{fmt}" if fmt != "label_studio" else "label-studio")


def _content_key(it: ImportItem) -> tuple[str, Any]:
    """What makes two import items one item of the project, as far as the check stage
    can tell without hashing the files (the same path, the same text)."""
    from labelnb import media as media_mod

    if it.item_id is not None:
        return ("item", it.item_id)
    if it.text is not None:
        return ("text", it.text)
    img = str(it.image)
    return ("image", img if media_mod.is_uri(img) else os.path.realpath(img))


def _groups(fmt: str, kind: str, items: list[ImportItem], keys: list[Any], *,
            as_predictions: bool, default_mv: str
            ) -> tuple[dict[tuple[Any, str, Any], _Group], dict[tuple[str, Any], _Group]]:
    """The annotations and predictions an import writes, by ``(item, author, own)``
    and ``(model version, item)``: the label sets of one item (``keys``: the same
    image or text twice in a file is one item) by one author are joined into one
    annotation, unless each stands alone (``own``): a Label Studio annotation (its
    task's, even where two tasks show the same text), and a class choice (two classes
    would make an invalid 'choice' annotation). A model's predictions of one item are
    joined. Exact repeats of a region are kept once."""
    anns: dict[tuple[Any, str, Any], _Group] = {}
    preds: dict[tuple[str, Any], _Group] = {}
    for pos, (it, ik) in enumerate(zip(items, keys, strict=True)):
        for lab in it.labels:
            if lab.kind == "prediction" or as_predictions:
                mv = (lab.model_version or default_mv) if lab.kind == "prediction" \
                    else default_mv
                g = preds.setdefault((mv, ik), _Group(it, lab))
            else:
                own = (pos, lab.where) if fmt == "label_studio" or kind in (
                    "choice", "multi_choice") else None
                g = anns.setdefault((ik, lab.author or f"import:{fmt}", own), _Group(it, lab))
            prefix = "" if it.name == g.item.name else f"{it.name}, "
            g.parts.append(f"{it.name}, {lab.where}" if prefix and lab.where
                           else it.name if prefix else lab.where)
            for n, r in enumerate(lab.regions):
                if r in g.seen:  # a file's exact repeat (or an item given twice)
                    continue
                g.seen.add(r)
                origin = (lab.origins[n] if len(lab.origins) == len(lab.regions)
                          else (f"{lab.where}, " if lab.where else "") + f"region {n}")
                g.regions.append(r)
                g.origins.append(prefix + origin)
    return anns, preds


_REGION_REF = re.compile(r"\bregion (\d+)\b")


def _new_predictions(df: pd.DataFrame, model_version: str,
                     entries: list[tuple[int, list[Region], float | None]]
                     ) -> list[tuple[int, list[Region], float | None]]:
    """``entries`` without the items whose newest stored predictions of
    ``model_version`` (``df``: ``project.predictions()``; the rows of the version's
    newest call, what ``prediction_regions`` shows) are the same regions with the same
    score (a file imported again; a rerun that differs is stored, and replaces them as
    a rerun does)."""
    if df.empty or not entries:
        return entries
    df = df[df["model_version"] == model_version]
    newest = df.groupby("item_id")["created_at"].transform("max")
    df = df[df["created_at"] == newest]

    def canon(regions: Any) -> list[str]:  # the regions' JSON, in any order
        return sorted(json.dumps(r, sort_keys=True) for r in regions)

    stored = {int(cast(int, item)): (
        canon([x for regs in g["regions"] for x in regs]),
        {None if s is None or s != s else float(s) for s in g["score"]})
        for item, g in df.groupby("item_id")}
    out = []
    for iid, regions, score in entries:
        have = stored.get(iid)
        if have is not None and have == (canon([r.to_json() for r in regions]), {score}):
            continue
        out.append((iid, regions, score))
    return out


def _group_problem(schema: Schema, g: _Group, what: str) -> Problem | None:
    """What :meth:`~labelnb.schema.Schema.check_annotation` refuses in the annotation
    (or prediction) ``g`` becomes, as a problem that cites the file's places."""
    parts = list(dict.fromkeys(g.parts))
    where = ", ".join(p for p in parts if p)
    media = "text" if g.item.text is not None else "image"
    joined = (f", once the file's {len(parts)} entries of this {media}"
              + (f" ({where})" if where else "") + f" are joined into one {what}"
              if len(parts) > 1 else "")
    choices = [r for r in g.regions if isinstance(r, Choice)]
    if schema.kind == "choice" and len(choices) > 1:
        return Problem(g.item.name, "label",
                       f"{len(choices)} classes given ({', '.join(c.label for c in choices)})"
                       f"{joined}, but a 'choice' project takes one per item; use a "
                       "'multi_choice' project, or keep one", where)
    try:
        schema.check_annotation(Annotation(item_id=0, author="import", regions=tuple(g.regions)))
    except LabelnbError as e:
        msg = str(e)
        at = where
        fld = _field_of(g.regions[0]) if g.regions else "regions"
        m = re.match(r"item 0(?:, region (\d+))?: ", msg)
        if m is not None:
            msg = msg[m.end():]
            if m.group(1) is not None and int(m.group(1)) < len(g.origins):
                at = g.origins[int(m.group(1))]
                fld = _field_of(g.regions[int(m.group(1))])
        msg = _REGION_REF.sub(lambda x: g.origins[int(x.group(1))]
                              if int(x.group(1)) < len(g.origins) else x.group(0), msg)
        head, sep, fix = msg.partition("; ")
        return Problem(g.item.name, fld, f"{head}{joined}{sep}{fix}", at)
    return None


def _misaligned(text: str, span: Span) -> str | None:
    offsets = regex_tokenizer(text)
    starts = {a for a, _ in offsets}
    ends = {b for _, b in offsets}
    if span.start in starts and span.end in ends:
        return None
    return misaligned_reason(text, offsets, span.start, span.end)


# --- 3. write ----------------------------------------------------------------------------


def import_dataset(project: Project, format: ImportFormat, path: str | os.PathLike[str], *,
                   label_map: Mapping[str, str | None] | None = None,
                   images: str | os.PathLike[str] | None = None,
                   as_predictions: bool = False, model_version: str | None = None,
                   source: PredictionSource = "model", box_policy: BoxPolicy = "reject",
                   misaligned: Misaligned = "report", progress: bool | None = None,
                   options: Mapping[str, Any] | None = None) -> ImportReport:
    """Import a COCO, Pascal VOC, YOLO, spaCy DocBin, JSON Lines or Label Studio file
    into ``project``: its images or texts as items, its labels as annotations (or, with
    ``as_predictions``, as predictions of ``model_version``). All or nothing: see the
    module docstring.

    * ``path``: COCO: the JSON file or an export folder; VOC / YOLO: the dataset
      folder (YOLO: or its data.yaml, or a folder of label files without one, such as
      ``runs/detect/predict``, for images already in the project, see the module
      docstring); spaCy: a ``.spacy`` file or a folder of them;
      JSONL: the file (schema in :mod:`labelnb.formats.jsonl`); Label Studio: its JSON
      export (see :mod:`labelnb.formats.label_studio`).
    * ``images``: where the images are, when not where the file says (COCO: the image
      folder; JSONL: what relative paths are relative to; Label Studio: the folder of
      its uploads or local files).
    * ``label_map``: ``{"automobile": "car", "junk": None}`` renames or drops the
      file's labels before they are checked against the schema.
    * ``box_policy``: ``"reject"`` (default) makes a box or polygon outside its image
      a problem; ``"clip"`` clips it and lists it in the report's warnings.
    * ``misaligned``: spans that do not start and end on word tokens are imported and
      listed in the warnings (``"report"``), refused (``"reject"``) or not checked
      (``"ignore"``).
    * ``as_predictions`` / ``model_version`` / ``source``: import the labels as
      predictions (pre-annotations). Label Studio's own predictions always come in as
      predictions, under their ``model_version`` (else ``model_version``, else
      ``label-studio``).
    * ``options``: spaCy: ``lang``, ``spans_key``; Label Studio: ``offsets``,
      ``verify_text``, ``data_key``, ``authors``, ``ignore_types``.

    Raises :class:`~labelnb.formats._common.FormatProblems` (a
    :class:`~labelnb.errors.FormatError`) listing every problem, having written
    nothing."""
    fmt = str(format).lower()
    if source not in ("model", "llm", "labeling_function"):
        raise FormatError(f"import: source={source!r}; expected 'model', 'llm' or "
                          "'labeling_function'")
    if misaligned not in ("report", "reject", "ignore"):
        raise FormatError(f"import: misaligned={misaligned!r}; expected 'report', 'reject' or "
                          "'ignore'")
    if model_version is not None and (not isinstance(model_version, str) or not model_version):
        raise FormatError("import: model_version must be a non-empty string")
    if model_version is not None and not as_predictions and fmt != "label_studio":
        raise FormatError("import: model_version applies to predictions; pass "
                          "as_predictions=True")
    where = f"{fmt} import from {os.fspath(path)!r}"
    if fmt == "spacy" and project.schema.kind != "spans":
        # a DocBin's spans are all it reads: into a class project, every doc would come
        # in as a labeled-empty "done" item (doc.cats dropped)
        raise FormatError(
            f"{where}: project {project.name!r} labels {project.schema.kind!r}, but the "
            "spaCy importer reads spans only (doc.ents, doc.spans[spans_key]), not "
            "doc.cats; import the DocBin into a 'spans' project, or write each doc as a "
            'JSON line {"text": doc.text, "label": <its class>} ("labels": [...] for '
            "'multi_choice') and import that file with format 'jsonl'")
    problems: list[Problem] = []
    notes: list[str] = []
    label_files = yolo_mod.label_files(path) if fmt == "yolo" else None
    if label_files is not None:  # yolo predict's labels/, without a data.yaml
        if images is not None or options:
            raise FormatError(f"{where}: images=... and options do not apply to YOLO label "
                              "files; they label the project's images of the same name")
        check_box_policy(box_policy)
        items = _yolo_label_items(project, label_files, box_policy=box_policy,
                                  scores=as_predictions, problems=problems, notes=notes)
        skipped = 0
    else:
        items, skipped = read_import(fmt, path, images=images, box_policy=box_policy,  # type: ignore[arg-type]
                                     options=options, problems=problems, notes=notes,
                                     attribute_types=attribute_types(project.schema, label_map),
                                     coco_geometry="bbox" if project.schema.kind == "boxes"
                                     else "segmentation")
    dropped = check_items(project, items, label_map=label_map, box_policy=box_policy,
                          misaligned=misaligned, problems=problems, warnings=notes,
                          as_predictions=as_predictions, model_version=model_version)
    if problems:
        raise FormatProblems(f"{where}: nothing was imported", problems)
    if fmt == "yolo" and project.schema.kind == "masks":
        # a masks project takes YOLO's polygons as the masks ultralytics trains on
        for it in items:
            if it.width and it.height:
                for lab in it.labels:
                    lab.regions = [yolo_mod.polygon_to_mask(r, it.width, it.height)
                                   if isinstance(r, Polygon) else r for r in lab.regions]
    report = ImportReport(format=fmt, path=os.fspath(path), skipped=skipped,
                          regions_dropped=dropped, warnings=notes[:_WARNINGS_KEPT])
    if len(notes) > _WARNINGS_KEPT:
        report.warnings.append(f"... and {len(notes) - _WARNINGS_KEPT} more")
    if not items:
        return report
    default_mv = _default_mv(fmt, model_version)
    now = datetime.now(UTC)
    specs: list[dict[str, Any]] = []
    for it in items:
        if it.item_id is not None:  # already in the project
            continue
        spec: dict[str, Any] = ({"image": _literal(it.image)} if it.image is not None
                                else {"text": it.text})
        spec["meta"] = it.meta
        if it.group is not None:
            spec["group"] = it.group
        specs.append(spec)
    with project.atomic():
        added = iter(project.add_items(specs, progress=progress) if specs else [])
        ids = [it.item_id if it.item_id is not None else next(added) for it in items]
        groups, pred_groups = _groups(fmt, project.schema.kind, items, ids,
                                      as_predictions=as_predictions, default_mv=default_mv)
        # two files of the same content are one item: checked again as joined by item
        # (a failure here rolls the items back)
        late = [p for p in (*(_group_problem(project.schema, g, "annotation")
                              for g in groups.values()),
                            *(_group_problem(project.schema, g, f"prediction of {mv!r}")
                              for (mv, _), g in pred_groups.items()))
                if p is not None]
        if late:
            raise FormatProblems(f"{where}: nothing was imported", late)
        anns = [Annotation(
            item_id=iid, regions=tuple(g.regions), author=author, source="human",
            created_at=g.first.created_at or now, duration_s=g.first.duration_s,
            schema_version=project.schema_version,
            meta={**g.first.meta, "import": {"format": fmt, **({"where": g.first.where}
                                                               if g.first.where else {})}})
            for (iid, author, _), g in groups.items()]
        # one the file repeats (two Label Studio tasks of one text, labeled alike by
        # one annotator) is stored once
        once: dict[tuple[int, str, tuple[Region, ...]], Annotation] = {}
        for a in anns:
            once.setdefault((a.item_id, a.author, a.regions), a)
        repeated = len(anns) - len(once)
        anns = list(once.values())
        stored: list[str] = []
        if anns:  # they fill the items' annotate slots; a second import adds nothing
            stored = project.add_annotations(anns, fill_tasks=True, skip_existing=True)
        by_mv: dict[str, list[tuple[int, list[Region], float | None]]] = {}
        for (mv, iid), g in pred_groups.items():
            by_mv.setdefault(mv, []).append((iid, g.regions, g.first.score))
        n_preds = 0
        if by_mv:
            known = project.predictions()  # read once, for every model version
            for mv, entries in by_mv.items():
                # a file imported again: an item whose newest predictions of this
                # version are these already gets no second copy
                fresh = _new_predictions(known, mv, entries)
                report.predictions_already_there += len(entries) - len(fresh)
                if fresh:
                    n_preds += project.add_predictions(mv, fresh, source=source)
    report.item_ids = list(ids)
    report.items = len(set(ids))
    report.annotations = len(stored)
    report.already_there = len(anns) - len(stored)
    report.repeated = repeated
    report.predictions = n_preds
    kept = set(stored)
    report.regions = (sum(len(a.regions) for a in anns if a.id in kept)
                      + sum(len(g.regions) for g in pred_groups.values()))
    return report


__all__ = ["IMPORT_FORMATS", "ImportFormat", "ImportItem", "ImportLabels", "ImportReport",
           "Misaligned", "attribute_types", "check_items", "import_dataset", "load_dataset",
           "read_import"]
