"""The export pipeline: read ► transform ► serialize ► validate, and the importer.

>>> # report = export(project, "coco", "out/", split={"train": 0.8, "val": 0.2})
>>> # report.splits  ->  {'train': 80, 'val': 20}

Stages, each a plain function (composable on their own):

1. :func:`read_final` - the final label of each item under a ``policy``:
   ``"latest"`` (the newest annotation of the item that was not rejected and not
   corrected, by a review's ``correct`` or a later annotation that ``corrects`` it),
   ``"annotator:<name>"`` (that annotator's newest non-rejected annotation), or
   ``"consensus"`` (lands with the quality issue). ``human_only`` keeps only
   ``source == "human"`` annotations. Items without a final annotation are left out
   (counted in the report); a final annotation with no regions is a negative image.
2. :func:`transform` - ``label_map`` (rename; ``None`` drops the label), ``filter``
   (keep a record or not), and the split (:func:`~labelnb.formats.splits.split_items`,
   grouped by the item's ``group_key`` and stratified by its rarest label).
3. serialize - the format's ``save_*`` into a temporary folder beside ``path``.
4. validate - the format's ``load_*`` reads the export back; a sample of images must
   come back with the same regions (and, for COCO, ``pycocotools`` must load every
   file). Then the folder is renamed to ``path``: a failure anywhere leaves nothing.

The export root also gets ``labelnb_export.json``: the policy, seed, fractions, the
category ids, and the split and source item of every image.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson
import pandas as pd

from labelnb.errors import FormatError, LabelnbError
from labelnb.formats import coco as coco_mod
from labelnb.formats import voc as voc_mod
from labelnb.formats import yolo as yolo_mod
from labelnb.formats._common import MEDIA_MODES, Dataset, ImageRecord, MediaMode, unique_file_names
from labelnb.formats.splits import check_fractions, split_items
from labelnb.types import Annotation, Box, Mask, Polygon, Region

if TYPE_CHECKING:
    from labelnb.project import Project

Format = Literal["coco", "voc", "yolo"]
FORMATS: tuple[str, ...] = ("coco", "voc", "yolo")
_KINDS: dict[str, tuple[str, ...]] = {
    "coco": ("boxes", "polygons", "masks"),
    "voc": ("boxes", "polygons", "masks"),
    "yolo": ("boxes", "polygons", "masks"),
}
_PROGRESS_MIN = 1000
_VALIDATE_SAMPLE = 200
MANIFEST = "labelnb_export.json"


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One item on its way out: what ``filter`` sees."""

    item_id: int
    uri: str | None
    width: int
    height: int
    group: str | None
    meta: dict[str, Any]
    annotation: Annotation
    regions: tuple[Region, ...]


@dataclass(slots=True)
class ExportReport:
    """What an export wrote."""

    format: str
    path: str
    policy: str
    items: int = 0
    regions: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    categories: dict[int, str] = field(default_factory=dict)
    unlabeled: int = 0
    filtered: int = 0
    regions_dropped: int = 0
    seed: int = 0
    validated: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        sp = ", ".join(f"{k}: {v}" for k, v in self.splits.items())
        return (f"{self.format} export to {self.path}: {self.items} items, {self.regions} "
                f"regions ({sp}); {self.unlabeled} unlabeled and {self.filtered} filtered items "
                f"left out" + (f"; {len(self.warnings)} warnings" if self.warnings else ""))


# --- 1. read ---------------------------------------------------------------------------


