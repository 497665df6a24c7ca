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
* A file without an ``annotations`` list (COCO's ``image_info_*.json``) lists images
  that are not labeled: ``from_coco`` gives them no entry in ``regions`` (the
  importer adds them unlabeled). In a file with one, an image without annotations is
  labeled with nothing on it (an empty list).

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

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

from labelnb._gc import gc_paused
from labelnb.errors import FormatError, LabelnbError
from labelnb.formats._common import (
    EDGE_TOL,
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
    place_image,
    plain_attrs,
)
from labelnb.types import Box, Mask, Polygon, Region

#: how an annotation becomes a region: its segmentation (where it has one), or its bbox
Geometry = Literal["segmentation", "bbox"]


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
    # Millions of small dicts and lists and no reference cycles (see labelnb._gc)
    with gc_paused():
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


def _bad_segmentation(seg: Any) -> str | None:
    """Why ``seg`` is no COCO segmentation (a polygon list or an RLE dict), or None.
    Such a value is an error, not a reason to take the bbox: that would silently turn
    a mask into a box."""
    if seg is None or seg == [] or isinstance(seg, Mapping | list):
        return None
    return (f"'segmentation' is {seg!r:.40}, neither a polygon list nor an RLE dict; fix "
            "it, or remove it to import the bbox")


class _FieldError(FormatError):
    """A problem of one field of an annotation (``score``, ``attributes``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _score_and_attributes(a: Mapping[str, Any]) -> dict[str, Any]:
    """An annotation's ``score`` and ``attributes`` as region keywords."""
    kw: dict[str, Any] = {}
    score = a.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float) \
                or not 0.0 <= float(score) <= 1.0:
            raise _FieldError("score", f"{score!r:.40} is not a confidence in [0, 1]; fix the "
                                       "score or remove it")
        kw["score"] = float(score)
    attrs = a.get("attributes")
    if attrs:
        if not isinstance(attrs, Mapping):
            raise _FieldError("attributes", f"{attrs!r:.60} is not an object of attribute "
                                            'names and values; give e.g. {"occluded": true}, '
                                            "or remove it")
        kw["attributes"] = plain_attrs(attrs)
    return kw


def _segmentation_region(seg: Any, label: str, h: int, w: int, kw: Mapping[str, Any]
                         ) -> Region | None:
    """The polygon or mask of a COCO ``segmentation`` (None for none or an empty one);
    raises :class:`FormatError` saying why not."""
    if isinstance(seg, Mapping):
        from pycocotools import mask as mask_utils

        rle = dict(seg)
        if "size" not in rle or "counts" not in rle:
            raise FormatError(f"the RLE {sorted(rle)} needs 'size' and 'counts'")
        if isinstance(rle.get("counts"), list):
            size = rle["size"]
            if (not isinstance(size, Sequence) or len(size) != 2
                    or [int(v) for v in size] != [h, w]):
                raise FormatError(f"the RLE size {size!r} (h, w) is not the image's "
                                  f"[{h}, {w}]; encode the mask at the image size")
            total = sum(int(c) for c in rle["counts"])
            if total != h * w:
                raise FormatError(f"the uncompressed RLE counts sum to {total} pixels, but "
                                  f"the {h}x{w} image has {h * w}; encode the mask at the "
                                  "image size")
            rle = mask_utils.frPyObjects(rle, h, w)
        counts = rle["counts"]
        return Mask({"size": [int(s) for s in rle["size"]],
                     "counts": counts.decode("ascii") if isinstance(counts, bytes)
                     else counts}, label, **kw)
    if isinstance(seg, list) and seg:
        rings = [list(r) if isinstance(r, Sequence) else r for r in seg]
        bad = [n for n, r in enumerate(rings) if not isinstance(r, list) or len(r) < 6
               or len(r) % 2]
        if bad:
            r0 = rings[bad[0]]
            got = (f"{len(r0) // 2} points" if isinstance(r0, list) and len(r0) % 2 == 0
                   else f"{len(r0)} values" if isinstance(r0, list) else repr(r0))
            raise FormatError(f"polygon ring {bad[0]} has {got}; a polygon needs at least 3 "
                              "points as a flat [x1, y1, x2, y2, x3, y3, ...] list: fix or "
                              "drop it")
        if len(rings) == 1:
            return Polygon(tuple(rings[0]), label, **kw)
        from pycocotools import mask as mask_utils

        merged = mask_utils.merge(mask_utils.frPyObjects(rings, h, w))
        return Mask({"size": [h, w], "counts": merged["counts"].decode("ascii")}, label, **kw)
    if (why := _bad_segmentation(seg)) is not None:
        raise FormatError(why)
    return None


