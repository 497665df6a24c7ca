"""``annotate(project, annotator)``: an annotator widget bound to the project's queue.

The session claims a task, shows its item in the widget of the schema's kind
(:data:`WIDGETS`: boxes, polygons, masks, spans, choice, multi_choice), shows the
item's pre-annotations as suggestions, and on the browser's ``submit`` message
(Enter) stores the annotation and claims the next task; ``skip`` (S) gives the task
back. The browser makes a new ``client_id`` per submit, so a retried submit stores
one annotation. While an item is open the browser sends heartbeats that extend the
lease. If it runs out all the same, the session claims again: when the same task comes
back (nobody else took it) the work goes on under the new lease (a submit is stored);
otherwise what was on screen is kept and shown again when the item comes back in this
session. A rework task (a rejected annotation sent back to its author) opens with the
rejected regions on screen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from labelnb.errors import LabelnbError, LeaseExpired, ValidationError
from labelnb.types import Annotation, Region
from labelnb.widgets._base import DisplayMedia, with_defaults

if TYPE_CHECKING:
    from labelnb.project import Project
    from labelnb.queue.queue import Queue, Task

log = logging.getLogger("labelnb")

#: the annotator widget of each schema kind ("module:Class", imported on first use)
WIDGETS: dict[str, str] = {
    "boxes": "labelnb.widgets.box:BoxAnnotator",
    "polygons": "labelnb.widgets.polygon:PolygonAnnotator",
    "masks": "labelnb.widgets.mask:MaskAnnotator",
    "spans": "labelnb.widgets.span:SpanAnnotator",
    "choice": "labelnb.widgets.choice:ChoiceAnnotator",
    "multi_choice": "labelnb.widgets.choice:ChoiceAnnotator",
}


def q_now() -> datetime:
    return datetime.now(UTC)


def widget_class(kind: str, project_name: str = "") -> Any:
    """The annotator widget class for a schema kind."""
    import importlib

    spec = WIDGETS.get(kind)
    if spec is None:
        raise LabelnbError(f"project {project_name!r}: no annotation widget for kind {kind!r}; "
                           f"known kinds: {', '.join(sorted(WIDGETS))}")
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise LabelnbError(f"project {project_name!r}: the {kind!r} widget ({spec}) is not "
                           f"available: {e}") from e


#: a widget's constructor arguments a session sets itself (not ``widget_options``)
SESSION_SET = frozenset({"self", "image", "text", "schema", "labels", "max_display",
                         "annotations", "suggestions"})
#: a session's own arguments the caller gives positionally
POSITIONAL = frozenset({"self", "project", "annotator", "reviewer"})


def check_options(call: str, given: Mapping[str, Any], target: Callable[..., Any], *,
                  what: str, exclude: frozenset[str] = POSITIONAL,
                  kind: str | None = None) -> None:
    """Refuse keyword arguments ``target`` does not take, with the ones it does and, for
    a widget option of another kind's widget, which kinds take it (``call``: what the
    user called; ``what``: how the fix names the arguments; ``exclude``: parameters
    the caller may not give this way; ``kind``: the project's kind, for a widget's
    options)."""
    import difflib
    import inspect

    params = inspect.signature(target).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = sorted(set(params) - exclude)
    for name in given:
        if name in known:
            continue
        where = ""
        if kind is not None:
            kinds = sorted(k for k in WIDGETS if k != kind
                           and name in inspect.signature(widget_class(k)).parameters)
            if kinds:
                where = (f" ({name!r} is an option of the {', '.join(kinds)} widget; this "
                         f"project labels {kind!r})")
        close = difflib.get_close_matches(name, known, n=1)
        raise ValidationError(
            f"{call}: {what} {name!r} is not known{where}. "
            + (f"Did you mean {close[0]!r}? " if close else "")
            + f"Fix: use one of {', '.join(known) or '(none)'}")


class QueueSession:
    """What the annotation and review sessions share: the bound widget, the lease's
    heartbeat, the progress bar and the prefetch of the next image.

    A subclass sets ``project``, ``queue`` and ``widget`` and calls :meth:`_bind`.
    """

    project: Project
    queue: Queue
    widget: Any

    def _bind(self, heartbeat_s: float | None, prefetch: bool) -> None:
        ttl = float(self.project.settings.get("lease_ttl_s", 600))
        # a third of the lease (at most a minute; at least a second, so a short lease is
        # still kept alive: a 5 s floor let a 3 s lease run out while the page was open)
        hb = heartbeat_s if heartbeat_s is not None else max(1.0, min(60.0, ttl / 3))
        self.widget._bind(self, hb)
        self.widget.session = self
        self.task: Task | None = None
        self.skipped = 0
        self.prefetch = prefetch
        self._prefetched: dict[int, DisplayMedia] = {}  # item id -> display copy
        self._prefetch_thread: threading.Thread | None = None
        #: a task already claimed for the next :meth:`next` (a 1-tuple: None is "no task")
        self._preclaimed: tuple[Task | None] | None = None
        #: the widget's item key once ``task``'s item (or its error) is on screen; None
        #: while it is being shown: the browser's messages are about this key only
        self._shown_key: str | None = None

    def progress(self) -> tuple[int, int]:
        """(done, total) tasks of this session's stages in the project."""
        from labelnb.queue import queries as q

        with self.project.store.read() as conn:
            counts = q.task_status_counts(conn, self.project.id, q_now())
        done = total = 0
        for key, n in counts.items():
            stage, _, status = key.partition(":")
            if stage in self.queue.stages and status != "cancelled":
                total += n
                done += n if status == "done" else 0
        return done, total

    def _update_progress(self) -> None:
        try:
            done, total = self.progress()
        except LabelnbError as e:  # never let the progress bar stop the labeling
            log.info("labelnb: progress not updated (%s)", e)
            return
        self.widget._progress = {"done": done, "total": total}

    # --- prefetch: the next item's image is loaded while this one is worked on ---------
    def _media(self, item_id: int) -> DisplayMedia:
        """The item's display copy: the prefetched one, else loaded now."""
        self._wait_prefetch()
        media = self._prefetched.pop(item_id, None)
        if media is None:
            media = DisplayMedia(self.project.load_image(item_id), self.widget.max_display)
        return media

    def _wait_prefetch(self) -> None:
        t = self._prefetch_thread
        if t is not None and t.is_alive():
            t.join(timeout=30)

    def _start_prefetch(self, current: int) -> None:
        if not self.prefetch:
            return
        try:
            upcoming = [i for i in self.queue.peek(2) if i != current][:1]
        except LabelnbError as e:  # never let a prefetch stop the labeling
            log.info("labelnb: prefetch skipped (%s)", e)
            return
        self._prefetched = {k: v for k, v in self._prefetched.items() if k in upcoming}
        todo = [i for i in upcoming if i not in self._prefetched]
        if not todo:
            return
        w = self.widget

        def work() -> None:
            for item_id in todo:
                try:
                    media = DisplayMedia(self.project.load_image(item_id), w.max_display,
                                         alias=f"item-{item_id}")
                except Exception as e:  # a broken image shows its error when it comes up
                    log.info("labelnb: could not prefetch item %s (%s)", item_id, e)
                    continue
                self._prefetched[item_id] = media
                w.send_prefetch(media)

        self._prefetch_thread = threading.Thread(target=work, name="labelnb-prefetch",
                                                 daemon=True)
        self._prefetch_thread.start()

    # --- messages and the lease ----------------------------------------------------------
    def next(self, message: str = "") -> None:
        raise NotImplementedError

    def _claim(self) -> Task | None:
        """The next task: the one claimed ahead (see :meth:`_reclaim`), else a new claim."""
        pre, self._preclaimed = self._preclaimed, None
        return pre[0] if pre is not None else self.queue.claim()

    def _current(self, msg: Mapping[str, Any]) -> bool:
        """Whether a browser message is about the open task's item as it is on screen:
        not a stale one, and not the last item still on screen while the next task's
        item failed to show (its regions would be stored on the wrong item)."""
        key = msg.get("key")
        return (self.task is not None and self._shown_key is not None
                and key == self._shown_key == self.widget.item_key)

    def _show_task(self, task: Task, show: Callable[[Task], str],
                   show_error: Callable[[str], None], notes: list[str]
                   ) -> tuple[str | None, BaseException | None]:
        """Show ``task``'s item with ``show`` (its note goes in ``notes``); when that
        fails, for whatever reason (a missing image, a user's tokenizer raising), show
        the error with ``show_error``. Returns why it failed (None: shown; else the
        task can only be skipped) and the interrupt (Ctrl+C during a slow load, which
        shows the error too) that the caller raises again once its screen is
        consistent. Either way :attr:`_shown_key` names what is on screen afterwards."""
        item = task.item.id
        why: str | None = None
        interrupted: BaseException | None = None
        try:
            note = show(task)
            if note:
                notes.append(note)
        except LabelnbError as e:
            why = str(e)
        except Exception as e:  # PIL's OSErrors, a user tokenizer's KeyError ...
            log.warning("labelnb: item %s could not be shown", item, exc_info=True)
            why = f"{type(e).__name__}: {e}"
        except BaseException as e:  # KeyboardInterrupt, SystemExit: consistent, then raise
            why = f"showing it was interrupted ({type(e).__name__})"
            interrupted = e
        broken = None
        if why is not None:
            broken = f"item {item} could not be shown ({why})"
            show_error(f"{broken}; press S to skip it")
            notes.append(f"{broken}; press S to skip it.")
        self._shown_key = self.widget.item_key
        return broken, interrupted

    def _reclaim(self) -> tuple[Task, bool]:
        """After the open task's lease ran out: claim again. Returns the task that was
        open and whether it came back (nobody else had taken it); then it is
        ``self.task`` again under the new lease, and the screen stays as it is. Else
        the claimed task (or None) is kept for :meth:`next`."""
        old = self.task
        assert old is not None
        new = self.queue.claim()
        if new is not None and new.id == old.id:
            self.task = new
            return old, True
        self._preclaimed = (new,)
        return old, False

    def _keep_unsaved(self, task: Task) -> bool:
        """Keep the work on screen for ``task``'s item, whose lease ran out, until the
        item comes back in this session; True when there was work to keep."""
        return False

    def on_heartbeat(self, msg: Mapping[str, Any]) -> None:
        if not self._current(msg):
            return
        try:
            self.queue.heartbeat()
        except LeaseExpired:
            old, same = self._reclaim()
            item = old.item.id
            if same:
                self.widget._message = (f"Your time on item {item} ran out, but nobody else "
                                        "had taken it: it is yours again. Carry on.")
                return
            kept = self._keep_unsaved(old)
            self.next(f"Your time on item {item} ran out and it went back to the pool"
                      + ("; your unsaved work on it is kept and comes back if you get the "
                         "item again." if kept else "."))

    def _release(self) -> None:
        """Give the open task back (unworked)."""
        if self.task is not None and self.queue.current is not None:
            try:
                self.queue.release()
            except LeaseExpired:
                log.info("labelnb: the open task's lease had already expired")
        self.task = None


