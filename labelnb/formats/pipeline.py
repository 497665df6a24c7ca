"""The export pipeline: read ► transform ► serialize ► validate, and the importer.

>>> # report = export(project, "coco", "out/", split={"train": 0.8, "val": 0.2})
>>> # report.splits  ->  {'train': 80, 'val': 20}

Stages, each a plain function (composable on their own):

1. :func:`read_final` - the final label of each item under a ``policy``:
   ``"latest"`` (the newest annotation of the item that was not rejected and not
   corrected, by a review's ``correct`` or a later annotation that ``corrects`` it),
   ``"annotator:<name>"`` (that annotator's newest non-rejected annotation), or
   ``"consensus"`` / ``"consensus:dawid_skene"`` (the item's decided consensus, as
   :meth:`Project.consensus <labelnb.project.Project.consensus>` computes it, read
   only: see :func:`consensus_final`). ``human_only`` keeps only ``source ==
   "human"`` annotations. Items without a final annotation are left out (counted in
   the report, with the reason under the consensus policy; the manifest's
   ``left_out`` names each, with the reason, under every policy); a final annotation
   with no regions is a negative image. Under ``"latest"``, an item labeled by several
   annotators (``overlap`` > 1) exports the newest of their votes; the report warns,
   counting such items, unless a consensus, a correction or an adjudication is its
   final annotation (export those with ``policy="consensus"``).
2. :func:`transform` - ``label_map`` (rename; ``None`` drops the label), ``filter``
   (keep a record or not), and the split (:func:`~labelnb.formats.splits.split_items`,
   grouped by the item's ``group_key`` and stratified by its rarest label). A class
   example (``choice`` / ``multi_choice``) whose every label ``label_map`` drops is
   left out (reason :data:`LABEL_MAP_DROPPED`), and so is a ``choice`` example whose
   final annotation chose no class (reason :data:`NO_CHOICE`; a ``multi_choice`` one
   with none stays: "none of them applies" is a label); an image or text whose every box,
   polygon, mask or span it drops stays, a negative of the classes kept (as a final
   annotation with no regions is).
3. serialize - the format's ``save_*`` into a temporary folder beside ``path``.
4. validate - the format's ``load_*`` reads the export back; a sample of images must
   come back with the same regions (and, for COCO, ``pycocotools`` must load every
   file). Then the folder is renamed to ``path``: a failure anywhere leaves nothing.
   A destination that cannot be written (a read-only folder, a parent path that is a
   file) is a :class:`~labelnb.errors.FormatError` naming ``path`` and the cause.

The export root also gets ``labelnb_export.json``: the policy, seed, fractions, the
category ids, and the split and source item of every image.

Importing (files into a project) is :mod:`labelnb.formats.importer`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson
import pandas as pd

from labelnb.errors import FormatError
from labelnb.formats import coco as coco_mod
from labelnb.formats import hf as hf_mod
from labelnb.formats import spacy_docbin as spacy_mod
from labelnb.formats import tfrecord as tfrecord_mod
from labelnb.formats import voc as voc_mod
from labelnb.formats import webdataset as wds_mod
from labelnb.formats import yolo as yolo_mod
from labelnb.formats._common import (
    MEDIA_MODES,
    Dataset,
    ImageRecord,
    MediaMode,
    check_split_name,
    map_labels,
    unique_file_names,
)
from labelnb.formats.spacy_docbin import AlignmentReport, TextRecord
from labelnb.formats.splits import check_fractions, split_items
from labelnb.media import text_hash
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span

if TYPE_CHECKING:
    from labelnb.project import Project

Format = Literal["coco", "voc", "yolo", "spacy", "hf", "tfrecord", "webdataset"]
FORMATS: tuple[str, ...] = ("coco", "voc", "yolo", "spacy", "hf", "tfrecord", "webdataset")
_KINDS: dict[str, tuple[str, ...]] = {
    "coco": ("boxes", "polygons", "masks"),
    "voc": ("boxes", "polygons", "masks"),
    "yolo": ("boxes", "polygons", "masks"),
    "spacy": ("spans",),
    "hf": ("spans", "choice", "multi_choice", "boxes"),
    "tfrecord": ("boxes", "polygons", "masks"),
    "webdataset": ("boxes", "polygons", "masks", "spans", "choice", "multi_choice"),
}
#: formats serialized by ``_serialize_extra`` (modules spacy_docbin, hf, tfrecord,
#: webdataset), and those of them that take text items
_EXTRA = ("spacy", "hf", "tfrecord", "webdataset")
_TEXT_FORMATS = ("spacy", "hf", "webdataset")
_PROGRESS_MIN = 1000
_VALIDATE_SAMPLE = 200
MANIFEST = "labelnb_export.json"
CONSENSUS_METHODS = ("majority", "dawid_skene")
#: the reason a class example is left out when ``label_map`` drops every label it had
LABEL_MAP_DROPPED = "label_map dropped every label it had"
#: the reason a 'choice' example whose final annotation chose no class is left out
NO_CHOICE = "a 'choice' annotation with no class chosen"


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One item on its way out: what ``filter`` sees."""

    item_id: int
    uri: str | None
    width: int
    height: int
    group: str | None
    meta: dict[str, Any]
    annotation: Annotation
    regions: tuple[Region, ...]
    text: str | None = None  # a text item's text (then width = height = 0)


@dataclass(slots=True)
class ExportReport:
    """What an export wrote.

    ``items`` and ``regions`` count what the export holds: after ``label_map`` and
    ``filter``, and for spaCy / HF token exports without the spans the token alignment
    left out (``alignment`` lists those). ``splits`` counts items (images or texts)
    per split, ``{"all": n}`` (YOLO: ``{"train": n}``) without ``split=``.
    ``unlabeled`` items had no final label under the policy, or are class examples
    whose every label ``label_map`` dropped, or ``choice`` examples that chose no
    class; ``unlabeled_reasons`` says why (reason → count) under the consensus policy,
    and counts those two under every policy.
    The manifest's ``left_out`` lists each of them with its reason, under every
    policy.
    """

    format: str
    path: str
    policy: str
    items: int = 0
    regions: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    categories: dict[int, str] = field(default_factory=dict)
    unlabeled: int = 0
    filtered: int = 0
    regions_dropped: int = 0
    seed: int = 0
    validated: int = 0
    warnings: list[str] = field(default_factory=list)
    alignment: dict[str, Any] | None = None  # spaCy / HF token alignment (spans that moved)
    #: why the ``unlabeled`` items have no final label, reason → count (consensus policy;
    #: label_map's and a choice with no class under every policy)
    unlabeled_reasons: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        sp = ", ".join(f"{k}: {v}" for k, v in self.splits.items())
        why = ", ".join(f"{k}: {v}" for k, v in self.unlabeled_reasons.items())
        return (f"{self.format} export to {self.path}: {self.items} items, {self.regions} "
                f"regions ({sp}); {self.unlabeled} unlabeled" + (f" ({why})" if why else "")
                + f" and {self.filtered} filtered items left out"
                + (f"; {len(self.warnings)} warnings" if self.warnings else ""))


# --- 1. read ---------------------------------------------------------------------------


def select_final(annotations: Sequence[Annotation], statuses: Mapping[str, str],
                 policy: str = "latest", *, human_only: bool = False) -> dict[int, Annotation]:
    """item id → its final annotation under ``policy`` (``"latest"`` or
    ``"annotator:<name>"``). ``annotations`` in submission order (oldest first);
    ``statuses`` maps annotation id to its review status (``submitted`` /
    ``approve`` / ``reject`` / ``correct`` / ``corrected``). The consensus policy
    needs the project's tasks: use :func:`read_final` or :func:`consensus_final`."""
    if _consensus_method(policy) is not None:
        raise FormatError(f"select_final: policy {policy!r} needs the project (its tasks and "
                          "overlap), not a list of annotations; use read_final(project, "
                          f"{policy!r}) or consensus_final(project)")
    author: str | None = None
    if policy.startswith("annotator:"):
        author = policy.split(":", 1)[1]
        if not author:
            raise FormatError("export policy 'annotator:' names no annotator; write "
                              "'annotator:<name>'")
    elif policy != "latest":
        raise FormatError(f"export policy {policy!r}; expected 'latest', 'annotator:<name>', "
                          "'consensus' or 'consensus:dawid_skene'")
    # what a correction replaced (a rejected correction is recorded only)
    corrected = set(_corrections_by_target(annotations, statuses))
    out: dict[int, Annotation] = {}
    for a in annotations:  # oldest first: the newest kept wins
        if human_only and a.source != "human":
            continue
        st = statuses.get(a.id, "submitted")
        if st == "reject":
            continue
        if author is not None:
            if a.author != author:
                continue
        elif a.id in corrected:
            continue
        out[a.item_id] = a
    return out