def select_final(annotations: Sequence[Annotation], statuses: Mapping[str, str],
                 policy: str = "latest", *, human_only: bool = False) -> dict[int, Annotation]:
    """item id → its final annotation under ``policy``. ``annotations`` in submission
    order (oldest first); ``statuses`` maps annotation id to its review status
    (``submitted`` / ``approve`` / ``reject`` / ``correct`` / ``corrected``)."""
    if policy == "consensus":
        raise FormatError("export policy 'consensus' lands with the quality (consensus) "
                          "issue; use policy='latest' or 'annotator:<name>' for now")
    author: str | None = None
    if policy.startswith("annotator:"):
        author = policy.split(":", 1)[1]
        if not author:
            raise FormatError("export policy 'annotator:' names no annotator; write "
                              "'annotator:<name>'")
    elif policy != "latest":
        raise FormatError(f"export policy {policy!r}; expected 'latest', 'annotator:<name>' "
                          "or 'consensus'")
    corrected = {a.corrects for a in annotations if a.corrects}
    out: dict[int, Annotation] = {}
    for a in annotations:  # oldest first: the newest kept wins
        if human_only and a.source != "human":
            continue
        st = statuses.get(a.id, "submitted")
        if st == "reject":
            continue
        if author is not None:
            if a.author != author:
                continue
        elif st in ("correct", "corrected") or a.id in corrected:
            continue
        out[a.item_id] = a
    return out


def read_final(project: Project, policy: str = "latest", *, human_only: bool = False
               ) -> tuple[pd.DataFrame, dict[int, Annotation]]:
    """The project's image items and the final annotation of each (see
    :func:`select_final`)."""
    df = project.annotations()
    statuses = dict(zip(df["id"], df["status"], strict=True)) if not df.empty else {}
    anns = project.annotation_objects() if not df.empty else []
    items = project.items()
    return items, select_final(anns, statuses, policy, human_only=human_only)


# --- 2. transform ----------------------------------------------------------------------


def map_labels(regions: Sequence[Region], label_map: Mapping[str, str | None] | None
               ) -> tuple[list[Region], int]:
    """Regions relabeled by ``label_map`` (``None`` drops); returns them and how many
    were dropped."""
    if not label_map:
        return list(regions), 0
    out: list[Region] = []
    dropped = 0
    for r in regions:
        new = label_map.get(r.label, r.label)
        if new is None:
            dropped += 1
        elif new == r.label:
            out.append(r)
        else:
            out.append(r.with_label(new))
    return out, dropped


def mapped_categories(names: Sequence[str], label_map: Mapping[str, str | None] | None
                      ) -> list[str]:
    """The export's categories: the schema names mapped, in schema order, each once."""
    if not label_map:
        return list(names)
    unknown = sorted(set(label_map) - set(names))
    if unknown:
        raise FormatError(f"label_map: {unknown} are not labels of the schema "
                          f"({', '.join(names)}); fix the keys")
    out: list[str] = []
    for n in names:
        m = label_map.get(n, n)
        if m is not None and m not in out:
            if not isinstance(m, str) or not m:
                raise FormatError(f"label_map[{n!r}] = {m!r}: give a label name or None")
            out.append(m)
    if not out:
        raise FormatError("label_map drops every label; keep at least one")
    return out


def rarest_label(regions: Sequence[Region], freq: Mapping[str, int]) -> str:
    """The stratum of an item: its least frequent label overall ('' for none)."""
    labels = {r.label for r in regions}
    if not labels:
        return ""
    return min(labels, key=lambda lab: (freq.get(lab, 0), lab))


def transform(records: Sequence[ExportRecord], *, label_map: Mapping[str, str | None] | None
              = None, filter: Callable[[ExportRecord], bool] | None = None,
              split: Mapping[str, float] | None = None, seed: int = 0, group_aware: bool = True,
              stratify: bool = True) -> tuple[list[tuple[ExportRecord, str | None]], int, int]:
    """Relabel, filter and split. Returns ``[(record, split), ...]`` in item order, the
    number filtered out and the number of regions dropped by ``label_map``."""
    kept: list[ExportRecord] = []
    dropped = filtered = 0
    for rec in records:
        regs, d = map_labels(rec.regions, label_map)
        dropped += d
        rec = ExportRecord(rec.item_id, rec.uri, rec.width, rec.height, rec.group, rec.meta,
                           rec.annotation, tuple(regs))
        if filter is not None and not filter(rec):
            filtered += 1
            continue
        kept.append(rec)
    if split is None:
        return [(r, None) for r in kept], filtered, dropped
    freq = Counter(r.label for rec in kept for r in rec.regions)
    df = pd.DataFrame({
        "item_id": [r.item_id for r in kept],
        "group": [r.group if r.group is not None else None for r in kept],
        "stratum": [rarest_label(r.regions, freq) for r in kept],
    })
    s = split_items(df, split, seed=seed, group_col="group" if group_aware else None,
                    stratify_col="stratum" if stratify else None)
    return [(r, str(sp)) for r, sp in zip(kept, s.tolist(), strict=True)], filtered, dropped


