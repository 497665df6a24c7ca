"""The dashboard's numbers, as plain DataFrames (no Panel, no HoloViews).

:func:`load` reads a project once with one column-limited query run on the driver's
cursor (regions and times fetched as text and decoded in bulk, each distinct regions
text once) into :class:`Frames`; everything else here is a pure function of those
frames, so it is unit-testable on small tables and fast on large ones
(``benchmarks/dashboard_load.py`` times 100k annotations).

Agreement is computed on a *key* per annotation. For ``choice`` and ``multi_choice``
projects the key is the chosen label (or the sorted set of labels). For ``boxes``,
``polygons``, ``masks`` and ``spans`` it is the sorted labels of the regions joined
with ``|`` (``"cat|cat|dog"``; ``"(none)"`` for an empty annotation), made
*geometry-aware* by :func:`geometry_keys`: two annotators of an item share a key only
when their regions agree as :func:`labelnb.metrics.tiers.agree` decides for
``project.consensus()`` (boxes matched one-to-one at IoU >= the project's ``iou``,
polygons on their bounding boxes, masks at Dice >= ``dice``, spans ``exact`` or
``overlap``). An annotation with the same labels as the item's largest group but
other geometry gets the key ``"cat|dog (other boxes)"`` (``(other boxes #2)`` for a
third distinct geometry, and so on), so kappa, the confusion matrix, the majority
reference, accuracy and the disagreement ranking all count it as a disagreement.

The reference label of an item ("consensus") is the one :meth:`Project.calibrate`
grades annotators against, found as ``project.consensus(queue_tasks=False)`` finds it,
without writing anything (:func:`references`): a gold item's known answer; else the
item's newest adjudication (as a reviewer corrected it); else, once the item's overlap
is complete (no annotate task of it open or leased, no label of it sent back for
rework), the strict majority (more than half of at least two) of its annotators' votes
as consensus counts them (:func:`counted_votes`: a vote a reviewer corrected counts as
the end of its chain of corrections, unless the corrector is one of the item's own
voters), or the item's stored consensus (as a reviewer corrected it; none while a
reviewer's rejection of it is with an expert) if it rests on exactly that majority's
votes as they stand now (its ``based_on``; one made before a vote was corrected or
reworked is stale). The annotators' labels are the ones ``project.consensus()``
counts: human, made through an annotate task, the newest of each annotator per item
(an annotation imported without a task has no vote); a label sent back for rework has
no vote until it is reworked, and a rejected correction or adjudication does not count.
What is graded is what :meth:`Project.calibrate` grades (:func:`graded`): each vote as
its annotator made it (not as corrected), except one whose author made the item's
final label; on a gold item, each annotator's *first* answer.
Nothing here queues tasks or updates profiles.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, combinations
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labelnb._gc import gc_paused
from labelnb.metrics import DegenerateWarning, cohen_kappa
from labelnb.metrics.tiers import Agreement, agree, agreeing_groups
from labelnb.types import Region

if TYPE_CHECKING:
    from labelnb.project import Project

NONE_KEY = "(none)"
#: stages whose annotations are an annotator's own label of the item
OWN_STAGES = ("annotate",)
#: stages whose annotations settle an item (with ``source == "consensus"`` rows)
FINAL_STAGES = ("adjudicate",)
#: kinds whose agreement depends on geometry (see :func:`geometry_keys`)
REGION_KINDS = ("boxes", "polygons", "masks", "spans")
FLAG_THRESHOLD = 0.90  # same defaults as Project.calibrate
FLAG_MIN_ITEMS = 5

#: per row: start and count of its boxes in ``coords`` (n x 4, x0 y0 x1 y1) and label
#: codes (equal codes, equal labels); see :func:`region_columns`
BoxTable = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

ANNOTATION_COLUMNS = ["id", "item_id", "author", "source", "stage", "labels", "key",
                      "regions", "created_at", "submitted_at", "duration_s", "corrects"]


@dataclass
class Frames:
    """What :func:`load` reads from a project."""

    kind: str
    labels: list[str]
    #: every annotation (all sources), one row each, with its task ``stage``, label
    #: ``key`` and ``regions`` (JSON text or a list of JSON dicts; ``None`` where not
    #: known)
    annotations: pd.DataFrame
    #: ``stage`` x ``status`` task counts (``expired``: leased past its lease)
    tasks: pd.DataFrame
    items: int = 0
    items_done: int = 0
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: what counts as agreement for region kinds (the project's ``agreement`` setting)
    agreement: Agreement = field(default_factory=Agreement)
    #: (:func:`load` only) the :func:`fingerprint` of the project as read
    fingerprint: tuple[Any, ...] | None = field(default=None, repr=False)
    _human: pd.DataFrame | None = field(default=None, repr=False)
    #: (:func:`load` only) the box table of each distinct regions text, indexed by the
    #: annotations' ``_code`` column while :attr:`human` is first made
    _unique_table: BoxTable | None = field(default=None, repr=False)
    #: ids of the annotations whose newest review rejected them: an annotator's label
    #: waiting for its rework, a consensus or adjudication sent back to an expert, a
    #: correction that does not count (as ``project.consensus()`` treats them)
    rejected: frozenset[str] = field(default_factory=frozenset)
    #: gold items' known answers: item id -> regions JSON text (see
    #: :mod:`labelnb.team.gold`; empty where the reader may not see them)
    gold: dict[int, str] = field(default_factory=dict)
    #: (set by :attr:`human`) items an annotator's label of which is back with them
    in_rework: frozenset[int] = field(default_factory=frozenset)
    #: (:func:`load` only) items with an annotate task still open or leased: their
    #: overlap is not complete, so no majority of theirs is a reference yet
    labeling: frozenset[int] = field(default_factory=frozenset)
    #: (:func:`load` only) each stored consensus annotation's ``based_on`` (the ids of
    #: the votes, or of their corrections, it was decided on), sorted: a consensus
    #: stands while they are its item's current basis, as ``project.consensus()``
    #: decides (:func:`labelnb.queue.consensus.corrected_votes`). None where not read
    #: (frames made by hand): then a consensus stands while none of its item's votes
    #: (or their corrections) is newer
    based_on: dict[str, tuple[str, ...]] | None = None

    @property
    def human(self) -> pd.DataFrame:
        """Each annotator's own label per item, the rows ``project.consensus()`` and
        ``project.calibrate()`` count (:func:`labelnb.queue.consensus.latest_human`):
        human, made through an ``annotate`` task, the newest per (item, author), in
        submission order. An annotation imported without a task
        (``add_annotations(..., fill_tasks=False)``) or made at another stage (an
        adjudication, a reviewer's correction, a retraining answer) is no vote. For
        region kinds ``key`` is the geometry-aware key and ``label_key`` the plain one."""
        if self._human is None:
            a = self.annotations
            own = a[(a["source"] == "human") & a["stage"].isin(OWN_STAGES)]
            own = own.drop_duplicates(["item_id", "author"], keep="last")
            if self.rejected:  # the newest label rejected: back with its author, no vote
                back = own["id"].isin(self.rejected)
                self.in_rework = frozenset(own.loc[back, "item_id"].astype(int))
                own = own[~back]
            own = own.reset_index(drop=True)
            if self.kind in REGION_KINDS:
                own["label_key"] = own["key"]
                table = None
                if self._unique_table is not None and "_code" in own.columns:
                    starts, counts, coords, labs = self._unique_table
                    c = own["_code"].to_numpy()
                    table = (starts[c], counts[c], coords, labs)
                with gc_paused():
                    own["key"] = geometry_keys(own, self.kind, self.agreement, _table=table)
            self._human = own
        return self._human


def label_key(labels: list[str] | tuple[str, ...], kind: str) -> str:
    """The label key agreement is computed on (see the module docstring).

    >>> label_key(["dog", "cat", "dog"], "boxes")
    'cat|dog|dog'
    >>> label_key([], "spans")
    '(none)'

    A label that holds ``|`` or is ``(none)`` would make one key of two label sets
    (``["a", "b"]`` and ``["a|b"]``): those sets are written as JSON instead.

    >>> label_key(["a|b"], "multi_choice"), label_key(["(none)"], "choice")
    ('["a|b"]', '["(none)"]')
    """
    if not labels:
        return NONE_KEY
    names = ([str(labels[0])] if kind == "choice" and len(labels) == 1
             else sorted(set(map(str, labels))) if kind == "multi_choice"
             else sorted(map(str, labels)))
    if any("|" in n or n == NONE_KEY for n in names):
        return json.dumps(names, ensure_ascii=False)
    return "|".join(names)


def annotation_frame(rows: list[dict[str, Any]] | pd.DataFrame, kind: str) -> pd.DataFrame:
    """Normalise raw annotation rows (``item_id``, ``author``, ``labels`` or
    ``regions`` as JSON dicts, optional ``source``, ``stage``, ``submitted_at``,
    ``duration_s`` ...) into the frame the functions here take, in submission order.
    Times without a zone are UTC (as the SQLite store writes them). Without a ``stage``
    column, human rows are annotators' own labels (stage ``annotate``) and the others
    have no task; a row whose ``stage`` is None was made without a task, and is no
    annotator's vote (see :attr:`Frames.human`).

    >>> f = annotation_frame([{"item_id": 1, "author": "ana", "labels": ["cat"]}], "choice")
    >>> f[["item_id", "author", "key", "source"]].to_dict("records")
    [{'item_id': 1, 'author': 'ana', 'key': 'cat', 'source': 'human'}]
    """
    df = pd.DataFrame(rows).copy()
    n = len(df)
    staged = "stage" in df.columns
    defaults: dict[str, Any] = {"id": [f"{i:08d}" for i in range(n)], "source": "human",
                                "stage": None, "created_at": None, "submitted_at": None,
                                "duration_s": np.nan, "corrects": None, "regions": None}
    for col, default in defaults.items():
        if col not in df.columns:
            df[col] = default
    df["source"] = df["source"].fillna("human")
    if not staged:
        df["stage"] = df["source"].map(lambda s: "annotate" if s == "human" else None)
    if "labels" not in df.columns:
        df["labels"] = [[r["label"] for r in regs] for regs in df["regions"]]
    if "key" not in df.columns:
        df["key"] = [label_key(x, kind) for x in df["labels"]]
    for col in ("created_at", "submitted_at"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    df["duration_s"] = pd.to_numeric(df["duration_s"], errors="coerce")
    df["item_id"] = df["item_id"].astype("int64")
    df = df.sort_values("submitted_at", kind="stable", na_position="first")
    return df[ANNOTATION_COLUMNS].reset_index(drop=True)


def load(project: Project) -> Frames:
    """Read what the dashboard shows: one column-limited pass over the annotations
    (regions and times fetched as text and decoded in bulk) and, meanwhile in a second
    thread on its own connection, the task and item counts (aggregates that run inside
    the database, without holding the interpreter; an in-memory SQLite database, which
    a second connection would not see, reads them in the same transaction).
    ``Frames.fingerprint`` is the :func:`fingerprint` of what was read, made from those
    rows (no query of its own); the two reads may see the project a moment apart, and
    a fingerprint that does not match the project's any more only means one more read
    at the next refresh. The stages of the annotations' tasks are always those of a
    read at least as new as the annotations' (a task's stage never changes)."""
    from labelnb.queue import queries as q

    now = datetime.now(UTC)
    apart = None if project.store.in_memory else _InThread(_counts, project, now)
    try:
        with project.store.read() as conn:
            cols = q.dashboard_annotation_columns(conn, project.id)
            based_on = consensus_bases(conn, project.id)
            got = _counts(project, now, conn) if apart is None else None
    finally:
        if apart is not None:
            got = apart.result()
    assert got is not None
    stages, newest_task, counts, n_items, labeling, rejected = got
    done = n_items - len(labeling)
    gold = _gold_answers(project)
    n = len(cols[0])
    if n and max((t for t in cols[4] if t is not None), default=0) > newest_task:
        # the counts' read came first and missed a task the annotations refer to
        with project.store.read() as conn:
            stages = q.dashboard_task_stages(conn, project.id)
    # as annotation_fingerprint: the count and the largest submit time's text
    last = str(max(cols[6])) if n else str(None)
    with gc_paused():
        frames = _frames(project, cols, stages, counts, n_items, done, now)
    frames.fingerprint = _fingerprint(n, last, counts, n_items)
    frames.rejected, frames.gold, frames.labeling = rejected, gold, labeling
    frames.based_on = based_on
    return frames


def _objects(values: Sequence[Any]) -> np.ndarray:
    """``values`` as a 1-d object array (strings, numbers and None as they are)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class _InThread:
    """``fn(*args)`` run in a new daemon thread; :meth:`result` waits for it (and
    raises what it raised). A thread per call, not a pool: a pool's idle worker does not
    survive a ``fork`` while the pool believes it does."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._out: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True,
                                        name="labelnb-dashboard-counts")
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._out["value"] = fn(*args)
        except BaseException as e:  # handed to the caller of result()
            self._out["error"] = e

    def result(self) -> Any:
        self._thread.join()
        if "error" in self._out:
            raise self._out["error"]
        return self._out["value"]


def _counts(project: Project, now: datetime, conn: Any = None
            ) -> tuple[dict[int, str], int, dict[str, int], int, frozenset[int],
                       frozenset[str]]:
    """The stages of the tasks that are not ``annotate`` tasks, the largest task id
    then, the task counts, the item count, the items still being labeled (the rest are
    done) and the annotations a review rejected last, in one read transaction
    (``conn``'s, or a new one)."""
    from labelnb.queue import queries as q

    if conn is None:
        with project.store.read() as own:
            return _counts(project, now, own)
    return (q.dashboard_task_stages(conn, project.id), q.newest_task_id(conn),
            q.task_status_counts(conn, project.id, now),
            q.item_total(conn, project.id),
            frozenset(q.items_in_labeling(conn, project.id)),
            rejected_annotations(conn, project.id))


def rejected_annotations(conn: Any, project_id: int) -> frozenset[str]:
    """The ids of the annotations whose newest review (the largest review id) rejected
    them, as the ``status`` of ``project.annotations()`` reads it. Only the reviews'
    annotation ids and decisions are read (no feedback text), in review-id order, on
    the driver's cursor (no row object per review: the read runs beside :func:`load`'s
    decoding, in a thread that competes for the interpreter lock), and the newest
    decision per annotation is the last one a ``dict`` keeps."""
    from labelnb.queue import queries as q

    reviews = q.select_reviews(project_id)  # ordered by review id: oldest first
    cols = reviews.selected_columns
    result = conn.execute(reviews.with_only_columns(cols.annotation_id, cols.decision))
    try:
        newest: dict[Any, Any] = dict(result.cursor.fetchall())
    finally:
        result.close()
    return frozenset(str(a) for a, d in newest.items() if d == "reject")


def consensus_bases(conn: Any, project_id: int) -> dict[str, tuple[str, ...]]:
    """Each stored consensus annotation's ``meta["based_on"]``, sorted (id -> ids), read
    in the caller's transaction (the one that read the annotations, so the two agree):
    only the consensus rows' ids and metas, on the driver's cursor."""
    import orjson

    from labelnb.queue import queries as q

    sel = q.select_annotations(project_id)
    cols = sel.selected_columns
    stmt = (sel.with_only_columns(cols.id, cols.meta).where(cols.source == "consensus")
            .order_by(None))
    result = conn.execute(stmt)
    try:
        rows = result.cursor.fetchall()  # (the meta JSON as the driver gives it)
    finally:
        result.close()
    if not rows:
        return {}
    ids, metas = zip(*rows, strict=True)
    texts = [m.decode() if isinstance(m, bytes) else m for m in metas]
    with gc_paused():  # many small dicts and lists, no cycles
        if all(isinstance(m, str) for m in texts):  # one parse of one JSON array
            metas = orjson.loads("[" + ",".join(texts) + "]")
        return {str(cid): tuple(sorted(map(str, (meta.get("based_on")
                                                 if isinstance(meta, dict) else None) or ())))
                for cid, meta in zip(ids, metas, strict=True)}


def _gold_answers(project: Project) -> dict[int, str]:
    """The gold items' answers (item id -> regions JSON text), as ``project.consensus()``
    reads them: none where the reader may not see them (under team security the
    answers are for admins, and gold items look like any other)."""
    import orjson
    from sqlalchemy.exc import SQLAlchemyError

    from labelnb.errors import PermissionDenied
    from labelnb.queue import queries as q

    try:
        with project.store.read() as conn:
            rows = conn.execute(q.select_gold(project.id)).mappings().all()
    except (SQLAlchemyError, PermissionDenied):
        if project.security is None:
            raise
        return {}
    return {int(r["item_id"]): orjson.dumps(r["regions"]).decode() for r in rows}


def task_stages(task_ids: np.ndarray, other: dict[int, str]) -> np.ndarray:
    """The stage of each annotation's task: ``other[task id]`` for the tasks that are
    not ``annotate`` tasks, ``"annotate"`` for the rest, None without a task.

    >>> task_stages(np.array([1, None, 7, 3], dtype=object), {7: "adjudicate"}).tolist()
    ['annotate', None, 'adjudicate', 'annotate']
    """
    out = np.full(len(task_ids), "annotate", dtype=object)
    none = pd.isna(task_ids)
    out[none] = None
    if other and len(task_ids):
        ids = np.where(none, -1, task_ids).astype(np.int64)
        keys = np.fromiter(other, dtype=np.int64, count=len(other))
        order = np.argsort(keys)
        keys = keys[order]
        vals = np.asarray(list(other.values()), dtype=object)[order]
        pos = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        hit = keys[pos] == ids
        out[hit] = vals[pos[hit]]
    return out


def _frames(project: Project, cols: list[Sequence[Any]], stages: dict[int, str],
            counts: dict[str, int], n_items: int, done: int, now: datetime) -> Frames:
    import orjson

    kind = project.schema.kind
    n = len(cols[0])
    arr = [_objects(c) for c in cols]
    # many annotations share one regions text (choices): decode each distinct one once;
    # drawn geometry (float corners, outlines, masks) is nearly always distinct, and
    # hashing its texts would cost more than it saves
    if kind in ("boxes", "polygons", "masks"):
        codes, uniques = np.arange(n, dtype=np.intp), arr[5]
    else:
        codes, uniques = pd.factorize(arr[5])
    table: BoxTable | None = None
    # boxes: parsed into columns by pyarrow when it is there (no dict per box)
    columns = box_columns(uniques.tolist()) if kind == "boxes" else None
    decoded = np.empty(0 if columns is not None else len(uniques), dtype=object)
    if len(decoded):  # one parse of one JSON array instead of one call per text
        decoded[:] = orjson.loads("[" + ",".join(uniques.tolist()) + "]")
    if columns is not None:
        labels, keys, table = columns
    elif kind in REGION_KINDS:
        labels, keys, table = region_columns(decoded, kind)
    else:
        labels = np.fromiter((tuple(r["label"] for r in regs) for regs in decoded),
                             dtype=object, count=len(decoded))
        keys = np.asarray([label_key(x, kind) for x in labels], dtype=object)
    texts = np.asarray(uniques, dtype=object)
    submitted = pd.to_datetime(pd.Series(arr[6], dtype=object), utc=True, format="ISO8601")
    df = pd.DataFrame({
        "id": pd.Series(arr[0], dtype=object),
        "item_id": arr[1].astype(np.int64),
        "author": pd.Series(arr[2], dtype=object),
        "source": pd.Series(arr[3], dtype=object),
        "stage": pd.Series(task_stages(arr[4], stages), dtype=object),
        "labels": pd.Series(labels[codes], dtype=object),
        "key": pd.Series(keys[codes], dtype=object),
        # the JSON text: the geometry keys (below) use the box table, or decode the
        # few rows they need; 100k decoded lists would only burden the collector
        "regions": pd.Series(decoded[codes] if kind in REGION_KINDS and table is None
                             else texts[codes], dtype=object),
        "_code": codes,
        "created_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
        "submitted_at": submitted,
        "duration_s": pd.to_numeric(pd.Series(arr[7], dtype=object), errors="coerce"),
        "corrects": pd.Series(arr[8], dtype=object),
    })
    if not df["submitted_at"].is_monotonic_increasing:  # submission order, ties as stored
        df = df.sort_values("submitted_at", kind="stable").reset_index(drop=True)
    frames = Frames(kind=kind, labels=list(project.schema.names), annotations=df,
                    tasks=task_table(counts), items=n_items, items_done=done,
                    loaded_at=now, agreement=Agreement(**project.settings.get("agreement", {})),
                    _unique_table=table)
    if kind in REGION_KINDS:
        human = frames.human  # the geometry keys, from the box table or decoded regions
        if table is None:
            human["regions"] = texts[human["_code"].to_numpy()]
            df["regions"] = texts[df["_code"].to_numpy()]
        # the frames keep the JSON text, not 100k lists for the collector to rescan
        del human["_code"]
        frames._unique_table = None
    del df["_code"]
    return frames


# --- geometry-aware agreement ------------------------------------------------------------
_NOUN = {"boxes": "boxes", "polygons": "polygons", "masks": "masks", "spans": "spans"}


def other_geometry_key(key: str, kind: str, rank: int) -> str:
    """The key of the ``rank``-th (1-based) group of an item whose labels equal the
    largest group's but whose geometry does not.

    >>> other_geometry_key("cat|dog", "boxes", 1), other_geometry_key("cat", "spans", 2)
    ('cat|dog (other boxes)', 'cat (other spans #2)')
    """
    noun = _NOUN.get(kind, "regions")
    return f"{key} (other {noun})" if rank == 1 else f"{key} (other {noun} #{rank})"


def decode_regions(regions: Sequence[Any] | np.ndarray) -> list[Any]:
    """Each entry as a list of region JSON dicts (JSON text is parsed, all texts in one
    ``orjson`` call); ``None`` stays ``None``.

    >>> decode_regions(['[{"type": "choice", "label": "cat"}]', None, []])
    [[{'type': 'choice', 'label': 'cat'}], None, []]
    """
    import orjson

    out = list(regions)
    texts = [i for i, r in enumerate(out) if isinstance(r, (str, bytes))]  # noqa: UP038
    if texts:
        parts = [out[i].decode() if isinstance(out[i], bytes) else out[i] for i in texts]
        for i, regs in zip(texts, orjson.loads("[" + ",".join(parts) + "]"), strict=True):
            out[i] = regs
    return out


def _label_columns(counts: np.ndarray, starts: np.ndarray, names: Sequence[str],
                   codes: np.ndarray, uniq: Sequence[str], kind: str
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per annotation (``counts[i]`` regions from ``starts[i]`` in the flat ``names``
    and their ``codes`` into ``uniq``): the ``labels`` tuple and its :func:`label_key`.
    The keys are made in numpy (each row's sorted label codes as one integer) and
    joined into text once per distinct label multiset."""
    n = len(counts)
    sl = zip(starts.tolist(), (starts + counts).tolist(), strict=True)
    labels = np.fromiter((tuple(names[a:b]) for a, b in sl), dtype=object, count=n)
    keys = np.empty(n, dtype=object)
    base = len(uniq) + 1
    longest = int(counts.max()) if n else 0
    if n and longest * np.log2(base) < 62:  # each row's sorted codes fit one int64
        order = sorted(range(len(uniq)), key=lambda i: uniq[i])  # as sorted() orders text
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[order] = np.arange(len(uniq))
        row = np.repeat(np.arange(n), counts)
        srt = np.lexsort((rank[codes], row))
        pos = np.arange(len(codes)) - starts[row]
        digits = (rank[codes][srt] + 1) * base ** pos
        code = np.zeros(n, dtype=np.int64)
        filled = counts > 0
        if len(codes):
            code[filled] = np.add.reduceat(digits, starts[filled])
        distinct, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        texts = np.asarray([label_key(labels[i], kind) for i in first.tolist()], dtype=object)
        keys[:] = texts[inverse.reshape(-1)]
    else:
        keys[:] = [label_key(x, kind) for x in labels]
    return labels, keys


#: the fields of a box region that the box table needs (pyarrow's JSON reader)
_BOX_FIELDS = ("label", "x0", "y0", "x1", "y1")


def box_columns(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, BoxTable] | None:
    """:func:`region_columns` of a boxes project straight from the regions JSON texts,
    parsed by pyarrow's JSON reader into columns (no Python dict or float per box);
    None when pyarrow is missing or a text is not a list of boxes (a region without
    ``label`` or a corner, or other JSON): the caller then decodes the texts.

    >>> labels, keys, (starts, counts, coords, codes) = box_columns(
    ...     ['[{"type": "box", "label": "dog", "x0": 0, "y0": 0, "x1": 5, "y1": 5}, '
    ...      '{"type": "box", "label": "cat", "x0": 1.5, "y0": 0, "x1": 6, "y1": 5}]', '[]'])
    >>> keys.tolist(), labels.tolist(), counts.tolist(), coords[1].tolist()
    (['cat|dog', '(none)'], [('dog', 'cat'), ()], [2, 0], [1.5, 0.0, 6.0, 5.0])
    """
    try:
        import pyarrow as pa
        import pyarrow.json as pj
    except ImportError:
        return None
    n = len(texts)
    if not n:
        return None
    box = pa.struct([(f, pa.string() if f == "label" else pa.float64()) for f in _BOX_FIELDS])
    options = pj.ParseOptions(explicit_schema=pa.schema([("r", pa.list_(box))]),
                              unexpected_field_behavior="ignore")
    try:  # one JSON object per line: {"r": <the regions list>}
        body = ('{"r":' + '}\n{"r":'.join(texts) + '}\n').encode()
        if body.count(b"\n") != n:
            return None  # a text spread over lines: the reader splits its input at them
        col = pj.read_json(pa.py_buffer(body), parse_options=options).column("r")
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    except (pa.ArrowException, TypeError, ValueError, UnicodeError):
        return None
    if len(col) != n or col.null_count:
        return None  # a text was not one JSON list
    offsets = col.offsets.to_numpy()
    boxes = col.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    if any(boxes.field(f).null_count for f in _BOX_FIELDS):
        return None  # a region that is not a box with a label
    counts = np.diff(offsets).astype(np.int64)
    starts = (offsets[:-1] - offsets[0]).astype(np.int64)
    enc = boxes.field("label").dictionary_encode()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    uniq = enc.dictionary.to_pylist()
    names = np.asarray(uniq, dtype=object)[codes].tolist() if len(uniq) else []
    labels, keys = _label_columns(counts, starts, names, codes, uniq, "boxes")
    coords = np.column_stack([boxes.field(f).to_numpy(zero_copy_only=False)
                              for f in _BOX_FIELDS[1:]]).astype(np.float64, copy=False)
    return labels, keys, (starts, counts, coords.reshape(-1, 4), codes)


def region_columns(decoded: Sequence[list[dict[str, Any]]] | np.ndarray, kind: str
                   ) -> tuple[np.ndarray, np.ndarray, BoxTable | None]:
    """For decoded regions lists (one per annotation): the ``labels`` tuples, the
    :func:`label_key` of each, and, for boxes and polygons, the :data:`BoxTable`. One
    pass over the regions; the keys are made in numpy (each row's sorted label codes as
    one integer) and joined into text once per distinct label multiset.

    >>> box = lambda lab, x: {"type": "box", "label": lab, "x0": x, "y0": 0, "x1": x + 5,
    ...                       "y1": 5}
    >>> labels, keys, (starts, counts, coords, codes) = region_columns(
    ...     [[box("dog", 0), box("cat", 1)], [], [box("cat", 2)]], "boxes")
    >>> keys.tolist(), labels.tolist(), starts.tolist(), counts.tolist(), coords[2].tolist()
    (['cat|dog', '(none)', 'cat'], [('dog', 'cat'), (), ('cat',)], [0, 2, 2], [2, 0, 1], \
[2.0, 0.0, 7.0, 5.0])
    """
    n = len(decoded)
    counts = np.fromiter(map(len, decoded), dtype=np.int64, count=n)
    starts = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    flat = [r for regs in decoded for r in regs]
    names = [r["label"] for r in flat]
    codes, uniq = pd.factorize(pd.Series(names, dtype=object))
    labels, keys = _label_columns(counts, starts, names, codes.astype(np.int64),
                                  list(uniq), kind)
    table: BoxTable | None = None
    if kind in ("boxes", "polygons"):
        try:  # all boxes (only a box has x0 ... y1): one flat read of the corners
            coords = np.fromiter(chain.from_iterable(map(itemgetter("x0", "y0", "x1", "y1"),
                                                         flat)),
                                 dtype=np.float64, count=4 * len(flat)).reshape(-1, 4)
            table = (starts, counts, coords, codes)
        except (KeyError, TypeError, ValueError):  # polygons, or other regions among them
            table = _box_table(decoded, kind)
    return labels, keys, table


def _box_table(regions: Sequence[Any] | np.ndarray, kind: str) -> BoxTable:
    """Per row: start and count of its boxes in the flat ``coords`` (n x 4) and
    ``labels`` (codes); polygons become their bounding boxes (as tiers.agree does)."""
    types = ("box", "polygon")
    per_row = [[r for r in regs if r.get("type") in types] if regs else [] for regs in regions]
    counts = np.fromiter(map(len, per_row), dtype=np.int64, count=len(per_row))
    flat = [r for rs in per_row for r in rs]

    def corners(r: dict[str, Any]) -> tuple[float, float, float, float]:
        if r["type"] == "box":
            return r["x0"], r["y0"], r["x1"], r["y1"]
        xs, ys = r["points"][0::2], r["points"][1::2]
        return min(xs), min(ys), max(xs), max(ys)

    coords = np.asarray([corners(r) for r in flat], dtype=np.float64).reshape(-1, 4)
    names = pd.Series([r["label"] for r in flat], dtype=object)
    label_codes = pd.factorize(names)[0].astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return starts, counts, coords, label_codes


def _boxes_agree(regions: Sequence[Any] | np.ndarray, left: np.ndarray, right: np.ndarray,
                 kind: str, ag: Agreement, table: BoxTable | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(agree, decided)`` for each pair of rows: vectorised over all pairs. A pair is
    decided when every box of each side reaches IoU >= ``ag.iou`` with exactly one box of
    the same label on the other side (a one-to-one match, which the Hungarian matching
    of tiers.agree then also finds), or when some box reaches none (no match). The
    rest (a box near two others) is left to tiers.agree."""
    starts, counts, coords, labs = table if table is not None else _box_table(regions, kind)
    n_l, n_r = counts[left], counts[right]
    out = np.zeros(len(left), dtype=bool)
    decided = np.ones(len(left), dtype=bool)
    out[(n_l == n_r) & (n_l == 0)] = True
    cand = np.flatnonzero((n_l == n_r) & (n_l > 0))
    if not len(cand):
        return out, decided
    n = n_l[cand]
    sq = n * n
    pair = np.repeat(np.arange(len(cand)), sq)
    k = np.arange(int(sq.sum())) - np.repeat(np.cumsum(sq) - sq, sq)
    li_local, ri_local = k // n[pair], k % n[pair]
    li = starts[left[cand]][pair] + li_local
    ri = starts[right[cand]][pair] + ri_local
    a, b = coords[li], coords[ri]
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0])
             * (b[:, 3] - b[:, 1]) - inter)
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    ok = (labs[li] == labs[ri]) & (iou >= ag.iou) & (iou > 0)
    base = np.repeat(np.cumsum(n) - n, sq)
    total = int(n.sum())
    ldeg = np.bincount(base + li_local, weights=ok, minlength=total)
    rdeg = np.bincount(base + ri_local, weights=ok, minlength=total)
    owner = np.repeat(np.arange(len(cand)), n)
    bad = np.bincount(owner, weights=(ldeg != 1) | (rdeg != 1), minlength=len(cand)) > 0
    none = np.bincount(owner, weights=(ldeg == 0) | (rdeg == 0), minlength=len(cand)) > 0
    out[cand] = ~bad
    decided[cand] = ~bad | none
    return out, decided


