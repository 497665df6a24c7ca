"""``MaskAnnotator``: paint masks with a brush and eraser, or pick them with a magic wand.

The browser (``static/polygon.js``, shared with
:class:`~labelnb.widgets.polygon.PolygonAnnotator`) paints each object's mask at
display resolution and sends committed masks as binary buffers: the run lengths of the
row-major bitmap, alternating background and foreground and starting with background,
as little-endian uint32 (never base64). This module brings them to original size and
stores them as COCO RLE (:class:`~labelnb.types.Mask`):

* a mask that came from Python at full resolution (an annotation set here, an
  accepted suggestion or wand candidate) keeps its full-resolution pixels wherever the
  annotator did not paint over it;
* painted display pixels are scaled up by pixel centres (nearest neighbour).

The magic wand sends positive/negative clicks and a box, in display pixels, to
:meth:`MaskAnnotator.segment`, which calls ``segment_fn(image, points, labels, box)``
in original pixels (see :mod:`labelnb.segment.protocol`; the default is the classical
wand, :class:`~labelnb.segment.wand.ClassicalWand`) and sends the candidates back
downscaled, best first.

>>> import numpy as np
>>> from labelnb.types import Mask
>>> img = np.zeros((120, 160, 3), np.uint8)
>>> img[20:60, 40:100] = 220
>>> w = MaskAnnotator(img, labels=["blob"], max_display=80)
>>> cands = w.segment(points=[(35, 20)], labels=[1])   # a click, in display pixels
>>> best = cands[0]
>>> best.area, best.bbox.xywh
(2400, (40.0, 20.0, 60.0, 40.0))
>>> w.annotations = [best]
>>> w.annotations[0].rle == best.rle       # kept at full resolution
True
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import traitlets

from labelnb.errors import ValidationError
from labelnb.schema import LabelClass, Schema
from labelnb.segment.protocol import SegmentFn
from labelnb.types import Mask, Polygon, Region
from labelnb.widgets._base import STATIC, make_schema, with_defaults
from labelnb.widgets._esm import esm_source
from labelnb.widgets._geometry import DisplayScale
from labelnb.widgets._keymap import default_keys
from labelnb.widgets._media import ImageLike
from labelnb.widgets._wand import WandAnnotator

log = logging.getLogger("labelnb")
_ids = itertools.count(1)
_WAND_KEEP = 64  # wand requests whose candidates stay acceptable at full resolution


# --- display bitmaps <-> run lengths <-> original masks -------------------------------------
def bitmap_to_runs(bitmap: np.ndarray) -> bytes:
    """Row-major run lengths (background first) as little-endian uint32 bytes.

    >>> np.frombuffer(bitmap_to_runs(np.array([[1, 1, 0], [0, 0, 1]], bool)), "<u4").tolist()
    [0, 2, 3, 1]
    """
    flat = np.asarray(bitmap, dtype=bool).reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds)
    if flat.size and flat[0]:
        runs = np.concatenate(([0], runs))
    return runs.astype("<u4").tobytes()


def runs_to_bitmap(runs: Any, height: int, width: int, *, where: str = "mask") -> np.ndarray:
    """The ``(height, width)`` bool bitmap of row-major run lengths (uint32 bytes).

    >>> runs_to_bitmap(bitmap_to_runs(np.eye(3, dtype=bool)), 3, 3).astype(int).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    """
    try:
        counts = np.frombuffer(bytes(runs), dtype="<u4")
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: field 'runs' must be uint32 run lengths in bytes, got "
                              f"{type(runs).__name__}") from None
    total = int(counts.sum(dtype=np.int64))
    if total != height * width:
        raise ValidationError(
            f"{where}: the runs cover {total} pixels but the display image is {width}x{height}"
            f" ({height * width} pixels); send one run-length bitmap at display size")
    values = (np.arange(counts.size) % 2).astype(bool)
    return np.repeat(values, counts).reshape(height, width)


def downscale_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A full-resolution bool mask at display size: area average, then >= 1/2.

    A mask too small or too thin for that (no display pixel half covered) keeps the
    display pixels covered at least half as much as the most covered one: a small
    object stays a dot and a thin crack a line, instead of vanishing from the screen
    (where a brush stroke would then drop it as empty).

    >>> m = np.zeros((400, 400), bool); m[101, 10:390] = True     # a 1 px line
    >>> small = downscale_mask(m, 100, 100)
    >>> int(small.sum()), bool(small[25, 3:97].all()), int(small[24].sum() + small[26].sum())
    (96, True, 0)
    """
    if mask.shape == (height, width):
        return np.asarray(mask, bool)
    from PIL import Image

    im = Image.fromarray(np.asarray(mask, np.uint8) * 255)
    out: np.ndarray = np.asarray(im.resize((width, height), Image.Resampling.BOX)) >= 128
    if not out.any() and mask.any():  # the exact coverage (a uint8 average rounds to 0)
        cover = np.asarray(Image.fromarray(np.asarray(mask, np.float32)).resize(
            (width, height), Image.Resampling.BOX))
        top = float(cover.max())
        if top > 0:
            out = cover >= top / 2
        else:  # float underflow cannot hide a pixel, but never return an empty mask
            y, x = np.argwhere(mask)[0]
            out[min(height - 1, int(y * height / mask.shape[0])),
                min(width - 1, int(x * width / mask.shape[1]))] = True
    return out