# --- 3. serialize / 4. validate --------------------------------------------------------


def _serialize(fmt: str, ds: Dataset, root: Path, media: MediaMode, report: ExportReport,
               on_image: Callable[[ImageRecord], None] | None = None) -> None:
    if fmt == "coco":
        coco_mod.save_coco(ds, root, media=media, on_image=on_image)
    elif fmt == "voc":
        notes: list[str] = []
        voc_mod.save_voc(ds, root, media=media, notes=notes, on_image=on_image)
        if notes:
            report.warnings.append(f"VOC holds boxes: {len(notes)} polygons/masks were written as "
                                   f"their bounding boxes (first: {notes[0]})")
    else:
        notes = []
        yolo_mod.save_yolo(ds, root, media=media, on_image=on_image, notes=notes)
        if notes:
            report.warnings.append(f"YOLO holds one polygon per object: {len(notes)} masks in "
                                   f"several parts kept their largest (first: {notes[0]})")


def _load(fmt: str, root: Path) -> Dataset:
    if fmt == "coco":
        return coco_mod.load_coco(root)
    if fmt == "voc":
        return voc_mod.load_voc(root)
    return yolo_mod.load_yolo(root)


def _same(a: Region, b: Region, tol: float) -> bool:
    if type(a) is not type(b) or a.label != b.label:
        return False
    if isinstance(a, Box) and isinstance(b, Box):
        return all(abs(x - y) <= tol for x, y in zip((a.x0, a.y0, a.x1, a.y1),
                                                     (b.x0, b.y0, b.x1, b.y1), strict=True))
    if isinstance(a, Polygon) and isinstance(b, Polygon):
        return len(a.points) == len(b.points) and bool(
            np.allclose(a.points, b.points, atol=tol, rtol=0))
    if isinstance(a, Mask) and isinstance(b, Mask):
        return a.rle == b.rle
    return a == b


def _expected(fmt: str, r: Region, im: ImageRecord) -> Region:
    """What the format keeps of a region (VOC: boxes on the pixel grid)."""
    if fmt == "yolo" and isinstance(r, Mask):
        return yolo_mod.mask_to_polygon(r)[0]
    if fmt == "voc":
        box = r if isinstance(r, Box) else r.bbox if isinstance(r, Polygon | Mask) else r
        if isinstance(box, Box):
            xmin, ymin, xmax, ymax = voc_mod.box_to_voc(box, width=im.width, height=im.height)
            return Box(xmin - 1, ymin - 1, xmax, ymax, r.label)
    return r


def validate_export(fmt: str, root: Path, written: Dataset, *, sample: int = _VALIDATE_SAMPLE,
                    seed: int = 0) -> int:
    """Read the export back with the format's loader and compare a sample of images
    with what was written; returns how many images were compared."""
    if fmt == "coco":
        for f in [root / "annotations.json", *sorted((root / "annotations").glob("*.json"))]:
            if f.is_file():
                coco_mod.validate_coco(orjson.loads(f.read_bytes()))
                coco_mod.check_with_pycocotools(f)
    back = _load(fmt, root)
    if back.categories != written.categories:
        raise FormatError(f"{fmt} export in {str(root)!r}: the categories read back "
                          f"({back.categories}) differ from those written "
                          f"({written.categories})")
    if len(back.images) != len(written.images):
        raise FormatError(f"{fmt} export in {str(root)!r}: {len(back.images)} images read back, "
                          f"{len(written.images)} written")
    by_key = {(im.split if fmt != "yolo" else im.split or "train", Path(im.file_name).name): im
              for im in back.images}
    rng = np.random.default_rng(seed)
    idx = (range(len(written.images)) if len(written.images) <= sample else
           sorted(rng.choice(len(written.images), size=sample, replace=False).tolist()))
    tol = 1e-3 if fmt == "yolo" else 1e-6
    for i in idx:
        im = written.images[i]
        split = im.split if fmt != "yolo" else im.split or "train"
        got = by_key.get((split, Path(im.file_name).name))
        if got is None:
            raise FormatError(f"{fmt} export: image {im.file_name!r} (split {split!r}, item "
                              f"{im.id}) is missing when read back")
        want = [_expected(fmt, r, im) for r in written.regions.get(im.id, [])]
        have = back.regions.get(got.id, [])
        tol_i = tol * max(im.width, im.height)
        if len(want) != len(have) or not all(_same(a, b, tol_i)
                                             for a, b in zip(want, have, strict=True)):
            raise FormatError(f"{fmt} export: image {im.file_name!r} (item {im.id}) reads back "
                              f"as {have!r:.300}, not {want!r:.300}")
    return len(idx)


