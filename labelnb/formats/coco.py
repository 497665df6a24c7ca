"""COCO detection / instance segmentation JSON.

``to_coco`` / ``from_coco`` convert between plain data (:class:`~labelnb.formats.Dataset`
pieces) and the COCO dict; ``save_coco`` / ``load_coco`` read and write files.

Conventions:

* ``bbox`` is COCO's ``[x, y, width, height]`` in the same continuous pixel space as
  labelnb's boxes (``Box.xywh``), so the conversion is exact.
* Categories get ids ``1..n`` in the order given (the schema order); the
  ``categories`` array in the file is the record of that mapping. ``from_coco``
  accepts any ids and orders the names by id.
* A :class:`~labelnb.types.Polygon` becomes a one-ring ``segmentation`` list; a
  :class:`~labelnb.types.Mask` becomes compressed RLE (``{"size": [h, w], "counts":
  str}``). Both are written with ``iscrowd = 0``: labelnb masks are single object
  instances, and COCO's ``iscrowd = 1`` marks crowd regions that ``COCOeval``
  ignores, so writing 1 would drop every mask from evaluation. pycocotools (and
  detectron2, SA-1B) read RLE with ``iscrowd = 0``. On load, RLE becomes a ``Mask``
  whatever ``iscrowd`` says, a one-ring polygon a ``Polygon``, a polygon of several
  rings a ``Mask`` (the rings merged, one instance), and an empty segmentation a
  ``Box``.
* ``area`` is ``w * h`` for a box and the pixel count of the rasterized segmentation
  (``pycocotools.mask.area``) for polygons and masks, as in the COCO release; it is
  what ``COCOeval``'s small/medium/large ranges read.
* A region's ``score`` is written as ``score`` and its ``attributes`` as
  ``attributes`` (CVAT's key); both are read back.

>>> from labelnb.types import Box
>>> from labelnb.formats import ImageRecord
>>> d = to_coco([ImageRecord(1, "a.jpg", 64, 48)], {1: [Box(2, 3, 12, 8, "cat")]},
...             ["cat", "dog"])
>>> d["annotations"][0]["bbox"], d["annotations"][0]["category_id"]
([2.0, 3.0, 10.0, 5.0], 1)
>>> from_coco(d).regions[1]
[Box(x0=2.0, y0=3.0, x1=12.0, y1=8.0, label='cat', score=None, attributes={})]
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from labelnb.errors import FormatError, ValidationError
from labelnb.formats._common import (
    Dataset,
    ImageRecord,
    MediaMode,
    category_index,
    check_categories,
    check_split_name,
    place_image,
    plain_attrs,
)
from labelnb.types import Box, Mask, Polygon, Region

#: tolerance (pixels) for boxes that touch the image border through float rounding
EDGE_TOL = 1e-6


def _rle_bytes(rle: Mapping[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {"size": [int(s) for s in rle["size"]],
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def _polygon_area(points: Sequence[float], height: int, width: int) -> float:
    from pycocotools import mask as mask_utils

    rles = mask_utils.frPyObjects([list(points)], height, width)
    return float(mask_utils.area(mask_utils.merge(rles)))


def region_to_coco(region: Region, image: ImageRecord, category_id: int, ann_id: int
                   ) -> dict[str, Any]:
    """One COCO annotation dict for one labelnb region."""
    def where() -> str:  # built only for an error message
        return (f"image {image.file_name!r} (id {image.id}), {type(region).__name__} "
                f"{region.label!r}")

    out: dict[str, Any] = {"id": ann_id, "image_id": image.id, "category_id": category_id,
                           "iscrowd": 0}
    if type(region) is Box:  # the common case, without the property calls
        x0, y0 = region.x0, region.y0
        w, h = region.x1 - x0, region.y1 - y0
        out["bbox"] = [x0, y0, w, h]
        out["area"] = w * h
        out["segmentation"] = []
    elif isinstance(region, Polygon):
        out["bbox"] = list(region.bbox.xywh)
        out["area"] = _polygon_area(region.points, image.height, image.width)
        out["segmentation"] = [list(region.points)]
    elif isinstance(region, Mask):
        if region.size != (image.height, image.width):
            raise FormatError(
                f"{where()}: the mask is {region.size[0]}x{region.size[1]} (h x w) but the image "
                f"is {image.height}x{image.width}; encode the mask at image size"
            )
        out["bbox"] = list(region.bbox.xywh)
        out["area"] = float(region.area)
        out["segmentation"] = {"size": list(region.rle["size"]), "counts": region.rle["counts"]}
    else:
        raise FormatError(f"{where()}: COCO holds boxes, polygons and masks, not "
                          f"{type(region).__name__}; export this project to another format")
    if region.score is not None:
        out["score"] = region.score
    if region.attributes:
        out["attributes"] = dict(region.attributes)
    return out


def to_coco(images: Sequence[ImageRecord], annotations_by_image: Mapping[int, Sequence[Region]],
            categories: Sequence[str], *, info: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """The COCO dict for these images, their regions and the categories (ids 1..n in
    the given order)."""
    cats = check_categories(categories, "to_coco")
    ids = {name: i + 1 for i, name in enumerate(cats)}
    seen: set[int] = set()
    imgs: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    # Millions of small dicts and lists and no reference cycles: the cyclic garbage
    # collector would rescan them again and again (half the time at 1M boxes).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for im in images:
            if im.id in seen:
                raise FormatError(f"image {im.file_name!r}: id {im.id} is used twice; give "
                                  "each image its own id")
            seen.add(im.id)
            imgs.append({"id": im.id, "file_name": im.file_name, "width": im.width,
                         "height": im.height})
            for r in annotations_by_image.get(im.id, ()):
                cid = ids.get(r.label)
                if cid is None:
                    category_index(cats, r.label, f"image {im.file_name!r} (id {im.id})")
                    raise AssertionError("unreachable: category_index raises")
                anns.append(region_to_coco(r, im, cid, len(anns) + 1))
    finally:
        if gc_was_on:
            gc.enable()
    missing = set(annotations_by_image) - seen
    if any(annotations_by_image[i] for i in missing):
        raise FormatError(f"to_coco: regions given for image ids {sorted(missing)[:10]} that are "
                          "not among the images; add those images")
    out: dict[str, Any] = {
        "info": dict(info or {"description": "exported by labelnb"}),
        "images": imgs,
        "annotations": anns,
        "categories": [{"id": ids[n], "name": n, "supercategory": ""} for n in cats],
    }
    return out


def _region_from_coco(a: Mapping[str, Any], label: str, image: Mapping[str, Any],
                      where: str) -> Region:
    kw: dict[str, Any] = {}
    if a.get("score") is not None:
        kw["score"] = a["score"]
    if a.get("attributes"):
        kw["attributes"] = plain_attrs(a["attributes"])
    seg = a.get("segmentation")
    h, w = int(image["height"]), int(image["width"])
    try:
        if isinstance(seg, Mapping):
            from pycocotools import mask as mask_utils

            rle = dict(seg)
            if isinstance(rle.get("counts"), list):
                rle = mask_utils.frPyObjects(rle, h, w)
            counts = rle["counts"]
            return Mask({"size": [int(s) for s in rle["size"]],
                         "counts": counts.decode("ascii") if isinstance(counts, bytes)
                         else counts}, label, **kw)
        if isinstance(seg, list) and seg:
            rings = [list(r) for r in seg]
            if len(rings) == 1:
                return Polygon(tuple(rings[0]), label, **kw)
            from pycocotools import mask as mask_utils

            merged = mask_utils.merge(mask_utils.frPyObjects(rings, h, w))
            return Mask({"size": [h, w], "counts": merged["counts"].decode("ascii")}, label,
                        **kw)
        bbox = a.get("bbox")
        if not isinstance(bbox, Sequence) or len(bbox) != 4:
            raise FormatError(f"{where}: field 'bbox' must be [x, y, width, height], got "
                              f"{bbox!r}; fix the annotation")
        x, y, bw, bh = (float(v) for v in bbox)
        return Box.from_xywh(x, y, bw, bh, label, **kw)
    except (ValidationError, TypeError, ValueError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{where}: {e}") from None


def from_coco(data: Mapping[str, Any]) -> Dataset:
    """A :class:`Dataset` from a COCO dict (categories ordered by id)."""
    problems = validate_coco(data, raise_on_error=False)
    if problems:
        raise FormatError("COCO data is malformed: " + "; ".join(problems[:5]) +
                          (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
    cats = sorted(data["categories"], key=lambda c: int(c["id"]))
    names = {int(c["id"]): str(c["name"]) for c in cats}
    images = {int(im["id"]): im for im in data["images"]}
    records = [ImageRecord(int(im["id"]), str(im["file_name"]), int(im["width"]),
                           int(im["height"])) for im in data["images"]]
    regions: dict[int, list[Region]] = {r.id: [] for r in records}
    for a in data.get("annotations", ()):
        iid = int(a["image_id"])
        where = f"COCO annotation {a.get('id')!r} (image {images[iid]['file_name']!r})"
        regions[iid].append(_region_from_coco(a, names[int(a["category_id"])], images[iid],
                                              where))
    return Dataset(records, regions, [names[i] for i in sorted(names)])


def validate_coco(data: Mapping[str, Any], *, raise_on_error: bool = True) -> list[str]:
    """Structural checks: required keys, unique ids, every annotation references an
    image and a category, boxes inside their image. Returns the problems (or raises
    :class:`FormatError` listing them)."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        problems.append("the top level must be a JSON object")
        data = {}
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key, [] if key == "annotations" else None), list):
            problems.append(f"field {key!r} must be a list")
    if problems:
        if raise_on_error:
            raise FormatError("COCO data: " + "; ".join(problems))
        return problems
    cat_ids: set[int] = set()
    for c in data["categories"]:
        if not isinstance(c, Mapping) or "id" not in c or "name" not in c:
            problems.append(f"category {c!r} needs 'id' and 'name'")
            continue
        if int(c["id"]) in cat_ids:
            problems.append(f"category id {c['id']} is used twice")
        cat_ids.add(int(c["id"]))
    images: dict[int, Mapping[str, Any]] = {}
    for im in data["images"]:
        if not isinstance(im, Mapping) or not all(k in im for k in
                                                  ("id", "file_name", "width", "height")):
            problems.append(f"image {im!r:.120} needs 'id', 'file_name', 'width', 'height'")
            continue
        if int(im["id"]) in images:
            problems.append(f"image id {im['id']} is used twice")
        images[int(im["id"])] = im
    ann_ids: set[Any] = set()
    for a in data.get("annotations", ()):
        aid = a.get("id") if isinstance(a, Mapping) else None
        where = f"annotation {aid!r}"
        if not isinstance(a, Mapping) or "image_id" not in a or "category_id" not in a:
            problems.append(f"{where} needs 'image_id' and 'category_id'")
            continue
        if aid in ann_ids:
            problems.append(f"{where}: id is used twice")
        ann_ids.add(aid)
        im = images.get(int(a["image_id"]))
        if im is None:
            problems.append(f"{where}: image_id {a['image_id']} is not among the images; add "
                            "the image or drop the annotation")
            continue
        if int(a["category_id"]) not in cat_ids:
            problems.append(f"{where} (image {im['file_name']!r}): category_id "
                            f"{a['category_id']} is not in 'categories'")
        bbox = a.get("bbox")
        if bbox is not None:
            try:
                x, y, w, h = (float(v) for v in bbox)
            except (TypeError, ValueError):
                problems.append(f"{where} (image {im['file_name']!r}): bbox {bbox!r} is not "
                                "[x, y, width, height]")
                continue
            W, H = float(im["width"]), float(im["height"])
            if (w < 0 or h < 0 or x < -EDGE_TOL or y < -EDGE_TOL or x + w > W + EDGE_TOL
                    or y + h > H + EDGE_TOL):
                problems.append(f"{where} (image {im['file_name']!r}, {im['width']}x"
                                f"{im['height']}): bbox {list(bbox)} lies outside the image; "
                                "clip it")
    if problems and raise_on_error:
        raise FormatError("COCO data: " + "; ".join(problems[:10]) +
                          (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    return problems


# --- files ---------------------------------------------------------------------------


def annotation_file(root: str | os.PathLike[str], split: str | None) -> Path:
    """``root/annotations.json``, or ``root/annotations/instances_<split>.json``."""
    r = Path(root)
    if split is None:
        return r / "annotations.json"
    return r / "annotations" / f"instances_{check_split_name(split)}.json"


def image_dir(root: str | os.PathLike[str], split: str | None) -> Path:
    """``root/images`` or ``root/images/<split>``: where ``file_name`` is relative to."""
    r = Path(root) / "images"
    return r if split is None else r / check_split_name(split)


def save_coco(dataset: Dataset, root: str | os.PathLike[str], *, media: MediaMode = "copy",
              info: Mapping[str, Any] | None = None,
              on_image: Callable[[ImageRecord], None] | None = None) -> list[Path]:
    """Write ``dataset`` under ``root``: one annotation file per split
    (:func:`annotation_file`), images under :func:`image_dir` (copied, symlinked, or
    left out with ``media="none"``). Returns the annotation files written."""
    written: list[Path] = []
    for split, part in dataset.splits().items():
        data = to_coco(part.images, part.regions, part.categories, info=info)
        path = annotation_file(root, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))
        written.append(path)
        if media != "none":
            d = image_dir(root, split)
            for im in part.images:
                if im.uri is None:
                    raise FormatError(f"image {im.file_name!r}: no source 'uri' to copy it "
                                      "from; set ImageRecord.uri or pass media='none'")
                place_image(im.uri, d / im.file_name, media)
                if on_image is not None:
                    on_image(im)
        elif on_image is not None:
            for im in part.images:
                on_image(im)
    if not dataset.images:  # still write the (empty) file and the categories
        path = annotation_file(root, None)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(to_coco([], {}, dataset.categories, info=info)))
        written.append(path)
    return written