def _region_from_coco(a: Mapping[str, Any], label: str, image: Mapping[str, Any],
                      geometry: Geometry = "segmentation") -> tuple[Region, str]:
    """The region of one COCO annotation and the field it came from (``segmentation``
    or ``bbox``); raises :class:`FormatError` / :class:`ValidationError` saying why not
    (``_FieldError`` for ``score`` and ``attributes``). ``geometry="bbox"``: the
    ``bbox`` whatever the segmentation (an annotation without one: its segmentation)."""
    kw = _score_and_attributes(a)
    h, w = int(image["height"]), int(image["width"])
    bbox = a.get("bbox")
    if geometry == "segmentation" or bbox is None:
        shape = _segmentation_region(a.get("segmentation"), label, h, w, kw)
        if shape is not None:
            return shape, "segmentation"
    if not isinstance(bbox, Sequence) or isinstance(bbox, str) or len(bbox) != 4:
        raise FormatError(f"{bbox!r} is not [x, y, width, height]; fix the annotation")
    try:
        x, y, bw, bh = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise FormatError(f"{list(bbox)!r:.60} is not [x, y, width, height] as numbers; fix "
                          "the annotation") from None
    if bw < 0 or bh < 0:
        raise FormatError(f"{list(bbox)} has a negative size (width {bw:g}, height {bh:g}); a "
                          "COCO box is [x, y, width, height]: fix or drop it")
    return Box.from_xywh(x, y, bw, bh, label, **kw), "bbox"


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return None