# --- the pipeline ----------------------------------------------------------------------


def export(project: Project, format: Format, path: str | os.PathLike[str], *,
           policy: str = "latest", human_only: bool = False,
           split: Mapping[str, float] | None = None, seed: int = 0, group_aware: bool = True,
           stratify: bool = True, label_map: Mapping[str, str | None] | None = None,
           filter: Callable[[ExportRecord], bool] | None = None,
           validate: bool = True, progress: bool | None = None, media: MediaMode = "copy",
           overwrite: bool = False) -> ExportReport:
    """Export the project's final labels to ``path`` (a folder) as COCO, VOC or YOLO.

    * ``policy``: which annotation is an item's label: ``"latest"``,
      ``"annotator:<name>"`` (see :func:`select_final`); ``human_only`` ignores model,
      LLM, labeling-function and consensus annotations.
    * ``split``: fractions per split name, e.g. ``{"train": 0.8, "val": 0.1, "test":
      0.1}`` (summing to 1); ``seed`` makes it reproducible; ``group_aware`` keeps the
      items of one ``group`` (``add_items(..., group=...)``) in one split; ``stratify``
      balances each split by the items' rarest label.
    * ``label_map``: ``{"cat": "animal", "dog": "animal", "fox": None}`` renames
      labels (merging them) or drops them; the categories follow the schema order.
    * ``filter``: called with each :class:`ExportRecord`; ``False`` leaves it out.
    * ``validate``: read the export back with the format's loader before it is
      moved into place (COCO: also ``pycocotools``).
    * ``progress``: a ``tqdm.auto`` bar; by default from 1,000 images.
    * ``media``: copy the images into the export (default; EXIF-rotated images are
      written upright), symlink them, or leave them out (``"none"``; not for YOLO).
    * ``path`` must not exist unless ``overwrite=True``. The export is written into a
      temporary folder beside it and renamed into place when complete and
      validated; a failure at any stage leaves nothing behind (and, with
      ``overwrite``, the old export untouched).

    Returns an :class:`ExportReport`; ``labelnb_export.json`` in the export records
    the same, plus the split and source annotation of every image.
    """
    fmt = str(format).lower()
    if fmt not in FORMATS:
        raise FormatError(f"export format {format!r}; expected one of {list(FORMATS)} (spaCy, "
                          "Hugging Face, TFRecord and WebDataset land with their own issues)")
    if media not in MEDIA_MODES:
        raise FormatError(f"export: media={media!r}; expected one of {list(MEDIA_MODES)}")
    if fmt == "yolo" and media == "none":
        raise FormatError("export: YOLO finds each label file from its image's path, so "
                          "media='none' cannot work; use media='copy' or 'symlink'")
    schema = project.schema
    if schema.kind not in _KINDS[fmt]:
        raise FormatError(f"project {project.name!r} labels {schema.kind!r}; the {fmt} format "
                          f"holds {' / '.join(_KINDS[fmt])}. Pick another format")
    if split is not None:
        split = check_fractions(split)
    dest = Path(path).expanduser().absolute()
    if dest.exists() and not overwrite:
        raise FormatError(f"export: {str(dest)!r} already exists; pick a new path or pass "
                          "overwrite=True")
    report = ExportReport(format=fmt, path=str(dest), policy=policy, seed=seed)

    # 1. read
    items, final = read_final(project, policy, human_only=human_only)
    categories = mapped_categories(schema.names, label_map)
    records: list[ExportRecord] = []
    for row in items.to_dict("records") if not items.empty else []:
        iid = int(row["id"])
        if row["media"] != "image":
            continue
        ann = final.get(iid)
        if ann is None:
            report.unlabeled += 1
            continue
        group = row.get("group_key")
        records.append(ExportRecord(iid, row["uri"], int(row["width"]), int(row["height"]),
                                    None if group is None or pd.isna(group) else str(group),
                                    dict(row.get("meta") or {}), ann, tuple(ann.regions)))
    # 2. transform
    chosen, report.filtered, report.regions_dropped = transform(
        records, label_map=label_map, filter=filter, split=split, seed=seed,
        group_aware=group_aware, stratify=stratify)
    if not chosen:
        raise FormatError(
            f"export: nothing to export from project {project.name!r}: {report.unlabeled} "
            f"image items have no final annotation under policy {policy!r}"
            + (" (human_only=True)" if human_only else "")
            + (f" and {report.filtered} were filtered out" if report.filtered else "")
            + "; label some items, or check policy / filter")
    names = unique_file_names((r.item_id, r.uri or f"item-{r.item_id}.png") for r, _ in chosen)
    images = [ImageRecord(r.item_id, names[r.item_id], r.width, r.height, uri=r.uri, split=sp,
                          meta={"group": r.group}) for r, sp in chosen]
    ds = Dataset(images, {r.item_id: list(r.regions) for r, _ in chosen}, categories)
    report.items = len(images)
    report.regions = ds.region_count()
    report.categories = ({i: n for i, n in enumerate(categories)} if fmt == "yolo" else
                         {i + 1: n for i, n in enumerate(categories)} if fmt == "coco" else
                         dict(enumerate(categories)))
    if split is not None:
        counts = Counter(sp for _, sp in chosen)
        report.splits = {k: int(counts.get(k, 0)) for k in split}
        empty = [k for k, n in report.splits.items() if n == 0 and split[k] > 0]
        if empty:
            report.warnings.append(
                f"splits {empty} received no items ({len(images)} items in "
                f"{len({r.group or r.item_id for r, _ in chosen})} groups); "
                + ("data.yaml's val points at the train images" if fmt == "yolo"
                   and "val" in empty else "they are not written"))
    else:
        report.splits = {"train" if fmt == "yolo" else "all": len(images)}

    # 3. serialize, 4. validate, into a temp folder renamed at the end
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        _serialize_with_progress(fmt, ds, tmp, media, report, progress)
        if validate:
            report.validated = validate_export(fmt, tmp, ds, seed=seed)
        manifest = {
            "labelnb_export": 1, "project": project.name,
            "schema_version": project.schema_version, "created_at":
            datetime.now(UTC).isoformat(), "format": fmt, "policy": policy,
            "human_only": human_only, "split": dict(split) if split else None, "seed": seed,
            "group_aware": group_aware, "stratify": stratify,
            "label_map": dict(label_map) if label_map else None,
            "categories": [{"id": k, "name": v} for k, v in report.categories.items()],
            "images": [{"file_name": im.file_name, "split": im.split, "item_id": im.id,
                        "annotation_id": ds_ann.id}
                       for im, ds_ann in zip(images, (r.annotation for r, _ in chosen),
                                             strict=True)],
            "report": report.to_json(),
        }
        (tmp / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2
                                                  | orjson.OPT_NON_STR_KEYS))
        _move_into_place(tmp, dest, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _serialize_with_progress(fmt: str, ds: Dataset, root: Path, media: MediaMode,
                             report: ExportReport, progress: bool | None) -> None:
    show = progress if progress is not None else len(ds.images) >= _PROGRESS_MIN
    if not show:
        _serialize(fmt, ds, root, media, report)
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=len(ds.images), desc=f"exporting {fmt}", unit="image")
    try:
        _serialize(fmt, ds, root, media, report, on_image=lambda _im: bar.update())
    finally:
        bar.close()