def agree_pairs(regions: Sequence[Any] | np.ndarray, left: Sequence[int] | np.ndarray,
                right: Sequence[int] | np.ndarray, kind: str,
                agreement: Agreement | None = None, *, _table: BoxTable | None = None
                ) -> np.ndarray:
    """For each pair ``(regions[left[i]], regions[right[i]])`` of annotations (lists of
    region JSON dicts), whether they agree as :func:`labelnb.metrics.tiers.agree`
    decides. Boxes and polygons are matched vectorised over all pairs (ambiguous pairs
    go to ``agree``); exact spans compare their sorted ``(start, end, label)``; masks
    and overlapping spans call ``agree`` per pair. A side whose regions are ``None``
    (not known) agrees on labels alone.

    >>> a = [{"type": "box", "label": "cat", "x0": 0, "y0": 0, "x1": 10, "y1": 10}]
    >>> b = [{"type": "box", "label": "cat", "x0": 1, "y0": 0, "x1": 11, "y1": 10}]
    >>> c = [{"type": "box", "label": "cat", "x0": 6, "y0": 0, "x1": 16, "y1": 10}]
    >>> agree_pairs([a, b, c], [0, 0], [1, 2], "boxes").tolist()
    [True, False]
    """
    ag = agreement or Agreement()
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    if _table is not None and kind in ("boxes", "polygons"):
        # the table covers every row: only the ambiguous pairs need the regions decoded
        out, decided = _boxes_agree(regions, left, right, kind, ag, _table)
        lazy: dict[int, list[Region]] = {}

        def parsed(i: int) -> list[Region]:
            if i not in lazy:
                lazy[i] = [Region.from_json(r) for r in decode_regions([regions[i]])[0]]
            return lazy[i]

        for i in np.flatnonzero(~decided).tolist():
            out[i] = agree(parsed(int(left[i])), parsed(int(right[i])), kind, ag)
        return out
    regions = decode_regions(regions)
    known = np.array([regions[i] is not None and regions[j] is not None
                      for i, j in zip(left.tolist(), right.tolist(), strict=True)],
                     dtype=bool)
    out = np.ones(len(left), dtype=bool)
    todo = np.flatnonzero(known)
    if kind in ("choice", "multi_choice"):
        labs = [sorted(r["label"] for r in regs) if regs is not None else None
                for regs in regions]
        out[todo] = [labs[left[i]] == labs[right[i]] for i in todo]
        return out
    if kind in ("boxes", "polygons"):
        res, decided = _boxes_agree(regions, left[todo], right[todo], kind, ag, _table)
        out[todo] = res
        todo = todo[~decided]
    elif kind == "spans" and ag.spans == "exact":
        sig = [tuple(sorted((r["start"], r["end"], r["label"]) for r in regs if "start" in r))
               if regs is not None else None for regs in regions]
        out[todo] = [sig[left[i]] == sig[right[i]] for i in todo]
        return out
    cache: dict[int, list[Region]] = {}

    def objs(i: int) -> list[Region]:
        if i not in cache:
            cache[i] = [Region.from_json(r) for r in regions[i]]
        return cache[i]

    for i in todo.tolist():
        out[i] = agree(objs(int(left[i])), objs(int(right[i])), kind, ag)
    return out


