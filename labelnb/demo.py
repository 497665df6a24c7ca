"""The demo project behind ``labelnb demo`` (and ``make demo``).

:func:`build_demo` writes a few images that scikit-image ships into ``DIR/images`` as
PNG files (items reference media by path, so the files must exist on disk) and builds
one SQLite database ``DIR/labels.db`` holding two projects:

* ``images`` — a ``boxes`` project over the images, with the 24 coins of
  ``skimage.data.coins()`` pre-labelled by the classical watershed segmentation from
  the scikit-image gallery (``model_version="skimage-watershed"``);
* ``ner`` — a ``spans`` project (``PER``, ``ORG``, ``LOC``) over a few sentences, with
  pre-labels from a small gazetteer labelling function.

Running it again reuses the database and the files: nothing is added twice.

>>> import tempfile, labelnb
>>> db = build_demo(tempfile.mkdtemp())                     # doctest: +SKIP
>>> labelnb.open(db, name="images").stats()["items"]        # doctest: +SKIP
6
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labelnb.errors import MissingExtra, ProjectNotFound, ValidationError
from labelnb.project import Project
from labelnb.schema import Schema
from labelnb.types import Box, Span

#: the scikit-image sample images the demo uses, in item order
SAMPLE_IMAGES: tuple[str, ...] = ("coins", "astronaut", "coffee", "chelsea", "rocket", "camera")
IMAGE_LABELS: tuple[str, ...] = ("person", "rocket", "cup", "cat", "coin", "camera")

#: reference boxes drawn by hand (pixel corners, x1/y1 exclusive) for the photos;
#: the coins come from :func:`coin_boxes` instead
SAMPLE_BOXES: dict[str, tuple[Box, ...]] = {
    "astronaut": (Box(20, 15, 365, 512, "person"), Box(355, 0, 475, 285, "rocket")),
    "coffee": (Box(170, 15, 415, 305, "cup"),),
    "chelsea": (Box(0, 0, 400, 300, "cat"),),
    "rocket": (Box(300, 125, 340, 405, "rocket"),),
    "camera": (Box(0, 65, 335, 512, "person"), Box(255, 138, 328, 192, "camera")),
}

TEXT_LABELS: tuple[str, ...] = ("PER", "ORG", "LOC")
SAMPLE_TEXTS: tuple[str, ...] = (
    "Ada Lovelace worked with Charles Babbage in London.",
    "Grace Hopper joined the US Navy and later worked at Remington Rand.",
    "The Jupyter project started at UC Berkeley as IPython.",
    "Margaret Hamilton led software engineering for Apollo at MIT.",
    "Guido van Rossum created Python at CWI in Amsterdam.",
    "Katherine Johnson computed trajectories for NASA in Hampton, Virginia.",
)
#: the gazetteer the demo's labelling function matches (whole words, case-sensitive)
GAZETTEER: dict[str, str] = {
    "Ada Lovelace": "PER", "Charles Babbage": "PER", "Grace Hopper": "PER",
    "Margaret Hamilton": "PER", "Guido van Rossum": "PER", "Katherine Johnson": "PER",
    "US Navy": "ORG", "Remington Rand": "ORG", "UC Berkeley": "ORG", "MIT": "ORG",
    "CWI": "ORG", "NASA": "ORG",
    "London": "LOC", "Amsterdam": "LOC", "Hampton": "LOC", "Virginia": "LOC",
}

DB_NAME = "labels.db"
IMAGES_PROJECT = "images"
TEXT_PROJECT = "ner"
COIN_MODEL = "skimage-watershed"
GAZETTEER_MODEL = "gazetteer-v1"


def _skimage_data() -> Any:
    try:
        import skimage.data
    except ImportError:
        raise MissingExtra("scikit-image", "demo", "the demo images") from None
    return skimage.data


def sample_image(name: str) -> Any:
    """One of :data:`SAMPLE_IMAGES` as a ``uint8`` array (grey or RGB)."""
    if name not in SAMPLE_IMAGES:
        raise ValidationError(f"unknown sample image {name!r}; expected one of {SAMPLE_IMAGES}")
    return getattr(_skimage_data(), name)()


def save_sample_images(folder: str | os.PathLike[str],
                       names: Sequence[str] = SAMPLE_IMAGES) -> list[Path]:
    """Write the sample images as ``folder/<name>.png`` (existing files are kept) and
    return their paths in the order of ``names``."""
    from PIL import Image

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = out / f"{name}.png"
        if not path.exists():
            tmp = path.with_suffix(".png.tmp")
            Image.fromarray(sample_image(name)).save(tmp, format="PNG")
            tmp.replace(path)
        paths.append(path.resolve())
    return paths


def coin_boxes(image: Any | None = None, *, min_area: int = 200) -> list[Box]:
    """Boxes around the coins of ``skimage.data.coins()``: Sobel elevation map plus
    marker-based watershed, as in the scikit-image gallery example "Comparing
    edge-based and region-based segmentation". Finds all 24 coins."""
    import numpy as np
    from scipy import ndimage as ndi

    _skimage_data()
    # typed as Any: scikit-image ships no type hints
    filters: Any = importlib.import_module("skimage.filters")
    measure: Any = importlib.import_module("skimage.measure")
    segmentation: Any = importlib.import_module("skimage.segmentation")

    img = sample_image("coins") if image is None else np.asarray(image)
    elevation = filters.sobel(img)
    markers = np.zeros(img.shape, dtype=np.uint8)
    markers[img < 30] = 1
    markers[img > 150] = 2
    filled = ndi.binary_fill_holes(segmentation.watershed(elevation, markers) - 1)
    boxes = []
    for region in measure.regionprops(measure.label(filled)):
        if region.area < min_area:
            continue
        r0, c0, r1, c1 = region.bbox  # rows/cols, max exclusive: the box convention
        boxes.append(Box(float(c0), float(r0), float(c1), float(r1), "coin"))
    return boxes


