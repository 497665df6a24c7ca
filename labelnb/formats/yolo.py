"""YOLO (Ultralytics) detection and segmentation datasets.

Layout written by :func:`save_yolo` (what ``ultralytics.data.utils.check_det_dataset``
and the trainers read)::

    root/data.yaml               names: {0: cat, 1: dog}, nc, train/val[/test] folders
    root/images/<split>/x.jpg    copied (default) or symlinked
    root/labels/<split>/x.txt    one line per region; an empty file for an empty image

``data.yaml`` has no ``path`` key, so the folders resolve against the YAML's own
folder and the export can be moved. A dataset without splits is written as split
``train``, and ``val`` points at it too (ultralytics requires a ``val`` key).

Lines, all coordinates normalized by the EXIF-oriented image size:

* detection: ``class cx cy w h`` with ``cx = (x0 + x1) / 2 / width``,
  ``w = (x1 - x0) / width`` (and the same for y with height);
* segmentation: ``class x1 y1 x2 y2 ...`` (the polygon's vertices).

Class indices are the positions in ``categories`` (the schema order), and
``data.yaml``'s ``names`` records them. A polygon project is written as segmentation
lines; a box project as detection lines; one file never mixes the two (ultralytics
refuses that). A mask is traced into a polygon (:func:`mask_to_polygon`: OpenCV's
outer contour of its largest part, through the pixel centres), so a mask project
exports as segmentation lines and reads back as polygons; a polygon cannot hold the
mask's other parts nor its holes (the holes are filled): ``save_yolo`` notes both.
Image files whose name starts with ``.`` are hidden from ultralytics' image search:
:func:`load_yolo` skips them too (the export names its images so that none is).

>>> from labelnb.types import Box
>>> to_yolo([Box(0, 0, 32, 24, "dog")], 64, 48, ["cat", "dog"])
'1 0.25 0.25 0.5 0.5\\n'
>>> from_yolo('1 0.25 0.25 0.5 0.5', 64, 48, ["cat", "dog"])
[Box(x0=0.0, y0=0.0, x1=32.0, y1=24.0, label='dog', score=None, attributes={})]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labelnb.errors import FormatError, LabelnbError, MissingExtra
from labelnb.formats._common import (
    BoxPolicy,
    Dataset,
    Degenerate,
    FormatProblems,
    ImageRecord,
    MediaMode,
    Problem,
    category_index,
    check_box_policy,
    check_categories,
    check_split_name,
    fit_region,
    image_size,
    place_image,
)
from labelnb.types import Box, Mask, Polygon, Region

#: what ultralytics accepts as images (``ultralytics.data.utils.IMG_FORMATS``)
IMG_FORMATS = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm",
               "heic"}
_DIGITS = 6


def _f(v: float) -> str:
    s = f"{v:.{_DIGITS}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def box_to_yolo(box: Box, width: int, height: int) -> tuple[float, float, float, float]:
    """``(cx, cy, w, h)`` normalized to ``[0, 1]``."""
    return ((box.x0 + box.x1) / 2.0 / width, (box.y0 + box.y1) / 2.0 / height,
            (box.x1 - box.x0) / width, (box.y1 - box.y0) / height)


def box_from_yolo(cx: float, cy: float, w: float, h: float, width: int, height: int,
                  label: str, **kw: Any) -> Box:
    """The labelnb box (pixels) for normalized YOLO centre and size, clipped to the
    image (six written decimals can put an edge a hair outside it)."""
    bw, bh = w * width, h * height
    x0, y0 = cx * width - bw / 2.0, cy * height - bh / 2.0
    x0c, y0c = min(max(x0, 0.0), float(width)), min(max(y0, 0.0), float(height))
    x1c = min(max(x0 + bw, x0c), float(width))
    y1c = min(max(y0 + bh, y0c), float(height))
    return Box(x0c, y0c, x1c, y1c, label, **kw)


def mask_to_polygon(mask: Mask) -> tuple[Polygon, int]:
    """The outline of a mask as a polygon, and how many parts were left out.

    The outer contour (``cv2.findContours``, ``CHAIN_APPROX_SIMPLE``) of the part with
    the largest area, its vertices at pixel centres (``index + 0.5``). A part too thin
    to have three contour vertices becomes its bounding box. A hole in the part is
    filled: a polygon has none (:func:`trace_mask` counts them). Needs OpenCV
    (``opencv-python``, which ultralytics installs)."""
    poly, dropped, _ = trace_mask(mask)
    return poly, dropped


def trace_mask(mask: Mask) -> tuple[Polygon, int, int]:
    """:func:`mask_to_polygon`, and how many holes of the part written its polygon
    fills (a YOLO segment is one outline, without holes)."""
    try:
        import cv2
    except ImportError:
        raise FormatError(
            f"mask {mask.label!r}: tracing masks into YOLO polygons needs OpenCV; "
            "pip install opencv-python-headless (ultralytics brings it), or export to COCO"
        ) from None
    import numpy as np

    arr = np.ascontiguousarray(mask.to_array().astype(np.uint8))
    # the whole tree: the outer contours (no parent) are the parts, as RETR_EXTERNAL
    # finds them, and a part's children are its holes
    contours, hierarchy = cv2.findContours(arr, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        raise FormatError(f"mask {mask.label!r} is empty; drop it or draw it again")
    parent = hierarchy.reshape(-1, 4)[:, 3]
    outer = [k for k in range(len(contours)) if parent[k] < 0]
    areas = [float(cv2.contourArea(contours[k])) + len(contours[k]) for k in outer]
    top = outer[int(np.argmax(areas))]
    holes = int(np.count_nonzero(parent == top))
    best = contours[top].reshape(-1, 2).astype(np.float64) + 0.5
    if len(best) < 3:  # a line of pixels: just inside their edges, so that a fill with
        x0, y0 = best.min(axis=0) - 0.49  # truncated vertices (ultralytics') covers
        x1, y1 = best.max(axis=0) + 0.49  # exactly them, and the polygon has an area
        points: tuple[float, ...] = (x0, y0, x1, y0, x1, y1, x0, y1)
    else:
        points = tuple(float(v) for v in best.reshape(-1))
    return Polygon(points, mask.label, score=mask.score,
                   attributes=mask.attributes), len(outer) - 1, holes


def polygon_to_mask(polygon: Polygon, width: int, height: int) -> Mask:
    """A YOLO segmentation polygon filled the way ultralytics fills it for training
    (``polygon2mask``: vertices truncated to whole pixels, the pixels on and inside the
    outline set): the inverse of :func:`mask_to_polygon`, whose vertices sit on pixel
    centres. Read as continuous outlines instead, such polygons lose half a pixel all
    round (a 10 x 5 mask came back as 9 x 4)."""
    import numpy as np

    pts = np.asarray(polygon.points, dtype=np.float64).reshape(-1, 2).astype(np.int32)
    try:
        import cv2

        arr = np.zeros((height, width), np.uint8)
        cv2.fillPoly(arr, [pts], 1)
        filled = arr.astype(bool)
    except ImportError:  # the same rule with Pillow (fill and outline)
        from PIL import Image, ImageDraw

        img = Image.new("1", (width, height), 0)
        ImageDraw.Draw(img).polygon([(int(x), int(y)) for x, y in pts], fill=1, outline=1)
        filled = np.asarray(img, dtype=bool)
    return Mask.from_array(filled, polygon.label, score=polygon.score,
                           attributes=polygon.attributes)


def to_yolo(regions: Sequence[Region], width: int, height: int, categories: Sequence[str],
            *, where: str = "image", notes: list[str] | None = None,
            holes: list[str] | None = None) -> str:
    """The label file text for one image (``""`` for no regions). Masks are traced
    into polygons; ``notes``, if given, collects masks whose smaller parts were left
    out, and ``holes`` masks whose holes the polygon filled."""
    traced: list[Region] = []
    for r in regions:
        if isinstance(r, Mask):
            poly, dropped, filled = trace_mask(r)
            if dropped and notes is not None:
                notes.append(f"{where}: mask {r.label!r} has {dropped + 1} parts; its largest "
                             "was written")
            if filled and holes is not None:
                holes.append(f"{where}: mask {r.label!r} has {filled} "
                             f"hole{'s' if filled != 1 else ''}; YOLO segments cannot hold "
                             f"holes, {'they were' if filled != 1 else 'it was'} filled")
            traced.append(poly)
        else:
            traced.append(r)
    regions = traced
    kinds = {type(r) for r in regions}
    if Box in kinds and Polygon in kinds:
        raise FormatError(f"{where}: boxes and polygons in one image; ultralytics refuses label "
                          "files that mix detection and segmentation lines")
    lines = []
    for r in regions:
        cls = category_index(categories, r.label, where)
        if isinstance(r, Box):
            if not r.within(width, height):
                raise FormatError(f"{where}: box {r.label!r} {r.x0, r.y0, r.x1, r.y1} lies "
                                  f"outside the image ({width}x{height}); clip it")
            vals: tuple[float, ...] = box_to_yolo(r, width, height)
        elif isinstance(r, Polygon):
            if not r.within(width, height):
                raise FormatError(f"{where}: polygon {r.label!r} lies outside the image "
                                  f"({width}x{height}); clip it")
            vals = tuple(v / (width if i % 2 == 0 else height) for i, v in enumerate(r.points))
        else:
            raise FormatError(f"{where}: YOLO files hold boxes, polygons and masks, not "
                              f"{type(r).__name__}; export this project to another format")
        lines.append(" ".join([str(cls), *(_f(v) for v in vals)]))
    return "".join(line + "\n" for line in lines)


def from_yolo(text: str, width: int, height: int,
              categories: Sequence[str] | Mapping[int, str], *, where: str = "label file",
              box_policy: BoxPolicy = "clip", problems: list[Problem] | None = None,
              notes: list[str] | None = None, degenerate: Degenerate = "keep",
              scores: bool = False, names_from: str = "data.yaml") -> list[Region]:
    """The regions of one label file: 5 values a line are a box, more a polygon.

    A confidence after the coordinates (what ``yolo predict save_txt=True
    save_conf=True`` writes) is read as the region's ``score``: on a box line (6 values,
    ``class cx cy w h conf``) wherever it lies in [0, 1]; on a polygon line (an odd
    count of values after the class) only with ``scores=True`` (predictions), since a
    polygon line that lost a value would look the same. ``names_from`` says where the
    class names came from (in problems).

    ``categories``: the names by class index (a list counts from 0; a mapping, such as
    ``{1: "cat", 2: "dog"}`` for a file that counts from 1, says it explicitly). Six
    written decimals can put an edge a hair outside the image: up to 2e-6 of the image
    size is moved onto the edge silently; farther out, a region is clipped
    (``box_policy="clip"``, the default, noted in ``notes``) or refused
    (``"reject"``). Boxes with a negative size and polygons with fewer than 3 points
    are refused, and so are boxes and polygons without area with
    ``degenerate="reject"``. Problems raise
    :class:`~labelnb.formats._common.FormatProblems` listing every bad line, or, with
    ``problems`` (a list), are appended there and the line is left out."""
    check_box_policy(box_policy)
    names = dict(categories) if isinstance(categories, Mapping) else dict(
        enumerate(categories))
    keys = sorted(names)
    tol = 2e-6 * max(width, height) + 1e-9
    out: list[Region] = []
    found: list[Problem] = []
    for n, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        lw = f"line {n}"
        try:
            cls_f = float(parts[0])
            vals = [float(v) for v in parts[1:]]
        except ValueError:
            found.append(Problem(where, "values", f"{line!r} is not numbers; a line is "
                                 "'class cx cy w h' or 'class x1 y1 x2 y2 ...'", lw))
            continue
        if not cls_f.is_integer() or int(cls_f) not in names:
            hint = ""
            if cls_f.is_integer() and keys and int(cls_f) == keys[-1] + 1 and keys[0] == 0:
                hint = (" (class indices count from 0; if this file counts from 1, key the "
                        "names from 1 in data.yaml, e.g. names: {1: a, 2: b})")
            if names_from != "data.yaml":
                hint = ""
            found.append(Problem(where, "class", f"class {parts[0]!r} is not an index into "
                                 f"the {len(names)} names of {names_from} (indices "
                                 f"{keys[0] if keys else '-'}..{keys[-1] if keys else '-'})"
                                 f"{hint}; fix the class or the names", lw))
            continue
        label = names[int(cls_f)]
        field = "coordinates"
        try:
            score: float | None = None
            if len(vals) == 5 or (scores and len(vals) >= 7 and len(vals) % 2 == 1):
                field = "conf"
                score = vals.pop()
                if not 0.0 <= score <= 1.0:
                    raise FormatError(
                        f"{len(vals) + 1} values after the class, and the last, {score:g}, is "
                        "no confidence in [0, 1]; a line is 'class cx cy w h [conf]' or "
                        "'class x1 y1 x2 y2 ...': fix or drop the line")
            if len(vals) == 4:
                cx, cy, w, h = vals
                field = "w h"
                if w < 0 or h < 0:
                    raise FormatError(f"the box has a negative size (w {w:g}, h {h:g}); fix "
                                      "or drop the line")
                field = "cx cy w h"
                bw, bh = w * width, h * height
                x0, y0 = cx * width - bw / 2.0, cy * height - bh / 2.0
                region: Region = Box(x0, y0, x0 + bw, y0 + bh, label, score=score)
            elif len(vals) >= 6 and len(vals) % 2 == 0:
                field = "x1 y1 x2 y2 ..."
                region = Polygon(tuple(v * (width if i % 2 == 0 else height)
                                       for i, v in enumerate(vals)), label, score=score)
            else:
                raise FormatError(
                    f"{len(vals)} coordinates; a box has 4 and a polygon an even number, at "
                    "least 6 (3 points); a confidence after them is read on a box line (5 "
                    "values) and, importing predictions, on a polygon line (an odd count); "
                    "keypoint files are not read")
            region, note = fit_region(region, width, height, box_policy, tol=tol,
                                      degenerate=degenerate)
        except (LabelnbError, ValueError) as e:
            found.append(Problem(where, field, str(e), lw))
            continue
        if note is not None and notes is not None:
            notes.append(f"{where}, {lw}: {note}")
        out.append(region)
    if found:
        if problems is None:
            raise FormatProblems(where, found)
        problems.extend(found)
    return out


# --- data.yaml -------------------------------------------------------------------------


def _q(s: str) -> str:
    """A YAML double-quoted scalar, in ASCII: other characters as YAML's ``\\u`` and
    (beyond the Basic Multilingual Plane, e.g. emoji) ``\\U`` escapes. JSON's escapes
    would write the latter as two UTF-16 surrogates, which a YAML reader takes as two
    characters."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