def _agreeing_groups(agrees: dict[tuple[int, int], bool], size: int) -> list[list[int]]:
    """tiers.decide's grouping (:func:`~labelnb.metrics.tiers.agreeing_groups`) of
    ``size`` members from their pairs' outcomes; largest group first."""
    ok = np.eye(size, dtype=bool)
    for (i, j), yes in agrees.items():
        ok[i, j] = ok[j, i] = yes
    return [list(g) for g in agreeing_groups(ok)]


def geometry_keys(human: pd.DataFrame, kind: str, agreement: Agreement | None = None,
                  *, _table: BoxTable | None = None) -> np.ndarray:
    """Geometry-aware keys of one-annotation-per-(item, annotator) rows (columns
    ``item_id``, ``author``, ``key``, ``regions``): within an item, annotations with the
    same labels are grouped as :func:`labelnb.metrics.tiers.decide` groups them (in
    annotator-name order); the largest group keeps the label key and the others get
    :func:`other_geometry_key`. Other kinds, and rows without regions, keep ``key``.

    >>> box = lambda x: [{"type": "box", "label": "cat", "x0": x, "y0": 0, "x1": x + 10,
    ...                   "y1": 10}]
    >>> h = pd.DataFrame({"item_id": [1, 1, 1], "author": ["ana", "bob", "cy"],
    ...                   "key": ["cat"] * 3, "regions": [box(0), box(1), box(30)]})
    >>> geometry_keys(h, "boxes").tolist()
    ['cat', 'cat', 'cat (other boxes)']
    """
    keys = human["key"].to_numpy(dtype=object).copy()
    if kind not in REGION_KINDS or len(human) < 2 or "regions" not in human.columns:
        return keys
    regions: Sequence[Any] | np.ndarray = human["regions"].to_numpy(dtype=object)
    if _table is None or kind not in ("boxes", "polygons"):
        regions = decode_regions(regions)
    f = pd.DataFrame({"item": human["item_id"].to_numpy(), "key": keys,
                      "author": human["author"].astype(str).to_numpy(dtype=object)})
    order = f.sort_values(["item", "key", "author"], kind="stable").index.to_numpy()
    item_s, key_s = f["item"].to_numpy()[order], keys[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (item_s[1:] != item_s[:-1]) | (key_s[1:] != key_s[:-1])
    gid = np.cumsum(new) - 1
    start = np.flatnonzero(new)
    size = np.bincount(gid)
    table = _table
    if table is None and kind in ("boxes", "polygons"):
        table = _box_table(regions, kind)
    for s in np.unique(size[size >= 2]).tolist():
        groups = np.flatnonzero(size == s)
        members = order[start[groups][:, None] + np.arange(s)[None, :]]  # (groups, s)
        combos = list(combinations(range(s), 2))
        left = np.concatenate([members[:, i] for i, _ in combos])
        right = np.concatenate([members[:, j] for _, j in combos])
        ok = agree_pairs(regions, left, right, kind, agreement, _table=table).reshape(
            len(combos), -1)
        split = np.flatnonzero(~ok.all(axis=0))
        if not len(split):
            continue
        # the grouping depends only on which pairs agree: settle each distinct pattern
        # of pair outcomes once and apply it to every item that has it
        if len(combos) < 63:
            bits = (ok[:, split].astype(np.int64) << np.arange(len(combos))[:, None]).sum(0)
            patterns = [(split[bits == b], {c: bool(b >> n & 1) for n, c in enumerate(combos)})
                        for b in np.unique(bits).tolist()]
        else:  # more than 11 annotators of one item: one item at a time
            patterns = [(split[i:i + 1], {c: bool(ok[n, g]) for n, c in enumerate(combos)})
                        for i, g in enumerate(split.tolist())]
        for hit, agrees in patterns:
            for rank, grp in enumerate(_agreeing_groups(agrees, s)):
                if rank:
                    rows = members[hit][:, grp].reshape(-1)
                    keys[rows] = [other_geometry_key(str(k), kind, rank) for k in keys[rows]]
    return keys


def fingerprint(project: Project) -> tuple[Any, ...]:
    """A cheap summary of the project's state (annotation count and newest submit
    time, task counts, item count: ``gold.add`` adds items without tasks): when it has
    not changed, a refresh can skip :func:`load`."""
    from labelnb.queue import queries as q

    with project.store.read() as conn:
        n, last = q.annotation_fingerprint(conn, project.id)
        counts = q.task_status_counts(conn, project.id, datetime.now(UTC))
        n_items = q.item_total(conn, project.id)
    return _fingerprint(n, last, counts, n_items)


def _fingerprint(n: int, last: str, counts: dict[str, int], n_items: int
                 ) -> tuple[Any, ...]:
    """What :func:`fingerprint` returns, from its parts (:func:`load` makes them from the
    rows it read)."""
    return n, last, tuple(sorted(counts.items())), int(n_items)


def task_table(counts: dict[str, int]) -> pd.DataFrame:
    """``{"stage:status": n}`` → a stage × status table with a ``total`` column."""
    rows: dict[str, dict[str, int]] = {}
    for key, n in counts.items():
        stage, _, status = key.partition(":")
        rows.setdefault(stage, {})[status] = int(n)
    order = ["open", "leased", "expired", "done", "cancelled"]
    statuses = [s for s in order if any(s in r for r in rows.values())]
    statuses += sorted({s for r in rows.values() for s in r} - set(statuses))
    known: list[str] = ["annotate", "review", "adjudicate", "retrain"]
    stages = [s for s in known if s in rows]
    stages += sorted(set(rows) - set(stages))
    out = pd.DataFrame([[rows[s].get(x, 0) for x in statuses] for s in stages],
                       index=pd.Index(stages, name="stage"), columns=statuses, dtype="int64")
    out["total"] = out.sum(axis=1)
    return out


# --- throughput -----------------------------------------------------------------------
def throughput_per_hour(anns: pd.DataFrame, *, source: str | None = "human",
                        max_hours: int | None = 168) -> pd.DataFrame:
    """Annotations submitted per clock hour (UTC): columns ``hour``, ``annotations``.
    Hours without work inside the range count 0; only the last ``max_hours`` hours
    that have data are kept."""
    a = anns if source is None else anns[anns["source"] == source]
    t = pd.to_datetime(a["submitted_at"], utc=True).dropna()
    if t.empty:
        return pd.DataFrame({"hour": pd.Series([], dtype="datetime64[ns, UTC]"),
                             "annotations": pd.Series([], dtype="int64")})
    hours = t.dt.floor("h")
    counts = hours.value_counts().sort_index()
    full = pd.date_range(counts.index.min(), counts.index.max(), freq="h")
    if max_hours is not None and len(full) > max_hours:
        full = full[-max_hours:]
    counts = counts.reindex(full, fill_value=0)
    return pd.DataFrame({"hour": counts.index, "annotations": counts.to_numpy(dtype="int64")})


# --- agreement ------------------------------------------------------------------------
def key_matrix(human: pd.DataFrame) -> pd.DataFrame:
    """item × annotator table of label keys (NaN where an annotator did not label)."""
    if human.empty:
        return pd.DataFrame()
    return human.pivot(index="item_id", columns="author", values="key").sort_index(axis=1)


def pairwise_kappa(human: pd.DataFrame, *, min_items: int = 1,
                   matrix: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cohen's kappa between every two annotators on the items both labeled (an
    annotator × annotator matrix, 1 on the diagonal; NaN where fewer than
    ``min_items`` items are shared or kappa is undefined). ``matrix``: the
    :func:`key_matrix` of ``human``, if already made."""
    m = key_matrix(human) if matrix is None else matrix
    names = list(m.columns)
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="annotator"),
                       columns=pd.Index(names, name="other"))
    # unweighted kappa does not depend on the categories' order: compare integer codes
    codes = pd.factorize(m.to_numpy(dtype=object).ravel(order="F"))[0].reshape(
        len(m), len(names), order="F")
    values = {n: codes[:, j] for j, n in enumerate(names)}
    present = {n: codes[:, j] >= 0 for j, n in enumerate(names)}
    for i, a in enumerate(names):
        out.loc[a, a] = 1.0
        for b in names[i + 1:]:
            both = present[a] & present[b]
            if int(both.sum()) < min_items:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateWarning)
                k = cohen_kappa(values[a][both], values[b][both])
            out.loc[a, b] = out.loc[b, a] = k
    return out


def shared_items(human: pd.DataFrame, *, matrix: pd.DataFrame | None = None
                 ) -> pd.DataFrame:
    """How many items each two annotators both labeled."""
    m = key_matrix(human) if matrix is None else matrix
    p = m.notna().astype("int64")
    if p.shape[1] == 0:  # no annotator yet (pandas refuses a product of no columns)
        return pd.DataFrame(index=p.columns, columns=p.columns, dtype="int64")
    return p.T @ p


def mean_pairwise_kappa(kappa: pd.DataFrame) -> pd.Series:
    """Per annotator, the mean of their kappas with the others (NaN ones left out)."""
    vals = kappa.to_numpy(dtype=float, copy=True)
    np.fill_diagonal(vals, np.nan)
    return pd.DataFrame(vals, index=kappa.index, columns=kappa.columns).mean(axis=1,
                                                                            skipna=True)


def per_class_agreement(human: pd.DataFrame, labels: list[str] | None = None) -> pd.DataFrame:
    """Per label: among items with two or more annotators where someone used the label,
    the share on which all annotators gave the same label key (``agreement``), and how
    many such items there are (``items``)."""
    cols = ["label", "items", "agreement"]
    if human.empty:
        return pd.DataFrame(columns=cols)
    g = human.groupby("item_id")["key"]
    per_item = pd.DataFrame({"n": g.size(), "distinct": g.nunique()})
    per_item = per_item[per_item["n"] >= 2]
    per_item["unanimous"] = per_item["distinct"] == 1
    mine = human[human["item_id"].isin(per_item.index)]
    lens = np.fromiter(map(len, mine["labels"]), dtype=np.int64, count=len(mine))
    used = pd.DataFrame({"item_id": np.repeat(mine["item_id"].to_numpy(), lens),
                         "labels": pd.Series(list(chain.from_iterable(mine["labels"])),
                                             dtype=object)})
    used = used.dropna().drop_duplicates()
    used = used.join(per_item["unanimous"], on="item_id")
    res = used.groupby("labels")["unanimous"].agg(["size", "mean"])
    order = list(labels or []) + sorted(set(res.index) - set(labels or []))
    res = res.reindex(order)
    out = pd.DataFrame({"label": order, "items": res["size"].fillna(0).astype("int64").values,
                        "agreement": res["mean"].astype(float).values})
    return out


OTHER_KEYS = "(other keys)"


def confusion(human: pd.DataFrame, a: str, b: str, *, max_keys: int | None = 12,
              matrix: pd.DataFrame | None = None) -> pd.DataFrame:
    """Key confusion matrix between annotators ``a`` (rows) and ``b`` (columns) on the
    items both labeled. With more than ``max_keys`` distinct keys, the ``max_keys - 1``
    most frequent are kept (alphabetically) and the rest are counted as
    ``"(other keys)"`` (last). ``matrix``: the :func:`key_matrix` of ``human``, if
    already made.

    >>> h = annotation_frame([{"item_id": i, "author": w, "labels": [lab]}
    ...                       for i, (x, y) in enumerate(["aa", "ab", "bb"])
    ...                       for w, lab in (("ann", x), ("bo", y))], "choice")
    >>> confusion(h, "ann", "bo").to_numpy().tolist()
    [[1, 1], [0, 1]]
    """
    m = key_matrix(human) if matrix is None else matrix
    if a not in m.columns or b not in m.columns:
        return pd.DataFrame()
    both = m[[a, b]].dropna() if a != b else m[[a]].dropna().assign(_b=lambda d: d[a])
    if both.empty:
        return pd.DataFrame()
    x = both.iloc[:, 0].to_numpy(dtype=object)
    y = both.iloc[:, 1].to_numpy(dtype=object)
    freq = pd.Series(np.concatenate([x, y])).value_counts(sort=False)
    cats = sorted(freq.index)
    if max_keys is not None and len(cats) > max_keys:
        top = freq.sort_values(ascending=False, kind="stable").index[:max(1, max_keys - 1)]
        cats = sorted(top) + [OTHER_KEYS]
    index = pd.Index(cats)
    other = len(cats) - 1
    cx, cy = index.get_indexer(x), index.get_indexer(y)
    cx[cx < 0], cy[cy < 0] = other, other
    k = len(cats)
    counts = np.bincount(cx * k + cy, minlength=k * k).reshape(k, k)
    return pd.DataFrame(counts, index=pd.Index(cats, name=a), columns=pd.Index(cats, name=b))


# --- consensus and accuracy ------------------------------------------------------------
@dataclass
class References:
    """What the annotators are graded against, as :meth:`Project.calibrate` grades them
    (:func:`references`)."""

    #: per item, the reference label key: ``item_id``, ``key``, ``origin`` (``gold``,
    #: ``stored`` or ``majority``)
    table: pd.DataFrame
    #: item -> the author of the annotation that carries its final label (an
    #: adjudication, a reviewer's correction, the stored consensus): calibrate() does
    #: not grade a vote against a final label its own author made
    made_by: dict[int, str] = field(default_factory=dict)
    #: item -> its reference regions (lists of region JSON dicts), for the items whose
    #: votes are graded with :func:`labelnb.metrics.tiers.agree` rather than by key: gold
    #: items, and for region kinds the majority of votes a reviewer corrected (their
    #: corrections' geometry has no key among the annotators' own)
    truth: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


def reference_labels(frames_or_anns: Frames | pd.DataFrame, kind: str | None = None
                     ) -> pd.DataFrame:
    """Per item, the reference label key (see the module docstring): columns
    ``item_id``, ``key``, ``origin`` (``gold``, ``stored`` or ``majority``); the
    :attr:`References.table` of :func:`references`."""
    if isinstance(frames_or_anns, Frames):
        frames = frames_or_anns
    else:
        frames = Frames(kind or "choice", [], frames_or_anns, pd.DataFrame())
    return references(frames).table


def references(frames: Frames) -> References:
    """The labels :meth:`Project.calibrate` grades the annotators against, found as
    ``project.consensus(queue_tasks=False)`` finds them, without writing anything:

    1. a gold item's known answer;
    2. else the item's newest adjudication, unless a reviewer rejected it (the end of
       its chain of corrections, if a reviewer corrected it);
    3. else nothing while the item waits for a label (an annotate task of it open or
       leased, an annotator's label sent back for rework);
    4. else, if the annotators' votes (:attr:`Frames.human`, each vote a reviewer
       corrected counted as the end of its chain of corrections, a correction by one
       of the item's own voters not counting: :func:`counted_votes`) have a strict
       majority (more than half of at least two): the item's newest stored consensus
       if it rests on the majority's votes as they stand now (its ``based_on``, see
       :attr:`Frames.based_on`), as a reviewer corrected it, or nothing while a
       reviewer's rejection of it is with an expert; else the majority itself.

    A consensus that rests on other votes (made before a vote was reworked or
    corrected) is no reference, nor is its correction."""
    anns, human, kind = frames.annotations, frames.human, frames.kind
    cols = ["item_id", "key", "origin"]
    parts: list[pd.DataFrame] = []
    made_by: dict[int, str] = {}
    truth: dict[int, list[dict[str, Any]]] = {}
    region_keys = kind in REGION_KINDS and "label_key" in human.columns and len(human) > 0

    def stored_keys(rows: pd.DataFrame) -> np.ndarray:
        if region_keys:
            return stored_geometry_keys(rows, human, kind, frames.agreement)
        return rows["key"].to_numpy(dtype=object)

    if frames.gold:
        gold = pd.DataFrame({"item_id": list(frames.gold),
                             "regions": list(frames.gold.values())})
        answers = decode_regions(gold["regions"].tolist())
        gold["key"] = [label_key([r["label"] for r in regs], kind) for regs in answers]
        parts.append(pd.DataFrame({"item_id": gold["item_id"].to_numpy(dtype=np.int64),
                                   "key": stored_keys(gold), "origin": "gold"}))
        truth.update(zip(map(int, gold["item_id"]), answers, strict=True))
    settled: set[int] = set(frames.gold)
    fixes = _fixes(anns, frames.rejected)
    # annotation id -> the id of its newest correction that counts (later rows win)
    nxt = dict(zip(fixes["corrects"], fixes["id"].astype(str), strict=True))

    def carried(ids: Sequence[str]) -> pd.DataFrame:
        """The annotations that carry these labels: each one's chain of corrections'
        end, or itself."""
        if not len(ids):
            return anns.iloc[0:0]
        ends = [_chain_end(nxt, i) or i for i in ids]
        return anns.iloc[pd.Index(anns["id"].astype(str)).get_indexer(pd.Index(ends))]

    def stored(rows: pd.DataFrame) -> None:
        """``rows`` (one per item) are the items' final labels."""
        if len(rows):
            parts.append(pd.DataFrame({"item_id": rows["item_id"].to_numpy(dtype=np.int64),
                                       "key": stored_keys(rows), "origin": "stored"}))
            # calibrate() knows the authors of human annotations only (a consensus
            # annotation's "consensus" is nobody's vote)
            human_made = rows[rows["source"] == "human"]
            made_by.update(zip(map(int, human_made["item_id"]),
                               map(str, human_made["author"]), strict=True))

    if not anns.empty:
        # the item's newest adjudication, none while a reviewer's rejection of it waits
        # for the expert's rework (an older one does not count)
        adj = anns[anns["stage"].isin(FINAL_STAGES) & ~anns["item_id"].isin(settled)]
        adj = adj.drop_duplicates("item_id", keep="last")
        adj = adj[~adj["id"].isin(frames.rejected)] if frames.rejected else adj
        final = carried(adj["id"].astype(str).tolist())
        stored(final)
        settled |= set(final["item_id"].astype(int))
    waiting = (frames.labeling | frames.in_rework) - settled  # consensus(): "pending"
    votes = counted_votes(frames, fixes)
    votes = votes[~votes["item_id"].isin(settled | waiting)]
    if len(votes):
        counts = votes.groupby(["item_id", "key"]).size().rename("votes").reset_index()
        n = votes.groupby("item_id").size().rename("n")
        counts = counts.join(n, on="item_id")
        maj = counts.loc[(counts["n"] >= 2) & (counts["votes"] * 2 > counts["n"]),
                         ["item_id", "key"]].reset_index(drop=True)
        origin = np.full(len(maj), "majority", dtype=object)
        keep = np.ones(len(maj), dtype=bool)
        cons = anns[anns["source"] == "consensus"].drop_duplicates("item_id", keep="last")
        cons = cons[cons["item_id"].isin(maj["item_id"])]
        if len(cons):
            fresh = cons[_rests_on_votes(cons, votes, maj, frames.based_on)]
            # a rejected consensus is with an expert (no reference until they decide),
            # unless a reviewer's correction of it stands
            ends = [_chain_end(nxt, str(i)) for i in fresh["id"]]
            fixed = [e for e in ends if e is not None]
            sent_back = fresh["id"].isin(frames.rejected).to_numpy() & np.array(
                [e is None for e in ends], dtype=bool)
            pos = pd.Index(maj["item_id"])
            at = pos.get_indexer(fresh["item_id"])
            origin[at] = "stored"
            keep[at[sent_back]] = False
            if fixed:
                rows = carried(fixed)
                keep[pos.get_indexer(rows["item_id"])] = False
                stored(rows)
        maj = maj.assign(origin=origin)[keep]
        if kind in REGION_KINDS and votes["changed"].any():
            # the majority of corrected votes: grade with agree() on its fused regions
            hit = set(votes.loc[votes["changed"], "item_id"]) & set(maj["item_id"])
            truth.update(_fused_majority(votes[votes["item_id"].isin(hit)], maj, kind,
                                         frames.agreement))
        parts.append(maj[cols])
    if not parts:
        return References(pd.DataFrame(columns=cols), made_by, truth)
    ref = pd.concat(parts, ignore_index=True).drop_duplicates("item_id", keep="first")
    ref = ref.sort_values("item_id").reset_index(drop=True)[cols]
    keep_items = set(ref["item_id"].astype(int))
    return References(ref, {i: a for i, a in made_by.items() if i in keep_items},
                      {i: t for i, t in truth.items() if i in keep_items})


