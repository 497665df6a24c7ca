"""Formats: one module per format (``coco``, ``voc``, ``yolo``, ``spacy_docbin``, ``hf``,
``tfrecord``, ``webdataset``), splits, and the export / import pipeline.

>>> from labelnb.formats import export, import_dataset  # doctest: +SKIP
>>> report = export(project, "yolo", "out/", split={"train": 0.8, "val": 0.2})  # doctest: +SKIP

The format modules are pure (plain :class:`Dataset` in, dicts / strings / files out)
and never touch a database; only :mod:`labelnb.formats.pipeline` takes a Project.
"""

from labelnb.formats._common import Dataset, ImageRecord
from labelnb.formats.pipeline import (
    ExportRecord,
    ExportReport,
    ImportReport,
    export,
    import_dataset,
    load_dataset,
)
from labelnb.formats.spacy_docbin import AlignmentIssue, AlignmentReport, TextRecord
from labelnb.formats.splits import split_items

__all__ = ["AlignmentIssue", "AlignmentReport", "Dataset", "ExportRecord", "ExportReport",
           "ImageRecord", "ImportReport", "TextRecord", "export", "import_dataset",
           "load_dataset", "split_items"]