def _consensus_method(policy: str) -> str | None:
    """The consensus method a policy names (``"consensus"`` → majority), else None."""
    if policy == "consensus":
        return "majority"
    if policy.startswith("consensus:"):
        method = policy.split(":", 1)[1]
        if method not in CONSENSUS_METHODS:
            raise FormatError(f"export policy {policy!r}: unknown consensus method "
                              f"{method!r}; expected 'consensus' (majority) or "
                              "'consensus:dawid_skene'")
        return method
    return None


def _policy_method(project: Project, policy: str) -> str | None:
    """:func:`_consensus_method`, and a method the project's kind cannot take refused
    in the export's own terms (``policy=...``; ``project.consensus()`` would say
    ``method=...``, which ``export`` and ``read_final`` do not take)."""
    method = _consensus_method(policy)
    kind = project.schema.kind
    if method == "dawid_skene" and kind != "choice":
        raise FormatError(f"export policy {policy!r}: Dawid-Skene needs a 'choice' project; "
                          f"project {project.name!r} labels {kind!r}. Use "
                          "policy='consensus' (the majority vote)")
    return method


@dataclass(frozen=True, slots=True)
class ConsensusLabels:
    """What :func:`consensus_final` read: per item id, the annotation that carries the
    decided consensus (``final``) with its ``tier`` and ``status`` (as in
    ``project.consensus()``), and why the other items have none (``left_out``)."""

    final: dict[int, Annotation]
    tiers: dict[int, str]
    statuses: dict[int, str]
    left_out: dict[int, str]


def consensus_final(project: Project, method: str = "majority") -> ConsensusLabels:
    """Each item's decided consensus, and why the others have none.

    The tiers come from :meth:`Project.consensus <labelnb.project.Project.consensus>`
    with ``queue_tasks=False``: reading stores nothing and queues no review or
    adjudication (run ``project.consensus()`` for that). Decided items are those of
    tier ``unanimous``, ``majority`` (also while its review is open),
    ``model_agreed``, ``adjudicated``, ``single`` (one annotator's label: overlap 1)
    and ``gold`` (a gold question's known answer). A decided label a reviewer
    corrected (a correction that ``corrects`` it, not itself rejected; a correction of
    a correction is followed to the end of the chain) exports the correction, with
    status ``corrected``: of a majority consensus, a single label, and of an expert's
    adjudication too. Left out, with the reason: items still waiting for annotators
    (``pending``), items whose label a reviewer rejected (in rework with its author),
    items with no majority (tier ``none``, waiting for adjudication, or for the
    expert's rework of a rejected adjudication), items whose consensus a reviewer
    rejected (waiting for adjudication), and items consensus does not count at all:
    labels by machines (accepted automatically, waiting for or after a human's
    verification) and human labels added without an annotate task (imports). The
    annotation is the stored one (the consensus, its correction, or the expert's
    adjudication); a consensus not stored yet is built in memory with
    ``source="consensus"`` and ``meta["stored"] = False``."""
    if method not in CONSENSUS_METHODS:
        raise FormatError(f"consensus_final: method {method!r}; expected one of "
                          f"{list(CONSENSUS_METHODS)}")
    table = project.consensus("dawid_skene" if method == "dawid_skene" else "majority",
                              queue_tasks=False)
    df = project.annotations()
    statuses: dict[str, str] = (dict(zip(df["id"].astype(str), df["status"].astype(str),
                                         strict=True)) if len(df) else {})
    anns = project.annotation_objects() if len(df) else []
    by_id = {a.id: a for a in anns}
    by_item: dict[int, list[Annotation]] = {}
    for a in anns:  # submission order, oldest first
        by_item.setdefault(a.item_id, []).append(a)
    fixes = _corrections_by_target(anns, statuses)
    stages = _StageLookup(project)
    # the annotation carrying each final label, as consensus decided it (the end of a
    # chain of corrections, the expert's adjudication, a single label)
    carriers: dict[int, str] = table.attrs.get("carriers", {})
    out = ConsensusLabels({}, {}, {}, {})
    for row in table.to_dict("records"):
        item, tier, status = int(row["item_id"]), str(row["tier"]), str(row["status"])
        if tier == "pending":
            n = int(row["n_annotations"])
            if status == "in rework":
                out.left_out[item] = (_REWORK + (f" ({n} other annotations in)" if n else ""))
            else:
                out.left_out[item] = (f"consensus pending: {n} annotations in, "
                                      "waiting for the other annotators")
            continue
        if tier == "none":
            out.left_out[item] = (
                "no consensus: a reviewer rejected the expert's adjudication, waiting for "
                "the expert's rework" if _adjudication_rejected(by_item.get(item, []),
                                                                 statuses, stages)
                else "no consensus: no majority, waiting for adjudication")
            continue
        if status == "adjudicating":
            out.left_out[item] = ("no consensus: a reviewer rejected it, waiting for "
                                  "adjudication")
            continue
        regions = tuple(row["regions"])
        stored = by_id.get(carriers[item]) if item in carriers else None
        if stored is None:
            out.final[item] = Annotation(item_id=item, regions=regions, author="consensus",
                                         source="consensus",
                                         meta={"tier": tier, "confidence": row["confidence"],
                                               "method": method, "stored": False})
        else:
            # a reviewer's correction of the carrier (project.consensus() follows those of
            # a consensus and of a single label; an expert's adjudication is corrected the
            # same way): the end of the chain is the label
            fixed = _chain_end(stored, fixes)
            if fixed is not stored:
                out.final[item] = fixed
                status = "corrected"
            else:
                out.final[item] = stored if tuple(stored.regions) == regions else replace(
                    stored, regions=regions)
        out.tiers[item] = tier
        out.statuses[item] = status
    for item, mine in by_item.items():  # annotations, but none that consensus counts
        if item not in out.final and item not in out.left_out:
            out.left_out[item] = _uncounted_reason(mine, statuses)
    return out


#: the reason an item whose label a reviewer rejected is left out (back with its author)
_REWORK = "in rework: rejected by a reviewer, waiting for its author"
_MACHINE = ("model", "llm", "labeling_function")
#: consensus counts the human labels of annotate tasks only (policy="latest" exports the rest)
_VOTES = "consensus counts the annotators' votes only"
_MACHINE_REJECTED = "machine label rejected by a reviewer, waiting for human annotators"


class _StageLookup:
    """Task id → stage, read from the project on first use."""

    def __init__(self, project: Project) -> None:
        self._project = project
        self._stages: dict[int, str] | None = None

    def __call__(self, task_id: int | None) -> str | None:
        if task_id is None:
            return None
        if self._stages is None:
            tasks = self._project.tasks()
            self._stages = (dict(zip(tasks["id"].astype(int), tasks["stage"].astype(str),
                                     strict=True)) if len(tasks) else {})
        return self._stages.get(int(task_id))


def _corrections_by_target(annotations: Sequence[Annotation], statuses: Mapping[str, str]
                           ) -> dict[str, list[Annotation]]:
    """annotation id → the corrections of it, oldest first; a rejected correction is
    recorded only (the work it corrected stands), as in ``project.consensus()``."""
    out: dict[str, list[Annotation]] = {}
    for a in annotations:
        if a.corrects and statuses.get(a.id, "submitted") != "reject":
            out.setdefault(a.corrects, []).append(a)
    return out