def _fixes(anns: pd.DataFrame, rejected: frozenset[str]) -> pd.DataFrame:
    """The corrections that count (a rejected one does not), in submission order, with
    the ``status`` column :func:`labelnb.queue.consensus.corrected_votes` reads."""
    if anns.empty:
        return anns.assign(status=pd.Series(dtype=object))
    fixes = anns[anns["corrects"].notna()]
    if rejected and len(fixes):
        fixes = fixes[~fixes["id"].isin(rejected)]
    return fixes.assign(corrects=fixes["corrects"].astype(str), status="submitted")


def _chain_end(nxt: dict[str, str], start: str) -> str | None:
    """The end of ``start``'s chain of corrections (``nxt``: annotation id -> the id of
    its newest correction that counts), or None when nothing corrects it; what
    ``project.consensus()`` takes for a consensus or an adjudication."""
    found, seen = None, {start}
    cur = start
    while cur in nxt:
        cur = found = nxt[cur]
        if cur in seen:  # a cycle cannot be stored, but a loop must not hang on one
            break
        seen.add(cur)
    return found


def counted_votes(frames: Frames, fixes: pd.DataFrame | None = None) -> pd.DataFrame:
    """The votes ``project.consensus()`` decides on: :attr:`Frames.human` with each vote
    a reviewer corrected counted as the end of its chain of corrections, as
    :func:`labelnb.queue.consensus.corrected_votes` counts it (a correction by one of
    the item's own voters does not count, nor a rejected one), found for all votes at
    once (:func:`labelnb.queue.consensus.vote_bases`). Columns ``item_id``, ``author``,
    ``id`` (the vote's own), ``basis`` (the id of the annotation it stands for),
    ``basis_at`` (that one's submit time), ``key`` (its key: geometry-aware among the
    item's counted votes for region kinds), ``regions`` and ``changed`` (whether a
    correction replaced it)."""
    human = frames.human
    votes = pd.DataFrame({"item_id": human["item_id"], "author": human["author"],
                          "id": human["id"], "basis": human["id"].astype(str),
                          "basis_at": human["submitted_at"], "key": human["key"],
                          "changed": False})
    if fixes is None:
        fixes = _fixes(frames.annotations, frames.rejected)
    if human.empty or fixes.empty:
        return votes
    hit = votes["basis"].isin(set(fixes["corrects"]))
    if not hit.any():
        return votes
    # every vote of the items concerned: whether a correction counts depends on who
    # else voted on the item
    sub = human[human["item_id"].isin(set(votes.loc[hit, "item_id"]))]
    from labelnb.queue.consensus import vote_bases

    basis = vote_bases(fixes, sub)
    changed = basis != sub["id"].astype(str).to_numpy(dtype=object)
    fix = fixes.set_index("id")
    plain = (sub["label_key"] if "label_key" in sub.columns else sub["key"]).to_numpy(
        dtype=object).copy()
    regions = (sub["regions"] if "regions" in sub.columns
               else pd.Series(None, index=sub.index, dtype=object)).to_numpy(dtype=object)
    at = sub["submitted_at"]
    if changed.any():
        plain[changed] = fix["key"].reindex(basis[changed]).to_numpy(dtype=object)
        regions = regions.copy()
        regions[changed] = fix["regions"].reindex(basis[changed]).to_numpy(dtype=object)
        at = at.where(~changed, fix["submitted_at"].reindex(basis).set_axis(sub.index))
    keys = plain
    if frames.kind in REGION_KINDS:
        counted = pd.DataFrame({"item_id": sub["item_id"].to_numpy(),
                                "author": sub["author"].to_numpy(), "key": plain,
                                "regions": regions})
        with gc_paused():
            keys = geometry_keys(counted, frames.kind, frames.agreement)
    votes.loc[sub.index, "basis"] = basis
    votes.loc[sub.index, "basis_at"] = at
    votes.loc[sub.index, "key"] = keys
    votes.loc[sub.index, "changed"] = changed
    votes["regions"] = human["regions"] if "regions" in human.columns else None
    votes.loc[sub.index, "regions"] = pd.Series(list(regions), index=sub.index, dtype=object)
    return votes