def gazetteer_spans(text: str, gazetteer: dict[str, str] | None = None) -> list[Span]:
    """A labelling function: every whole-word match of a gazetteer entry, longest
    entries first, without overlaps."""
    gaz = GAZETTEER if gazetteer is None else gazetteer
    spans: list[Span] = []
    for name in sorted(gaz, key=len, reverse=True):
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text):
            cand = Span(m.start(), m.end(), gaz[name])
            if not any(cand.overlaps(s) for s in spans):
                spans.append(cand)
    return sorted(spans, key=lambda s: (s.start, s.end))


def _has_predictions(project: Project, model_version: str) -> bool:
    df = project.predictions()
    return not df.empty and model_version in set(df["model_version"])


def _ensure_annotator(project: Project, name: str, role: str) -> None:
    table = project.annotators.table()
    if table.empty or name not in set(table["name"]):
        project.annotators.add(name, role=role)  # type: ignore[arg-type]


def _open_or_create(db: Path, name: str, schema: Schema, **settings: Any) -> Project:
    """The demo project ``name``: reopened as it is when it exists (a rerun keeps the
    labels, overlap and other settings the user changed), created when missing."""
    try:
        project = Project.open(db, name)
    except ProjectNotFound:
        # exist_ok: another build of the same folder may create it at the same moment
        return Project.create(db, name, schema, exist_ok=True, **settings)
    if project.schema.kind != schema.kind:
        project.close()
        raise ValidationError(
            f"demo database {str(db)!r}: project {name!r} labels {project.schema.kind!r}, "
            f"the demo's labels {schema.kind!r}; build the demo in another folder "
            "(labelnb demo --dir DIR)")
    return project


def build_demo(directory: str | os.PathLike[str] = "demo-project") -> Path:
    """Build (or reuse) the demo database in ``directory``; returns its path.

    Idempotent: images that exist are kept, projects are reopened as they are (labels
    and settings changed since stay), items are deduplicated by content and the
    pre-labels are added once.
    """
    root = Path(directory).expanduser().resolve()
    blocker = next((p for p in (root, *root.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValidationError(
            f"demo folder {str(root)!r}: {str(blocker)!r} is a file, not a folder; give "
            "the demo a folder of its own (labelnb demo --dir FOLDER)")
    root.mkdir(parents=True, exist_ok=True)
    db = root / DB_NAME
    paths = save_sample_images(root / "images")

    images = _open_or_create(db, IMAGES_PROJECT, Schema("boxes", list(IMAGE_LABELS)),
                             overlap=2)
    try:
        ids = images.add_items(paths, group="skimage")
        if not _has_predictions(images, COIN_MODEL):
            images.add_predictions(COIN_MODEL, {ids[SAMPLE_IMAGES.index("coins")]:
                                                coin_boxes()})
        for name, role in (("ana", "annotator"), ("ben", "annotator"), ("rita", "reviewer")):
            _ensure_annotator(images, name, role)
    finally:
        images.close()

    ner = _open_or_create(db, TEXT_PROJECT, Schema("spans", list(TEXT_LABELS)))
    try:
        ids = ner.add_items(list(SAMPLE_TEXTS), media="text")
        if not _has_predictions(ner, GAZETTEER_MODEL):
            ner.add_predictions(GAZETTEER_MODEL,
                                {i: gazetteer_spans(t) for i, t in zip(ids, SAMPLE_TEXTS,
                                                                       strict=True)},
                                source="labeling_function")
        _ensure_annotator(ner, "ana", "annotator")
    finally:
        ner.close()
    return db


def describe(db: str | os.PathLike[str]) -> str:
    """A short, human-readable summary of the demo database."""
    lines = [f"demo database: {db}"]
    for name in (IMAGES_PROJECT, TEXT_PROJECT):
        p = Project.open(db, name)
        try:
            items = p.items()
            preds = p.predictions()
            lines.append(f"  project {name!r} ({p.schema.kind}: {', '.join(p.schema.names)})")
            if p.schema.kind == "boxes":
                for r in items.itertuples():
                    lines.append(f"    item {r.id}: {Path(str(r.uri)).name} "
                                 f"{r.width}x{r.height}")
            else:
                lines.append(f"    {len(items)} texts")
            n_regions = sum(len(regs) for regs in preds["regions"]) if not preds.empty else 0
            models = ", ".join(sorted(set(preds["model_version"]))) if not preds.empty else "-"
            lines.append(f"    pre-labels: {n_regions} regions on {len(preds)} "
                         f"item{'s' if len(preds) != 1 else ''} ({models})")
        finally:
            p.close()
    return "\n".join(lines)