def _chain_end(ann: Annotation, fixes: Mapping[str, list[Annotation]]) -> Annotation:
    """The end of ``ann``'s chain of corrections (the newest correction of each link),
    or ``ann`` itself when nothing corrects it."""
    seen = {ann.id}
    while (nxt := fixes.get(ann.id)) and nxt[-1].id not in seen:
        ann = nxt[-1]
        seen.add(ann.id)
    return ann


def _adjudication_rejected(mine: Sequence[Annotation], statuses: Mapping[str, str],
                           stages: Callable[[int | None], str | None]) -> bool:
    """Whether an item's newest adjudication is one a reviewer rejected (the expert
    reworks it)."""
    adj = [a for a in mine if a.task_id is not None and stages(a.task_id) == "adjudicate"]
    return bool(adj) and statuses.get(adj[-1].id) == "reject"


def _uncounted_reason(mine: Sequence[Annotation], statuses: Mapping[str, str]) -> str:
    """Why an item with annotations has no consensus at all: none of them is a vote
    (consensus counts the human labels of annotate tasks)."""
    if any(a.source == "human" and a.corrects is None for a in mine):
        return ("human labels added without an annotate task (an import or "
                f"add_annotations); {_VOTES}")
    machine = [a for a in mine if a.source in _MACHINE]
    if not machine:
        return f"no human votes among its annotations; {_VOTES}"
    m = machine[-1]
    st = statuses.get(m.id, "submitted")
    tier = m.meta.get("tier")
    if st == "reject":
        return _MACHINE_REJECTED
    if st in ("correct", "corrected"):
        return f"machine label corrected by a reviewer; {_VOTES}"
    if tier == "auto_accepted":
        return f"accepted by a machine (auto tier); {_VOTES}"
    if tier == "verify":
        if st == "approve":
            return f"machine label verified by a reviewer; {_VOTES}"
        return "machine label waiting for a reviewer to verify it"
    return f"machine labels only; {_VOTES}"


def _rejected_reason(a: Annotation) -> str:
    """Why an item whose label (of the policy's) a reviewer rejected has none."""
    if a.source == "consensus":
        return "consensus rejected by a reviewer, waiting for adjudication"
    if a.source in _MACHINE:
        return _MACHINE_REJECTED
    if a.task_id is None:  # nobody's task is reopened for it
        return "rejected by a reviewer (it was added without a task: nobody reworks it)"
    return _REWORK


def _latest_left_out(annotations: Sequence[Annotation], statuses: Mapping[str, str],
                     final: Mapping[int, Annotation], policy: str, *, human_only: bool
                     ) -> dict[int, str]:
    """item id → why the ``latest`` / ``annotator:<name>`` policy found no final
    annotation, for the items with annotations (others have none)."""
    author = policy.split(":", 1)[1] if policy.startswith("annotator:") else None
    by_item: dict[int, list[Annotation]] = {}
    for a in annotations:
        if a.item_id not in final:
            by_item.setdefault(a.item_id, []).append(a)
    out: dict[int, str] = {}
    for item, mine in by_item.items():
        cands = mine
        if author is not None:
            cands = [a for a in cands if a.author == author]
            if not cands:
                out[item] = f"no annotation by {author!r}"
                continue
        if human_only:
            cands = [a for a in cands if a.source == "human"]
            if not cands:
                out[item] = "machine labels only (human_only=True)"
                continue
        rejected = [a for a in cands if statuses.get(a.id) == "reject"]
        if rejected:
            own = [a for a in rejected if a.corrects is None] or rejected
            out[item] = _rejected_reason(own[-1])
        else:  # e.g. human labels corrected by a machine label, under human_only
            out[item] = (f"its labels were corrected by annotations policy {policy!r}"
                         + (" with human_only=True" if human_only else "") + " leaves out")
    return out


def read_final(project: Project, policy: str = "latest", *, human_only: bool = False
               ) -> tuple[pd.DataFrame, dict[int, Annotation]]:
    """The project's items and the final annotation of each (see :func:`select_final`,
    and :func:`consensus_final` for ``policy="consensus"``, which builds on human
    annotations only, so ``human_only`` changes nothing there)."""
    items = project.items()
    method = _policy_method(project, policy)
    if method is not None:
        return items, consensus_final(project, method).final
    final, _ = _read_latest(project, policy, human_only=human_only)
    return items, final


def _read_latest(project: Project, policy: str, *, human_only: bool,
                 undecided: list[int] | None = None
                 ) -> tuple[dict[int, Annotation], dict[int, str]]:
    """:func:`select_final` on the project, and why the items with annotations but no
    final one have none (item id → reason). ``undecided``, if given (policy
    ``"latest"``), collects the items whose final annotation is one of several
    annotators' votes (see :func:`_undecided_votes`)."""
    df = project.annotations()
    statuses = dict(zip(df["id"], df["status"], strict=True)) if not df.empty else {}
    anns = project.annotation_objects() if not df.empty else []
    final = select_final(anns, statuses, policy, human_only=human_only)
    if undecided is not None and policy == "latest":
        undecided.extend(_undecided_votes(project, anns, statuses, final))
    return final, _latest_left_out(anns, statuses, final, policy, human_only=human_only)


def _undecided_votes(project: Project, annotations: Sequence[Annotation],
                     statuses: Mapping[str, str], final: Mapping[int, Annotation]
                     ) -> list[int]:
    """The items (ascending ids) whose final annotation under ``"latest"`` is one of
    several annotators' independent votes, with no consensus, correction or
    adjudication behind it: the newest vote won, whatever the others said. A vote is a
    human annotation of an annotate task (as consensus counts them), not a correction
    and not rejected; an item counts when votes by two or more annotators are in and
    its final annotation is one of them."""
    def vote_like(a: Annotation) -> bool:  # (the task's stage is checked below)
        return (a.source == "human" and a.task_id is not None and a.corrects is None
                and statuses.get(a.id, "submitted") != "reject")

    by_item: dict[int, list[Annotation]] = {}
    for a in annotations:
        if vote_like(a):
            by_item.setdefault(a.item_id, []).append(a)
    maybe = [i for i, a in final.items() if vote_like(a)
             and len({v.author for v in by_item.get(i, ())}) > 1]
    if not maybe:  # the common case (overlap 1): no need to read the tasks
        return []
    stages = _StageLookup(project)
    out: list[int] = []
    for item in sorted(maybe):
        votes = {v.author for v in by_item[item] if stages(v.task_id) == "annotate"}
        if len(votes) > 1 and stages(final[item].task_id) == "annotate":
            out.append(item)
    return out


def _undecided_warning(items: Sequence[int], shown: int = 5) -> str:
    """The report's warning for :func:`_undecided_votes`: how many, the first ids, and
    the fix."""
    n = len(items)
    first = ", ".join(str(i) for i in items[:shown]) + (", ..." if n > shown else "")
    return (f"policy 'latest': {n} item{'s' if n != 1 else ''} "
            f"({'ids' if n != 1 else 'id'} {first}) "
            f"{'were' if n != 1 else 'was'} exported with the newest of several "
            "annotators' votes, with no consensus, correction or adjudication behind it "
            "(the other votes, agreeing or not, were ignored); run project.consensus() and "
            "export with policy='consensus' (items without a majority are then left out "
            "until adjudicated), or pick one annotator with policy='annotator:<name>'")


# --- 2. transform ----------------------------------------------------------------------


def mapped_categories(names: Sequence[str], label_map: Mapping[str, str | None] | None,
                      *, used: Collection[str] = ()) -> list[str]:
    """The export's categories: the schema names mapped, in schema order, each once.
    ``used``: labels the exported annotations carry; one the schema no longer has (a
    class a new schema version removed) may be mapped too (to a label, or to None to
    drop it), after the schema's."""
    if not label_map:
        return list(names)
    unknown = sorted(set(label_map) - set(names) - set(used))
    if unknown:
        raise FormatError(f"label_map: {unknown} are not labels of the schema "
                          f"({', '.join(names)}) nor of the exported annotations; fix the "
                          "keys")
    out: list[str] = []
    retired = [k for k in label_map if k not in set(names)]
    for n in [*names, *retired]:
        m = label_map.get(n, n)
        if m is not None and m not in out:
            if not isinstance(m, str) or not m:
                raise FormatError(f"label_map[{n!r}] = {m!r}: give a label name or None")
            out.append(m)
    if not out:
        raise FormatError("label_map drops every label; keep at least one")
    return out