def _move_into_place(tmp: Path, dest: Path, overwrite: bool) -> None:
    if not dest.exists():
        os.rename(tmp, dest)
        return
    if not overwrite:  # appeared while we were writing
        raise FormatError(f"export: {str(dest)!r} appeared while exporting; nothing was "
                          "written there")
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rmdir(old)
    os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()


# --- import ----------------------------------------------------------------------------


@dataclass(slots=True)
class ImportReport:
    format: str
    path: str
    items: int = 0
    annotations: int = 0
    regions: int = 0
    item_ids: list[int] = field(default_factory=list)


def load_dataset(format: Format, path: str | os.PathLike[str], *,
                 images: str | os.PathLike[str] | None = None) -> Dataset:
    """Read a COCO / VOC / YOLO dataset from disk (``images``: COCO's image folder, when
    it is not beside the annotations)."""
    fmt = str(format).lower()
    if fmt not in FORMATS:
        raise FormatError(f"import format {format!r}; expected one of {list(FORMATS)}")
    p = Path(path)
    if fmt == "coco":
        return coco_mod.load_coco(p, images=images)
    if images is not None:
        raise FormatError(f"import: images=... applies to COCO; {fmt} finds its images itself")
    if fmt == "voc":
        return voc_mod.load_voc(p)
    return yolo_mod.load_yolo(p)