def _same_region(a: Mapping[str, Any], b: Mapping[str, Any], tol: float) -> bool:
    """Whether two region JSON dicts are the same region: equal fields, numbers (and
    lists of numbers, e.g. polygon points) within ``tol`` of each other."""
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if isinstance(x, int | float) and isinstance(y, int | float) and not isinstance(
                x, bool) and not isinstance(y, bool):
            if abs(float(x) - float(y)) > tol:
                return False
        elif (isinstance(x, list) and isinstance(y, list) and len(x) == len(y)
              and all(isinstance(v, int | float) for v in (*x, *y))):
            if any(abs(float(u) - float(v)) > tol for u, v in zip(x, y, strict=True)):
                return False
        elif x != y:
            return False
    return True


class Session(QueueSession):
    """The state machine behind :func:`annotate` (one annotator, one queue).

    States: showing a task (``task`` is set) or done (``task is None``, the widget
    shows the done message). ``done`` counts the submits of this session.
    """

    def __init__(self, project: Project, annotator: str, *, max_display: int = 960,
                 model_version: str | None = None, heartbeat_s: float | None = None,
                 widget_options: Mapping[str, Any] | None = None, prefetch: bool = True) -> None:
        self.project = project
        self.annotator = annotator
        cls = widget_class(project.schema.kind, project.name)
        check_options("annotate()", widget_options or {}, cls, what="widget option",
                      exclude=SESSION_SET, kind=project.schema.kind)
        self.queue = project.queue(annotator)
        self.model_version = model_version
        self.widget = cls(schema=project.schema, max_display=max_display,
                          **(widget_options or {}))
        self._bind(heartbeat_s, prefetch)
        self.done = 0
        self._submitted: dict[str, str] = {}  # client_id -> annotation id
        self._suggested: list[Region] = []
        #: item id -> the regions on screen when its lease ran out (shown again with it)
        self._unsaved: dict[int, list[Region]] = {}
        #: why the item on screen could not be shown (then it can only be skipped)
        self.broken: str | None = None
        self.next()

    # --- state transitions -------------------------------------------------------------
    def next(self, message: str = "") -> None:
        """Claim the next task and show it, or show the done message. An item that
        cannot be shown (a missing or broken image) shows the error instead, and the
        annotator skips it (S); it cannot be submitted."""
        notes = [message] if message else []
        w = self.widget
        self.broken = None
        self._shown_key = None  # the last item may stay on screen until this one shows
        self.task = self._claim()
        if self.task is None:
            self._update_progress()
            w._message = " ".join(notes)
            w._done = True
            w._status = f"{self.done} done · the queue is empty, nothing left to label"
            return
        item = self.task.item
        self.broken, interrupted = self._show_task(self.task, self._show, w._show_error, notes)
        w._message = " ".join(notes)
        w._done = False
        w._status = f"{self.done} done · item {item.id}"
        if interrupted is not None:
            raise interrupted
        self._update_progress()

    def _show(self, task: Task) -> str:
        """Show the task's item; returns a note for the annotator ('' when none).

        What goes on screen with it: the work that was on screen when the item's lease
        ran out in this session, else, for a rework task, the rejected annotation, for
        its author to fix (with the reviewer's feedback in the note)."""
        w = self.widget
        item = task.item
        feedback = self._rework_note(task)
        rework = task.stage == "annotate" and bool(task.target_annotation_id)
        suggestions: list[Region] = self.project.prediction_regions(item.id, self.model_version)
        # with the attribute defaults an accepted one is stored with (see _prelabel_meta)
        self._suggested = [with_defaults(self.project.schema, r) for r in suggestions
                           if r.label in self.project.schema]
        unsaved = self._unsaved.pop(item.id, None)
        what = "your unsaved work on this item" if unsaved is not None else (
            "your rejected version")
        notes: list[str] = []
        regions: list[Region] = unsaved or []
        if unsaved is None and rework:
            try:
                regions = self._rework_regions(task)
            except LabelnbError as e:
                notes.append(f"{what} could not be loaded ({e}); annotate the item afresh.")
        media = self._media(item.id) if item.media == "image" else None

        def load(annotations: list[Region]) -> None:
            if media is not None:
                w.load(media, annotations=annotations, suggestions=suggestions)
            else:
                w.load(text=item.text or "", annotations=annotations, suggestions=suggestions)

        try:
            load(regions)
            if regions:
                notes.append(f"{what} is back on screen." if unsaved is not None else
                             f"{what} is loaded; fix it and press Enter.")
        except LabelnbError as e:  # e.g. a label the schema no longer has
            if not regions:
                raise
            load([])
            notes.append(f"{what} could not be put back ({e}); annotate the item afresh.")
        if rework and (notes or feedback):
            notes = ["Rework:", *notes]
            if feedback:
                notes.append(f"The reviewer said: {feedback}" if len(notes) > 1 else
                             f"the reviewer said: {feedback}")
        text = " ".join(notes)
        if media is not None:
            self._start_prefetch(item.id)
        # as the widget shows them (a mask widget fills polygons), which is what an
        # accepted one comes back as; widgets without a suggestions view (choice) keep them
        if self._suggested and isinstance(getattr(type(w), "suggestions", None), property):
            try:
                self._suggested = list(w.suggestions)
            except LabelnbError:
                pass
        return text[:1].upper() + text[1:]

    def _rework_regions(self, task: Task) -> list[Region]:
        """For a rejected annotation sent back to its author: its regions."""
        if task.stage != "annotate" or not task.target_annotation_id:
            return []
        rows = self.project.annotations(item_id=task.item.id)
        if rows.empty:
            return []
        mine = rows[rows["id"] == task.target_annotation_id]
        if mine.empty:
            return []
        return [Region.from_json(r) for r in mine.iloc[0]["regions"]]

    def _keep_unsaved(self, task: Task) -> bool:
        if self.broken:
            return False
        try:
            regions = list(self.widget.annotations)
        except LabelnbError:
            return False
        if regions:
            self._unsaved[task.item.id] = regions
        return bool(regions)

    def _prelabel_meta(self, regions: list[Region]) -> dict[str, Any]:
        """Provenance of the pre-annotations: how many of the shown suggestions were
        accepted as they were, and how many regions were changed or drawn anew."""
        # a suggestion comes back snapped to whole original pixels (a detector's box is
        # fractional): an unchanged one differs by at most half a pixel, the smallest
        # move an annotator can make by at least one
        tol = 0.75

        def plain(r: Region) -> dict[str, Any]:
            d = r.to_json()
            d.pop("score", None)
            return d

        pending = [plain(r) for r in self._suggested]
        unchanged = 0
        for r in regions:
            d = plain(r)
            hit = next((i for i, sug in enumerate(pending) if _same_region(d, sug, tol)), None)
            if hit is not None:
                pending.pop(hit)
                unchanged += 1
        return {"model_version": self.model_version, "suggested": len(self._suggested),
                "accepted_unchanged": unchanged, "changed_or_new": len(regions) - unchanged,
                "not_used": len(pending),
                "outcome": ("accepted" if unchanged == len(regions) == len(self._suggested)
                            else "changed")}

    def _rework_note(self, task: Task) -> str:
        """For a rejected annotation sent back to its author: the reviewer's feedback
        ('' when none)."""
        if task.stage != "annotate" or not task.target_annotation_id:
            return ""
        reviews = self.project.reviews()
        if reviews.empty:
            return ""
        mine = reviews[(reviews["annotation_id"] == task.target_annotation_id)
                       & reviews["feedback"].notna()]
        if mine.empty:
            return ""
        last = mine.sort_values("created_at").iloc[-1]
        return str(last["feedback"])

    def on_submit(self, msg: Mapping[str, Any]) -> None:
        client_id = str(msg.get("client_id") or "")
        if client_id and client_id in self._submitted:  # a retry: already stored
            self.widget._ack(client_id, self._submitted[client_id])
            return
        if not client_id or not self._current(msg):
            return
        assert self.task is not None
        if self.broken:
            self.widget._refuse(client_id, f"{self.broken}: it cannot be submitted; press S "
                                           "to skip it.")
            return
        regions: list[Region] = []
        dur = msg.get("duration_s")
        duration = float(dur) if isinstance(dur, int | float) and dur >= 0 else None
        try:
            regions = self.widget.regions_from_msg(msg)
            # one class is the answer of a choice; a multi-choice may be "none apply"
            if self.widget.schema.kind == "choice" and not regions:
                raise ValidationError("choose a class first (its number key), then Enter")
            ann_id = self._store(regions, client_id, duration)
        except LeaseExpired:
            self._submit_after_expiry(regions, client_id, duration)
            return
        except LabelnbError as e:
            self.widget._refuse(client_id, str(e))
            return
        self._stored(client_id, ann_id)
        self.next()

    def _store(self, regions: list[Region], client_id: str, duration: float | None) -> str:
        """Submit ``regions`` as the open task's annotation; returns its id."""
        assert self.task is not None
        ann = Annotation(item_id=self.task.item.id, regions=tuple(regions),
                         author=self.annotator, duration_s=duration,
                         meta={"prelabel": self._prelabel_meta(regions)}
                         if self._suggested else {})
        return self.queue.submit(ann, client_id=client_id, duration_s=duration)

    def _stored(self, client_id: str, ann_id: str) -> None:
        self._submitted[client_id] = ann_id
        self.done += 1
        self.widget._ack(client_id, ann_id)

    def _submit_after_expiry(self, regions: list[Region], client_id: str,
                             duration: float | None) -> None:
        """The lease ran out before the submit: if nobody else had taken the item, it
        is submitted under a new lease; else the work is kept for when the item comes
        back in this session, and the next task is shown. The browser's submit is
        answered either way (it would say "saving…" forever)."""
        old, same = self._reclaim()
        item = old.item.id
        if same:
            try:
                ann_id = self._store(regions, client_id, duration)
            except LabelnbError as e:
                self.widget._refuse(client_id, f"Your time on item {item} ran out, and saving "
                                               f"it again failed ({e}); press Enter to retry.")
                return
            self._stored(client_id, ann_id)
            self.next(f"Your time on item {item} ran out, but nobody else had taken it: your "
                      "work was saved.")
            return
        if regions:
            self._unsaved[item] = regions
        why = (f"Your time on item {item} ran out before it was saved, and it went back to "
               "the pool" + ("; your work on it is kept and comes back if you get the item "
                             "again." if regions else "."))
        self.widget._refuse(client_id, why)
        self.next(why)

    def on_skip(self, msg: Mapping[str, Any]) -> None:
        if not self._current(msg):
            return
        try:
            self.queue.skip(reason=self.broken) if self.broken else self.queue.skip()
        except LeaseExpired:
            log.info("labelnb: the skipped task's lease had already expired")
        self.skipped += 1
        self.next()

    def close(self) -> None:
        """Give the open task back (unworked) and stop."""
        self._release()
        self.widget._done = True
        self.widget._status = f"{self.done} done · closed"


def annotate(project: Project, annotator: str, **kw: Any) -> Any:
    """An annotator widget bound to ``project``'s queue for ``annotator``.

    Keyword arguments go to :class:`Session` (``max_display``, ``model_version`` of
    the suggestions, ``heartbeat_s``, ``widget_options`` for the widget's constructor,
    e.g. ``{"keymap": {...}}``). The session is ``widget.session``.
    """
    check_options("annotate()", kw, Session.__init__, what="argument")
    return Session(project, annotator, **kw).widget
