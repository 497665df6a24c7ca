"""Gold questions: known-answer items mixed into the queue, scored like an exam.

>>> import labelnb, tempfile, os
>>> db = os.path.join(tempfile.mkdtemp(), "gold.db")
>>> p = labelnb.Project.create(db, "g", labelnb.Schema("choice", ["pos", "neg"]))
>>> p.add_items(["great film", "dull plot"])
[1, 2]
>>> p.gold.add(["a masterpiece"], [labelnb.Choice("pos")])
[3]
>>> p.configure(gold_rate=1.0)           # every claim serves gold while some is left
>>> q = p.queue("ana")
>>> q.claim().item.text
'a masterpiece'
>>> _ = q.submit(labelnb.Choice("neg"))
>>> p.gold.score()[["annotator", "n", "correct", "accuracy"]].to_dict("records")
[{'annotator': 'ana', 'n': 1, 'correct': 0, 'accuracy': 0.0}]

How they are served: gold items are ordinary items (no marker on the item or its
task) that have no tasks in the pool. On each claim of an annotate task, with
probability ``gold_rate`` (a project setting, 0 by default) the annotator is given a
gold item they have not met yet, in a task created for them on the spot; it looks like
any other task. Each annotator meets each gold item at most once.

Where the answers are: in the ``gold_answers`` table. Under team security (PostgreSQL)
only admins may read it; annotators and reviewers get "permission denied" from the
database. On SQLite anyone who can open the file can read it.

How they are scored: :meth:`Gold.score` compares each annotator's first annotation of
each gold item with the answer (:func:`labelnb.metrics.tiers.agree`, at the project's
agreement thresholds). :meth:`labelnb.Project.calibrate` uses the answers as the truth
of gold items, next to consensus for the others, so gold feeds the accuracy that
routing reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from labelnb.errors import ValidationError
from labelnb.queue import queries as q
from labelnb.types import Annotation, Region

if TYPE_CHECKING:
    from labelnb.metrics.tiers import Agreement
    from labelnb.project import Project

SCORE_COLUMNS = ["annotator", "n", "correct", "accuracy", "per_label"]


def _regions(answer: Any, n: int) -> tuple[Region, ...]:
    if isinstance(answer, Annotation):
        return answer.regions
    if isinstance(answer, Region):
        return (answer,)
    if isinstance(answer, dict):
        return (Region.from_json(answer),)
    if isinstance(answer, str):  # iterating it would read one region per character
        raise ValidationError(f"gold answer #{n}: the string {answer!r}; give a Region, e.g. "
                              f"labelnb.Choice({answer!r}) for a choice project, a list of "
                              "them, or an Annotation")
    try:
        return tuple(r if isinstance(r, Region) else Region.from_json(r) for r in answer)
    except (TypeError, ValueError, KeyError) as e:
        raise ValidationError(f"gold answer #{n}: {e}; give a Region (Choice, Box, ...), a "
                              "list of them, or an Annotation") from None


class Gold:
    """The gold questions of a project (``project.gold``)."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def add(self, items: Any, answers: Sequence[Any], *, media: str | None = None,
            group: str | None = None, by: str | None = None) -> list[int]:
        """Add gold items with their answers (one answer per item: a region, a list of
        regions, or an Annotation); returns the item ids. ``items`` is what
        :meth:`labelnb.Project.add_items` takes. Each answer is checked against the
        schema. A gold item must be new to the project: an item that already has
        tasks would reach annotators outside the gold rate. All or nothing."""
        p = self.project
        specs = p._item_specs(items, media, group)
        rows = p._probe(specs, False, 8)
        answers = list(answers)
        if len(answers) != len(rows):
            raise ValidationError(f"gold.add: {len(rows)} items but {len(answers)} answers; "
                                  "give one answer per item")
        regions = [_regions(a, n) for n, a in enumerate(answers)]
        now = datetime.now(UTC)
        with p._write() as conn:
            q.lock_project(conn, p.id)
            known = q.existing_hashes(conn, p.id, [r["content_hash"] for r in rows])
            seen: set[str] = set()
            for n, r in enumerate(rows):
                if r["content_hash"] in known or r["content_hash"] in seen:
                    name = r["uri"] or (r["text"] or "")[:40]
                    raise ValidationError(
                        f"gold item #{n} ({name!r}) is already in project {p.name!r}; a gold "
                        "question must be a new item (one with tasks reaches annotators "
                        "outside the gold rate)")
                seen.add(r["content_hash"])
            ids = q.insert_items(conn, [{**r, "project_id": p.id, "created_at": now}
                                        for r in rows])
            for i, (item_id, regs) in enumerate(zip(ids, regions, strict=True)):
                it = p._item_from_row(q.get_item(conn, item_id))
                try:
                    p._check_regions(regs, it)
                except ValidationError as e:  # named by position and content: the item
                    name = rows[i]["uri"] or (rows[i]["text"] or "")[:40]  # is rolled back
                    msg = str(e).removeprefix(f"item {item_id}, ")
                    raise ValidationError(f"gold answer #{i} (item {name!r}): {msg}") from None
            q.insert_gold_answers(conn, [dict(project_id=p.id, item_id=i,
                                              regions=[r.to_json() for r in regs],
                                              created_at=now, created_by=by)
                                         for i, regs in zip(ids, regions, strict=True)])
            q.insert_event(conn, project_id=p.id, kind="gold_added", actor=by or "system",
                           now=now, payload={"count": len(ids)})
        return ids

    def answers(self) -> pd.DataFrame:
        """The gold items and their answers (admins only under team security)."""
        df = self.project._frame(q.select_gold(self.project.id))
        if df.empty:
            return pd.DataFrame(columns=["item_id", "labels", "regions", "created_at",
                                         "created_by"])
        df["labels"] = [[r["label"] for r in regs] for regs in df["regions"]]
        return df[["item_id", "labels", "regions", "created_at", "created_by"]]

    def truth(self) -> dict[int, list[Region]]:
        """Item id → answer regions."""
        df = self.project._frame(q.select_gold(self.project.id))
        return {int(i): [Region.from_json(r) for r in regs]
                for i, regs in zip(df.get("item_id", []), df.get("regions", []), strict=True)}

    def __len__(self) -> int:
        with self.project.store.read() as conn:
            return len(q.gold_item_ids(conn, self.project.id))

    def score(self, *, agreement: Agreement | None = None) -> pd.DataFrame:
        """Per annotator: gold items answered (``n``), ``correct``, ``accuracy`` and
        accuracy per label of the answer (``per_label``). Only the first human
        annotation of each gold item by each annotator counts (corrections by
        reviewers do not)."""
        truth = self.truth()
        if not truth:
            return pd.DataFrame(columns=SCORE_COLUMNS)
        return score_against(self.project, truth, agreement=agreement)

    def __repr__(self) -> str:
        return f"<labelnb gold questions of {self.project.name!r}>"


