"""Segmentation for the mask widget: the ``segment_fn`` hook and the classical wand.

``segment_fn(image, points, labels, box) -> (masks, scores)`` (see
:mod:`labelnb.segment.protocol`) is what :class:`~labelnb.widgets.MaskAnnotator` calls
for its magic wand. :class:`ClassicalWand` (numpy + scipy, no weights) is the default.

>>> from labelnb.segment import ClassicalWand, SegmentFn
>>> isinstance(ClassicalWand(), SegmentFn)
True
"""

from labelnb.segment.protocol import SegmentFn, check_segment_output
from labelnb.segment.wand import ClassicalWand

__all__ = ["ClassicalWand", "SegmentFn", "check_segment_output"]
