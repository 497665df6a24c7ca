"""Agreement tiers: do N annotations of one item agree, and on what?

Used by the tiered consensus workflow (``project.consensus()``), but pure: it works on
lists of regions, one list per annotator.

What counts as agreement is set per modality by :class:`Agreement`:

* ``choice`` / ``multi_choice``: the same set of labels;
* ``boxes``: every box matched one-to-one (Hungarian, same label) at IoU >= ``iou``;
* ``polygons``: as boxes, on the polygons' bounding boxes;
* ``masks``: every mask matched one-to-one (same label) at Dice >= ``dice``;
* ``spans``: span F1 of 1.0 in ``spans`` mode (``exact`` offsets or ``overlap``).

Agreement at a threshold is not transitive (A may agree with B and B with C while A
and C do not), so the agreeing group is the largest set of annotators who all agree
with each other, pair by pair; of several such sets of one size, the one whose members
agree with the most others outside it, then the one of the earliest annotators. The
group does not depend on the order the annotations come in, except in that last tie.
The tier of an item of N annotations is

* ``unanimous`` when all N agree with each other;
* ``majority`` when the group holds more than N / 2;
* ``none`` otherwise;

and the confidence is the group's share of N. One annotation (N = 1) compares nothing
and is trivially ``unanimous`` with confidence 1.0 here; the project reports such an
item as tier ``single`` with no confidence (see :func:`decide`).

>>> from labelnb.types import Choice
>>> decide([[Choice("cat")], [Choice("cat")], [Choice("dog")]], "choice")
Decision(tier='majority', group=(0, 1), confidence=0.6666666666666666, n=3)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Literal

import numpy as np

from labelnb.errors import ValidationError
from labelnb.metrics._common import DegenerateWarning, threshold_pairs
from labelnb.metrics.boxes import box_agreement, box_iou
from labelnb.metrics.consensus import BoxConsensus, MaskConsensus
from labelnb.metrics.masks import mask_dice
from labelnb.metrics.spans import span_f1
from labelnb.types import Box, Mask, Polygon, Region, Span

Tier = Literal["unanimous", "majority", "none"]


@dataclass(frozen=True, slots=True)
class Agreement:
    """Per-modality thresholds of agreement."""

    iou: float = 0.5
    dice: float = 0.8
    spans: Literal["exact", "overlap"] = "exact"

    def __post_init__(self) -> None:
        for name in ("iou", "dice"):
            v = getattr(self, name)
            if not 0.0 < float(v) <= 1.0:
                raise ValidationError(f"Agreement: field {name!r} is {v!r}; it must lie in "
                                      "(0, 1]")
        if self.spans not in ("exact", "overlap"):
            raise ValidationError(f"Agreement: field 'spans' is {self.spans!r}; expected "
                                  "'exact' or 'overlap'")


@dataclass(frozen=True, slots=True)
class Decision:
    """The tier of one item, the annotators (indices) in the winning group, and its
    share of all annotators."""

    tier: Tier
    group: tuple[int, ...]
    confidence: float
    n: int


def _as_boxes(regions: Sequence[Region]) -> list[Box]:
    out = []
    for r in regions:
        if isinstance(r, Box):
            out.append(r)
        elif isinstance(r, Polygon | Mask):
            out.append(r.bbox.with_label(r.label))  # type: ignore[arg-type]
    return out


def _polygon_mask(p: Polygon, height: int, width: int) -> Mask:
    from pycocotools import mask as mask_utils

    rle = mask_utils.merge(mask_utils.frPyObjects([list(p.points)], height, width))
    return Mask({"size": [height, width], "counts": rle["counts"].decode("ascii")}, p.label,
                attributes=dict(p.attributes))


def _as_masks(*lists: Sequence[Region]) -> list[list[Mask]]:
    """The regions of a ``masks`` project as masks: its polygons (the kind takes them
    too; they were left out, so two annotators' different polygons "agreed") filled at
    the masks' size, or, with no mask among them, at the polygons' own extent (enough
    to compare them)."""
    size = next((r.size for regs in lists for r in regs if isinstance(r, Mask)), None)
    if size is None:
        polys = [r for regs in lists for r in regs if isinstance(r, Polygon)]
        if not polys:
            return [[] for _ in lists]
        xy = np.concatenate([p.xy for p in polys])
        size = (int(np.ceil(xy[:, 1].max())) + 1, int(np.ceil(xy[:, 0].max())) + 1)
    h, w = size
    return [[r if isinstance(r, Mask) else _polygon_mask(r, h, w) for r in regs
             if isinstance(r, Mask | Polygon)] for regs in lists]


def _reference_attributes(fused: Sequence[Region], reference: Sequence[Region],
                          score: Callable[[Region, Region], float]) -> list[Region]:
    """``fused`` as plain regions (no ``score`` or ``votes``), each with the attributes of
    the reference annotation's region of its label that it overlaps most (agreement
    compares geometry, not attributes: the group's first member decides them, as for
    the kinds that are not fused)."""
    out: list[Region] = []
    for f in fused:
        same = [r for r in reference if r.label == f.label]
        best = max(same, key=lambda r: score(f, r), default=None)
        out.append(replace(f, score=None,  # type: ignore[type-var]
                           attributes=dict(best.attributes) if best is not None else {}))
    return out


def agree(a: Sequence[Region], b: Sequence[Region], kind: str,
          agreement: Agreement | None = None) -> bool:
    """Whether two annotators' regions of one item agree (see the module docstring)."""
    ag = agreement or Agreement()
    if kind in ("choice", "multi_choice"):
        return sorted(r.label for r in a) == sorted(r.label for r in b)
    if kind in ("boxes", "polygons"):
        ba, bb = _as_boxes(a), _as_boxes(b)
        if len(ba) != len(bb):
            return False
        if not ba:
            return True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateWarning)  # disagreement is the answer
            res = box_agreement(ba, bb, iou_threshold=ag.iou)
        return res.matched == len(ba) and res.missed == 0 and res.extra == 0
    if kind == "masks":
        ma, mb = _as_masks(a, b)
        if len(ma) != len(mb):
            return False
        if not ma:
            return True
        score = np.array([[mask_dice(x, y) if x.label == y.label else 0.0 for y in mb]
                          for x in ma])
        return len(threshold_pairs(score, ag.dice)) == len(ma)
    if kind == "spans":
        sa = [r for r in a if isinstance(r, Span)]
        sb = [r for r in b if isinstance(r, Span)]
        if not sa and not sb:
            return True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateWarning)
            return span_f1(sa, sb, mode=ag.spans).f1 == 1.0
    raise ValidationError(f"agree(): kind {kind!r} is not a schema kind")


