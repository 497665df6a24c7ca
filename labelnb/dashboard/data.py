"""The dashboard's numbers, as plain DataFrames (no Panel, no HoloViews).

:func:`load` reads a project once with aggregated, column-limited queries (no review
status sub-queries, no per-item Python loops) into :class:`Frames`; everything else
here is a pure function of those frames, so it is unit-testable on small tables and
fast on large ones (100k annotations load in well under a second).

Agreement is computed on a *label key* per annotation: for ``choice`` projects the
chosen label, for every other kind the sorted tuple of region labels joined with
``|`` (``"cat|cat|dog"``; ``"(none)"`` for an empty annotation). Geometry (IoU,
span offsets) is not part of the key; the disagreement browser draws it.

The reference label of an item ("consensus") is, without writing anything: the
newest stored consensus, adjudication or correction of a consensus, if any; else the
strict majority of the annotators' label keys (more than half of at least two).
Nothing here queues tasks or updates profiles.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labelnb.metrics import DegenerateWarning, cohen_kappa

if TYPE_CHECKING:
    from labelnb.project import Project

NONE_KEY = "(none)"
#: stages whose annotations are an annotator's own label of the item
OWN_STAGES = ("annotate",)
#: stages whose annotations settle an item (with ``source == "consensus"`` rows)
FINAL_STAGES = ("adjudicate",)
FLAG_THRESHOLD = 0.90  # same defaults as Project.calibrate
FLAG_MIN_ITEMS = 5

ANNOTATION_COLUMNS = ["id", "item_id", "author", "source", "stage", "labels", "key",
                      "created_at", "submitted_at", "duration_s", "corrects"]


@dataclass
class Frames:
    """What :func:`load` reads from a project."""

    kind: str
    labels: list[str]
    #: every annotation (all sources), one row each, with its task ``stage`` and ``key``
    annotations: pd.DataFrame
    #: ``stage`` x ``status`` task counts (``expired``: leased past its lease)
    tasks: pd.DataFrame
    items: int = 0
    items_done: int = 0
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _human: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def human(self) -> pd.DataFrame:
        """Each annotator's own label per item: human, annotate stage (or imported
        without a task), the newest per (item, author), in submission order."""
        if self._human is None:
            a = self.annotations
            own = a[(a["source"] == "human")
                    & (a["stage"].isna() | a["stage"].isin(OWN_STAGES))]
            self._human = own.drop_duplicates(["item_id", "author"], keep="last"
                                              ).reset_index(drop=True)
        return self._human


def label_key(labels: list[str] | tuple[str, ...], kind: str) -> str:
    """The label key agreement is computed on (see the module docstring).

    >>> label_key(["dog", "cat", "dog"], "boxes")
    'cat|dog|dog'
    >>> label_key([], "spans")
    '(none)'
    """
    if not labels:
        return NONE_KEY
    if kind == "choice" and len(labels) == 1:
        return str(labels[0])
    if kind == "multi_choice":
        return "|".join(sorted(set(labels)))
    return "|".join(sorted(labels))


def annotation_frame(rows: list[dict[str, Any]] | pd.DataFrame, kind: str) -> pd.DataFrame:
    """Normalise raw annotation rows (``item_id``, ``author``, ``labels`` or
    ``regions`` as JSON dicts, optional ``source``, ``stage``, ``submitted_at``,
    ``duration_s`` ...) into the frame the functions here take, in submission order.
    Times without a zone are UTC (as the SQLite store writes them)."""
    df = pd.DataFrame(rows).copy()
    n = len(df)
    defaults: dict[str, Any] = {"id": [f"{i:08d}" for i in range(n)], "source": "human",
                                "stage": None, "created_at": None, "submitted_at": None,
                                "duration_s": np.nan, "corrects": None}
    for col, default in defaults.items():
        if col not in df.columns:
            df[col] = default
    df["source"] = df["source"].fillna("human")
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
    (regions and times fetched as text and decoded in bulk) and two counts."""
    import orjson
    from sqlalchemy import Text, cast, func, select

    from labelnb.queue import queries as q
    from labelnb.queue.tables import annotations as at
    from labelnb.queue.tables import items as it
    from labelnb.queue.tables import tasks as tt

    now = datetime.now(UTC)
    # (dashboard-only read; kept here rather than in queue.queries, which the queue owns)
    stmt = (select(at.c.id, at.c.item_id, at.c.author, at.c.source, tt.c.stage,
                   cast(at.c.regions, Text).label("regions"),
                   cast(at.c.submitted_at, Text).label("submitted_at"),
                   at.c.duration_s, at.c.corrects)
            .select_from(at.outerjoin(tt, at.c.task_id == tt.c.id))
            .where(at.c.project_id == project.id))
    with project.store.read() as conn:
        res = conn.execute(stmt)
        cols = list(res.keys())
        raw = res.fetchall()
        counts = q.task_status_counts(conn, project.id, now)
        n_items = int(conn.execute(select(func.count()).select_from(it)
                                   .where(it.c.project_id == project.id)).scalar_one())
        done = int(q.items_done(conn, project.id))
    columns = dict(zip(cols, zip(*raw, strict=True), strict=True)) if raw else {
        c: () for c in cols}
    # many annotations share one regions text (choices): decode each distinct one once
    codes, uniques = pd.factorize(np.asarray(columns.pop("regions"), dtype=object))
    labels = np.empty(len(uniques), dtype=object)
    labels[:] = [[r["label"] for r in orjson.loads(u)] for u in uniques]
    keys = np.asarray([label_key(x, project.schema.kind) for x in labels], dtype=object)
    df = pd.DataFrame({c: list(v) for c, v in columns.items()})
    df["labels"] = labels[codes] if len(codes) else []
    df["key"] = keys[codes] if len(codes) else []
    kind = project.schema.kind
    return Frames(kind=kind, labels=list(project.schema.names),
                  annotations=annotation_frame(df, kind), tasks=task_table(counts),
                  items=n_items, items_done=done, loaded_at=now)