def rarest_label(regions: Sequence[Region], freq: Mapping[str, int]) -> str:
    """The stratum of an item: its least frequent label overall ('' for none)."""
    labels = {r.label for r in regions}
    if not labels:
        return ""
    return min(labels, key=lambda lab: (freq.get(lab, 0), lab))


def transform(records: Sequence[ExportRecord], *, label_map: Mapping[str, str | None] | None
              = None, filter: Callable[[ExportRecord], bool] | None = None,
              split: Mapping[str, float] | None = None, seed: int = 0, group_aware: bool = True,
              stratify: bool = True) -> tuple[list[tuple[ExportRecord, str | None]], int, int]:
    """Relabel, filter and split. Returns ``[(record, split), ...]`` in item order, the
    number filtered out and the number of regions dropped by ``label_map``."""
    kept: list[ExportRecord] = []
    dropped = filtered = 0
    for rec in records:
        regs, d = map_labels(rec.regions, label_map)
        dropped += d
        rec = replace(rec, regions=tuple(regs))
        if filter is not None and not filter(rec):
            filtered += 1
            continue
        kept.append(rec)
    if split is None:
        return [(r, None) for r in kept], filtered, dropped
    freq = Counter(r.label for rec in kept for r in rec.regions)
    df = pd.DataFrame({
        "item_id": [r.item_id for r in kept],
        "group": [r.group if r.group is not None else None for r in kept],
        "stratum": [rarest_label(r.regions, freq) for r in kept],
    })
    s = split_items(df, split, seed=seed, group_col="group" if group_aware else None,
                    stratify_col="stratum" if stratify else None)
    return [(r, str(sp)) for r, sp in zip(kept, s.tolist(), strict=True)], filtered, dropped


# --- 3. serialize / 4. validate --------------------------------------------------------


def _serialize(fmt: str, ds: Dataset, root: Path, media: MediaMode, report: ExportReport,
               on_image: Callable[[ImageRecord], None] | None = None) -> None:
    if fmt == "coco":
        coco_mod.save_coco(ds, root, media=media, on_image=on_image)
    elif fmt == "voc":
        notes: list[str] = []
        voc_mod.save_voc(ds, root, media=media, notes=notes, on_image=on_image)
        if notes:
            report.warnings.append(f"VOC holds boxes: {len(notes)} polygons/masks were written as "
                                   f"their bounding boxes (first: {notes[0]})")
    else:
        notes = []
        holes: list[str] = []
        yolo_mod.save_yolo(ds, root, media=media, on_image=on_image, notes=notes, holes=holes)
        if notes:
            report.warnings.append(f"YOLO holds one polygon per object: {len(notes)} masks in "
                                   f"several parts kept their largest (first: {notes[0]})")
        if holes:
            report.warnings.append(
                f"YOLO: {len(holes)} mask{'s' if len(holes) != 1 else ''} with holes written "
                f"as one outline each (first: {holes[0]}); export to COCO to keep the holes")


def _load(fmt: str, root: Path, written: Dataset | None = None) -> Dataset:
    if fmt == "coco":
        return coco_mod.load_coco(root)
    if fmt == "voc":
        return voc_mod.load_voc(root, attribute_types=None if written is None
                                else _written_types(written))
    return yolo_mod.load_yolo(root)


def _written_types(written: Dataset) -> voc_mod.AttributeTypes:
    """The attribute types of each label as written (VOC's text is read back as
    them): str text, bool bool, int and float number; VOC's flags are bools. A name
    written with values of two types is left to the reader's guess."""
    kinds: dict[str, dict[str, set[str]]] = {}
    for regs in written.regions.values():
        for r in regs:
            for k, v in r.attributes.items():
                t = ("bool" if isinstance(v, bool) else "number" if isinstance(v, int | float)
                     else "text" if isinstance(v, str) else None)
                if t is not None:
                    kinds.setdefault(r.label, {}).setdefault(k, set()).add(t)
    flags = {"difficult": "bool", "truncated": "bool"}
    by_label = {lab: {**{k: next(iter(ts)) for k, ts in names.items() if len(ts) == 1},
                      **flags} for lab, names in kinds.items()}
    return lambda label: by_label.get(label, flags)


def _same(a: Region, b: Region, tol: float, *, attributes: bool = False) -> bool:
    """``a`` and ``b`` are the same region (coordinates within ``tol``; with
    ``attributes``, equal attributes too)."""
    if type(a) is not type(b) or a.label != b.label:
        return False
    if attributes and a.attributes != b.attributes:
        return False
    if isinstance(a, Box) and isinstance(b, Box):
        return all(abs(x - y) <= tol for x, y in zip((a.x0, a.y0, a.x1, a.y1),
                                                     (b.x0, b.y0, b.x1, b.y1), strict=True))
    if isinstance(a, Polygon) and isinstance(b, Polygon):
        return len(a.points) == len(b.points) and bool(
            np.allclose(a.points, b.points, atol=tol, rtol=0))
    if isinstance(a, Mask) and isinstance(b, Mask):
        return a.rle == b.rle
    return a == b


def _expected(fmt: str, r: Region, im: ImageRecord) -> Region:
    """What the format keeps of a region (VOC: boxes on the pixel grid)."""
    if fmt == "yolo" and isinstance(r, Mask):
        return yolo_mod.mask_to_polygon(r)[0]
    if fmt == "voc":
        box = r if isinstance(r, Box) else r.bbox if isinstance(r, Polygon | Mask) else r
        if isinstance(box, Box):
            xmin, ymin, xmax, ymax = voc_mod.box_to_voc(box, width=im.width, height=im.height)
            return Box(xmin - 1, ymin - 1, xmax, ymax, r.label,
                       attributes=voc_mod.kept_attributes(r.attributes))
    return r


def _kept(fmt: str, r: Region) -> Region:
    """A region read back, its attributes as the format compares them."""
    if fmt == "voc" and r.attributes:
        return replace(r, attributes=voc_mod.kept_attributes(r.attributes))  # type: ignore[type-var]
    return r


def validate_export(fmt: str, root: Path, written: Dataset, *, sample: int = _VALIDATE_SAMPLE,
                    seed: int = 0) -> int:
    """Read the export back with the format's loader and compare a sample of images
    with what was written; returns how many images were compared."""
    if fmt == "coco":
        for f in [root / "annotations.json", *sorted((root / "annotations").glob("*.json"))]:
            if f.is_file():
                coco_mod.validate_coco(orjson.loads(f.read_bytes()))
                coco_mod.check_with_pycocotools(f)
    back = _load(fmt, root, written)
    if back.categories != written.categories:
        raise FormatError(f"{fmt} export in {str(root)!r}: the categories read back "
                          f"({back.categories}) differ from those written "
                          f"({written.categories})")
    if len(back.images) != len(written.images):
        raise FormatError(f"{fmt} export in {str(root)!r}: {len(back.images)} images read back, "
                          f"{len(written.images)} written")
    by_key = {(im.split if fmt != "yolo" else im.split or "train", Path(im.file_name).name): im
              for im in back.images}
    rng = np.random.default_rng(seed)
    idx = (range(len(written.images)) if len(written.images) <= sample else
           sorted(rng.choice(len(written.images), size=sample, replace=False).tolist()))
    tol = 1e-3 if fmt == "yolo" else 1e-6
    for i in idx:
        im = written.images[i]
        split = im.split if fmt != "yolo" else im.split or "train"
        got = by_key.get((split, Path(im.file_name).name))
        if got is None:
            raise FormatError(f"{fmt} export: image {im.file_name!r} (split {split!r}, item "
                              f"{im.id}) is missing when read back")
        want = [_expected(fmt, r, im) for r in written.regions.get(im.id, [])]
        have = [_kept(fmt, r) for r in back.regions.get(got.id, [])]
        tol_i = tol * max(im.width, im.height)
        attrs = fmt != "yolo"  # COCO and VOC keep attributes; YOLO has no place for them
        if len(want) != len(have) or not all(_same(a, b, tol_i, attributes=attrs)
                                             for a, b in zip(want, have, strict=True)):
            raise FormatError(f"{fmt} export: image {im.file_name!r} (item {im.id}) reads back "
                              f"as {have!r:.300}, not {want!r:.300}")
    return len(idx)