def coco_problems(data: Any, *, box_policy: BoxPolicy = "reject", regions: bool = False,
                  out: dict[int, list[Region]] | None = None, notes: list[str] | None = None,
                  degenerate: Degenerate = "keep", geometry: Geometry = "segmentation"
                  ) -> list[Problem]:
    """Every problem of a COCO dict (see :func:`validate_coco`), as :class:`Problem` s.

    With ``regions``, each annotation is also converted (into ``out``, by image id; its
    bbox with ``geometry="bbox"``, see :func:`from_coco`) and checked against its image
    by :func:`~labelnb.formats._common.fit_region` under ``box_policy``; clipped regions
    are noted in ``notes``."""
    problems: list[Problem] = []
    top = "COCO data"
    if not isinstance(data, Mapping):
        return [Problem(top, "(top level)", "must be a JSON object with 'images', "
                        "'annotations' and 'categories'")]
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key, [] if key == "annotations" else None), list):
            problems.append(Problem(top, key, "must be a list; give the COCO lists"))
    if problems:
        return problems
    cats: dict[int, str] = {}
    names: dict[str, int] = {}
    for n, c in enumerate(data["categories"]):
        cid = _int(c.get("id")) if isinstance(c, Mapping) else None
        name = c.get("name") if isinstance(c, Mapping) else None
        where = f"categories[{n}]"
        if cid is None or not isinstance(name, str) or not name:
            problems.append(Problem(f"category {c!r:.80}", "id" if cid is None else "name",
                                    "a category needs an integer 'id' and a non-empty "
                                    "'name'", where))
            continue
        if cid in cats:
            problems.append(Problem(f"category {name!r}", "id", f"category id {cid} is used "
                                    f"twice (also by {cats[cid]!r}); give each category its "
                                    "own id", where))
            continue
        if name in names:
            problems.append(Problem(f"category {name!r}", "name", f"the name is used by ids "
                                    f"{names[name]} and {cid}; give each name one id",
                                    where))
        cats[cid] = name
        names.setdefault(name, cid)
    images: dict[int, Mapping[str, Any]] = {}
    for n, im in enumerate(data["images"]):
        where = f"images[{n}]"
        name = f"image {im.get('file_name')!r}" if isinstance(im, Mapping) else f"image {im!r:.60}"
        if not isinstance(im, Mapping):
            problems.append(Problem(name, "(image)", "must be an object", where))
            continue
        missing = [k for k in ("id", "file_name", "width", "height") if k not in im]
        if missing:
            problems.append(Problem(name, missing[0], "an image needs 'id', 'file_name', "
                                    "'width' and 'height'; add it", where))
            continue
        iid = _int(im["id"])
        if iid is None:
            problems.append(Problem(name, "id", f"{im['id']!r} is not an integer id", where))
            continue
        bad_size = [k for k in ("width", "height") if (_int(im[k]) or 0) <= 0]
        if bad_size:
            problems.append(Problem(name, bad_size[0], f"{im[bad_size[0]]!r} is not a positive "
                                    "number of pixels; give the image size", where))
            continue
        if iid in images:
            problems.append(Problem(name, "id", f"image id {iid} is used twice (also by "
                                    f"{images[iid]['file_name']!r}); give each image its own "
                                    "id", where))
            continue
        images[iid] = im
    ann_ids: set[Any] = set()
    ids_shown = sorted(cats)
    span = (f"{ids_shown[0]}..{ids_shown[-1]}" if ids_shown == list(
        range(ids_shown[0], ids_shown[-1] + 1)) else str(ids_shown)) if ids_shown else "none"
    for n, a in enumerate(data.get("annotations", ())):
        aid = a.get("id") if isinstance(a, Mapping) else None
        where = f"annotation {aid!r}" if aid is not None else f"annotations[{n}]"
        if not isinstance(a, Mapping) or "image_id" not in a or "category_id" not in a:
            problems.append(Problem(where, "image_id" if isinstance(a, Mapping) and
                                    "image_id" not in a else "category_id",
                                    "an annotation needs 'image_id' and 'category_id'"))
            continue
        iid = _int(a["image_id"])
        im = images.get(iid) if iid is not None else None
        if im is None:
            problems.append(Problem(where, "image_id", f"image_id {a['image_id']!r} is not "
                                    "among the images; add the image or drop the "
                                    "annotation"))
            continue
        item = f"image {im['file_name']!r}"
        if aid is not None:
            if aid in ann_ids:
                problems.append(Problem(item, "id", f"annotation id {aid!r} is used twice; "
                                        "give each annotation its own id", where))
            ann_ids.add(aid)
        cid = _int(a["category_id"])
        if cid is None or cid not in cats:
            hint = ""
            if cid is not None and ids_shown:
                if cid == ids_shown[0] - 1 or cid == ids_shown[-1] + 1:
                    hint = (f" (the categories count {span}: were the ids shifted by one? "
                            "fix category_id or the categories' ids)")
            problems.append(Problem(item, "category_id", f"category_id {a['category_id']!r} "
                                    f"is not in 'categories' (ids {span}){hint}; add the "
                                    "category or fix the id", where))
            continue
        if not regions:
            if (bad := _bad_segmentation(a.get("segmentation"))) is not None:
                problems.append(Problem(item, "segmentation", bad, where))
                continue
            bbox = a.get("bbox")
            if bbox is not None:
                try:
                    x, y, w, h = (float(v) for v in bbox)
                except (TypeError, ValueError):
                    problems.append(Problem(item, "bbox", f"{bbox!r} is not [x, y, width, "
                                            "height]", where))
                    continue
                W, H = float(im["width"]), float(im["height"])
                if (w < 0 or h < 0 or x < -EDGE_TOL or y < -EDGE_TOL or x + w > W + EDGE_TOL
                        or y + h > H + EDGE_TOL):
                    problems.append(Problem(item, "bbox", f"{list(bbox)} lies outside the "
                                            f"image ({im['width']}x{im['height']}); clip it",
                                            where))
            continue
        field = ("bbox" if geometry == "bbox" and a.get("bbox") is not None
                 else "segmentation" if a.get("segmentation") else "bbox")
        try:
            region, field = _region_from_coco(a, cats[cid], im, geometry)
            region, note = fit_region(region, int(im["width"]), int(im["height"]), box_policy,
                                      degenerate=degenerate)
        except _FieldError as e:
            problems.append(Problem(item, e.field, str(e), where))
            continue
        except (LabelnbError, TypeError, ValueError) as e:
            problems.append(Problem(item, field, str(e), where))
            continue
        if note is not None and notes is not None:
            notes.append(f"{item}, {where}: {note}")
        if out is not None:
            out.setdefault(iid, []).append(region)  # type: ignore[arg-type]
    return problems