def fingerprint(project: Project) -> tuple[Any, ...]:
    """A cheap summary of the project's state (annotation count and newest submit
    time, task counts): when it has not changed, a refresh can skip :func:`load`."""
    from sqlalchemy import func, select

    from labelnb.queue import queries as q
    from labelnb.queue.tables import annotations as at

    with project.store.read() as conn:
        n, last = conn.execute(select(func.count(), func.max(at.c.submitted_at))
                               .where(at.c.project_id == project.id)).one()
        counts = q.task_status_counts(conn, project.id, datetime.now(UTC))
    return int(n), str(last), tuple(sorted(counts.items()))


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


def pairwise_kappa(human: pd.DataFrame, *, min_items: int = 1) -> pd.DataFrame:
    """Cohen's kappa between every two annotators on the items both labeled (an
    annotator × annotator matrix, 1 on the diagonal; NaN where fewer than
    ``min_items`` items are shared or kappa is undefined)."""
    m = key_matrix(human)
    names = list(m.columns)
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="annotator"),
                       columns=pd.Index(names, name="other"))
    values = {n: m[n].to_numpy(dtype=object) for n in names}
    present = {n: m[n].notna().to_numpy() for n in names}
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


def shared_items(human: pd.DataFrame) -> pd.DataFrame:
    """How many items each two annotators both labeled."""
    m = key_matrix(human)
    p = m.notna().astype("int64")
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
    used = human[human["item_id"].isin(per_item.index)][["item_id", "labels"]].explode("labels")
    used = used.dropna().drop_duplicates()
    used = used.join(per_item["unanimous"], on="item_id")
    res = used.groupby("labels")["unanimous"].agg(["size", "mean"])
    order = list(labels or []) + sorted(set(res.index) - set(labels or []))
    res = res.reindex(order)
    out = pd.DataFrame({"label": order, "items": res["size"].fillna(0).astype("int64").values,
                        "agreement": res["mean"].astype(float).values})
    return out