def _rests_on_votes(cons: pd.DataFrame, votes: pd.DataFrame, maj: pd.DataFrame,
                    based_on: dict[str, tuple[str, ...]] | None) -> np.ndarray:
    """For each consensus annotation (one per item), whether it rests on the item's
    majority as the votes stand now: its ``based_on`` equals the majority's votes'
    bases, as ``project.consensus()`` keeps a stored consensus. Where ``based_on`` is
    not known: whether none of the item's votes (or their corrections) is newer."""
    ids = cons["id"].astype(str).to_numpy(dtype=object)
    items = cons["item_id"].to_numpy(dtype=np.int64)
    known = np.array([based_on is not None and i in based_on for i in ids], dtype=bool)
    out = np.zeros(len(cons), dtype=bool)
    if known.any():
        assert based_on is not None
        group = votes.merge(maj, on=["item_id", "key"])
        group = group[group["item_id"].isin(items[known])]
        size = group.groupby("item_id").size()
        stored = [based_on[i] for i in ids[known]]
        lens = np.fromiter(map(len, stored), dtype=np.int64, count=len(stored))
        long = pd.DataFrame({"item_id": np.repeat(items[known], lens),
                             "basis": pd.Series(list(chain.from_iterable(stored)),
                                                dtype=object)})
        hits = long.merge(group[["item_id", "basis"]], on=["item_id", "basis"]).groupby(
            "item_id").size()
        want = size.reindex(items[known]).fillna(0).to_numpy()
        got = hits.reindex(items[known]).fillna(0).to_numpy()
        out[known] = (lens == want) & (got == want)
    if (~known).any():
        mine = votes[votes["item_id"].isin(items[~known])]
        newest = mine.groupby("item_id")["basis_at"].max().reindex(items[~known])
        out[~known] = ~(newest.to_numpy() > cons["submitted_at"].to_numpy()[~known])
    return out


