r"""Consensus of boxes, masks and spans across annotators.

Each class takes the annotators' regions for many items and returns one consensus
set per item. Input: a long DataFrame with columns ``item``, ``annotator`` and
``region`` (:class:`~labelnb.types.Box`, :class:`~labelnb.types.Mask` or
:class:`~labelnb.types.Span`; a row whose region is ``None`` records that the annotator
saw the item and drew nothing), or an iterable of :class:`~labelnb.types.Annotation`
(an annotation without regions counts the same way). An item's annotator count
``n`` is the number of distinct annotators with a row (or annotation) for it.

``min_votes=None`` (the default) asks for a strict majority, ``votes > n / 2``;
an int asks for at least that many annotators.

* :class:`BoxConsensus` clusters boxes across annotators: annotators are taken in
  order and each one's boxes are matched one-to-one to the clusters so far (Hungarian
  on IoU, :func:`scipy.optimize.linear_sum_assignment`); a pair joins when its IoU with
  the cluster's current fused box reaches ``iou_threshold`` (and, by default, the
  labels agree), otherwise the box opens a new cluster. A cluster holds at most one box
  per annotator. Its fused box is the (weighted) mean of the members' corners,
  :math:`\bar x_0 = \sum_m w_m x_{0,m} / \sum_m w_m`, as in weighted box fusion
  (Solovyev, Wang & Gabruseva, 2021, *Image and Vision Computing* 107).
* :class:`MaskConsensus` keeps, per item and label, the pixels that at least
  ``min_votes`` annotators covered. The "at least j of the first i masks" sets follow
  :math:`A^{(i)}_j = A^{(i-1)}_j \cup (A^{(i-1)}_{j-1} \cap M_i)`, each a
  ``pycocotools.mask.merge`` on RLE, so no image is densified.
* :class:`SpanConsensus` votes on spans per item: ``mode="exact"`` counts the
  annotators who marked the same ``(start, end, label)``; ``mode="overlap"`` counts, per
  label, the annotators who covered each code point and returns the maximal runs that
  reach ``min_votes`` (per-character majority).

Every consensus region carries ``score`` = votes / ``n`` (for overlap spans, the
highest share over the run's characters) and ``attributes={"votes": votes}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from labelnb.errors import ValidationError
from labelnb.metrics._common import degenerate, threshold_pairs
from labelnb.metrics.boxes import iou_matrix
from labelnb.metrics.masks import rle_of
from labelnb.types import Annotation, Box, Mask, Region, Span

__all__ = ["BoxConsensus", "MaskConsensus", "SpanConsensus"]

# item -> (annotators in order of appearance, annotator -> regions)
_Grouped = dict[Any, tuple[list[Any], dict[Any, list[Any]]]]
_COLUMNS = ["item", "region", "label", "votes", "n_annotators"]


def _group(data: Any, kind: type[Region], who: str) -> _Grouped:
    rows: Iterable[tuple[Any, Any, Any]]
    if isinstance(data, pd.DataFrame):
        col = next((c for c in ("region", "box", "mask", "span") if c in data.columns), None)
        item_col = next((c for c in ("item", "item_id", "task") if c in data.columns), None)
        ann_col = next((c for c in ("annotator", "author", "worker") if c in data.columns),
                       None)
        if col is None or item_col is None or ann_col is None:
            raise ValidationError(
                f"{who}: expected columns item, annotator, region; got {list(data.columns)}"
            )
        rows = zip(data[item_col].tolist(), data[ann_col].tolist(), data[col].tolist(),
                   strict=True)
    else:
        flat: list[tuple[Any, Any, Any]] = []
        for ann in data:
            if not isinstance(ann, Annotation):
                raise ValidationError(
                    f"{who}: expected a DataFrame (item, annotator, region) or Annotation "
                    f"objects, got {type(ann).__name__}"
                )
            flat.append((ann.item_id, ann.author, None))
            flat.extend((ann.item_id, ann.author, r) for r in ann.regions
                        if isinstance(r, kind))
        rows = flat
    out = _grouped(rows, kind, who)
    if not out:
        degenerate(f"{who}: no annotations; the result is empty", stacklevel=4)
    return out


def _grouped(rows: Iterable[tuple[Any, Any, Any]], kind: type[Region], who: str) -> _Grouped:
    """``(item, annotator, region)`` rows by item, each region checked to be a
    ``kind`` (a missing region, None or NaN, only names its annotator)."""
    out: _Grouped = {}
    for item, annotator, region in rows:
        order, by = out.setdefault(item, ([], {}))
        if annotator not in by:
            order.append(annotator)
            by[annotator] = []
        if region is None or (isinstance(region, float) and np.isnan(region)):
            continue
        if not isinstance(region, kind):
            raise ValidationError(
                f"{who}: item {item!r}, annotator {annotator!r}: region {region!r} is not a "
                f"{kind.__name__}"
            )
        by[annotator].append(region)
    return out


def _one_item(annotations: Sequence[Sequence[Region]], kind: type[Region], who: str
              ) -> tuple[list[Any], dict[Any, list[Any]]]:
    """One item's annotations (``annotations[i]``: annotator ``i``'s regions) grouped
    as :func:`_group` groups the rows ``(0, i, region)`` of a frame: an annotator with
    no region has no row, so does not count."""
    rows = ((0, i, r) for i, regs in enumerate(annotations) for r in regs)
    return _grouped(rows, kind, who).get(0, ([], {}))


def _needed(min_votes: int | None, n: int, who: str) -> int:
    if min_votes is None:
        return n // 2 + 1
    if isinstance(min_votes, bool) or not isinstance(min_votes, int) or min_votes < 1:
        raise ValidationError(f"{who}: min_votes must be None or an int >= 1, got "
                              f"{min_votes!r}")
    return min_votes


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=_COLUMNS)


class BoxConsensus:
    """Fuse annotators' boxes into consensus boxes (see the module docstring).

    Parameters: ``iou_threshold`` (to join a cluster), ``min_votes`` (``None``: strict
    majority), ``match_labels`` (only same-label boxes cluster; with ``False`` the
    cluster's label is its weighted majority label), ``weights`` (annotator → weight
    of their corners in the mean; default 1 each).

    Fitted attribute ``consensus_``: DataFrame with columns ``item``, ``region`` (a
    :class:`~labelnb.types.Box`), ``label``, ``votes``, ``n_annotators``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"item": [1, 1, 1],
    ...                    "annotator": ["a", "b", "c"],
    ...                    "region": [Box(0, 0, 10, 10, "cat"), Box(2, 0, 12, 10, "cat"),
    ...                               Box(50, 50, 60, 60, "cat")]})
    >>> out = BoxConsensus().fit_predict(df)
    >>> out["region"].tolist()[0].to_json()
    {'type': 'box', 'label': 'cat', 'score': 0.6666666666666666, 'attributes': {'votes': 2}, \
'x0': 1.0, 'y0': 0.0, 'x1': 11.0, 'y1': 10.0}
    """

    consensus_: pd.DataFrame

    def __init__(self, iou_threshold: float = 0.5, min_votes: int | None = None,
                 match_labels: bool = True, weights: Mapping[Any, float] | None = None) -> None:
        self.iou_threshold = iou_threshold
        self.min_votes = min_votes
        self.match_labels = match_labels
        self.weights = weights

    def _weight(self, annotator: Any) -> float:
        if self.weights is None:
            return 1.0
        w = float(self.weights.get(annotator, 1.0))
        if not w > 0:
            raise ValidationError(f"BoxConsensus: weight of {annotator!r} must be > 0")
        return w

    def _item(self, item: Any, order: list[Any], by: dict[Any, list[Box]]) -> list[dict[str,
                                                                                     Any]]:
        n = len(order)
        need = _needed(self.min_votes, n, "BoxConsensus")
        fused = np.zeros((0, 4))
        wsum: list[float] = []
        members: list[list[tuple[Any, Box]]] = []
        for ann in order:
            boxes = by[ann]
            if not boxes:
                continue
            w = self._weight(ann)
            coords = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes])
            joined: set[int] = set()
            if len(members):
                iou = iou_matrix(coords, fused)
                if self.match_labels:
                    la = np.array([b.label for b in boxes], dtype=object)
                    lc = np.array([m[0][1].label for m in members], dtype=object)
                    iou = np.where(la[:, None] == lc[None, :], iou, 0.0)
                for r, c, _ in threshold_pairs(iou, self.iou_threshold):
                    fused[c] = (fused[c] * wsum[c] + coords[r] * w) / (wsum[c] + w)
                    wsum[c] += w
                    members[c].append((ann, boxes[r]))
                    joined.add(r)
            new = [r for r in range(len(boxes)) if r not in joined]
            if new:
                fused = np.vstack([fused, coords[new]])
                wsum.extend([w] * len(new))
                members.extend([[(ann, boxes[r])] for r in new])
        out = []
        for c, mem in enumerate(members):
            votes = len(mem)
            if votes < need:
                continue
            tally: dict[str, float] = {}
            for ann, b in mem:
                tally[b.label] = tally.get(b.label, 0.0) + self._weight(ann)
            label = max(sorted(tally), key=lambda k: tally[k])
            x0, y0, x1, y1 = fused[c].tolist()
            box = Box(x0, y0, x1, y1, label, score=votes / n, attributes={"votes": votes})
            out.append({"item": item, "region": box, "label": label, "votes": votes,
                        "n_annotators": n})
        return out

    def _check(self) -> None:
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise ValidationError(
                f"BoxConsensus: iou_threshold must lie in [0, 1], got {self.iou_threshold!r}")

    def fuse(self, annotations: Sequence[Sequence[Box]]) -> list[Box]:
        """The consensus boxes of one item (``annotations[i]``: annotator ``i``'s
        boxes; weights, if given, by those indices): what :meth:`fit` makes of the
        rows ``(0, i, box)`` of a frame, without building frames
        (:func:`~labelnb.metrics.tiers.fuse` runs it for every item of a project). As
        there, an annotator with no box has no row, so does not count."""
        self._check()
        order, by = _one_item(annotations, Box, "BoxConsensus")
        return [row["region"] for row in self._item(0, order, by)]

    def fit(self, data: Any) -> BoxConsensus:
        """Cluster and fuse the boxes of ``data`` (DataFrame or Annotations)."""
        self._check()
        rows: list[dict[str, Any]] = []
        for item, (order, by) in _group(data, Box, "BoxConsensus").items():
            rows.extend(self._item(item, order, by))
        self.consensus_ = _frame(rows)
        return self

    def fit_predict(self, data: Any) -> pd.DataFrame:
        """Fit and return ``consensus_``."""
        return self.fit(data).consensus_


class MaskConsensus:
    """Per-pixel vote of annotators' masks, on RLE (see the module docstring).

    Per item and label, each annotator's masks of that label are first united, so an
    annotator votes once per pixel. Parameter ``min_votes`` (``None``: strict majority
    of the item's annotators). Empty consensus masks are dropped.

    Fitted attribute ``consensus_``: DataFrame with columns ``item``, ``region`` (a
    :class:`~labelnb.types.Mask`), ``label``, ``votes`` (annotators who drew that label),
    ``n_annotators``.

    >>> import numpy as np, pandas as pd
    >>> def m(cols):
    ...     a = np.zeros((2, 4), bool); a[:, cols] = True
    ...     return Mask.from_array(a, "road")
    >>> df = pd.DataFrame({"item": [7, 7, 7], "annotator": ["a", "b", "c"],
    ...                    "region": [m([0, 1]), m([1, 2]), m([1, 3])]})
    >>> MaskConsensus().fit_predict(df)["region"][0].to_array().astype(int)
    array([[0, 1, 0, 0],
           [0, 1, 0, 0]])
    """

    consensus_: pd.DataFrame

    def __init__(self, min_votes: int | None = None) -> None:
        self.min_votes = min_votes

    @staticmethod
    def at_least(rles: list[dict[str, Any]], k: int) -> dict[str, Any]:
        """The RLE of the pixels covered by at least ``k`` of ``rles`` (same size)."""
        h, w = rles[0]["size"]
        empty = mask_utils.frPyObjects({"size": [h, w], "counts": [h * w]}, h, w)
        if k > len(rles):
            return dict(empty)
        # level[j] = pixels covered by at least j+1 of the masks seen so far
        level: list[dict[str, Any]] = [empty] * k
        for seen, m in enumerate(rles):
            for j in range(min(k, seen + 1) - 1, -1, -1):
                grown = m if j == 0 else mask_utils.merge([level[j - 1], m], intersect=True)
                level[j] = mask_utils.merge([level[j], grown], intersect=False)
        return dict(level[k - 1])

    def _item(self, item: Any, order: list[Any], by: dict[Any, list[Mask]]
              ) -> list[dict[str, Any]]:
        """The consensus rows of one item (see :meth:`fit`)."""
        out: list[dict[str, Any]] = []
        n = len(order)
        need = _needed(self.min_votes, n, "MaskConsensus")
        per_label: dict[str, list[dict[str, Any]]] = {}
        sizes = set()
        for ann in order:
            mine: dict[str, list[dict[str, Any]]] = {}
            for mk in by[ann]:
                r = rle_of(mk)
                sizes.add(tuple(r["size"]))
                mine.setdefault(mk.label, []).append(r)
            for label, rs in mine.items():
                united = rs[0] if len(rs) == 1 else mask_utils.merge(rs, intersect=False)
                per_label.setdefault(label, []).append(united)
        if len(sizes) > 1:
            raise ValidationError(
                f"MaskConsensus: item {item!r} has masks of different sizes "
                f"{sorted(sizes)}; encode them at the image's size"
            )
        for label in sorted(per_label):
            rs = per_label[label]
            votes = len(rs)
            if votes < need:
                continue
            cons = self.at_least(rs, need)
            if int(mask_utils.area(cons)) == 0:
                continue
            counts = cons["counts"]
            mk = Mask({"size": [int(s) for s in cons["size"]],
                       "counts": counts.decode("ascii") if isinstance(counts, bytes)
                       else counts}, label, score=votes / n, attributes={"votes": votes})
            out.append({"item": item, "region": mk, "label": label, "votes": votes,
                        "n_annotators": n})
        return out

    def fuse(self, annotations: Sequence[Sequence[Mask]]) -> list[Mask]:
        """The consensus masks of one item (``annotations[i]``: annotator ``i``'s
        masks): what :meth:`fit` makes of the rows ``(0, i, mask)`` of a frame, without
        building frames (:func:`~labelnb.metrics.tiers.fuse` runs it for every item of
        a project). As there, an annotator with no mask has no row, so does not
        count."""
        order, by = _one_item(annotations, Mask, "MaskConsensus")
        return [row["region"] for row in self._item(0, order, by)]

    def fit(self, data: Any) -> MaskConsensus:
        """Vote on the masks of ``data`` (DataFrame or Annotations)."""
        rows: list[dict[str, Any]] = []
        for item, (order, by) in _group(data, Mask, "MaskConsensus").items():
            rows.extend(self._item(item, order, by))
        self.consensus_ = _frame(rows)
        return self

    def fit_predict(self, data: Any) -> pd.DataFrame:
        """Fit and return ``consensus_``."""
        return self.fit(data).consensus_


class SpanConsensus:
    """Vote on annotators' text spans (see the module docstring).

    Parameters: ``mode`` (``"exact"`` or ``"overlap"``), ``min_votes`` (``None``:
    strict majority of the item's annotators).

    Fitted attribute ``consensus_``: DataFrame with columns ``item``, ``region`` (a
    :class:`~labelnb.types.Span`), ``label``, ``votes``, ``n_annotators``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"item": [1, 1, 1], "annotator": ["a", "b", "c"],
    ...                    "region": [Span(0, 5, "ORG"), Span(0, 5, "ORG"),
    ...                               Span(0, 9, "ORG")]})
    >>> [(s.start, s.end) for s in SpanConsensus().fit_predict(df)["region"]]
    [(0, 5)]
    >>> [(s.start, s.end) for s in SpanConsensus(min_votes=1, mode="overlap")
    ...  .fit_predict(df)["region"]]
    [(0, 9)]
    """

    consensus_: pd.DataFrame

    def __init__(self, mode: Literal["exact", "overlap"] = "exact",
                 min_votes: int | None = None) -> None:
        self.mode = mode
        self.min_votes = min_votes

    @staticmethod
    def _runs(spans_by_annotator: list[list[Span]], need: int) -> list[tuple[int, int, int]]:
        """Maximal runs ``(start, end, max votes)`` covered by >= need annotators."""
        events: dict[int, int] = {}
        for spans in spans_by_annotator:
            # unite one annotator's spans so that they vote once per code point
            merged: list[list[int]] = []
            for s in sorted(spans, key=lambda s: (s.start, s.end)):
                if merged and s.start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], s.end)
                else:
                    merged.append([s.start, s.end])
            for a, b in merged:
                events[a] = events.get(a, 0) + 1
                events[b] = events.get(b, 0) - 1
        out: list[tuple[int, int, int]] = []
        level, run_start, run_max = 0, -1, 0
        for pos in sorted(events):
            before = level
            level += events[pos]
            if before < need <= level:
                run_start, run_max = pos, level
            elif before >= need > level:
                out.append((run_start, pos, max(run_max, before)))
            elif level >= need:
                run_max = max(run_max, level)
        return out

    def fit(self, data: Any) -> SpanConsensus:
        """Vote on the spans of ``data`` (DataFrame or Annotations)."""
        if self.mode not in ("exact", "overlap"):
            raise ValidationError(
                f"SpanConsensus: mode={self.mode!r}; expected 'exact' or 'overlap'")
        rows: list[dict[str, Any]] = []
        for item, (order, by) in _group(data, Span, "SpanConsensus").items():
            n = len(order)
            need = _needed(self.min_votes, n, "SpanConsensus")
            found: list[Span] = []
            if self.mode == "exact":
                tally: dict[tuple[int, int, str], int] = {}
                for ann in order:
                    for key in {(s.start, s.end, s.label) for s in by[ann]}:
                        tally[key] = tally.get(key, 0) + 1
                for (a, b, label), votes in sorted(tally.items()):
                    if votes >= need:
                        found.append(Span(a, b, label, score=votes / n,
                                          attributes={"votes": votes}))
            else:
                labels = sorted({s.label for ann in order for s in by[ann]})
                for label in labels:
                    lists = [[s for s in by[ann] if s.label == label] for ann in order]
                    for a, b, votes in self._runs(lists, need):
                        found.append(Span(a, b, label, score=votes / n,
                                          attributes={"votes": votes}))
                found.sort(key=lambda s: (s.start, s.end, s.label))
            rows.extend({"item": item, "region": s, "label": s.label,
                         "votes": s.attributes["votes"], "n_annotators": n} for s in found)
        self.consensus_ = _frame(rows)
        return self

    def fit_predict(self, data: Any) -> pd.DataFrame:
        """Fit and return ``consensus_``."""
        return self.fit(data).consensus_


