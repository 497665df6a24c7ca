"""Segmentation for the mask widget: the ``segment_fn`` hook, the classical wand, SAM.

``segment_fn(image, points, labels, box) -> (masks, scores)`` (see
:mod:`labelnb.segment.protocol`) is what :class:`~labelnb.widgets.MaskAnnotator` calls
for its magic wand. :class:`ClassicalWand` (numpy + scipy, no weights) is the default;
SAM lives in :mod:`labelnb.segment.sam` (``TorchSam``, ``ModalSam``, ``auto``) with its
embedding cache in :mod:`labelnb.segment.cache`, and :mod:`labelnb.segment.convert`
turns masks into RLE or simplified polygons; :mod:`labelnb.segment.autofit` fits a
rough box to an object's edges. The SAM modules need the ``[sam]`` extra and are
imported on use.

>>> from labelnb.segment import ClassicalWand, SegmentFn
>>> isinstance(ClassicalWand(), SegmentFn)
True
"""

from labelnb.segment.protocol import SegmentFn, check_prompts, check_segment_output
from labelnb.segment.wand import ClassicalWand

__all__ = ["ClassicalWand", "SegmentFn", "check_prompts", "check_segment_output"]
