"""The task queue an annotator (or reviewer) pulls from.

>>> # q = project.queue("ana")
>>> # task = q.claim()                 # a lease with a TTL and a token
>>> # q.submit([Box(1, 2, 30, 40, "cat")], client_id="c-1")

A claim is one transaction (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite ``BEGIN
IMMEDIATE``), so no two annotators ever hold the same task. A lease that is not
heartbeated runs out after ``lease_ttl_s`` and goes back to the pool on the next
claim; a submit with a stale or foreign token is refused with
:class:`~labelnb.errors.LeaseExpired`. The same ``client_id`` submitted twice stores
one annotation.

Under team security (PostgreSQL, ``labelnb team init``), a queue opened by a team
member does not write tables: claim, heartbeat, submit, skip, release, acknowledge and
the review decisions call the database's ``SECURITY DEFINER`` functions
(:mod:`labelnb.team.sql`), which take the annotator from the connection's login role
and refuse what that role may not do; the refusal arrives as
:class:`~labelnb.errors.PermissionDenied` with the database's error as its cause. The
owner of the tables (and every SQLite or non-team database) keeps the direct path.
Gold questions (:mod:`labelnb.team.gold`) are served at the project's ``gold_rate`` on
either path.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from labelnb._entropy import token_hex
from labelnb.errors import (
    LeaseExpired,
    NoActiveLease,
    PermissionDenied,
    TaskNotFound,
    ValidationError,
)
from labelnb.queue import queries as q
from labelnb.queue.routing import AnnotatorProfile, RoutingPolicy
from labelnb.queue.tables import tasks as tasks_t
from labelnb.types import Annotation, Region

if TYPE_CHECKING:
    from labelnb.project import Project

Stage = Literal["annotate", "review", "adjudicate"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Item:
    """An item as the queue hands it out: media by URI (or inline text), never bytes."""

    id: int
    media: str
    uri: str | None
    text: str | None
    width: int | None
    height: int | None
    meta: dict[str, Any] = field(default_factory=dict, hash=False)
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """One leased task. ``token`` proves the lease; ``expires_at`` is its deadline."""

    id: int
    item: Item
    stage: str
    token: str
    expires_at: datetime
    claimed_at: datetime
    annotator: str
    slot: int = 0
    target_annotation_id: str | None = None  # review: what is reviewed; rework: what was rejected
    author: str | None = None  # review: whose work

    @property
    def item_id(self) -> int:
        return self.item.id


class Queue:
    """One annotator's handle on the project's queue.

    ``stages`` picks which tasks this handle claims: ``("annotate",)`` for annotators,
    ``("review",)`` for the review queue, ``("adjudicate",)`` for experts.
    """

    def __init__(self, project: Project, annotator: str, *, stages: Sequence[str] = ("annotate",),
                 routing: RoutingPolicy | None = None, profile_ttl_s: float = 30.0) -> None:
        self.project = project
        self.annotator = annotator
        self.stages = tuple(stages)
        self._routing_given = routing
        self.current: Task | None = None
        self._profile: AnnotatorProfile | None = None
        self._profile_at = 0.0
        self._profile_ttl = profile_ttl_s
        self._claimed_mono = 0.0
        self._stmts: Any = None
        self._stmts_for: tuple[AnnotatorProfile, RoutingPolicy] | None = None
        self._ttl_of: dict[str, Any] | None = None
        self._ttl_cached = timedelta(0)
        sec = project.security
        self._definer = sec is not None and sec.definer
        if sec is not None and self._definer:
            if annotator != sec.user:
                raise PermissionDenied(
                    f"queue for {annotator!r}: this project is open as database user "
                    f"{sec.user!r}, and under team security the database takes the annotator "
                    f"from the login. Fix: labelnb.open() with {annotator!r}'s own role "
                    f"(postgresql://{annotator}@host/db), or use queue({sec.user!r})"
                )
            if routing is not None:
                raise ValidationError(
                    f"queue for {annotator!r}: under team security the database routes "
                    "tasks with the project's stored routing policy; a policy passed here "
                    "cannot be enforced. Fix: project.configure(routing=...) as an admin"
                )
        if "adjudicate" in self.stages or "review" in self.stages:
            self._check_role(self.profile)

    def _check_role(self, prof: AnnotatorProfile) -> None:
        """Refuse a handle whose annotator may not take its stages (now: a profile can
        change while the handle lives), or who is inactive."""
        annotator = self.annotator
        if not prof.active:
            raise PermissionDenied(
                f"annotator {annotator!r} is inactive in project {self.project.name!r}; "
                "an inactive annotator takes no tasks. Fix: "
                f"project.annotators.update({annotator!r}, active=True)")
        if "adjudicate" in self.stages:
            if not (prof.role == "lead" or "expert" in prof.qualifications):
                raise PermissionDenied(
                    f"annotator {annotator!r} has role {prof.role!r}; adjudication needs role "
                    "'lead' or the 'expert' qualification. Fix: "
                    f"project.annotators.update({annotator!r}, qualifications=['expert'])"
                )
        elif "review" in self.stages:
            if not prof.can_review:
                raise PermissionDenied(
                    f"annotator {annotator!r} has role {prof.role!r}; reviewing needs role "
                    "'reviewer' or 'lead' (or the 'senior' qualification). Fix: "
                    f"project.annotators.update({annotator!r}, role='reviewer')"
                )

    # --- profile (cached; routing reads it on every claim) ---------------------------
    @property
    def profile(self) -> AnnotatorProfile:
        if self._profile is None or time.monotonic() - self._profile_at > self._profile_ttl:
            self._profile = self.project.annotators.profile(self.annotator)
            self._profile_at = time.monotonic()
        return self._profile

    def _claim_sql(self, prof: AnnotatorProfile | None = None) -> Any:
        if prof is None:
            prof = self.profile  # cached for a few seconds
        routing = self.routing
        if (self._stmts is None or self._stmts_for is None or self._stmts_for[0] is not prof
                or self._stmts_for[1] is not routing):
            filters = routing.filters(prof, tasks_t, self.project.schema.kind)
            self._stmts = q.claim_statements(self.project.store.engine.dialect, self.stages,
                                             filters)
            self._stmts_for = (prof, routing)
        return self._stmts

    @property
    def routing(self) -> RoutingPolicy:
        """The routing policy this handle claims with: the one given to it, else the
        project's current one (a lead's change reaches open handles within seconds)."""
        return self._routing_given or self.project.routing

    def refresh(self) -> None:
        """Re-read the annotator profile now (it is cached for a few seconds)."""
        self._profile = None

    @property
    def _ttl(self) -> timedelta:
        settings = self.project.settings
        if settings is not self._ttl_of:  # made again when the settings are re-read
            self._ttl_of = settings
            self._ttl_cached = timedelta(seconds=float(settings["lease_ttl_s"]))
        return self._ttl_cached

    # --- claim -----------------------------------------------------------------------
    def claim(self) -> Task | None:
        """Lease the next task for this annotator, or return None when none is left.

        A lease still held by this handle is released first (claiming twice without
        submitting would otherwise hoard tasks)."""
        if self.current is not None:
            try:
                self.release()
            except LeaseExpired:
                pass  # it ran out while held: it is back in the pool already
        if self._definer:
            return self._claim_definer()
        prof = self.profile  # cached for a few seconds (refresh() re-reads it)
        self._check_role(prof)
        project = self.project
        store = project.store
        token = token_hex(16)
        rate = project.settings.get("gold_rate")
        if rate and "annotate" in self.stages and random.random() < float(rate):
            gold = self._claim_gold(token)
            if gold is not None:
                return gold
        stmts = self._claim_sql(prof)
        ttl = self._ttl
        for attempt in range(5):
            try:
                with store.hot() as conn:
                    now = _now()  # read the clock once the writer lock is held
                    expires = now + ttl
                    c = q.claim_task(conn, stmts, project_id=project.id,
                                     annotator=self.annotator, token=token, now=now,
                                     expires_at=expires)
                break
            except store.integrity_errors:
                # PostgreSQL: this annotator claimed a slot of the same item in another
                # session at the same moment; uq_tasks_item_assignee refused the second.
                if attempt == 4:
                    raise
        return None if c is None else self._take(c, token, now, expires)

    def _take(self, c: q.Claimed, token: str, now: datetime, expires: datetime) -> Task:
        if c.expires_at is not None:  # PostgreSQL: the server's clock is the lease's clock
            now, expires = c.claimed_at or now, c.expires_at
        item = Item(id=int(c.item_id), media=c.media, uri=c.uri, text=c.text, width=c.width,
                    height=c.height, meta=dict(c.meta or {}), group=c.group_key)
        self.current = Task(id=int(c.id), item=item, stage=c.stage, token=token,
                            expires_at=expires, claimed_at=now, annotator=self.annotator,
                            slot=int(c.slot), target_annotation_id=c.target_annotation_id,
                            author=c.author)
        self._claimed_mono = time.monotonic()
        return self.current

    def _claim_gold(self, token: str) -> Task | None:
        """A gold question this annotator has not met (see :mod:`labelnb.team.gold`)."""
        store = self.project.store
        try:
            with store.hot() as conn:
                now = _now()
                expires = now + self._ttl
                c = q.claim_gold(conn, project_id=self.project.id, annotator=self.annotator,
                                 token=token, now=now, expires_at=expires,
                                 overlap=int(self.project.settings["overlap"]))
        except store.integrity_errors:
            return None  # this annotator took the same gold item in another session
        return None if c is None else self._take(c, token, now, expires)

    def _claim_definer(self) -> Task | None:
        """Team security: ``labelnb_claim`` picks, leases and logs in the database."""
        from labelnb.team.roles import refusals

        store = self.project.store
        token = token_hex(16)
        now = _now()
        for stage in self.stages:
            for attempt in range(5):
                try:
                    with refusals(), store.hot() as conn:
                        c = q.team_claim(conn, project_id=self.project.id, stage=stage,
                                         token=token)
                    break
                except store.integrity_errors:
                    if attempt == 4:  # the same item in another session (see claim())
                        raise
            if c is not None:
                return self._take(c, token, now, now + self._ttl)
        return None

    def peek(self, n: int = 1) -> list[int]:
        """The item ids this annotator would most likely be given next, best first.

        Nothing is claimed or locked: another annotator may take them first. The
        annotation session uses it to load the next image while the current one is
        worked on. Each item is named once (with overlap, its other slots are for other
        annotators).
        """
        want = max(1, int(n))
        # an item has up to `overlap` open tasks of a stage: enough rows for `want` items
        rows_n = want * max(1, int(self.project.settings.get("overlap", 1)))
        if self._definer:
            from labelnb.team.roles import refusals

            with refusals(), self.project.store.read() as conn:
                ids = q.team_peek(conn, project_id=self.project.id, stage=self.stages[0],
                                  n=rows_n)
        else:
            stmts = self._claim_sql()
            if stmts.peek is None:
                return []
            with self.project.store.read() as conn:
                ids = [int(r[0]) for r in stmts.peek.run(
                    conn, {"pid": self.project.id, "me": self.annotator, "n": rows_n})]
        return list(dict.fromkeys(ids))[:want]

    def __iter__(self) -> Any:
        """Claim tasks until none is left. Submit, skip or release each before asking for
        the next: a task still held then stops the loop with an error (claiming again
        would release it and could hand the same task straight back, forever)."""
        while (task := self.claim()) is not None:
            yield task
            if self.current is not None and self.current.token == task.token:
                raise ValidationError(
                    f"queue for {self.annotator!r}: task {task.id} (item {task.item_id}) was "
                    "neither submitted, skipped nor released before the next was asked for; "
                    "call queue.submit(...), queue.skip() or queue.release() in the loop body "
                    "(the lease is kept)")

    # --- lease upkeep ------------------------------------------------------------------
    def _require(self, task: Task | None) -> Task:
        if task is not None and not isinstance(task, Task):
            raise ValidationError(
                f"field 'task' is {type(task).__name__} {task!r:.60}; give the Task that "
                "queue.claim() returned (or leave it out for the current one)")
        t = task or self.current
        if t is None:
            raise NoActiveLease(
                f"this queue handle of {self.annotator!r} holds no lease{self._held_elsewhere()}"
                "; call queue.claim() first")
        return t

    def _held_elsewhere(self) -> str:
        """For the no-lease error: the leases this annotator holds through other handles
        (a notebook cell that made a new ``project.queue(...)`` and claimed), if any."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.project.store.read() as conn:
                held = q.held_leases(conn, self.project.id, self.annotator, _now())
        except SQLAlchemyError:  # (team security: a member may not read the tasks)
            return ""
        if not held:
            return ""
        tasks = ", ".join(f"task {r.id} (item {r.item_id})" for r in held)
        return (f" ({self.annotator!r} holds {tasks} through another handle: use that "
                "handle, or pass the Task it returned, e.g. queue.submit(..., task=task), "
                "or let the lease run out)")

    def heartbeat(self, task: Task | None = None) -> datetime:
        """Extend the lease by the TTL; returns the new expiry."""
        t = self._require(task)
        if self._definer:
            from labelnb.team.roles import refusals

            with refusals(), self.project.store.hot() as conn:
                stored = q.team_heartbeat(conn, task_id=t.id, token=t.token)
            if stored is None:
                self._lost(t)
            assert stored is not None
            new = Task(**{**{k: getattr(t, k) for k in Task.__slots__}, "expires_at": stored})
            if self._holds(t):
                self.current = new
            return stored
        with self.project.store.hot() as conn:
            now = _now()
            expires = now + self._ttl
            ok, stored = q.extend_lease(conn, task_id=t.id, token=t.token,
                                        annotator=self.annotator, now=now, expires_at=expires)
        if isinstance(stored, datetime):
            expires = stored
        if not ok:
            self._lost(t)
        new = Task(**{**{k: getattr(t, k) for k in Task.__slots__}, "expires_at": expires})
        if self._holds(t):
            self.current = new
        return expires

    def _lost(self, t: Task) -> None:
        self._forget(t)
        # team security: the database already refused a task that does not exist or a
        # lease of someone else; what is left is a lease that ran out (and the task may
        # now be another member's, invisible to this one)
        row = None
        if not self._definer:
            with self.project.store.read() as conn:
                row = q.get_task(conn, t.id)
        if not self._definer and (row is None or int(row.project_id) != self.project.id):
            raise TaskNotFound(
                f"task {t.id}: there is no such task in project {self.project.name!r}; "
                "use the Task that queue.claim() returned"
            )
        where = f"task {t.id} (item {t.item.id})"
        if t.annotator is not None and t.annotator != self.annotator:
            raise LeaseExpired(
                f"{where}: this lease belongs to {t.annotator!r}, not to {self.annotator!r}; "
                "only its holder can use it. Fix: use a Task that "
                f"project.queue({self.annotator!r}).claim() returned"
            )
        if t.expires_at is not None and t.expires_at > _now():
            raise LeaseExpired(
                f"{where}: this Task's lease is no longer live: the task was released, "
                "skipped or submitted, or claimed again (each claim gives a new lease). "
                "Fix: use the Task that the latest queue.claim() returned"
            )
        raise LeaseExpired(
            f"{where}: the lease of {self.annotator!r} expired at {t.expires_at:%H:%M:%S} UTC "
            "and the task went back to the pool. Fix: claim a new task; heartbeat() more "
            f"often than the lease TTL ({self.project.settings['lease_ttl_s']} s) while working"
        )

    def skip(self, reason: str | None = None, task: Task | None = None) -> None:
        """Give the task back; it will not be offered to this annotator again (also when
        the lease ran out before the skip: the skip is recorded all the same).

        A retraining task is its annotator's alone, so it is not given back: skipping
        it closes it as seen without an acknowledgement (event ``retraining_skipped``,
        with the reason), and the retraining queue moves on; calibration does not queue
        that mistake again."""
        t = self._require(task)
        if t.stage == "retrain":
            self._skip_retraining(t, reason)
        else:
            self._return(t, "skipped", reason)

    def release(self, task: Task | None = None) -> None:
        """Give the task back unworked (it may come back to this annotator)."""
        self._return(task, "released", None)

    def _return(self, task: Task | None, outcome: str, reason: str | None) -> None:
        t = self._require(task)
        if self._definer:
            from labelnb.team.roles import refusals

            with refusals(), self.project.store.hot() as conn:
                ok = q.team_return(conn, task_id=t.id, token=t.token, outcome=outcome,
                                   reason=reason)
            self._forget(t)
            if not ok:
                self._lost(t)
            return
        with self.project.store.write() as conn:
            now = _now()
            # a skipped rework task is no longer reserved for its author: anyone may take it
            lease = q.return_task(conn, task_id=t.id, token=t.token, annotator=self.annotator,
                                  now=now, unreserve=outcome == "skipped"
                                  and t.stage != "retrain")  # retraining: its owner's only
            late = lease is None and outcome == "skipped" and self._holds(t)
            if late:
                # the lease ran out first; the annotator's "not for me" still stands (the
                # skip is what keeps the item from being offered to them again), and a
                # task nobody took over since is freed as a timely skip frees it (a
                # rework task would otherwise stay reserved for someone who skipped it)
                lease = q.return_task(conn, task_id=t.id, token=t.token,
                                      annotator=self.annotator, now=now, late=True,
                                      unreserve=t.stage != "retrain")
            logged = False
            if late and lease is None:
                # taken over since: that claim wrote the lease's row (expired); it now
                # records the skip (one row per lease), else the row is written here
                logged = q.skip_expired_lease(conn, task_id=t.id, token=t.token,
                                              annotator=self.annotator)
                if self.project.store.dialect == "sqlite":  # stored as the other rows are
                    lease = (t.item.id, q.sqlite_time(t.claimed_at), q.sqlite_time(t.expires_at))
                else:
                    lease = (t.item.id, t.claimed_at, t.expires_at)
            if lease is not None:
                if not logged:
                    q.log_lease(conn, task_id=t.id, item_id=t.item.id,
                                annotator=self.annotator, token=t.token, lease=lease,
                                now=now, outcome=outcome)
                q.insert_event_fast(conn, project_id=self.project.id,
                                    kind="skip" if outcome == "skipped" else "release",
                                    actor=self.annotator, now=now, item_id=t.item.id,
                                    task_id=t.id, payload={
                                        **({"reason": reason} if reason else {}),
                                        **({"lease": "expired"} if late else {})})
        self._forget(t)
        if lease is None:
            self._lost(t)

    # --- submit ------------------------------------------------------------------------
    def submit(self, annotation: Annotation | Region | Iterable[Region], *,
               client_id: str | None = None, duration_s: float | None = None,
               task: Task | None = None) -> str:
        """Store the annotation of the leased task; returns the annotation id.

        ``annotation`` is an :class:`~labelnb.types.Annotation` or its regions. The
        same ``client_id`` submitted twice stores one annotation (the second call
        returns the first's id)."""
        if task is None and self.current is None and client_id is not None:
            done = self._by_client_id(client_id, None)
            if done is not None:  # a retry of a submit that went through
                return done
        t = self._require(task)
        if t.stage != "annotate" and t.stage != "adjudicate":
            raise ValidationError(
                f"task {t.id} is a {t.stage!r} task; use approve(), reject() or correct()"
            )
        project = self.project
        now = _now()
        if duration_s is None and self._holds(t):
            duration_s = round(time.monotonic() - self._claimed_mono, 3)
        ann = self._as_annotation(annotation, t, client_id, duration_s, now)
        project.validate(ann, item=t.item)
        try:
            if self._definer:
                ok = self._submit_definer(ann, t, now)
            else:
                review = self._sample_review(ann.id)
                # everything but the clock is converted before the writer lock is taken
                row = project._annotation_row(ann, now)
                row["submitted_at"] = None  # (set below)
                q.annotation_values(row, project.store.dialect)
                with project.store.hot() as conn:
                    row["submitted_at"] = _now()  # under the writer lock: the expiry check
                    ok = q.submit_annotation(conn, row, token=t.token, review=review)
        except project.store.integrity_errors as e:
            ok = False
            if client_id is None:
                raise ValidationError(
                    f"task {t.id}: annotation {ann.id} is already stored (field 'id'); "
                    "submit a new Annotation, or ann.correct(...) to correct one"
                ) from e
        if not ok:
            existing = self._by_client_id(client_id, t) if client_id is not None else None
            if existing is None:
                self._lost(t)
            self._forget(t)
            return str(existing)
        self._forget(t)
        return ann.id

    def _submit_definer(self, ann: Annotation, t: Task, now: datetime) -> bool:
        """Team security: ``labelnb_submit`` finishes the lease and stores the annotation
        with the login role as its author; it also decides the review sample."""
        from labelnb.team.roles import refusals

        row = self.project._annotation_row(ann, now)
        with refusals(), self.project.store.hot() as conn:
            return q.team_submit(conn, row, token=t.token)

    def _by_client_id(self, client_id: str, t: Task | None) -> str | None:
        """The id of this annotator's stored annotation with ``client_id`` (of task
        ``t``, if given), or None. A client id used for other work is an error."""
        with self.project.store.read() as conn:
            row = q.annotation_by_client_id(conn, self.project.id, client_id)
        if row is None:
            return None
        aid, task_id, author, submitted_at = row
        # a retry is of this lease's submit: the same task worked again (a rework) is
        # other work
        earlier = t is not None and submitted_at is not None and submitted_at < t.claimed_at
        if author != self.annotator or (t is not None and task_id != t.id) or earlier:
            where = f"task {t.id}" if t is not None else "this submit"
            raise ValidationError(
                f"{where}: field 'client_id' {client_id!r} was already used for annotation "
                f"{aid} (task {task_id}, by {author!r}"
                + (", before this claim of the task" if earlier else "")
                + "); give every annotation its own client id (a retry of the same submit "
                "may reuse it)"
            )
        return str(aid)

    def _holds(self, t: Task) -> bool:
        """Whether ``t`` is this handle's current lease (the same task *and* token: an
        older Task of the same task, from before a re-claim, is not)."""
        c = self.current
        return c is not None and c.id == t.id and c.token == t.token

    def _forget(self, t: Task) -> None:
        if self._holds(t):
            self.current = None

    def _as_annotation(self, annotation: Annotation | Region | Iterable[Region], t: Task,
                       client_id: str | None, duration_s: float | None,
                       now: datetime) -> Annotation:
        if isinstance(annotation, Annotation):
            if annotation.item_id != t.item.id:
                raise ValidationError(
                    f"annotation {annotation.id!r}: field 'item_id' is {annotation.item_id} "
                    f"but task {t.id} is for item {t.item.id}; annotate the leased item"
                )
            if annotation.author != self.annotator:
                # (also for another source: the lease is the annotator's, and the task
                # would be lost from under them with a misleading LeaseExpired)
                raise PermissionDenied(
                    f"annotation {annotation.id!r}: field 'author' is {annotation.author!r} "
                    f"but the lease belongs to {self.annotator!r}; submit under your own name"
                    + ("" if annotation.source == "human" else
                       f" (a {annotation.source} label goes in with project.add_predictions "
                       "or project.add_annotations, not through an annotator's queue)"))
            d = annotation.to_json()
            d.update(task_id=t.id, schema_version=self.project.schema_version,
                     submitted_at=None)
            d.pop("submitted_at")
            if client_id is not None:
                d["client_id"] = client_id
            if duration_s is not None and annotation.duration_s is None:
                d["duration_s"] = duration_s
            if t.target_annotation_id and "corrects" not in d:
                d["corrects"] = t.target_annotation_id
            return Annotation.from_json(d)
        regions: tuple[Region, ...]
        if isinstance(annotation, Region):
            regions = (annotation,)
        elif annotation is None or isinstance(annotation, str | bytes | Mapping) or not (
                isinstance(annotation, Iterable)):
            hint = (f"submit(Choice({annotation!r}))" if isinstance(annotation, str)
                    else "submit([]) for an item with nothing to mark")
            raise ValidationError(
                f"task {t.id}: submit() takes an Annotation, a region (Box, Polygon, Mask, "
                f"Span, Choice) or a list of regions, not {type(annotation).__name__} "
                f"{annotation!r:.60}. Fix: e.g. {hint}")
        else:
            regions = tuple(annotation)
        return Annotation._for_task(item_id=t.item.id, regions=regions, author=self.annotator,
                                    created_at=now, duration_s=duration_s, task_id=t.id,
                                    schema_version=self.project.schema_version,
                                    corrects=t.target_annotation_id, client_id=client_id)

    def _sample_review(self, annotation_id: str) -> bool:
        frac = float(self.project.settings.get("review_fraction", 0.0))
        if frac <= 0:
            return False
        if frac >= 1:
            return True
        # deterministic per annotation, so a replay makes the same choice
        h = int(hashlib.sha1(annotation_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return h < frac

    # --- retraining -------------------------------------------------------------------
    def acknowledge(self, task: Task | None = None) -> None:
        """Close a retraining task: the annotator has read their mistake beside the
        consensus label."""
        t = self._require(task)
        if t.stage != "retrain":
            raise ValidationError(f"task {t.id} is a {t.stage!r} task, not a retraining task")
        self._close_retraining(t, skipped=False, reason=None)

    def _skip_retraining(self, t: Task, reason: str | None) -> None:
        """Close a skipped retraining task as seen (see :meth:`skip`). Given back, it
        would wait in the pool forever: reserved for its annotator, whom the claim never
        offers a task they skipped, and (under team security, where a skip unreserves)
        then offered to other annotators, who have no business with this mistake."""
        self._close_retraining(t, skipped=True, reason=reason)

    def _close_retraining(self, t: Task, *, skipped: bool, reason: str | None) -> None:
        """Close a leased retraining task, acknowledged (lease outcome ``submitted``,
        event ``retraining_acknowledged``) or ``skipped`` (event ``retraining_skipped``,
        with the reason; also after the lease ran out, as long as nobody claimed the
        task again since)."""
        if self._definer:
            from labelnb.team.roles import refusals

            sec = self.project.security
            with refusals(), self.project.store.hot() as conn:
                if skipped and sec is not None and sec.version >= 4:
                    ok = q.team_skip_retraining(conn, task_id=t.id, token=t.token,
                                                reason=reason)
                else:
                    # (a skip under functions installed before the database knew it is
                    # closed as the acknowledgement closes it, and logged as one;
                    # `labelnb team init` installs the newer functions)
                    ok = q.team_acknowledge(conn, task_id=t.id, token=t.token)
            self._forget(t)
            if not ok:
                self._lost(t)
            return
        late = False
        with self.project.store.write() as conn:
            now = _now()
            if skipped:
                lease = q.close_retraining(conn, task_id=t.id, token=t.token,
                                           annotator=self.annotator, now=now)
                # the lease ran out first: the skip still closes the task, as long as
                # nobody (only its owner may) claimed it again since
                late = lease is None and self._holds(t)
                if late:
                    lease = q.close_retraining(conn, task_id=t.id, token=t.token,
                                               annotator=self.annotator, now=now, late=True)
            else:
                lease = q.finish_task(conn, task_id=t.id, token=t.token,
                                      annotator=self.annotator, now=now)
            if lease is not None:
                q.log_lease(conn, task_id=t.id, item_id=t.item.id, annotator=self.annotator,
                            token=t.token, lease=lease, now=now,
                            outcome="skipped" if skipped else "submitted")
                payload: dict[str, Any] = {"annotation_id": t.target_annotation_id}
                if reason:
                    payload["reason"] = reason
                if late:
                    payload["lease"] = "expired"
                q.insert_event(conn, project_id=self.project.id, actor=self.annotator,
                               kind="retraining_skipped" if skipped
                               else "retraining_acknowledged",
                               now=now, item_id=t.item.id, task_id=t.id, payload=payload)
        self._forget(t)
        if lease is None:
            self._lost(t)

    # --- review ------------------------------------------------------------------------
    def approve(self, feedback: str | None = None, task: Task | None = None) -> None:
        """Accept the annotation under review."""
        self._review(task, "approve", feedback, None)

    def reject(self, feedback: str, task: Task | None = None) -> None:
        """Reject it: the item goes back to its author, with this feedback."""
        _check_feedback(feedback)
        if not feedback or not feedback.strip():
            raise ValidationError("reject(): field 'feedback' is empty; tell the author what "
                                  "to fix")
        self._review(task, "reject", feedback, None)

    def correct(self, regions: Region | Iterable[Region], feedback: str | None = None,
                task: Task | None = None) -> str:
        """Fix it yourself: stores a correction (a new annotation pointing at the old one)."""
        if isinstance(regions, str):  # iterated, it would be one region per character
            raise ValidationError(f"correct(): give regions, e.g. correct(Choice({regions!r})), "
                                  f"not the string {regions!r}")
        regs = (regions,) if isinstance(regions, Region) else tuple(regions)
        return self._review(task, "correct", feedback, regs) or ""

    def _review(self, task: Task | None, decision: str, feedback: str | None,
                regions: tuple[Region, ...] | None) -> str | None:
        _check_feedback(feedback)
        t = self._require(task)
        if t.stage != "review" or not t.target_annotation_id:
            raise ValidationError(f"task {t.id} is a {t.stage!r} task, not a review task")
        if t.author == self.annotator and not self._definer:  # the database refuses it there
            raise PermissionDenied(f"task {t.id}: {self.annotator!r} cannot review their own "
                                   "annotation")
        project = self.project
        now = _now()
        correction: Annotation | None = None
        if regions is not None:
            correction = Annotation(item_id=t.item.id, regions=regions, author=self.annotator,
                                    source="human", created_at=now, task_id=t.id,
                                    schema_version=project.schema_version,
                                    corrects=t.target_annotation_id,
                                    duration_s=round(time.monotonic() - self._claimed_mono, 3))
            project.validate(correction, item=t.item)
        if self._definer:
            from labelnb.team.roles import refusals

            row = project._annotation_row(correction, now) if correction is not None else None
            with refusals(), project.store.hot() as conn:
                ok = q.team_review(conn, task_id=t.id, token=t.token, decision=decision,
                                   feedback=feedback, correction=row)
            if not ok:
                self._lost(t)
            self._forget(t)
            return correction.id if correction else None
        adjudication: dict[str, Any] | None = None
        if decision == "reject":
            # the routing of the adjudication a rejected consensus queues, read before the
            # write (it reads the annotators; see consensus.adjudication_fields)
            from labelnb.queue.consensus import adjudication_fields

            adjudication = adjudication_fields(project, [t.item.id])[t.item.id]
        with project.store.write() as conn:
            lease = q.finish_task(conn, task_id=t.id, token=t.token, annotator=self.annotator,
                                  now=now)
            if lease is None:
                self._lost(t)
            assert lease is not None
            target = q.get_annotation(conn, t.target_annotation_id)
            assert target is not None
            if target.author == self.annotator:  # whoever the task named as its author
                raise PermissionDenied(f"task {t.id}: {self.annotator!r} cannot review their "
                                       "own annotation")
            if correction is not None:
                q.insert_annotation(conn, project._annotation_row(correction, now))
            q.insert_review(conn, dict(
                project_id=project.id, task_id=t.id, annotation_id=t.target_annotation_id,
                reviewer=self.annotator, decision=decision, feedback=feedback,
                correction_id=correction.id if correction else None, created_at=now))
            q.log_lease(conn, task_id=t.id, item_id=t.item.id, annotator=self.annotator,
                        token=t.token, lease=lease, now=now, outcome="submitted")
            q.insert_event(conn, project_id=project.id, kind=f"review_{decision}",
                           actor=self.annotator, now=now, item_id=t.item.id, task_id=t.id,
                           payload={"annotation_id": t.target_annotation_id,
                                    "author": target.author})
            anns = q.annotations_for_item(conn, t.item.id)
            newest = [a.id for a in anns if a.source == "consensus"][-1:]
            if decision == "reject" and target.source == "consensus" and [target.id] != newest:
                pass  # a consensus replaced since (the item's labels changed): recorded only
            elif decision == "reject" and target.task_id is not None and [target.id] != [
                    a.id for a in anns if a.task_id == target.task_id][-1:]:
                pass  # reworked since (a second review of the same work): recorded only
            elif decision == "reject" and target.source == "consensus":
                # a rejected consensus goes to an expert (to the one adjudication the
                # item already waits for, if it does: one expert decision per item)
                assert adjudication is not None
                q.queue_adjudication(conn, project_id=project.id, item_id=t.item.id,
                                     actor=self.annotator, now=now,
                                     reason="consensus rejected", fields=adjudication)
            elif decision == "reject" and target.task_id is not None and (
                    (src := q.get_task(conn, int(target.task_id))) is not None
                    and src.stage in ("annotate", "adjudicate")):
                # back to its author (an annotator, or the expert for an adjudication);
                # a rejected correction is recorded only: the work it corrected stands
                q.reopen_for_author(conn, task_id=int(target.task_id), author=target.author,
                                    rejected_annotation_id=target.id, priority=10.0)
        self._forget(t)
        return correction.id if correction else None

    def feedback(self) -> list[dict[str, Any]]:
        """Reviews of this annotator's work that carry feedback (decision, feedback,
        annotation id), newest first."""
        df = self.project.reviews()
        if df.empty:
            return []
        anns = self.project.annotations(annotator=self.annotator)
        mine = df[df["annotation_id"].isin(set(anns["id"])) & df["feedback"].notna()]
        records = mine.sort_values("created_at", ascending=False).to_dict("records")
        return cast("list[dict[str, Any]]", records)

    def __repr__(self) -> str:
        held = f", holding task {self.current.id}" if self.current else ""
        return f"Queue({self.annotator!r}, stages={self.stages}{held})"


def _check_feedback(feedback: object) -> None:
    if feedback is not None and not isinstance(feedback, str):
        raise ValidationError(f"review: field 'feedback' is {type(feedback).__name__} "
                              f"{feedback!r:.40}; give the author a sentence of text")