#: the names a held-out split goes by, in the order data.yaml's ``val`` prefers them
_VAL_NAMES = ("val", "validation", "valid", "dev", "eval", "evaluation", "test")


def _named(sp: Sequence[str], name: str) -> str | None:
    """The split called ``name``: that one exactly, else one that differs only in case
    or surrounding spaces (as the export's evaluation guard compares them)."""
    if name in sp:
        return name
    return next((s for s in sp if s.strip().lower() == name), None)


def yaml_splits(splits: Sequence[str]) -> tuple[str, str, str | None]:
    """The split folders data.yaml's ``train``, ``val`` and ``test`` point at.

    ``val`` is the held-out split, whatever it is called (``val``, ``validation``,
    ``dev``, ..., ``test``; any case: ``Val`` is a val split, as the export's
    evaluation guard takes it), else the training split; ``test`` the split named
    ``test`` (any case), if any."""
    sp = list(splits) or ["train"]
    # ultralytics validates on `val`: the held-out split, whatever it is called (it fell
    # back to the training images when the split was named e.g. "validation")
    val = next((s for s in (_named(sp, n) for n in _VAL_NAMES) if s is not None), None)
    train = _named(sp, "train") or next((s for s in sp if s != val), sp[0])
    return train, val or train, _named(sp, "test")