def upscale_mask(bitmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """A display bitmap at original size, by pixel centres (nearest neighbour)."""
    h, w = bitmap.shape
    if (h, w) == (height, width):
        return np.asarray(bitmap, bool)
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.intp), w - 1)
    out: np.ndarray = np.asarray(bitmap, bool)[rows[:, None], cols[None, :]]
    return out


def polygon_to_mask(polygon: Polygon, height: int, width: int) -> Mask:
    """Rasterize a polygon (original pixels) into a :class:`Mask` of that size: the
    pixels whose centres lie inside (even-odd rule), as the browser's fill does.

    >>> polygon_to_mask(Polygon((0, 0, 4, 0, 4, 4, 0, 4), "a"), 6, 6).area
    16
    """
    xy = polygon.xy
    x0, y0 = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    arr = np.zeros((height, width), bool)
    lo = max(0, int(np.floor(y0.min())))
    hi = min(height, int(np.ceil(y0.max())))
    for row in range(lo, hi):
        cy = row + 0.5
        cross = (y0 > cy) != (y1 > cy)
        if not cross.any():
            continue
        xs = np.sort(x0[cross] + (cy - y0[cross]) * (x1[cross] - x0[cross])
                     / (y1[cross] - y0[cross]))
        for xa, xb in zip(xs[0::2], xs[1::2], strict=False):
            a = max(0, int(np.ceil(xa - 0.5)))
            b = min(width, int(np.ceil(xb - 0.5)))
            if b > a:
                arr[row, a:b] = True
    return Mask.from_array(arr, polygon.label, score=polygon.score,
                           attributes=polygon.attributes)