def _fused_majority(votes: pd.DataFrame, maj: pd.DataFrame, kind: str, ag: Agreement
                    ) -> dict[int, list[dict[str, Any]]]:
    """Item -> the majority's regions fused as ``project.consensus()`` fuses them
    (:func:`labelnb.metrics.tiers.fuse`), as JSON dicts."""
    from labelnb.metrics.tiers import fuse

    group = votes.merge(maj[["item_id", "key"]], on=["item_id", "key"])
    out: dict[int, list[dict[str, Any]]] = {}
    for item, g in group.groupby("item_id", sort=False):
        regs = [[Region.from_json(r) for r in rs] for rs in decode_regions(list(g["regions"]))]
        out[int(str(item))] = [dict(r.to_json()) for r in fuse(regs, kind, ag)]
    return out


def stored_geometry_keys(final: pd.DataFrame, human: pd.DataFrame, kind: str,
                         agreement: Agreement | None = None) -> np.ndarray:
    """The geometry-aware keys of stored reference annotations (``final``: one row per
    item with ``item_id``, ``key``, ``regions``): the key of the first group of the
    item's annotators (``human`` after :func:`geometry_keys`, largest group first) whose
    first member agrees with it; ``"<labels> (reference)"`` when the labels match a
    group but the geometry matches none."""
    keys = final["key"].to_numpy(dtype=object).copy()
    h = human.assign(_author=human["author"].astype(str))
    reps = h.sort_values(["item_id", "key", "_author"], kind="stable").drop_duplicates(
        ["item_id", "key"])
    cand = pd.DataFrame({"item_id": final["item_id"].to_numpy(), "label_key": keys,
                         "fpos": np.arange(len(final))})
    m = cand.merge(reps[["item_id", "label_key", "key", "regions"]],
                   on=["item_id", "label_key"])
    if m.empty:
        return keys
    regions = list(final["regions"]) + list(m["regions"])
    ok = agree_pairs(regions, m["fpos"].to_numpy(), len(final) + np.arange(len(m)), kind,
                     agreement)
    m["rank"] = m["key"].str.len()
    best = m[ok].sort_values(["fpos", "rank"], kind="stable").drop_duplicates("fpos")
    matched = np.zeros(len(final), dtype=bool)
    matched[best["fpos"].to_numpy()] = True
    keys[best["fpos"].to_numpy()] = best["key"].to_numpy(dtype=object)
    tried = np.zeros(len(final), dtype=bool)
    tried[m["fpos"].to_numpy()] = True
    for i in np.flatnonzero(tried & ~matched).tolist():
        keys[i] = f"{keys[i]} (reference)"
    return keys


