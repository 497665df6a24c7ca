"""Annotation widgets (anywidget): standalone, or bound to a project's queue.

>>> from labelnb.widgets import BoxAnnotator, ChoiceAnnotator, annotate
"""

from labelnb.widgets.box import BoxAnnotator
from labelnb.widgets.choice import ChoiceAnnotator
from labelnb.widgets.session import Session, annotate

__all__ = ["BoxAnnotator", "ChoiceAnnotator", "Session", "annotate"]
