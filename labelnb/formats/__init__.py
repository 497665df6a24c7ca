"""Formats: one module per format (``coco``, ``voc``, ``yolo``, ``spacy_docbin``, ``hf``,
``tfrecord``, ``webdataset``, ``jsonl``, ``label_studio``), splits, the export pipeline
and the importer.

>>> from labelnb.formats import export, import_dataset  # doctest: +SKIP
>>> report = export(project, "yolo", "out/", split={"train": 0.8, "val": 0.2})  # doctest: +SKIP
>>> report = import_dataset(project, "label_studio", "export.json")  # doctest: +SKIP

The format modules are pure (plain :class:`Dataset` in, dicts / strings / files out)
and never touch a database; only :mod:`labelnb.formats.pipeline` (export) and
:mod:`labelnb.formats.importer` (import) take a Project.
"""

from labelnb.formats._common import Dataset, FormatProblems, ImageRecord, Problem
from labelnb.formats.importer import ImportReport, import_dataset, load_dataset
from labelnb.formats.pipeline import ExportRecord, ExportReport, export
from labelnb.formats.spacy_docbin import AlignmentIssue, AlignmentReport, TextRecord
from labelnb.formats.splits import split_items

__all__ = ["AlignmentIssue", "AlignmentReport", "Dataset", "ExportRecord", "ExportReport",
           "FormatProblems", "ImageRecord", "ImportReport", "Problem", "TextRecord", "export",
           "import_dataset", "load_dataset", "split_items"]