def from_coco(data: Mapping[str, Any], *, box_policy: BoxPolicy = "reject",
              problems: list[Problem] | None = None, notes: list[str] | None = None,
              degenerate: Degenerate = "keep", geometry: Geometry = "segmentation"
              ) -> Dataset:
    """A :class:`Dataset` from a COCO dict (categories ordered by id; any ids, 0- or
    1-based).

    ``geometry``: ``"segmentation"`` (the default) reads an annotation's segmentation
    where it has one (a polygon or a mask) and its ``bbox`` where not;
    ``"bbox"`` reads every annotation that has a ``bbox`` as that box, whatever its
    segmentation: what a 'boxes' project takes from an instance segmentation file.

    Every annotation is checked against its image (:func:`~labelnb.formats._common.
    fit_region`): a region outside the image is refused (``box_policy="reject"``) or
    clipped (``"clip"``, noted in ``notes``); polygons with fewer than 3 points are
    refused, and so are boxes and polygons without area and empty masks with
    ``degenerate="reject"`` (the importer; the default keeps them, so that whatever
    :func:`to_coco` wrote reads back); an RLE must have the image's size. Raises
    :class:`~labelnb.formats._common.FormatProblems` listing every problem, or, with
    ``problems`` (a list), appends them there and leaves the bad records out."""
    check_box_policy(box_policy)
    regions: dict[int, list[Region]] = {}
    found = coco_problems(data, box_policy=box_policy, regions=True, out=regions,
                          notes=notes, degenerate=degenerate, geometry=geometry)
    if found:
        if problems is None:
            raise FormatProblems("COCO data", found)
        problems.extend(found)
        if not isinstance(data, Mapping) or not all(
                isinstance(data.get(k), list) for k in ("images", "categories")):
            return Dataset([], {}, [])
    cats: dict[int, str] = {}
    for c in data["categories"]:
        cid = _int(c.get("id")) if isinstance(c, Mapping) else None
        if cid is not None and isinstance(c.get("name"), str) and c["name"] and cid not in cats:
            cats[cid] = str(c["name"])
    records: list[ImageRecord] = []
    seen: set[int] = set()
    for im in data["images"]:
        if not isinstance(im, Mapping):
            continue
        iid = _int(im.get("id"))
        w, h = _int(im.get("width")), _int(im.get("height"))
        if iid is None or iid in seen or w is None or h is None or w <= 0 or h <= 0 \
                or "file_name" not in im:
            continue
        seen.add(iid)
        records.append(ImageRecord(iid, str(im["file_name"]), w, h))
    # without an 'annotations' list (an image_info file) the images are not labeled;
    # with one, an image it says nothing about is labeled with nothing on it
    by_image = ({r.id: regions.get(r.id, []) for r in records}
                if isinstance(data.get("annotations"), list) else {})
    return Dataset(records, by_image, list(dict.fromkeys(cats[i] for i in sorted(cats))))