def data_yaml(categories: Sequence[str], splits: Sequence[str]) -> str:
    """The text of ``data.yaml`` for these categories and split folders (see
    :func:`yaml_splits`)."""
    cats = check_categories(categories, "data.yaml")
    lines = ["# written by labelnb; class indices follow the schema order", ""]
    sp = list(splits) or ["train"]
    train, val, test = yaml_splits(sp)
    lines.append(f"train: {_q('images/' + train)}")
    lines.append(f"val: {_q('images/' + val)}")
    if test is not None:
        lines.append(f"test: {_q('images/' + test)}")
    others = [s for s in sp if s not in (train, val, test)]
    for s in others:
        lines.append(f"{s}: {_q('images/' + s)}")
    lines.append(f"nc: {len(cats)}")
    lines.append("names:")
    lines.extend(f"  {i}: {_q(n)}" for i, n in enumerate(cats))
    return "\n".join(lines) + "\n"


def read_data_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with ultralytics and jupyter
        raise MissingExtra("PyYAML", "dev", "reading YOLO data.yaml") from None
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{str(p)!r}: data.yaml does not exist; give the YOLO dataset folder "
                          "or its YAML file") from None
    except yaml.YAMLError as e:
        raise FormatError(f"{str(p)!r}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise FormatError(f"{str(p)!r}: data.yaml must be a mapping")
    return data


def class_names(data: Mapping[str, Any], where: str) -> dict[int, str]:
    """class index → name from a data.yaml: ``names`` as a list (indices from 0) or a
    dict keyed ``0..n-1`` or, for a dataset that counts from 1, ``1..n``; else ``nc``
    (``class_0`` ...)."""
    names = data.get("names")
    if isinstance(names, Mapping):
        try:
            idx = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise FormatError(f"{where}: 'names' keys must be class indices 0..n-1") from None
        if idx not in (list(range(len(idx))), list(range(1, len(idx) + 1))):
            raise FormatError(f"{where}: 'names' keys are {idx}; they must be 0..{len(idx) - 1}"
                              f" (or 1..{len(idx)} for classes counted from 1)")
        return {k: str(names[k] if k in names else names[str(k)]) for k in idx}
    if isinstance(names, list):
        return {i: str(n) for i, n in enumerate(names)}
    if isinstance(data.get("nc"), int):
        return {i: f"class_{i}" for i in range(int(data["nc"]))}
    raise FormatError(f"{where}: 'names' is missing; list the class names")


def names_from_yaml(data: Mapping[str, Any], where: str) -> list[str]:
    """The class names of a data.yaml in index order (see :func:`class_names`)."""
    by_index = class_names(data, where)
    return [by_index[k] for k in sorted(by_index)]


# --- files ---------------------------------------------------------------------------


def save_yolo(dataset: Dataset, root: str | os.PathLike[str], *, media: MediaMode = "copy",
              on_image: Callable[[ImageRecord], None] | None = None,
              notes: list[str] | None = None, holes: list[str] | None = None) -> Path:
    """Write the dataset under ``root`` (see the module docstring); returns the path of
    ``data.yaml``. Images without a split go to ``train``. ``notes`` and ``holes`` as in
    :func:`to_yolo` (masks whose smaller parts, or holes, a YOLO polygon cannot hold)."""
    if media == "none":
        raise FormatError("save_yolo: media='none' is not possible; YOLO finds a label file "
                          "from its image's path. Use media='copy' or 'symlink'")
    r = Path(root)
    cats = check_categories(dataset.categories, "save_yolo")
    used: dict[tuple[str, str], str] = {}
    splits: list[str] = []
    for im in dataset.images:
        split = check_split_name(im.split, "yolo") if im.split else "train"
        if split not in splits:
            splits.append(split)
        name = Path(im.file_name)
        if name.suffix.lower().lstrip(".") not in IMG_FORMATS:
            raise FormatError(f"image {im.file_name!r}: ultralytics reads "
                              f"{sorted(IMG_FORMATS)}, not {name.suffix!r}; convert the image")
        key = (split, name.stem)
        if key in used:
            raise FormatError(f"images {used[key]!r} and {im.file_name!r} share the stem "
                              f"{name.stem!r} in split {split!r}; their label files would "
                              "collide, so rename one")
        used[key] = im.file_name
        where = f"image {im.file_name!r} (id {im.id})"
        text = to_yolo(dataset.regions.get(im.id, ()), im.width, im.height, cats, where=where,
                       notes=notes, holes=holes)
        lab = r / "labels" / split / f"{name.stem}.txt"
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text(text, encoding="utf-8")
        if im.uri is None:
            raise FormatError(f"{where}: no source 'uri' to copy the image from; set "
                              "ImageRecord.uri")
        place_image(im.uri, r / "images" / split / name.name, media, expect=im)
        if on_image is not None:
            on_image(im)
    path = r / "data.yaml"
    r.mkdir(parents=True, exist_ok=True)
    path.write_text(data_yaml(cats, splits), encoding="utf-8")
    return path


def _label_path(img: Path) -> Path:
    """ultralytics' rule: the last ``/images/`` becomes ``/labels/``, extension ``.txt``."""
    s = str(img)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return Path(sb.join(s.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")


def label_files(path: str | os.PathLike[str]) -> list[Path] | None:
    """The label files of a folder of them without ``data.yaml``: what ``yolo predict
    save_txt=True`` writes (``runs/detect/predict/labels/*.txt``; give the run's folder
    or its ``labels``). ``None`` where ``path`` is a YOLO dataset (it has a
    ``data.yaml``) or holds no such files."""
    p = Path(path)
    if not p.is_dir() or (p / "data.yaml").is_file():
        return None
    for folder in (p / "labels", p):
        files = sorted(f for f in folder.glob("*.txt") if f.is_file()) if folder.is_dir() else []
        if files:
            return files
    return None


def load_yolo(path: str | os.PathLike[str], *, box_policy: BoxPolicy = "clip",
              problems: list[Problem] | None = None, notes: list[str] | None = None,
              degenerate: Degenerate = "keep") -> Dataset:
    """Read a YOLO dataset (its folder or its YAML): every split folder named in the
    YAML (``train``, ``val``, ``test``, ...), each image once (a ``val`` that points at
    the ``train`` folder is not read twice). Image sizes are read from the files
    (EXIF-oriented, as ultralytics does). An image without a label file is a
    background image (labeled, nothing on it) where its split has a labels folder, and
    not labeled (no entry in ``regions``) where it has none. ``box_policy``,
    ``problems``, ``notes`` and ``degenerate`` as in :func:`from_yolo`: with
    ``problems``, the bad lines of every file (and unreadable images) are appended
    there instead of raising at the first file."""
    p = Path(path)
    yaml_path = p / "data.yaml" if p.is_dir() else p
    if label_files(p) is not None:
        raise FormatError(f"{str(p)!r}: label files without a data.yaml (what yolo predict "
                          "writes) have no class names; import them into a project, whose "
                          "labels name the classes: import_dataset(project, 'yolo', path, "
                          "as_predictions=True), or add a data.yaml")
    data = read_data_yaml(yaml_path)
    where = repr(str(yaml_path))
    by_index = class_names(data, where)
    names = [by_index[k] for k in sorted(by_index)]
    classes: Sequence[str] | Mapping[int, str] = (names if min(by_index, default=0) == 0
                                                  else by_index)
    found: list[Problem] = []
    base = Path(data["path"]) if data.get("path") else yaml_path.parent
    if data.get("path") and not base.is_absolute():  # a relative 'path': from the YAML
        base = yaml_path.parent / base
    images: list[ImageRecord] = []
    regions: dict[int, list[Region]] = {}
    seen: set[Path] = set()
    keys = [k for k in ("train", "val", "test") if data.get(k)]
    keys += [k for k, v in data.items() if isinstance(v, str) and v.startswith("images/")
             and k not in keys]
    if not keys:
        raise FormatError(f"{where}: data.yaml names no image folder (no 'train', 'val' or "
                          "'test' key); add e.g. train: images/train")
    for key in keys:
        entries = data[key] if isinstance(data[key], list) else [data[key]]
        for entry in entries:
            folder = (base / str(entry)).resolve()
            if folder.suffix == ".txt" and folder.is_file():  # a list of image paths
                files = [Path(os.path.normpath(folder.parent / x.strip())) for x in
                         folder.read_text(encoding="utf-8").splitlines() if x.strip()]
            elif folder.is_dir():
                # absolute, not resolved: a symlinked image keeps its place in the tree
                # (hidden files and folders left out: ultralytics' glob skips them)
                files = sorted(f.absolute() for f in folder.rglob("*")
                               if f.suffix.lower().lstrip(".") in IMG_FORMATS
                               and not any(part.startswith(".") for part in
                                           f.relative_to(folder).parts))
            else:
                raise FormatError(f"{where}: {key!r} points at {str(folder)!r}, which does not "
                                  "exist; fix the path in data.yaml")
            for f in files:
                if f in seen:
                    continue
                seen.add(f)
                rel = f.relative_to(folder) if folder.is_dir() else Path(f.name)
                try:
                    w, h = image_size(f)
                except FormatError as e:
                    if problems is None:
                        raise
                    found.append(Problem(f"image {rel.as_posix()!r}", "(image file)", str(e)))
                    continue
                iid = len(images) + 1
                lab = _label_path(f)
                labels_dir = (_label_path(folder / "_").parent if folder.is_dir()
                              else lab.parent)
                if lab.is_file() or labels_dir.is_dir():
                    # no label file beside others: a background image (labeled empty)
                    text = lab.read_text(encoding="utf-8") if lab.is_file() else ""
                    regions[iid] = from_yolo(
                        text, w, h, classes, box_policy=box_policy, notes=notes,
                        degenerate=degenerate,
                        where=f"image {rel.as_posix()!r} (labels {str(lab)!r})",
                        problems=found)
                # else: a split without a labels folder holds images not labeled yet
                # the split is the folder's name (images/<split>), which labelnb's export
                # writes; the YAML key (train, val) when the layout is another one
                entry_path = Path(str(entry))
                split = (entry_path.name if len(entry_path.parts) == 2
                         and entry_path.parts[0] == "images" and folder.is_dir() else key)
                images.append(ImageRecord(iid, rel.as_posix(), w, h, uri=str(f), split=split))
    if found:
        if problems is None:
            raise FormatProblems(where, found)
        problems.extend(found)
    return Dataset(images, regions, names)


__all__ = ["box_from_yolo", "box_to_yolo", "class_names", "data_yaml", "from_yolo",
           "label_files", "load_yolo", "names_from_yaml",
           "mask_to_polygon", "read_data_yaml", "save_yolo", "to_yolo", "trace_mask",
           "yaml_splits"]
