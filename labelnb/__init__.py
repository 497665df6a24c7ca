"""labelnb: notebook-native data labeling.

The public API: :class:`Project`, :class:`Schema`, the annotation types and
:func:`open`.
"""

from labelnb.errors import LabelnbError
from labelnb.project import Project, open, projects
from labelnb.schema import Attribute, LabelClass, Schema
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span

__version__ = "0.1.0"

__all__ = [
    "Annotation", "Attribute", "Box", "Choice", "LabelClass", "LabelnbError", "Mask",
    "Polygon", "Project", "Region", "Schema", "Span", "__version__", "open", "projects",
]