def load_coco(path: str | os.PathLike[str], *, split: str | None = None,
              images: str | os.PathLike[str] | None = None) -> Dataset:
    """Read a COCO file (or an export root: every ``annotations*.json`` in it).

    Each image's ``uri`` is set to its file where found: under ``images`` if given,
    else the first of :func:`image_dir`, ``<root>/images``, ``<root>/<split>`` and
    ``<root>`` that holds it (``<root>`` is the folder above ``annotations/``, so the
    official ``annotations/instances_val2017.json`` + ``val2017/`` layout works)."""
    p = Path(path)
    img_root = Path(images) if images is not None else None
    if p.is_dir():
        files: list[tuple[Path, str | None]] = []
        if (p / "annotations.json").is_file():
            files.append((p / "annotations.json", None))
        for f in sorted((p / "annotations").glob("instances_*.json")):
            files.append((f, f.stem[len("instances_"):]))
        if not files:
            raise FormatError(f"{str(p)!r}: no annotations.json or annotations/instances_*.json "
                              "in it; give the path of the COCO JSON file")
        parts = [_load_one(f, p, s, img_root) for f, s in files]
        return _concat(parts, str(p))
    root = p.parent.parent if p.parent.name == "annotations" else p.parent
    if split is None and p.stem.startswith("instances_") and p.parent.name == "annotations":
        split = p.stem[len("instances_"):]
    return _load_one(p, root, split, img_root)