# --- spaCy, Hugging Face, TFRecord, WebDataset ------------------------------------------

_OPTIONS: dict[str, tuple[str, ...]] = {
    "spacy": ("lang", "spans_key", "alignment_mode", "on_misaligned"),
    "hf": ("tokenizer", "alignment_mode", "on_misaligned", "label_all_tokens", "ignore_index"),
    "tfrecord": ("num_shards", "shard_size"),
    "webdataset": ("maxcount", "maxsize"),
}


def _check_options(fmt: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    opts = dict(options or {})
    allowed = _OPTIONS.get(fmt, ())
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise FormatError(f"export: options {unknown} do not apply to the {fmt} format; it "
                          f"takes {list(allowed) or 'none'}")
    if fmt in ("spacy", "hf"):
        spacy_mod.check_alignment_options(opts.get("alignment_mode", "strict"),
                                          opts.get("on_misaligned", "report"))
    return opts


def _by_split(texts: Sequence[TextRecord]) -> dict[str | None, list[TextRecord]]:
    out: dict[str | None, list[TextRecord]] = {}
    for t in texts:
        out.setdefault(t.split, []).append(t)
    return out


def _record_alignment(report: ExportReport, align: AlignmentReport, root: Path) -> None:
    report.alignment = align.to_json()
    (root / "alignment.json").write_bytes(orjson.dumps(report.alignment,
                                                       option=orjson.OPT_INDENT_2))
    if not align.ok:
        only = (f", {len(align.spans_only)} overlapping ones are in Doc.spans only (not "
                "Doc.ents)" if align.spans_only else "")
        report.warnings.append(f"{len(align.dropped)} of {align.spans} spans were left out and "
                               f"{len(align.moved)} moved to token boundaries "
                               f"(alignment_mode={align.mode!r}){only}; alignment.json lists "
                               "each "
                               f"(first: text {align.issues[0].text_id} "
                               f"[{align.issues[0].start}:{align.issues[0].end}] "
                               f"{align.issues[0].label!r}: {align.issues[0].reason})")


def _aligned_spans(texts: Sequence[TextRecord], align: AlignmentReport
                   ) -> dict[int, list[Region]]:
    """The spans an export holds: as given, moved, or left out, by the alignment report."""
    issues: dict[tuple[int, int, int, str], list[spacy_mod.AlignmentIssue]] = {}
    for i in align.issues:
        issues.setdefault((i.text_id, i.start, i.end, i.label), []).append(i)
    out: dict[int, list[Region]] = {}
    for t in texts:
        keep: set[tuple[int, int, str]] = set()
        for r in t.regions:
            if not isinstance(r, Span):
                continue
            found = issues.get((t.id, r.start, r.end, r.label), [])
            if any(i.outcome == "dropped" for i in found):
                continue
            moved = next((i.aligned for i in found if i.aligned is not None), None)
            keep.add((*(moved or (r.start, r.end)), r.label))
        out[t.id] = [Span(a, b, lab) for a, b, lab in sorted(keep)]
    return out


def _canonical(fmt: str, regions: Sequence[Region], im: ImageRecord | None = None
               ) -> list[Region]:
    """What a format keeps of an item's regions, in a comparable order."""
    if fmt == "webdataset":
        return list(regions)
    if all(isinstance(r, Choice) for r in regions):
        return sorted((Choice(r.label) for r in regions), key=lambda c: c.label)
    out: list[Region] = []
    for r in regions:
        if isinstance(r, Box):
            out.append(Box(r.x0, r.y0, r.x1, r.y1, r.label))
        elif isinstance(r, Polygon) and im is not None:
            from pycocotools import mask as mask_utils

            rle = mask_utils.merge(mask_utils.frPyObjects([list(r.points)], im.height, im.width))
            out.append(Mask.from_array(mask_utils.decode(rle), r.label))
        elif isinstance(r, Mask):
            out.append(Mask(r.rle, r.label))
        else:
            out.append(r)
    return out


def _serialize_extra(fmt: str, kind: str, ds: Dataset, texts: Sequence[TextRecord], root: Path,
                     report: ExportReport, opts: Mapping[str, Any], progress: bool | None
                     ) -> dict[int, list[Region]]:
    """Write a spaCy / HF / TFRecord / WebDataset export; returns what each item should
    read back as."""
    n = len(texts) or len(ds.images)
    bar: Any = None
    if fmt in ("tfrecord", "webdataset") and (progress if progress is not None
                                              else n >= _PROGRESS_MIN):
        from tqdm.auto import tqdm  # spaCy and HF write in one call: no per-item ticks

        bar = tqdm(total=n, desc=f"exporting {fmt}", unit="item")
    tick = (lambda _x: bar.update()) if bar is not None else None
    try:
        if fmt == "spacy" or (fmt == "hf" and kind == "spans"):
            align = AlignmentReport(mode=opts.get("alignment_mode", "strict"))
            parts: dict[str | None, Any] = {}
            for split, recs in _by_split(texts).items():
                if fmt == "spacy":
                    name = f"{check_split_name(split) if split else 'data'}.spacy"
                    align.extend(spacy_mod.save_spacy(recs, root / name, **opts))
                else:
                    parts[split], a = hf_mod.to_hf_ner(recs, ds.categories, **opts)
                    align.extend(a)
            if fmt == "hf":
                hf_mod.save_hf(parts, root)
            _record_alignment(report, align, root)
            return _aligned_spans(texts, align)
        if fmt == "hf":
            if kind == "boxes":
                parts = {k: hf_mod.to_hf_detection(v) for k, v in ds.splits().items()}
            elif texts:
                parts = {k: hf_mod.to_hf_classification(v, ds.categories,
                                                        multi_label=kind == "multi_choice")
                         for k, v in _by_split(texts).items()}
            else:
                parts = {k: hf_mod.to_hf_classification(v, ds.categories,
                                                        multi_label=kind == "multi_choice")
                         for k, v in ds.splits().items()}
            hf_mod.save_hf(parts, root)
        elif fmt == "tfrecord":
            tfrecord_mod.save_tfrecord(ds, root, on_image=tick, **opts)
        else:
            wds_mod.save_webdataset(texts if texts else ds, root, categories=ds.categories,
                                    on_item=tick, **opts)
    finally:
        if bar is not None:
            bar.close()
    if texts:
        return {t.id: _canonical(fmt, t.regions) for t in texts}
    return {im.id: _canonical(fmt, ds.regions.get(im.id, []), im) for im in ds.images}


def _validate_extra(fmt: str, root: Path, expected: Mapping[int, list[Region]],
                    opts: Mapping[str, Any]) -> int:
    """Read a spaCy / HF / TFRecord / WebDataset export back with its loader and compare
    every item with what was written; returns how many items were compared."""
    got: dict[int, list[Region]] = {}
    sizes: dict[int, int] = {}
    if fmt == "spacy":
        for f in sorted(root.glob("*.spacy")):
            for t in spacy_mod.load_spacy(f, lang=opts.get("lang", "en"),
                                          spans_key=opts.get("spans_key", "sc")):
                got[t.id] = list(t.regions)
    elif fmt == "hf":
        for part in hf_mod.load_hf(root).values():
            if isinstance(part, Dataset):
                for im in part.images:
                    got[im.id] = list(part.regions.get(im.id, []))
            else:
                got.update({t.id: list(t.regions) for t in part})
    elif fmt == "tfrecord":
        back = tfrecord_mod.load_tfrecord(root)
        for im in back.images:
            got[im.id] = list(back.regions.get(im.id, []))
            sizes[im.id] = max(im.width, im.height)
    else:
        for s in wds_mod.load_webdataset(root):
            got[int(s.annotation["id"])] = list(s.regions)
            if not (set(s.media) - {"json"}):
                raise FormatError(f"webdataset export: sample {s.key!r} has no media file")
    if set(got) != set(expected):
        missing = sorted(set(expected) - set(got))[:10]
        raise FormatError(f"{fmt} export in {str(root)!r}: {len(got)} items read back, "
                          f"{len(expected)} written (missing: {missing})")
    for iid, want in expected.items():
        have = got[iid]
        if fmt != "webdataset" and all(isinstance(r, Choice) for r in have):
            have = sorted(have, key=lambda c: c.label)
        if fmt in ("spacy", "hf") and all(isinstance(r, Span) for r in have):
            have = sorted(have, key=lambda r: (r.start, r.end, r.label))  # type: ignore[attr-defined]
        tol = 1e-3 * sizes.get(iid, 1) if fmt == "tfrecord" else 1e-9
        if len(want) != len(have) or not all(_same(a, b, tol)
                                             for a, b in zip(want, have, strict=True)):
            raise FormatError(f"{fmt} export: item {iid} reads back as {have!r:.300}, not "
                              f"{want!r:.300}")
    return len(expected)


# --- the pipeline ----------------------------------------------------------------------


def _pin_marked(chosen: list[tuple[ExportRecord, str | None]], sets: Mapping[str, list[int]],
                splits: list[str], eval_split_names: list[str], *, group_aware: bool
                ) -> list[tuple[ExportRecord, str | None]]:
    """Marked evaluation items (:func:`labelnb.active.mark_evaluation`) in an evaluation
    split, whatever the split drew: a set goes to the split of its name (any case), else
    to the first evaluation split of the export; with ``group_aware`` their groups go
    along (no leak into train). A test set marked once thus stays the test set across
    exports. Without an evaluation split in the export, nothing moves."""
    lower = {str(s).strip().lower(): s for s in splits}
    target: dict[int, str] = {}
    for name, ids in sets.items():
        where = lower.get(str(name).strip().lower()) or (eval_split_names[0] if
                                                         eval_split_names else None)
        if where is not None:
            for i in ids:
                target.setdefault(int(i), where)
    if not target:
        return chosen
    by_group: dict[str, str] = {}
    if group_aware:
        for r, _ in chosen:
            if r.item_id in target and r.group is not None:
                by_group.setdefault(r.group, target[r.item_id])
    return [(r, target.get(r.item_id) or (by_group.get(r.group) if r.group is not None
                                          else None) or sp) for r, sp in chosen]


#: export()'s names for the circular-validation override (see active.guard)
_EVAL_OVERRIDE = ("allow_machine_eval", "eval_reason")


def export(project: Project, format: Format, path: str | os.PathLike[str], *,
           policy: str = "latest", human_only: bool = False,
           split: Mapping[str, float] | None = None, seed: int = 0, group_aware: bool = True,
           stratify: bool = True, label_map: Mapping[str, str | None] | None = None,
           filter: Callable[[ExportRecord], bool] | None = None,
           validate: bool = True, progress: bool | None = None, media: MediaMode = "copy",
           overwrite: bool = False, options: Mapping[str, Any] | None = None,
           allow_machine_eval: bool = False, eval_reason: str | None = None,
           eval_splits: Collection[str] = ("val", "validation", "valid", "dev", "test",
                                           "eval", "evaluation", "holdout", "heldout")
           ) -> ExportReport:
    """Export the project's final labels to ``path`` (a folder) as COCO, VOC, YOLO,
    spaCy (``spans``), Hugging Face datasets (``spans``, ``choice``, ``multi_choice``,
    ``boxes``), TFRecord (images) or WebDataset (images and texts).

    * ``policy``: which annotation is an item's label: ``"latest"``,
      ``"annotator:<name>"`` (see :func:`select_final`), or ``"consensus"`` (majority;
      ``"consensus:dawid_skene"`` for Dawid-Skene on a choice project): each item's
      decided consensus (see :func:`consensus_final`; nothing is stored or queued);
      items without one are left out and counted in ``report.unlabeled_reasons``.
      Under every policy the manifest's ``left_out`` names each item left out without
      a label, with the reason (e.g. ``"in rework: rejected by a reviewer, waiting for
      its author"``, ``"no annotations"``, a machine's label the consensus policy does
      not count). Under ``"latest"``, an item with votes by several annotators
      (``overlap`` > 1) and no consensus, correction or adjudication exports the newest
      vote, and ``report.warnings`` counts such items (naming the first) with the fix:
      ``project.consensus()``, then ``policy="consensus"``. ``human_only`` ignores
      model, LLM, labeling-function and consensus annotations (the consensus policy is
      built on human annotations anyway).
    * ``split``: fractions per split name, e.g. ``{"train": 0.8, "val": 0.1, "test":
      0.1}`` (summing to 1); ``seed`` makes it reproducible; ``group_aware`` keeps the
      items of one ``group`` (``add_items(..., group=...)``) in one split; ``stratify``
      balances each split by the items' rarest label.
    * ``label_map``: ``{"cat": "animal", "dog": "animal", "fox": None}`` renames
      labels (merging them) or drops them; the categories follow the schema order. A
      class example (``choice``, ``multi_choice``) left with no label is left out
      (``unlabeled``, reason ``"label_map dropped every label it had"``, in the
      manifest's ``left_out`` too), as is a ``choice`` item whose final annotation chose
      no class (reason :data:`NO_CHOICE`); an image or text left with no region stays
      in the export as a negative (no object of the classes kept), like an item labeled
      with no regions.
    * ``filter``: called with each :class:`ExportRecord`; ``False`` leaves it out.
    * ``validate``: read the export back with the format's loader before it is
      moved into place (COCO: also ``pycocotools``).
    * ``progress``: a ``tqdm.auto`` bar; by default from 1,000 images.
    * ``media``: copy the images into the export (default; EXIF-rotated images are
      written upright), symlink them, or leave them out (``"none"``; not for YOLO).
    * ``path`` must not exist unless ``overwrite=True``. The export is written into a
      temporary folder beside it and renamed into place when complete and
      validated; a failure at any stage leaves nothing behind (and, with
      ``overwrite``, the old export untouched). A ``path`` that cannot be written (a
      read-only folder, a parent that is a file) raises :class:`FormatError` naming
      ``path`` and the cause (the ``OSError`` chained).
    * ``allow_machine_eval`` / ``eval_reason``: the circular-validation guard refuses an
      export whose evaluation splits (``eval_splits``: val, validation, valid, dev,
      test, ..., compared without case or surrounding spaces) or
      marked evaluation items (:func:`labelnb.active.guard.mark_evaluation`) hold
      machine-made labels; ``allow_machine_eval=True`` with a reason overrides it, and
      the override is recorded as an event.
    * ``options``: the format's own settings - ``spacy``: ``lang``, ``spans_key``,
      ``alignment_mode``, ``on_misaligned``; ``hf``: ``tokenizer``, ``alignment_mode``,
      ``on_misaligned``, ``label_all_tokens``, ``ignore_index``; ``tfrecord``:
      ``num_shards``, ``shard_size``; ``webdataset``: ``maxcount``, ``maxsize``. spaCy
      and HF token exports list every span that did not align with the tokens in
      ``report.alignment`` and ``alignment.json``.

    Returns an :class:`ExportReport`; ``labelnb_export.json`` in the export records
    the same, plus the split and source annotation of every image.
    """
    fmt = str(format).lower()
    if fmt not in FORMATS:
        raise FormatError(f"export format {format!r}; expected one of {list(FORMATS)}")
    opts = _check_options(fmt, options)
    if media not in MEDIA_MODES:
        raise FormatError(f"export: media={media!r}; expected one of {list(MEDIA_MODES)}")
    if fmt == "yolo" and media == "none":
        raise FormatError("export: YOLO finds each label file from its image's path, so "
                          "media='none' cannot work; use media='copy' or 'symlink'")
    if fmt in _EXTRA and fmt != "spacy" and media != "copy":
        raise FormatError(f"export: the {fmt} format embeds the media in its files; use "
                          f"media='copy', not {media!r}")
    schema = project.schema
    if schema.kind not in _KINDS[fmt]:
        raise FormatError(f"project {project.name!r} labels {schema.kind!r}; the {fmt} format "
                          f"holds {' / '.join(_KINDS[fmt])}. Pick another format"
                          + ("" if fmt in ("coco", "voc", "yolo") else
                             f" (expected one of {list(_KINDS[fmt])})"))
    if split is not None:
        split = check_fractions(split)
        for name in split:  # folder and file names in most formats: checked up front
            check_split_name(name, fmt)
    dest = Path(path).expanduser().absolute()
    if dest.exists() or dest.is_symlink():
        if not overwrite:
            raise FormatError(f"export: {str(dest)!r} already exists; pick a new path or pass "
                              "overwrite=True")
        _check_replaceable(dest, project)
    report = ExportReport(format=fmt, path=str(dest), policy=policy, seed=seed)

    # 1. read
    method = _policy_method(project, policy)
    cons: ConsensusLabels | None = None
    undecided: list[int] = []  # policy "latest": items whose label is one vote of several
    items = project.items()
    if method is not None:
        cons = consensus_final(project, method)
        final, why = cons.final, cons.left_out
    else:
        final, why = _read_latest(project, policy, human_only=human_only,
                                  undecided=undecided)
    categories = mapped_categories(schema.names, label_map, used={
        r.label for a in final.values() for r in a.regions})
    records: list[ExportRecord] = []
    left_out: list[dict[str, Any]] = []
    for row in items.to_dict("records") if not items.empty else []:
        iid = int(row["id"])
        is_text = row["media"] == "text" and fmt in _TEXT_FORMATS
        if row["media"] != "image" and not is_text:
            continue
        ann = final.get(iid)
        if ann is None:
            report.unlabeled += 1
            reason = why.get(iid, "no annotations")
            if cons is not None:  # (the other policies' reasons are in the manifest only)
                report.unlabeled_reasons[reason] = report.unlabeled_reasons.get(reason, 0) + 1
            left_out.append({"item_id": iid, "reason": reason})
            continue
        group = row.get("group_key")
        records.append(ExportRecord(iid, row["uri"], 0 if is_text else int(row["width"]),
                                    0 if is_text else int(row["height"]),
                                    None if group is None or pd.isna(group) else str(group),
                                    dict(row.get("meta") or {}), ann, tuple(ann.regions),
                                    text=str(row["text"]) if is_text else None))
    # 2. transform
    if schema.kind == "choice" or (label_map and schema.kind == "multi_choice"):
        # a class example with no class (a 'choice' annotation that chose none, or one
        # whose every label the map drops): written, it would be label -1 (a crash or a
        # non-label in training); left out, and said so. (A 'multi_choice' annotation
        # with no choice stays: "none of them apply" is a label. Boxes, polygons, masks
        # and spans: an item whose every region the map drops stays, a negative of the
        # classes kept, as an annotation with no regions is.)
        keep: list[ExportRecord] = []
        for rec in records:
            no_class = (NO_CHOICE if schema.kind == "choice" and not rec.regions else
                        LABEL_MAP_DROPPED if label_map and rec.regions
                        and not map_labels(rec.regions, label_map)[0] else None)
            if no_class is not None:
                report.unlabeled += 1
                report.unlabeled_reasons[no_class] = (
                    report.unlabeled_reasons.get(no_class, 0) + 1)
                left_out.append({"item_id": rec.item_id, "reason": no_class})
                continue
            keep.append(rec)
        records = keep
        left_out.sort(key=lambda e: int(e["item_id"]))
    chosen, report.filtered, report.regions_dropped = transform(
        records, label_map=label_map, filter=filter, split=split, seed=seed,
        group_aware=group_aware, stratify=stratify)
    # circular-validation guard: evaluation splits and marked evaluation items must hold
    # human labels only, unless overridden (with a reason, recorded as an event)
    from labelnb.active.guard import check_human_only, evaluation_items, evaluation_sets

    if isinstance(eval_splits, str):  # one name, not its letters
        eval_splits = (eval_splits,)
    held = {str(x).strip().lower() for x in eval_splits}  # 'Val' and 'val' are one split
    ev = [s for s in split if str(s).strip().lower() in held] if split is not None else []
    if split is not None:
        chosen = _pin_marked(chosen, evaluation_sets(project), list(split), ev,
                             group_aware=group_aware)
    overrides: list[dict[str, Any]] = []  # logged once the export is in place
    if split is not None and ev:
        check_human_only(chosen, split=ev, allow_machine=allow_machine_eval,
                         reason=eval_reason, project=project, override=_EVAL_OVERRIDE,
                         record=overrides)
    marked = evaluation_items(project)
    if marked:
        check_human_only([(r, sp) for r, sp in chosen if r.item_id in marked],
                         allow_machine=allow_machine_eval, reason=eval_reason,
                         project=project, what="marked evaluation items",
                         override=_EVAL_OVERRIDE, record=overrides)
    if not chosen and not report.unlabeled and not report.filtered:
        raise FormatError(f"export: nothing to export from project {project.name!r}: it has "
                          f"no {'' if fmt in _TEXT_FORMATS else 'image '}items; add items "
                          "and label them first")
    if not chosen:
        raise FormatError(
            f"export: nothing to export from project {project.name!r}: {report.unlabeled} "
            f"{'' if fmt in _TEXT_FORMATS else 'image '}items have no final annotation under "
            f"policy {policy!r}"
            + (" (human_only=True)" if human_only and method is None else "")
            + (f" ({', '.join(f'{k}: {v}' for k, v in report.unlabeled_reasons.items())})"
               if report.unlabeled_reasons else "")
            + (f" and {report.filtered} were filtered out" if report.filtered else "")
            + "; label some items, or check policy / filter")
    texts = [r for r, _ in chosen if r.text is not None]
    if texts and len(texts) != len(chosen):
        raise FormatError(f"export: project {project.name!r} mixes text and image items; a "
                          f"{fmt} export holds one kind: export each with filter=lambda r: "
                          "r.text is None (images) or r.text is not None (texts)")
    text_records = [TextRecord(r.item_id, r.text, r.regions, sp) for r, sp in chosen
                    if r.text is not None]
    if fmt == "spacy" and not text_records:
        raise FormatError(f"export: spaCy DocBins hold texts; project {project.name!r} has no "
                          "labeled text items")
    names = unique_file_names((r.item_id, r.uri or f"item-{r.item_id}.png") for r, _ in chosen
                              if r.text is None)
    images = [ImageRecord(r.item_id, names[r.item_id], r.width, r.height, uri=r.uri, split=sp,
                          meta={"group": r.group}) for r, sp in chosen if r.text is None]
    ds = Dataset(images, {r.item_id: list(r.regions) for r, _ in chosen if r.text is None},
                 categories)
    report.items = len(chosen)
    report.regions = sum(len(r.regions) for r, _ in chosen)
    report.categories = ({i: n for i, n in enumerate(categories)} if fmt == "yolo" else
                         {i + 1: n for i, n in enumerate(categories)}
                         if fmt in ("coco", "tfrecord") else dict(enumerate(categories)))
    if split is not None:
        counts = Counter(sp for _, sp in chosen)
        report.splits = {k: int(counts.get(k, 0)) for k in split}
        empty = [k for k, n in report.splits.items() if n == 0 and split[k] > 0]
        if empty:
            # (YOLO: data.yaml's val falls back to the train images when no held-out
            # split, of whatever name or case, holds an image)
            written = yolo_mod.yaml_splits([k for k, n in report.splits.items() if n])
            report.warnings.append(
                f"splits {empty} received no items ({len(chosen)} items in "
                f"{len({r.group or r.item_id for r, _ in chosen})} groups); "
                + ("data.yaml's val points at the train images" if fmt == "yolo"
                   and written[1] == written[0]
                   and yolo_mod.yaml_splits(list(split))[1] in empty
                   else "they are not written"))
    else:
        report.splits = {"train" if fmt == "yolo" else "all": len(chosen)}  # images or texts
    if undecided:
        wanted = set(undecided)
        votes = sorted(r.item_id for r, _ in chosen if r.item_id in wanted)
        if votes:
            report.warnings.append(_undecided_warning(votes))

    # 3. serialize, 4. validate, into a temp folder renamed at the end
    made = _missing_parents(dest)  # removed again if the export fails
    tmp: Path | None = None
    try:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        except OSError as e:
            raise _unwritable(dest, e, "cannot make the export's folder there") from e
        if fmt in _EXTRA:
            expected = _serialize_extra(fmt, schema.kind, ds, text_records, tmp, report, opts,
                                        progress)
            if report.alignment is not None:  # spans the token alignment left out are not held
                report.regions = sum(len(v) for v in expected.values())
            if validate:
                report.validated = _validate_extra(fmt, tmp, expected, opts)
        else:
            _serialize_with_progress(fmt, ds, tmp, media, report, progress)
            if validate:
                report.validated = validate_export(fmt, tmp, ds, seed=seed)
        manifest = {
            "labelnb_export": 1, "project": project.name,
            "schema_version": project.schema_version, "created_at":
            datetime.now(UTC).isoformat(), "format": fmt, "policy": policy,
            "human_only": human_only, "split": dict(split) if split else None, "seed": seed,
            "group_aware": group_aware, "stratify": stratify,
            "label_map": dict(label_map) if label_map else None,
            "options": {k: v if isinstance(v, str | int | float | bool) or v is None
                        else repr(v) for k, v in opts.items()},
            "categories": [{"id": k, "name": v} for k, v in report.categories.items()],
            "images": [_manifest_entry(r, sp, names.get(r.item_id), cons) for r, sp in chosen],
            "report": report.to_json(),
        }
        manifest["left_out"] = left_out
        (tmp / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2
                                                  | orjson.OPT_NON_STR_KEYS))
        try:
            _move_into_place(tmp, dest, overwrite)
        except OSError as e:
            raise _unwritable(dest, e, "cannot move the finished export into place") from e
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        raise
    if overrides:  # the export happened: its override of the guard goes in the log, once
        from labelnb.active._project import log_event
        from labelnb.active.guard import OVERRIDE_EVENT, merged_override

        log_event(project, OVERRIDE_EVENT, merged_override(overrides))
    return report