def validate_coco(data: Mapping[str, Any], *, raise_on_error: bool = True) -> list[str]:
    """Structural checks: required keys, unique ids, every annotation references an
    image and a category, boxes inside their image. Returns the problems (or raises
    :class:`~labelnb.formats._common.FormatProblems` listing them)."""
    found = coco_problems(data)
    if found and raise_on_error:
        raise FormatProblems("COCO data", found)
    return [str(p) for p in found]


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
                place_image(im.uri, d / im.file_name, media, expect=im)
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
              images: str | os.PathLike[str] | None = None, box_policy: BoxPolicy = "reject",
              problems: list[Problem] | None = None, notes: list[str] | None = None,
              degenerate: Degenerate = "keep", geometry: Geometry = "segmentation"
              ) -> Dataset:
    """Read a COCO file (or an export root: every ``annotations*.json`` in it).

    Each image's ``uri`` is set to its file where found: under ``images`` if given,
    else the first of :func:`image_dir`, ``<root>/images``, ``<root>/<split>`` and
    ``<root>`` that holds it (``<root>`` is the folder above ``annotations/``, so the
    official ``annotations/instances_val2017.json`` + ``val2017/`` layout works).
    ``box_policy``, ``problems``, ``notes``, ``degenerate`` and ``geometry`` as in
    :func:`from_coco` (a problem's ``where`` then starts with the file)."""
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
        parts = [_load_one(f, p, s, img_root, box_policy, problems, notes, degenerate,
                           geometry) for f, s in files]
        return _concat(parts, str(p), problems)
    root = p.parent.parent if p.parent.name == "annotations" else p.parent
    if split is None and p.stem.startswith("instances_") and p.parent.name == "annotations":
        split = p.stem[len("instances_"):]
    return _load_one(p, root, split, img_root, box_policy, problems, notes, degenerate,
                     geometry)


def _load_one(file: Path, root: Path, split: str | None, img_root: Path | None,
              box_policy: BoxPolicy = "reject", problems: list[Problem] | None = None,
              notes: list[str] | None = None, degenerate: Degenerate = "keep",
              geometry: Geometry = "segmentation") -> Dataset:
    try:
        data = orjson.loads(file.read_bytes())
    except FileNotFoundError:
        raise FormatError(f"{str(file)!r}: the COCO file does not exist; fix the path") from None
    except orjson.JSONDecodeError as e:
        raise FormatError(f"{str(file)!r}: not valid JSON ({e})") from None
    found: list[Problem] = []
    ds = from_coco(data, box_policy=box_policy, problems=found, notes=notes,
                   degenerate=degenerate, geometry=geometry)
    if found:
        located = [Problem(q.item, q.field, q.message,
                           f"{file.name}" + (f", {q.where}" if q.where else "")) for q in found]
        if problems is None:
            raise FormatProblems(repr(str(file)), located)
        problems.extend(located)
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


def _concat(parts: list[Dataset], where: str, problems: list[Problem] | None = None
            ) -> Dataset:
    cats = parts[0].categories
    images: list[ImageRecord] = []
    regions: dict[int, list[Region]] = {}
    seen: set[int] = set()
    found: list[Problem] = []
    for ds in parts:
        if ds.categories != cats:
            found.append(Problem(f"COCO files in {where!r}", "categories",
                                 f"the splits list different categories ({cats} vs "
                                 f"{ds.categories}); export them with one schema"))
        for im in ds.images:
            if im.id in seen:
                found.append(Problem(f"image {im.file_name!r}", "id",
                                     f"image id {im.id} appears in two splits (also "
                                     f"{im.split!r}); give each image its own id"))
                continue
            seen.add(im.id)
            images.append(im)
            if im.id in ds.regions:  # (an image_info file's images have no labels)
                regions[im.id] = ds.regions[im.id]
    if found:
        if problems is None:
            raise FormatProblems(repr(where), found)
        problems.extend(found)
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


__all__ = ["Geometry", "annotation_file", "check_with_pycocotools", "from_coco", "image_dir",
           "load_coco", "region_to_coco", "save_coco", "to_coco", "validate_coco"]