def first_answers(project: Project, item_ids: Iterable[int], *,
                  anns: pd.DataFrame | None = None,
                  stages: dict[int, str] | None = None) -> pd.DataFrame:
    """Each annotator's first human annotation (from an annotate task) of ``item_ids``:
    the answer a gold question grades, whatever a review did with it since (a rework
    after a rejection does not replace it). ``anns`` (the project's human annotations)
    and ``stages`` (task id → stage) save reading them again when the caller has them."""
    wanted = set(item_ids)
    if anns is None:
        anns = project.annotations(source="human")
    if anns.empty:
        return anns
    if stages is None:
        tasks = project.tasks()
        stages = dict(zip(tasks["id"].astype(int), tasks["stage"], strict=True))
    st = anns["task_id"].map(lambda t: stages.get(int(t)) if pd.notna(t) else None)
    anns = anns[(st == "annotate") & anns["item_id"].isin(wanted)]
    return anns.sort_values("submitted_at").drop_duplicates(["author", "item_id"])


def score_against(project: Project, truth: dict[int, list[Region]], *,
                  agreement: Agreement | None = None) -> pd.DataFrame:
    from labelnb.metrics.tiers import Agreement, agree

    ag = agreement or Agreement(**project.settings.get("agreement", {}))
    kind = project.schema.kind
    anns = first_answers(project, truth)
    rows = []
    if anns.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    for author, mine in anns.groupby("author", sort=True):
        per: dict[str, list[bool]] = {}
        oks = []
        for item_id, regs in zip(mine["item_id"], mine["regions"], strict=True):
            gold = truth[int(item_id)]
            ok = agree([Region.from_json(x) for x in regs], gold, kind, ag)
            oks.append(ok)
            for lab in {g.label for g in gold}:
                per.setdefault(lab, []).append(ok)
        rows.append({"annotator": str(author), "n": len(oks), "correct": int(sum(oks)),
                     "accuracy": round(sum(oks) / len(oks), 4),
                     "per_label": {k: round(sum(v) / len(v), 4) for k, v in sorted(per.items())}})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


__all__ = ["SCORE_COLUMNS", "Gold", "first_answers", "score_against"]