def _manifest_entry(r: ExportRecord, split: str | None, file_name: str | None,
                    cons: ConsensusLabels | None) -> dict[str, Any]:
    """One item of the manifest: where it went and which annotation it came from (under
    the consensus policy also its tier and status; ``annotation_id`` None for a
    consensus that is not stored in the project yet), and what the formats have no place
    for: the item's ``group`` and ``meta`` (an import of the export restores them; text
    items are found by ``text_hash``)."""
    ann = r.annotation
    entry: dict[str, Any] = {"file_name": file_name, "split": split, "item_id": r.item_id,
                             "annotation_id": ann.id}
    if r.text is not None:
        entry["text_hash"] = text_hash(r.text)
    if r.group is not None:
        entry["group"] = r.group
    if r.meta:
        entry["meta"] = r.meta
    if cons is not None:
        if ann.meta.get("stored") is False:
            entry["annotation_id"] = None
        entry["tier"] = cons.tiers.get(r.item_id)
        entry["status"] = cons.statuses.get(r.item_id)
    return entry


def _serialize_with_progress(fmt: str, ds: Dataset, root: Path, media: MediaMode,
                             report: ExportReport, progress: bool | None) -> None:
    show = progress if progress is not None else len(ds.images) >= _PROGRESS_MIN
    if not show:
        _serialize(fmt, ds, root, media, report)
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=len(ds.images), desc=f"exporting {fmt}", unit="image")
    try:
        _serialize(fmt, ds, root, media, report, on_image=lambda _im: bar.update())
    finally:
        bar.close()