def scored(human: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """The annotators' labels of items with a reference label, with ``correct`` (key
    equality; :func:`graded` grades as :meth:`Project.calibrate` does)."""
    s = human.merge(ref[["item_id", "key"]].rename(columns={"key": "ref"}), on="item_id")
    s["correct"] = s["key"] == s["ref"]
    return s.sort_values("submitted_at", kind="stable").reset_index(drop=True)


def graded(frames: Frames, refs: References | None = None) -> pd.DataFrame:
    """The annotations :meth:`Project.calibrate` grades, each with its reference
    (``ref``) and whether it agrees with it (``correct``), in submission order: each
    annotator's vote (:attr:`Frames.human`, as they made it, whatever a reviewer
    corrected) of an item with a reference (:func:`references`), except a vote whose
    author made the item's final label (an expert who adjudicated, or a reviewer who
    corrected, an item they had labeled); on a gold item, each annotator's *first*
    answer (:func:`labelnb.team.gold.first_answers`: a rework after a review is not
    graded). A vote is graded by key, or with :func:`labelnb.metrics.tiers.agree`
    against :attr:`References.truth` where that holds the item's regions."""
    r = references(frames) if refs is None else refs
    human, ref, kind = frames.human, r.table, frames.kind
    gold = ref["origin"] == "gold"
    s = human.merge(ref.loc[~gold, ["item_id", "key"]].rename(columns={"key": "ref"}),
                    on="item_id")
    if r.made_by and len(s):
        own = s["item_id"].map(r.made_by)
        s = s[own.isna() | (own != s["author"].astype(str))]
    s = s.assign(correct=s["key"] == s["ref"])
    parts = [s]
    if r.truth:
        by_regions = s["item_id"].isin(r.truth).to_numpy()
        if by_regions.any():
            s.loc[by_regions, "correct"] = _agrees_with(s[by_regions], r.truth, kind,
                                                        frames.agreement)
    if gold.any():
        a = frames.annotations
        first = a[(a["source"] == "human") & a["stage"].isin(OWN_STAGES)
                  & a["item_id"].isin(ref.loc[gold, "item_id"])]
        first = first.drop_duplicates(["item_id", "author"], keep="first")
        if len(first):
            first = first.merge(ref.loc[gold, ["item_id", "key"]].rename(
                columns={"key": "ref"}), on="item_id")
            parts.append(first.assign(correct=_agrees_with(first, r.truth, kind,
                                                           frames.agreement)))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else s
    out["correct"] = out["correct"].astype(bool)
    return out.sort_values("submitted_at", kind="stable").reset_index(drop=True)


def _agrees_with(rows: pd.DataFrame, truth: dict[int, list[dict[str, Any]]], kind: str,
                 agreement: Agreement) -> np.ndarray:
    """Whether each row's regions agree with its item's ``truth`` regions, as
    :func:`labelnb.metrics.tiers.agree` decides (for choice kinds: the same labels)."""
    items = rows["item_id"].astype(int).tolist()
    if kind in ("choice", "multi_choice"):
        want = {i: sorted(x["label"] for x in truth[i]) for i in set(items)}
        return np.fromiter((sorted(map(str, labels)) == want[i]
                            for labels, i in zip(rows["labels"], items, strict=True)),
                           dtype=bool, count=len(rows))
    order = list(dict.fromkeys(items))
    at = {i: n for n, i in enumerate(order)}
    regions = list(rows["regions"]) + [truth[i] for i in order]
    right = len(rows) + np.fromiter((at[i] for i in items), dtype=np.int64, count=len(items))
    return agree_pairs(regions, np.arange(len(rows)), right, kind, agreement)


def accuracy_over_time(human: pd.DataFrame, ref: pd.DataFrame, *, window: int = 50,
                       max_points: int = 400, scored_frame: pd.DataFrame | None = None
                       ) -> pd.DataFrame:
    """Per annotator, the rolling accuracy against the reference over their last
    ``window`` scored annotations, in submission order: columns ``annotator``,
    ``submitted_at``, ``n`` (their n-th scored annotation), ``accuracy``. At most
    ``max_points`` evenly spaced points per annotator (the last one always kept).
    ``scored_frame``: ``scored(human, ref)``, if already made."""
    cols = ["annotator", "submitted_at", "n", "accuracy"]
    s = scored(human, ref) if scored_frame is None else scored_frame
    if s.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for author, g in s.groupby("author", sort=True):
        acc = g["correct"].astype(float).rolling(window, min_periods=1).mean().to_numpy()
        idx = np.unique(np.linspace(0, len(g) - 1, min(len(g), max_points)).astype(int))
        out.append(pd.DataFrame({"annotator": str(author),
                                 "submitted_at": g["submitted_at"].iloc[idx].to_numpy(),
                                 "n": idx + 1, "accuracy": acc[idx]}))
    return pd.concat(out, ignore_index=True)[cols]


def annotator_table(frames: Frames, kappa: pd.DataFrame | None = None,
                    ref: pd.DataFrame | None = None, *, window: int = 200,
                    threshold: float = FLAG_THRESHOLD,
                    min_items: int = FLAG_MIN_ITEMS,
                    scored_frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per human annotator: ``annotations`` (all their human annotations),
    ``items`` (items labeled), ``accuracy`` (last ``window`` graded items, as
    :meth:`Project.calibrate` grades them: :func:`graded`), ``scored`` (how many),
    ``mean_kappa``, ``mean_s`` (seconds per annotation) and ``flagged`` (accuracy
    below ``threshold`` on at least ``min_items`` items). ``scored_frame``: the graded
    annotations, if already made (``ref``, a reference table, grades
    :attr:`Frames.human` against it by key instead)."""
    cols = ["annotator", "annotations", "items", "accuracy", "scored", "mean_kappa",
            "mean_s", "flagged"]
    anns = frames.annotations
    all_h = anns[anns["source"] == "human"]
    if all_h.empty:
        return pd.DataFrame(columns=cols)
    human = frames.human
    kappa = pairwise_kappa(human) if kappa is None else kappa
    g = all_h.groupby("author")
    out = pd.DataFrame({"annotations": g.size(), "mean_s": g["duration_s"].mean()})
    out["items"] = human.groupby("author").size().reindex(out.index).fillna(0).astype("int64")
    s = (scored_frame if scored_frame is not None else graded(frames) if ref is None
         else scored(human, ref))
    if len(s):
        recent = s.groupby("author").tail(window).groupby("author")["correct"]
        out["accuracy"] = recent.mean().reindex(out.index)
        out["scored"] = recent.size().reindex(out.index).fillna(0).astype("int64")
    else:
        out["accuracy"] = np.nan
        out["scored"] = 0
    out["mean_kappa"] = mean_pairwise_kappa(kappa).reindex(out.index) if len(kappa) else np.nan
    out["flagged"] = (out["scored"] >= min_items) & (out["accuracy"] < threshold)
    out.index.name = "annotator"
    return out.reset_index()[cols]


def disagreements(human: pd.DataFrame, n: int | None = 20) -> pd.DataFrame:
    """Items with two or more annotators, lowest agreement first. ``agreement`` is the
    share of the item's annotators who gave the most common key (geometry-aware for
    region kinds, see :func:`geometry_keys`); ties go to
    the item with more distinct keys, then the lower item id. Columns ``item_id``,
    ``annotators``, ``distinct``, ``agreement``, ``keys`` ({annotator: key})."""
    cols = ["item_id", "annotators", "distinct", "agreement", "keys"]
    if human.empty:
        return pd.DataFrame(columns=cols)
    counts = human.groupby(["item_id", "key"]).size()
    top = counts.groupby(level="item_id").max()
    g = human.groupby("item_id")["key"]
    per = pd.DataFrame({"annotators": g.size(), "distinct": g.nunique(), "top": top})
    per = per[per["annotators"] >= 2]
    per["agreement"] = per["top"] / per["annotators"]
    per = per.reset_index().sort_values(["agreement", "distinct", "item_id"],
                                        ascending=[True, False, True], kind="stable")
    if n is not None:
        per = per.head(n)
    mine = human[human["item_id"].isin(per["item_id"])]
    keys: dict[int, dict[str, str]] = {}
    for author, item, key in zip(mine["author"], mine["item_id"], mine["key"], strict=True):
        keys.setdefault(int(item), {})[str(author)] = str(key)
    per["keys"] = pd.Series([keys[int(i)] for i in per["item_id"]], index=per.index,
                            dtype=object)
    return per[cols].reset_index(drop=True)


@dataclass
class Summary:
    """Everything the dashboard draws, computed from one :class:`Frames`."""

    frames: Frames
    human: pd.DataFrame
    #: item × annotator keys (:func:`key_matrix`)
    keys: pd.DataFrame
    reference: pd.DataFrame
    kappa: pd.DataFrame
    shared: pd.DataFrame
    annotators: pd.DataFrame
    throughput: pd.DataFrame
    accuracy_time: pd.DataFrame
    #: how many items :attr:`disagreements` lists
    top_n: int = 20
    _per_class: pd.DataFrame | None = field(default=None, repr=False)
    _disagreements: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def disagreements(self) -> pd.DataFrame:
        """:func:`disagreements` of :attr:`human`, the ``top_n`` lowest first (made when
        first read: only the Disagreements tab shows them)."""
        if self._disagreements is None:
            self._disagreements = disagreements(self.human, self.top_n)
        return self._disagreements

    @property
    def per_class(self) -> pd.DataFrame:
        """:func:`per_class_agreement` of :attr:`human` (made when first read: only the
        Agreement tab shows it, so a page's first view does not wait for it)."""
        if self._per_class is None:
            self._per_class = per_class_agreement(self.human, self.frames.labels)
        return self._per_class


def summarize(frames: Frames, *, top_n: int = 20) -> Summary:
    """Everything the dashboard draws (see :class:`Summary`)."""
    human = frames.human
    refs = references(frames)
    ref = refs.table
    keys = key_matrix(human)
    kappa = pairwise_kappa(human, matrix=keys)
    sc = graded(frames, refs)
    return Summary(
        frames=frames, human=human, keys=keys, reference=ref, kappa=kappa,
        shared=shared_items(human, matrix=keys),
        annotators=annotator_table(frames, kappa, ref, scored_frame=sc),
        throughput=throughput_per_hour(frames.annotations),
        accuracy_time=accuracy_over_time(human, ref, scored_frame=sc), top_n=top_n)


_CACHE: dict[tuple[str, int, int], tuple[tuple[Any, ...], Summary]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8
#: cache keys whose numbers are being computed now (in any thread), and the event set
#: when that computation ends
_INFLIGHT: dict[tuple[str, int, int], threading.Event] = {}
#: cache keys whose project a background thread is checking for a change (:func:`poll`)
_CHECKING: dict[tuple[str, int, int], threading.Event] = {}


def _cache_key(project: Project, top_n: int) -> tuple[str, int, int]:
    """Which cached numbers are a project's: its database, id and schema (a database
    file deleted and made again may hold a project of the same id, and its fingerprint
    can match the old one's), its ``agreement`` setting (what counts as agreement for
    region kinds: ``configure(agreement=...)`` changes the keys without changing any
    row), and for an in-memory database the store itself (every ``:memory:`` database
    has the same URL)."""
    where = project.store.url
    if project.store.in_memory:
        where = f"{where}#{id(project.store)}"
    agreement = json.dumps(project.settings.get("agreement", {}), sort_keys=True,
                           default=str)
    return (f"{where}|{project.schema.fingerprint()}|{agreement}", project.id, top_n)


def cached_summary(project: Project, *, top_n: int = 20, stale_ok: bool = False
                   ) -> tuple[tuple[Any, ...], Summary]:
    """``(fingerprint, summarize(load(project)))``, shared by the sessions that show one
    project: re-read only when the project's :func:`fingerprint` changed. One read at a
    time per project: a caller that finds one running (the server's start-up read,
    another session's) waits for it instead of reading the project a second time.

    ``stale_ok``: return the cached numbers, if any, without checking the project for
    a change (a page draws them at once and asks :func:`poll` once it is drawn, so
    that neither the check nor a read competes with drawing it: stale-while-revalidate).
    Without cached numbers this reads, as without ``stale_ok``."""
    key = _cache_key(project, top_n)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and stale_ok:
        return hit
    asked = datetime.now(UTC)
    if hit is None:  # the read makes its own fingerprint
        return _compute_once(project, key, top_n, asked)
    fp = fingerprint(project)
    if hit[0] == fp:
        return hit
    return _compute_once(project, key, top_n, asked, fp)


def poll(project: Project, *, top_n: int = 20) -> tuple[tuple[Any, ...], Summary] | None:
    """The project's cached ``(fingerprint, summary)`` now (None when nothing is
    cached), without touching the database in the caller's thread: a background thread
    checks the project for a change and reads it when it changed or nothing is cached
    (one check per project at a time, shared by every session). A later call returns
    what it read. What the dashboard's periodic refresh calls, so that the server's
    event loop never waits for the database, however many pages are open."""
    key = _cache_key(project, top_n)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)

    def check() -> None:
        asked = datetime.now(UTC)
        with _CACHE_LOCK:
            now = _CACHE.get(key)
        if now is None:
            _compute_once(project, key, top_n, asked)
            return
        fp = fingerprint(project)
        if fp != now[0]:
            _compute_once(project, key, top_n, asked, fp)

    _background(_CHECKING, key, check, "checking the project for a change",
                "labelnb-dashboard-check")
    return hit


def _background(registry: dict[tuple[str, int, int], threading.Event],
                key: tuple[str, int, int], work: Callable[[], None], what: str,
                name: str) -> None:
    """Run ``work`` in a daemon thread listed in ``registry`` while it runs, unless a
    thread already checks or computes ``key``. A failure (e.g. the session closed its
    project meanwhile) is logged; the next call tries again."""
    import logging

    with _CACHE_LOCK:
        if key in _INFLIGHT or key in _CHECKING:
            return
        done = registry[key] = threading.Event()

    def finish() -> None:
        with _CACHE_LOCK:
            registry.pop(key, None)
        done.set()

    def run() -> None:
        try:
            work()
        except Exception:
            logging.getLogger("labelnb").exception(f"labelnb dashboard: {what} failed")
        finally:
            finish()

    try:
        threading.Thread(target=run, name=name, daemon=True).start()
    except BaseException:  # no thread (e.g. none left): never leave the key marked busy
        finish()
        raise


def refreshing(project: Project, *, top_n: int = 20) -> bool:
    """Whether the project's numbers are being checked for a change or computed now
    (in the background, or for a page that waits for them)."""
    key = _cache_key(project, top_n)
    with _CACHE_LOCK:
        return key in _INFLIGHT or key in _CHECKING


def reading(project: Project, *, top_n: int = 20) -> bool:
    """Whether the project's numbers are being computed now (a change was found, or
    nothing was cached): what the dashboard's header says while it waits for them."""
    with _CACHE_LOCK:
        return _cache_key(project, top_n) in _INFLIGHT


def _compute(project: Project, key: tuple[str, int, int], top_n: int
             ) -> tuple[tuple[Any, ...], Summary]:
    frames = load(project)
    assert frames.fingerprint is not None
    out = (frames.fingerprint, summarize(frames, top_n=top_n))
    with _CACHE_LOCK:
        old = _CACHE.pop(key, None)
        if old is not None and old[1].frames.loaded_at > out[1].frames.loaded_at:
            out = old  # a read that started later finished first: keep the newer one
        _CACHE[key] = out
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
    return out


def _compute_once(project: Project, key: tuple[str, int, int], top_n: int,
                  asked: datetime, fp: tuple[Any, ...] | None = None
                  ) -> tuple[tuple[Any, ...], Summary]:
    """:func:`_compute` in this thread, unless another thread computes ``key`` now:
    then wait for that one and take its numbers if they are as new as the caller
    needs: read after ``asked`` (when the caller started), or of the caller's
    fingerprint ``fp``. Otherwise (a change came in meanwhile) read again, as one
    read at a time too."""
    with _CACHE_LOCK:
        running = _INFLIGHT.get(key)
        if running is None:
            done = _INFLIGHT[key] = threading.Event()
    if running is not None:
        running.wait()
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
        if hit is not None and (hit[1].frames.loaded_at >= asked or hit[0] == fp):
            return hit
        return _compute_once(project, key, top_n, datetime.now(UTC))
    try:
        return _compute(project, key, top_n)
    finally:
        with _CACHE_LOCK:
            _INFLIGHT.pop(key, None)
        done.set()


def recompute(project: Project, *, top_n: int = 20) -> tuple[tuple[Any, ...], Summary]:
    """Read the project now, changed or not (one read at a time per project), and
    keep the numbers for every session: what ``Dashboard.refresh(force=True)`` does."""
    return _compute_once(project, _cache_key(project, top_n), top_n, datetime.now(UTC))


def wait_idle(timeout: float | None = None) -> bool:
    """Wait until no project is being checked or its numbers computed (in any thread);
    False on timeout. For tests, benchmarks and a clean shutdown."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _CACHE_LOCK:
            running = [*_INFLIGHT.values(), *_CHECKING.values()]
        if not running:
            return True
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        running[0].wait(left)


__all__ = [
    "OTHER_KEYS", "Frames", "References", "Summary", "accuracy_over_time",
    "agree_pairs", "annotation_frame", "annotator_table", "cached_summary", "confusion",
    "consensus_bases", "counted_votes", "decode_regions", "disagreements", "fingerprint",
    "geometry_keys", "graded", "key_matrix", "label_key", "load", "mean_pairwise_kappa",
    "other_geometry_key", "pairwise_kappa", "per_class_agreement", "poll", "reading",
    "recompute", "reference_labels", "references", "refreshing", "region_columns",
    "scored", "shared_items", "stored_geometry_keys", "summarize", "task_table",
    "throughput_per_hour", "wait_idle",
]