def decide(annotations: Sequence[Sequence[Region]], kind: str,
           agreement: Agreement | None = None) -> Decision:
    """The tier of one item's annotations (one list of regions per annotator).

    One annotation compares nothing: it is its own agreeing group, so this pure
    function returns tier ``unanimous`` with confidence ``1.0`` (``n=1``). The project
    layer does not report that: ``project.consensus()`` gives an item labeled by one
    annotator only tier ``single``, with confidence ``None`` (or keeps adaptive
    redundancy's ``model_agreed``), and never calls this for it.

    >>> from labelnb.types import Choice
    >>> decide([[Choice("cat")]], "choice")
    Decision(tier='unanimous', group=(0,), confidence=1.0, n=1)
    """
    n = len(annotations)
    if n == 0:
        raise ValidationError("decide(): no annotations; an item needs at least one")
    ok = np.eye(n, dtype=bool)
    for i in range(n):
        for j in range(i + 1, n):
            ok[i, j] = ok[j, i] = agree(annotations[i], annotations[j], kind, agreement)
    top = _largest_agreeing(ok)
    share = len(top) / n
    tier: Tier = "unanimous" if len(top) == n else "majority" if len(top) > n / 2 else "none"
    return Decision(tier=tier, group=top, confidence=share, n=n)


#: up to this many annotators of one item, the agreeing group is found exactly (every
#: subset, largest first); beyond, greedily, most-agreeing annotators first
_EXACT_UP_TO = 14


def agreeing_groups(ok: np.ndarray) -> list[tuple[int, ...]]:
    """Indices ``0..N-1`` split into agreeing groups, largest first: the group
    :func:`decide` picks (from ``ok``, the N x N matrix of which pairs agree), then the
    one it would pick among the rest, and so on (the dashboard's geometry keys).

    >>> agreeing_groups(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool))
    [(0, 1), (2,)]
    """
    ok = np.asarray(ok, dtype=bool)
    left = list(range(len(ok)))
    out: list[tuple[int, ...]] = []
    while left:
        picked = set(_largest_agreeing(ok[np.ix_(left, left)]))
        out.append(tuple(left[k] for k in sorted(picked)))
        left = [x for k, x in enumerate(left) if k not in picked]
    return out


def _largest_agreeing(ok: np.ndarray) -> tuple[int, ...]:
    """The largest set of indices that all agree pairwise (``ok``: symmetric, with a
    true diagonal); ties: the most agreements with the others, then the earliest."""
    n = len(ok)
    degree = ok.sum(axis=1)
    if n <= _EXACT_UP_TO:
        for size in range(n, 0, -1):
            # (a member of a group of `size` agrees with `size` annotators, itself included)
            able = [i for i in range(n) if degree[i] >= size]
            cliques = [c for c in combinations(able, size) if ok[np.ix_(c, c)].all()]
            if cliques:
                # (combinations come in index order, so max keeps the earliest of a tie)
                return max(cliques, key=lambda c: int(degree[list(c)].sum()))
    group: list[int] = []
    for i in sorted(range(n), key=lambda k: (-int(degree[k]), k)):
        if all(ok[i, j] for j in group):
            group.append(i)
    return tuple(sorted(group))


def fuse(annotations: Sequence[Sequence[Region]], kind: str,
         agreement: Agreement | None = None) -> list[Region]:
    """One set of regions from agreeing annotations: box corners averaged, masks by
    per-pixel majority, otherwise (labels, spans, polygons) the first annotation's."""
    ag = agreement or Agreement()
    if not annotations:
        return []
    if kind == "boxes" and len(annotations) > 1:
        if not any(annotations):
            return []
        # (one item: no frames; BoxConsensus.fit would build two per call)
        kept = BoxConsensus(iou_threshold=ag.iou).fuse(annotations)  # type: ignore[arg-type]
        boxes = [Box(b.x0, b.y0, b.x1, b.y1, b.label) for b in kept]
        return _reference_attributes(boxes, _as_boxes(annotations[0]),
                                     lambda f, r: float(box_iou([f], [r])[0, 0]))  # type: ignore[list-item]
    if kind == "masks" and len(annotations) > 1 and any(
            isinstance(r, Mask) for regs in annotations for r in regs):
        masks = _as_masks(*annotations)  # polygons filled at the masks' (the image's) size
        # (one item: no frames; MaskConsensus.fit would build two per call)
        fused = [Mask(m.rle, m.label) for m in MaskConsensus().fuse(masks)]
        return _reference_attributes(fused, masks[0], lambda f, r: mask_dice(f, r))  # type: ignore[arg-type]
    return list(annotations[0])  # labels, spans, polygons, and masks drawn as polygons only


__all__ = ["Agreement", "Decision", "Tier", "agree", "agreeing_groups", "decide", "fuse"]