def _missing_parents(dest: Path) -> list[Path]:
    """The folders above ``dest`` that do not exist yet (the export makes them), the
    deepest first."""
    out: list[Path] = []
    for d in dest.parents:
        if os.path.lexists(d):  # (never raises: a folder that cannot be entered exists)
            break
        out.append(d)
    return out


def _remove_empty(folders: Sequence[Path]) -> None:
    """Remove the folders a failed export made (the deepest first), each only while
    it is empty: something another process put there meanwhile stays, with the folders
    above it."""
    for d in folders:
        try:
            d.rmdir()
        except FileNotFoundError:  # never made (mkdir failed below it)
            continue
        except OSError:  # not empty (or not ours to remove): leave it and those above
            break


def _check_replaceable(dest: Path, project: Project) -> None:
    """``overwrite`` replaces an earlier export only: a folder holding this module's
    manifest, not holding the project's database. Anything else (the project's own
    folder, a folder of images, a file) is refused: it would be deleted."""
    why = None
    if dest.is_symlink() or not dest.is_dir():
        why = "it is not a folder"
    elif not (dest / MANIFEST).is_file():
        why = f"it holds no {MANIFEST}, so it is not an earlier export"
    else:
        engine = project.store.engine
        name = engine.url.database if engine.dialect.name == "sqlite" else None
        db = Path(name).absolute() if name and name != ":memory:" else None
        if db is not None and (db == dest or dest in db.parents):
            why = f"it holds the project's database {str(db)!r}"
    if why is not None:
        raise FormatError(f"export: {str(dest)!r} already exists and overwrite=True would "
                          f"delete it, but {why}; overwrite only replaces an earlier export. "
                          "Pick a new folder for the export")