def _load_one(file: Path, root: Path, split: str | None, img_root: Path | None) -> Dataset:
    try:
        data = orjson.loads(file.read_bytes())
    except FileNotFoundError:
        raise FormatError(f"{str(file)!r}: the COCO file does not exist; fix the path") from None
    except orjson.JSONDecodeError as e:
        raise FormatError(f"{str(file)!r}: not valid JSON ({e})") from None
    try:
        ds = from_coco(data)
    except FormatError as e:
        raise FormatError(f"{str(file)!r}: {e}") from None
    if img_root is not None:
        candidates = [img_root]
    else:
        candidates = [image_dir(root, split), root / "images"]
        if split is not None:
            candidates.append(root / split)
        candidates.append(root)
    records = []
    for im in ds.images:
        uri = next((str((d / im.file_name).resolve()) for d in candidates
                    if (d / im.file_name).is_file()), None)
        records.append(ImageRecord(im.id, im.file_name, im.width, im.height, uri=uri,
                                   split=split))
    return Dataset(records, ds.regions, ds.categories)


def _concat(parts: list[Dataset], where: str) -> Dataset:
    cats = parts[0].categories
    images: list[ImageRecord] = []
    regions: dict[int, list[Region]] = {}
    for ds in parts:
        if ds.categories != cats:
            raise FormatError(f"{where}: the splits list different categories ({cats} vs "
                              f"{ds.categories}); export them with one schema")
        for im in ds.images:
            if im.id in regions:
                raise FormatError(f"{where}: image id {im.id} appears in two splits")
            images.append(im)
            regions[im.id] = ds.regions.get(im.id, [])
    return Dataset(images, regions, cats)


def check_with_pycocotools(path: str | os.PathLike[str]) -> Any:
    """Load a file with ``pycocotools.coco.COCO`` (raises :class:`FormatError` if it
    cannot); returns the COCO object."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(os.fspath(path))
    except Exception as e:
        raise FormatError(f"{os.fspath(path)!r}: pycocotools cannot load it ({e})") from e


__all__ = ["annotation_file", "check_with_pycocotools", "from_coco", "image_dir", "load_coco",
           "region_to_coco", "save_coco", "to_coco", "validate_coco"]