def confusion(human: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Label-key confusion matrix between annotators ``a`` (rows) and ``b`` (columns)
    on the items both labeled."""
    m = key_matrix(human)
    if a not in m.columns or b not in m.columns:
        return pd.DataFrame()
    both = m[[a, b]].dropna() if a != b else m[[a]].dropna().assign(_b=lambda d: d[a])
    if both.empty:
        return pd.DataFrame()
    x, y = both.iloc[:, 0], both.iloc[:, 1]
    cats = sorted(set(x) | set(y))
    ct = pd.crosstab(pd.Categorical(x, cats), pd.Categorical(y, cats), dropna=False)
    ct.index.name, ct.columns.name = a, b
    return ct


# --- consensus and accuracy ------------------------------------------------------------
def reference_labels(frames_or_anns: Frames | pd.DataFrame, kind: str | None = None
                     ) -> pd.DataFrame:
    """Per item, the reference label key (see the module docstring): columns
    ``item_id``, ``key``, ``origin`` (``stored`` or ``majority``)."""
    if isinstance(frames_or_anns, Frames):
        anns, human = frames_or_anns.annotations, frames_or_anns.human
    else:
        anns = frames_or_anns
        human = Frames(kind or "choice", [], anns, pd.DataFrame()).human
    cols = ["item_id", "key", "origin"]
    parts = []
    if not anns.empty:
        cons_ids = set(anns.loc[anns["source"] == "consensus", "id"])
        final = anns[(anns["source"] == "consensus") | anns["stage"].isin(FINAL_STAGES)
                     | anns["corrects"].isin(cons_ids)]
        if len(final):
            final = final.drop_duplicates("item_id", keep="last")
            parts.append(final[["item_id", "key"]].assign(origin="stored"))
    if not human.empty:
        counts = human.groupby(["item_id", "key"]).size().rename("votes").reset_index()
        n = human.groupby("item_id").size().rename("n")
        counts = counts.join(n, on="item_id")
        maj = counts[(counts["n"] >= 2) & (counts["votes"] * 2 > counts["n"])]
        parts.append(maj[["item_id", "key"]].assign(origin="majority"))
    if not parts:
        return pd.DataFrame(columns=cols)
    ref = pd.concat(parts, ignore_index=True).drop_duplicates("item_id", keep="first")
    return ref.sort_values("item_id").reset_index(drop=True)[cols]


def scored(human: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """The annotators' labels of items with a reference label, with ``correct``."""
    s = human.merge(ref[["item_id", "key"]].rename(columns={"key": "ref"}), on="item_id")
    s["correct"] = s["key"] == s["ref"]
    return s.sort_values("submitted_at", kind="stable").reset_index(drop=True)


def accuracy_over_time(human: pd.DataFrame, ref: pd.DataFrame, *, window: int = 50,
                       max_points: int = 400) -> pd.DataFrame:
    """Per annotator, the rolling accuracy against the reference over their last
    ``window`` scored annotations, in submission order: columns ``annotator``,
    ``submitted_at``, ``n`` (their n-th scored annotation), ``accuracy``. At most
    ``max_points`` evenly spaced points per annotator (the last one always kept)."""
    cols = ["annotator", "submitted_at", "n", "accuracy"]
    s = scored(human, ref)
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
                    min_items: int = FLAG_MIN_ITEMS) -> pd.DataFrame:
    """One row per human annotator: ``annotations`` (all their human annotations),
    ``items`` (items labeled), ``accuracy`` (last ``window`` scored items against the
    reference, as :meth:`Project.calibrate` scores), ``scored`` (how many),
    ``mean_kappa``, ``mean_s`` (seconds per annotation) and ``flagged`` (accuracy
    below ``threshold`` on at least ``min_items`` items)."""
    cols = ["annotator", "annotations", "items", "accuracy", "scored", "mean_kappa",
            "mean_s", "flagged"]
    anns = frames.annotations
    all_h = anns[anns["source"] == "human"]
    if all_h.empty:
        return pd.DataFrame(columns=cols)
    human = frames.human
    ref = reference_labels(frames) if ref is None else ref
    kappa = pairwise_kappa(human) if kappa is None else kappa
    g = all_h.groupby("author")
    out = pd.DataFrame({"annotations": g.size(), "mean_s": g["duration_s"].mean()})
    out["items"] = human.groupby("author").size().reindex(out.index).fillna(0).astype("int64")
    s = scored(human, ref)
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
    share of the item's annotators who gave the most common label key; ties go to
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
    reference: pd.DataFrame
    kappa: pd.DataFrame
    shared: pd.DataFrame
    annotators: pd.DataFrame
    throughput: pd.DataFrame
    per_class: pd.DataFrame
    accuracy_time: pd.DataFrame
    disagreements: pd.DataFrame


def summarize(frames: Frames, *, top_n: int = 20) -> Summary:
    human = frames.human
    ref = reference_labels(frames)
    kappa = pairwise_kappa(human)
    return Summary(
        frames=frames, human=human, reference=ref, kappa=kappa, shared=shared_items(human),
        annotators=annotator_table(frames, kappa, ref),
        throughput=throughput_per_hour(frames.annotations),
        per_class=per_class_agreement(human, frames.labels),
        accuracy_time=accuracy_over_time(human, ref),
        disagreements=disagreements(human, top_n))


_CACHE: dict[tuple[str, int, int], tuple[tuple[Any, ...], Summary]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def cached_summary(project: Project, *, top_n: int = 20) -> tuple[tuple[Any, ...], Summary]:
    """``(fingerprint, summarize(load(project)))``, shared by the sessions that show one
    project: re-read only when the project's :func:`fingerprint` changed."""
    key = (project.store.url, project.id, top_n)
    fp = fingerprint(project)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[0] == fp:
        return hit
    out = (fp, summarize(load(project), top_n=top_n))
    with _CACHE_LOCK:
        _CACHE.pop(key, None)
        _CACHE[key] = out
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
    return out


__all__ = [
    "Frames", "Summary", "accuracy_over_time", "annotation_frame", "annotator_table",
    "cached_summary", "confusion", "disagreements", "fingerprint", "key_matrix", "label_key",
    "load", "mean_pairwise_kappa", "pairwise_kappa", "per_class_agreement",
    "reference_labels", "scored", "shared_items", "summarize", "task_table",
    "throughput_per_hour",
]
