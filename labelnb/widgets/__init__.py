"""Annotation widgets (anywidget): standalone, or bound to a project's queue.

>>> from labelnb.widgets import BoxAnnotator, ChoiceAnnotator, annotate
"""

from labelnb.widgets.box import BoxAnnotator
from labelnb.widgets.choice import ChoiceAnnotator
from labelnb.widgets.mask import MaskAnnotator
from labelnb.widgets.polygon import PolygonAnnotator
from labelnb.widgets.review import Decision, ReviewAnnotator, ReviewSession
from labelnb.widgets.session import Session, annotate
from labelnb.widgets.span import SpanAnnotator

__all__ = ["BoxAnnotator", "ChoiceAnnotator", "Decision", "MaskAnnotator", "PolygonAnnotator",
           "ReviewAnnotator", "ReviewSession", "Session", "SpanAnnotator", "annotate"]