def import_dataset(project: Project, format: Format, path: str | os.PathLike[str], *,
                   label_map: Mapping[str, str | None] | None = None,
                   images: str | os.PathLike[str] | None = None) -> ImportReport:
    """Add a COCO / VOC / YOLO dataset's images as items and its labels as annotations
    (``source="human"``, ``author="import:<format>"``).

    Everything is checked first (every image file exists, every label is in the
    schema, every region fits the schema and its image), so a bad dataset writes
    nothing; then the items are added in one transaction and the annotations in
    another. ``label_map`` renames (or, with ``None``, drops) the file's labels;
    ``images`` is COCO's image folder when it is not beside the annotations."""
    fmt = str(format).lower()
    ds = load_dataset(fmt, path, images=images)  # type: ignore[arg-type]
    schema = project.schema
    where = f"{fmt} import from {os.fspath(path)!r}"
    regions: dict[int, list[Region]] = {}
    for im in ds.images:
        if im.uri is None or not Path(im.uri).is_file():
            raise FormatError(f"{where}: image {im.file_name!r} (split {im.split!r}) is not on "
                              "disk next to the annotations; put it there or fix file_name")
        regs, _ = map_labels(ds.regions.get(im.id, []), label_map)
        for n, r in enumerate(regs):
            try:
                schema.check_region(r, f"image {im.file_name!r}, region {n}", width=im.width,
                                    height=im.height)
            except LabelnbError as e:
                raise FormatError(f"{where}: {e}") from None
        regions[im.id] = regs
    report = ImportReport(format=fmt, path=os.fspath(path))
    if not ds.images:
        return report
    specs = [{"image": im.uri, "meta": {"import": {"format": fmt, "file_name": im.file_name,
                                                   "split": im.split}}} for im in ds.images]
    ids = project.add_items(specs)
    merged: dict[int, list[Region]] = {}
    for im, item_id in zip(ds.images, ids, strict=True):
        merged.setdefault(item_id, []).extend(regions[im.id])
    anns = [Annotation(item_id=i, regions=tuple(regs), author=f"import:{fmt}", source="human",
                       schema_version=project.schema_version) for i, regs in merged.items()]
    project.add_annotations(anns)
    report.items = len(merged)
    report.item_ids = list(ids)
    report.annotations = len(anns)
    report.regions = sum(len(r) for r in merged.values())
    return report


__all__ = ["ExportRecord", "ExportReport", "FORMATS", "Format", "ImportReport", "export",
           "import_dataset", "load_dataset", "map_labels", "mapped_categories", "read_final",
           "select_final", "split_items", "transform", "validate_export"]