class MaskAnnotator(WandAnnotator[Mask | Polygon]):
    """Paint masks on an image: one mask per object.

    Tools: **brush** (``b``) paints the selected object (a stroke with nothing selected
    starts a new object of the current class); **eraser** (``e``) erases from the
    selected object (from all, when none is selected); ``[`` / ``]`` change the size.
    **Magic wand** (``w``): a click is a positive point, Shift+click or right-click a
    negative one, a drag a box; Python proposes candidate masks, Tab cycles them, Enter
    accepts the shown one as a new object (one undoable step). Alt+click selects the
    object under the pointer or accepts the suggestion there; ``n`` starts a new
    object, Tab (without wand candidates) selects the next one. The class hotkeys pick
    the class and relabel the selected object; Delete deletes it; Ctrl+Z /
    Ctrl+Shift+Z undo and redo; ``?`` shows every key.

    ``segment_fn(image, points, labels, box) -> (masks, scores)`` is the wand's
    segmenter (see :mod:`labelnb.segment.protocol`); the default is the classical wand
    (numpy + scipy, no GPU). At most ``max_candidates`` candidates are shown.

    Read and set :attr:`annotations` as :class:`~labelnb.types.Mask` (COCO RLE at the
    original image size); Polygons given to the setter or as suggestions are
    rasterized.
    """

    ACTIONS: ClassVar[tuple[str, ...]] = (
        "submit", "skip", "undo", "redo", "delete", "accept_all", "next", "new_object",
        "brush", "eraser", "wand", "smaller", "larger", "zoom_in", "zoom_out", "fit_view",
        "help", "release")

    DEFAULT_KEYS = default_keys("polygon.js", "MASK_ACTIONS")
    _esm = esm_source("polygon.js")
    _css = STATIC / "polygon.css"
    _kind = traitlets.Unicode("masks").tag(sync=True)
    #: committed objects: {"id", "label", "runs": bytes (display bitmap), "wand"?: [req, k]}
    _masks = traitlets.List(traitlets.Dict()).tag(sync=True)
    _suggestions = traitlets.List(traitlets.Dict()).tag(sync=True)  # same form, + "score"

    def __init__(self, image: ImageLike | None = None, *,
                 labels: Sequence[LabelClass | str | Mapping[str, Any]] | None = None,
                 schema: Schema | None = None, annotations: Iterable[Mask | Polygon] = (),
                 suggestions: Iterable[Region] = (), max_display: int = 960,
                 keymap: Mapping[str, str | Sequence[str]] | None = None,
                 segment_fn: SegmentFn | None = None, max_candidates: int = 3) -> None:
        super().__init__(make_schema("masks", labels, schema, ("masks",)), max_display, keymap)
        self._init_wand(segment_fn, max_candidates)
        #: object id -> (display runs it was sent with, full-resolution RLE)
        self._hires: dict[str, tuple[bytes, dict[str, Any]]] = {}
        #: wand request -> its candidates as (display runs, full-resolution RLE)
        self._wand: dict[int, list[tuple[bytes, dict[str, Any]]]] = {}
        self.observe(self._register_wand_objects, names="_masks")
        if image is not None:
            self.load(image, annotations=annotations, suggestions=suggestions)

    _REGIONS_TRAIT = "_masks"

    def _clear_regions(self) -> None:
        self._hires.clear()
        self._wand.clear()
        self._masks = []
        self._suggestions = []

    def _build(self, annotations: list[Mask | Polygon], suggestions: list[Region]
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                          dict[str, tuple[bytes, dict[str, Any]]]]:
        hires: dict[str, tuple[bytes, dict[str, Any]]] = {}
        return (self._annotations_json(annotations, hires),
                self._suggestions_json(suggestions, hires), hires)

    def _apply(self, built: Any) -> None:
        shown, suggested, hires = built
        self._hires.update(hires)
        self._masks = shown
        self._suggestions = suggested

    # --- the committed masks, in original pixels ------------------------------------------
    @property
    def annotations(self) -> list[Mask]:
        """The committed masks (COCO RLE at original size), checked against the schema."""
        return self.masks_from_display(self._masks)

    @annotations.setter
    def annotations(self, masks: Iterable[Mask | Polygon]) -> None:
        hires: dict[str, tuple[bytes, dict[str, Any]]] = {}
        shown = self._annotations_json(masks, hires)
        self._hires.update(hires)
        self._masks = shown

    def _annotations_json(self, masks: Iterable[Mask | Polygon],
                          hires: dict[str, tuple[bytes, dict[str, Any]]] | None = None
                          ) -> list[dict[str, Any]]:
        """Checked masks as display objects; their full-resolution pixels go in
        ``hires`` (by object id), which the caller keeps once it shows them."""
        keep = {} if hires is None else hires
        return [self._to_display(m, f"MaskAnnotator annotation {i}", "m", keep)
                for i, m in enumerate(masks)]

    @property
    def suggestions(self) -> list[Mask]:
        """Pre-annotations, shown hatched; Alt+click on one (or ``y`` for all) accepts it.
        Polygons are rasterized; other kinds and unknown classes are left out."""
        return self.masks_from_display(self._suggestions, check_labels=False)

    @suggestions.setter
    def suggestions(self, regions: Iterable[Region]) -> None:
        hires: dict[str, tuple[bytes, dict[str, Any]]] = {}
        shown = self._suggestions_json(regions, hires)
        self._hires.update(hires)
        self._suggestions = shown

    def _suggestions_json(self, regions: Iterable[Region],
                          hires: dict[str, tuple[bytes, dict[str, Any]]] | None = None
                          ) -> list[dict[str, Any]]:
        keep = {} if hires is None else hires
        out = []
        for i, r in enumerate(regions):
            if isinstance(r, Mask | Polygon) and r.label in self.schema:
                d = self._to_display(r, f"MaskAnnotator suggestion {i}", "s", keep,
                                     check=False)
                if r.score is not None:
                    d["score"] = r.score
                out.append(d)
        return out

    def _to_display(self, region: Mask | Polygon, where: str, prefix: str,
                    hires: dict[str, tuple[bytes, dict[str, Any]]], *,
                    check: bool = True) -> dict[str, Any]:
        """One mask (or polygon, rasterized) as a display object; its full-resolution
        pixels go in ``hires`` under the object's id."""
        scale = self._require_scale()
        if isinstance(region, Polygon):
            if check:
                region = with_defaults(self.schema, region)
                self.schema.check_region(region, where, width=scale.width, height=scale.height)
            region = polygon_to_mask(region, scale.height, scale.width)
        if not isinstance(region, Mask):
            raise ValidationError(f"{where}: expected a Mask (or a Polygon), got "
                                  f"{type(region).__name__}")
        if region.size != (scale.height, scale.width):
            raise ValidationError(
                f"{where}: mask {region.label!r} has size {list(region.size)} (h, w) but the "
                f"image is {scale.height}x{scale.width} (h x w); encode the mask at image size")
        if check:
            region = with_defaults(self.schema, region)
            self.schema.check_region(region, where, width=scale.width, height=scale.height)
        runs = bitmap_to_runs(downscale_mask(region.to_array(), scale.display_height,
                                             scale.display_width))
        oid = f"{prefix}{next(_ids)}"
        hires[oid] = (runs, dict(region.rle))
        out: dict[str, Any] = {"id": oid, "label": region.label, "runs": runs}
        if region.attributes:
            out["attributes"] = dict(region.attributes)
        return out

    def _register_wand_objects(self, change: Mapping[str, Any]) -> None:
        """Keep the full-resolution pixels of accepted wand candidates (by object id)."""
        for o in change["new"] or ():
            self._lookup_wand(o)

    def _lookup_wand(self, obj: Mapping[str, Any]) -> None:
        oid = str(obj.get("id", ""))
        ref = obj.get("wand")
        if not oid or oid in self._hires or not isinstance(ref, list | tuple) or len(ref) != 2:
            return
        try:
            cands = self._wand.get(int(ref[0]))
            k = int(ref[1])
        except (TypeError, ValueError):
            return
        if cands is not None and 0 <= k < len(cands):
            self._hires[oid] = cands[k]

    def masks_from_display(self, objects: Iterable[Mapping[str, Any]], *,
                           check_labels: bool = True) -> list[Mask]:
        """Browser objects (``{"id", "label", "runs"}``, display bitmaps) as masks at
        original size. Empty objects are left out."""
        return self._regions_from_display(objects, "mask", self._mask_to_original, check_labels)

    def _mask_to_original(self, scale: DisplayScale, o: Mapping[str, Any], where: str
                          ) -> Mask | None:
        if not isinstance(o, Mapping):
            raise ValidationError(f"{where}: expected an object {{'id', 'label', 'runs'}}, "
                                  f"got {type(o).__name__}")
        label = o.get("label")
        if not isinstance(label, str) or not label:
            raise ValidationError(f"{where}: field 'label' must be a class name, got "
                                  f"{label!r}")
        if "runs" not in o:
            raise ValidationError(f"{where}: missing field 'runs' (the display bitmap)")
        runs = bytes(o["runs"])
        self._lookup_wand(o)
        rle = self._full_resolution(str(o.get("id", "")), runs, scale, where)
        score = o.get("score")
        return None if rle is None else Mask(
            rle, label, attributes=o.get("attributes") or {},
            score=float(score) if isinstance(score, int | float) else None)

    def _full_resolution(self, oid: str, runs: bytes, scale: DisplayScale, where: str
                         ) -> dict[str, Any] | None:
        dh, dw = scale.display_height, scale.display_width
        known = self._hires.get(oid)
        if known is not None and known[0] == runs:
            rle = known[1]
            return rle if Mask(rle, "x").area else None
        new = runs_to_bitmap(runs, dh, dw, where=where)
        if not new.any():
            return None
        full = upscale_mask(new, scale.height, scale.width)
        if known is not None:  # keep the full-resolution pixels the brush did not touch
            old = runs_to_bitmap(known[0], dh, dw, where=where)
            changed = upscale_mask(old != new, scale.height, scale.width)
            full = np.where(changed, full, Mask(known[1], "x").to_array())
        return dict(Mask.from_array(full, "x").rle)

    def regions_from_msg(self, msg: Mapping[str, Any]) -> list[Region]:
        """The regions of a bound ``submit`` message: ``regions`` (id, label) with one
        run-length buffer each in ``buffers``."""
        regions = msg.get("regions", [])
        buffers = msg.get("buffers", [])
        if not isinstance(regions, list) or not isinstance(buffers, list):
            raise ValidationError("submit: fields 'regions' and 'buffers' must be lists")
        if len(regions) != len(buffers):
            raise ValidationError(f"submit: {len(regions)} masks but {len(buffers)} bitmaps; "
                                  "send one run-length buffer per mask")
        for i, (r, b) in enumerate(zip(regions, buffers, strict=True)):
            if not isinstance(r, Mapping):  # dropped, the submit stored an empty annotation
                raise ValidationError(f"submit: region {i} is {type(r).__name__}, not an "
                                      "object {'id', 'label'}")
            if not isinstance(b, bytes | bytearray | memoryview):
                raise ValidationError(f"submit: bitmap {i} is {type(b).__name__}, not the "
                                      "run-length bytes of its mask")
        objs = [{**r, "runs": b} for r, b in zip(regions, buffers, strict=True)]
        return list(self.masks_from_display(objs))

    # --- the magic wand ------------------------------------------------------------------
    def segment(self, points: Sequence[Sequence[float]] = (), labels: Sequence[int] = (),
                box: Sequence[float] | None = None) -> list[Mask]:
        """Run the wand as the browser does: ``points`` / ``box`` in display pixels,
        ``labels`` 1 (positive) or 0 (negative). Returns the candidates at original
        size, best first (labelled with the current class)."""
        cands, _ = self._wand_masks(points, labels, box)
        _, kept = self._keep_candidates(cands)
        return [Mask(rle, self.current_label, score=s)
                for (_, rle), (_, s) in zip(kept, cands, strict=True)]

    def _keep_candidates(self, cands: list[tuple[np.ndarray, float]]
                         ) -> tuple[int, list[tuple[bytes, dict[str, Any]]]]:
        """Number a wand request and keep its candidates as (display runs, full-resolution
        RLE), so that an accepted one keeps its full-resolution pixels."""
        scale = self._require_scale()
        kept = [(bitmap_to_runs(downscale_mask(m, scale.display_height, scale.display_width)),
                 dict(Mask.from_array(m, "x").rle)) for m, _ in cands]
        req = max(self._wand, default=0) + 1
        self._wand[req] = kept
        for old in sorted(self._wand)[:-_WAND_KEEP]:
            del self._wand[old]
        return req, kept

    def _wand_reply(self, cands: list[tuple[np.ndarray, float]]
                    ) -> tuple[dict[str, Any], list[bytes]]:
        req, kept = self._keep_candidates(cands)
        return {"req": req}, [runs for runs, _ in kept]

    def handle_msg(self, content: Mapping[str, Any], buffers: Sequence[Any]) -> bool:
        if super().handle_msg(content, buffers):
            return True
        if content.get("type") == "submit" and self._session is not None:
            # the masks travel as buffers, which the session does not see: attach them
            self._session.on_submit({**content, "buffers": [bytes(b) for b in buffers]})
            return True
        return False
