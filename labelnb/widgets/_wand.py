"""The magic wand shared by the mask and polygon widgets (:class:`WandAnnotator`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labelnb.errors import ValidationError
from labelnb.segment.protocol import SegmentFn, check_segment_output
from labelnb.widgets._base import A, ImageAnnotator

log = logging.getLogger("labelnb")


class WandAnnotator(ImageAnnotator[A]):
    """Base of the widgets with a magic wand (:class:`~labelnb.widgets.mask.MaskAnnotator`,
    :class:`~labelnb.widgets.polygon.PolygonAnnotator`; not used directly).

    The browser sends ``{"type": "wand", "key", "seq", "points", "labels", "box"}``
    with the prompts in display pixels. This class checks them, maps them to original
    pixels with the widget's :class:`DisplayScale`, calls
    ``segment_fn(image, points, labels, box)`` on the original image (see
    :mod:`labelnb.segment.protocol`), checks its output and keeps the best
    ``max_candidates`` non-empty masks, best first. A subclass turns them into its
    reply (:meth:`_wand_reply`: bitmaps for masks, outlines for polygons); the reply
    echoes ``key`` and ``seq`` so that the browser can drop a stale one. A failing
    ``segment_fn`` is answered with ``{"error": ...}`` and logged, never hidden.
    """

    def _init_wand(self, segment_fn: SegmentFn | None, max_candidates: int) -> None:
        name = type(self).__name__
        if segment_fn is None:
            from labelnb.segment.wand import ClassicalWand

            segment_fn = ClassicalWand()
        if not callable(segment_fn):
            raise ValidationError(f"{name}: field 'segment_fn' must be callable as "
                                  f"segment_fn(image, points, labels, box) -> (masks, scores), "
                                  f"got {type(segment_fn).__name__}; leave it out for the "
                                  "classical wand")
        try:
            k = int(max_candidates)
        except (TypeError, ValueError):
            k = 0
        if k < 1:
            raise ValidationError(f"{name}: field 'max_candidates' must be an integer >= 1, got "
                                  f"{max_candidates!r}")
        self.segment_fn: SegmentFn = segment_fn
        self.max_candidates = k
        #: the latency of the last wand call (segment_fn alone), in milliseconds
        self.last_wand_ms: float | None = None
        #: the original image as RGB uint8, for the image it was made from
        self._rgb: tuple[Any, np.ndarray] | None = None

    def _original_rgb(self) -> np.ndarray:
        if self._rgb is None or self._rgb[0] is not self.original:
            self._rgb = (self.original, np.asarray(self.original.convert("RGB")))
        return self._rgb[1]

    def _wand_masks(self, points: Any, labels: Any, box: Any
                    ) -> tuple[list[tuple[np.ndarray, float]], float]:
        """The wand's candidates for prompts in display pixels: ``[(mask, score)]`` with
        full-resolution bool masks, best first, empty ones left out, at most
        ``max_candidates``; and the latency of ``segment_fn`` in milliseconds."""
        scale = self._require_scale()
        try:
            pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            labs = np.asarray(labels, dtype=np.int64).reshape(-1)
            bx = None if box is None else np.asarray(box, dtype=np.float64).reshape(4)
        except (TypeError, ValueError):
            raise ValidationError(f"wand: points must be [[x, y], ...], labels [1 or 0, ...] and "
                                  f"box [x0, y0, x1, y1] or null; got points={points!r}, "
                                  f"labels={labels!r}, box={box!r}") from None
        if labs.shape[0] != pts.shape[0] or not np.all(np.isin(labs, (0, 1))):
            raise ValidationError(f"wand: give one label, 1 (positive) or 0 (negative), per "
                                  f"point; got {labs.tolist()} for {pts.shape[0]} points")
        if not (np.all(np.isfinite(pts)) and (bx is None or np.all(np.isfinite(bx)))):
            raise ValidationError("wand: points and box must be finite numbers")
        f = np.array([scale.sx, scale.sy])
        pts = pts * f
        if bx is not None:
            bx = bx * np.concatenate([f, f])
        rgb = self._original_rgb()
        t0 = time.perf_counter()
        masks, scores = self.segment_fn(rgb, pts, labs, bx)
        ms = (time.perf_counter() - t0) * 1000
        self.last_wand_ms = ms
        masks, scores = check_segment_output(masks, scores, height=scale.height,
                                             width=scale.width)
        cands: list[tuple[np.ndarray, float]] = []
        for i in np.argsort(-scores, kind="stable"):
            if len(cands) >= self.max_candidates:
                break
            if masks[i].any():
                cands.append((masks[i], float(scores[i])))
        return cands, ms

    def _wand_reply(self, cands: list[tuple[np.ndarray, float]]
                    ) -> tuple[dict[str, Any], list[bytes]]:
        """The widget's part of the reply to a wand request: extra fields and buffers."""
        raise NotImplementedError

    def handle_msg(self, content: Mapping[str, Any], buffers: Sequence[Any]) -> bool:
        if content.get("type") == "wand":
            self._on_wand(content)
            return True
        return False

    def _on_wand(self, content: Mapping[str, Any]) -> None:
        key = str(content.get("key", ""))
        seq = content.get("seq")
        if key != self.item_key or self.scale is None:
            return  # a request about an item that is no longer shown
        reply: dict[str, Any] = {"type": "wand", "key": key, "seq": seq}
        try:
            cands, ms = self._wand_masks(content.get("points") or [],
                                         content.get("labels") or [], content.get("box"))
            extra, buffers = self._wand_reply(cands)
        except Exception as e:  # noqa: BLE001 - a user's segment_fn: show its error, not hide it
            log.exception("labelnb: the wand's segment_fn failed")
            self.send({**reply, "error": f"wand failed: {type(e).__name__}: {e}"})
            return
        self.send({**reply, **extra, "scores": [s for _, s in cands], "ms": round(ms, 1)},
                  buffers=buffers)


__all__ = ["WandAnnotator"]