def _unwritable(dest: Path, e: OSError, what: str) -> FormatError:
    """The error for a destination the export cannot write (a read-only folder, a
    parent path that is a file, a full disk): it names the ``path`` the user gave and
    the cause, not the export's temporary folders."""
    blocker = next((d for d in dest.parents if os.path.lexists(d)
                    and not os.path.isdir(d)), None)  # (neither raises)
    if blocker is not None:
        cause = f"{str(blocker)!r} is a file, not a folder"
    else:
        name = os.fsdecode(e.filename) if e.filename is not None else None
        if name is None or Path(name).name.startswith(f".{dest.name}."):
            name = str(dest.parent)  # not the export's temporary folder: where it was
        cause = f"{e.strerror or type(e).__name__}, at {name!r}"
    return FormatError(f"export: cannot write the export to {str(dest)!r}: {what} "
                       f"({cause}); nothing was written there. Pick a writable folder (one "
                       "whose parent folders are folders you can write to, on a disk with "
                       "room)")


def _move_into_place(tmp: Path, dest: Path, overwrite: bool) -> None:
    # tempfile made the folder for its owner alone (0700): give it the usual mode
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    if not dest.exists():
        os.rename(tmp, dest)
        return
    if not overwrite:  # appeared while we were writing
        raise FormatError(f"export: {str(dest)!r} appeared while exporting; nothing was "
                          "written there")
    if not (dest / MANIFEST).is_file():  # replaced by something else meanwhile
        raise FormatError(f"export: {str(dest)!r} changed while exporting and is no earlier "
                          "export now; nothing was written there")
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rmdir(old)
    os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except BaseException as e:
        try:
            os.rename(old, dest)
        except OSError as back:
            raise FormatError(f"export: cannot move the new export to {str(dest)!r} "
                              f"({getattr(e, 'strerror', None) or e}), "
                              f"nor the earlier export back ({back.strerror}); the earlier "
                              f"export is in {str(old)!r}: rename it to {str(dest)!r}") from e
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()


__all__ = ["CONSENSUS_METHODS", "ConsensusLabels", "ExportRecord", "ExportReport", "FORMATS",
           "Format", "LABEL_MAP_DROPPED", "NO_CHOICE", "consensus_final", "export", "map_labels",
           "mapped_categories", "read_final", "select_final", "split_items", "transform",
           "validate_export"]
