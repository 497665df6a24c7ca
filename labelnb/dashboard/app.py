"""The Panel app: :class:`Dashboard` lays out what :mod:`labelnb.dashboard.data`
computes in three tabs, with HoloViews plots (rendered to Bokeh figures by
:func:`render`, each tab when first shown), and refreshes itself from the project.
:func:`served_layout` is what a served session returns: the page at once, filled
when the browser has loaded it. :func:`item_view` draws one item of the disagreement
browser.

Panel and HoloViews are imported inside the functions here (the ``dashboard``
extra); a missing one raises :class:`~labelnb.errors.MissingExtra`.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labelnb.dashboard import data as dd
from labelnb.dashboard.render import (
    annotator_rows,
    css_color,
    highlight_spans,
    queue_table,
    text_block,
)
from labelnb.errors import LabelnbError, MissingExtra
from labelnb.schema import PALETTE
from labelnb.types import Box, Choice, Mask, Polygon, Region, Span

if TYPE_CHECKING:
    from labelnb.project import Project

log = logging.getLogger("labelnb")
DEFAULT_REFRESH_S = 10.0
#: a served page drawn from out-of-date numbers starts re-reading this long after it
#: went out (its browser has drawn it by then; the read would slow the drawing)
STALE_CHECK_MS = 2000
_MAX_IMAGE_SIDE = 640
#: plain canvas, not WebGL (HoloViews' default): for charts this small WebGL only adds
#: the cost of starting it, which is large where the GPU is emulated (headless, VMs)
_CANVAS = {"backend_opts": {"plot.output_backend": "canvas"}}
#: toolbar of the static charts: hover plus save (each Bokeh tool is a model the
#: browser builds); pan/zoom only on the time axes
_STATIC = {"default_tools": ["save"], **_CANVAS}
_ZOOM = {"default_tools": ["xpan", "xwheel_zoom", "reset", "save"], **_CANVAS}
#: the look of the HTML tables (inside each pane's shadow root)
_TABLE_CSS = """
h3 { margin: 0.4em 0; }
table { border-collapse: collapse; }
th, td { padding: 3px 10px; text-align: right; }
thead th { border-bottom: 1px solid #666; }
tbody tr:nth-child(odd) { background: #f5f5f5; }
"""


def require() -> tuple[Any, Any]:
    """``(panel, holoviews)`` with the Bokeh backend loaded, or MissingExtra."""
    try:
        import panel as pn
    except ImportError:
        raise MissingExtra("panel", "dashboard", "the dashboard") from None
    try:
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend)
    except ImportError:
        raise MissingExtra("holoviews", "dashboard", "the dashboard") from None
    if hv.Store.current_backend != "bokeh":
        hv.Store.set_current_backend("bokeh")
    return pn, hv


_RENDER_LOCK = threading.Lock()
_SERVER_RENDERER: Any = None


def render(element: Any) -> Any:
    """The Bokeh figure HoloViews draws for ``element``. The dashboard builds its charts
    as figures up front (in the worker thread of a served session, while the browser
    loads the page's JavaScript) instead of leaving the HoloViews rendering to the
    moment the page is filled. One render at a time: HoloViews' renderer is shared.

    In a served session the plot is attached to the session's document (Panel's
    current one, which the worker thread sets): left to itself HoloViews attaches it to
    Bokeh's global document, which outlives every session, so each page would leave
    its plots' clean-up callbacks (and with them the plots) on it."""
    pn, hv = require()
    doc = pn.state.curdoc
    with _RENDER_LOCK:
        if doc is not None and doc.session_context is not None:
            # a server-mode renderer: the default one ignores ``doc``
            global _SERVER_RENDERER
            if _SERVER_RENDERER is None:
                _SERVER_RENDERER = hv.renderer("bokeh").instance(mode="server")
            return _SERVER_RENDERER.get_plot_state(element, doc=doc)
        return hv.render(element, backend="bokeh")


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, float | np.floating):
        return f"{float(v):.{digits}f}"
    return str(v)


class Dashboard:
    """The team-lead dashboard of one project.

    ``layout`` is the Panel object: a header over three tabs, *Overview* (queue,
    throughput, the annotator table, accuracy over time), *Agreement* (pairwise kappa,
    per-class agreement, the confusion matrix of two annotators) and *Disagreements*
    (the browser). A tab's charts are drawn when it is first shown (:meth:`draw`), so a
    page shows its first tab without waiting for the others. :meth:`refresh` re-reads
    the project (it runs every ``refresh_s`` seconds once displayed; ``None`` turns
    that off): a change is read in a background thread while the page keeps showing
    the numbers it has, and the next refresh after that read draws the new ones.

    ``stale_ok``: start from the numbers cached for the project even if it changed
    since (they are shown with their time, and the new ones follow on the first
    refresh after they were read; see :func:`labelnb.dashboard.data.cached_summary`).
    The served dashboard does this; in a notebook the first numbers are fresh."""

    def __init__(self, project: Project, *, refresh_s: float | None = DEFAULT_REFRESH_S,
                 top_n: int = 20, stale_ok: bool = False) -> None:
        pn, hv = require()
        self.project = project
        self.top_n = top_n
        self.refresh_s = refresh_s
        self._pn, self._hv = pn, hv
        # stale numbers are drawn first; their background re-read starts with the
        # first refresh (the served page asks for one once it is drawn)
        self._fingerprint, self.summary = dd.cached_summary(project, top_n=top_n,
                                                            stale_ok=stale_ok)
        s = self.summary
        names = list(s.kappa.index)
        self.colors = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
        self.header = pn.pane.HTML(self._header_html(), sizing_mode="stretch_width")
        self._shown_note = self._pending_note()
        # the first tab's tables are plain HTML panes with their headings (one model
        # each in the page, no chart): the queue with a bar per stage, the annotators
        self.queue = pn.pane.HTML("", stylesheets=[_TABLE_CSS])
        #: the annotator table as shown (:meth:`_annotator_display`)
        self.annotator_frame = self._annotator_display()
        self.annotators = pn.pane.HTML("", sizing_mode="stretch_width",
                                       stylesheets=[_TABLE_CSS])
        # the charts are drawn (rendered to Bokeh figures) per tab, when first shown
        self.throughput = pn.pane.Bokeh(None, sizing_mode="stretch_width")
        self.accuracy = pn.pane.Bokeh(None, sizing_mode="stretch_width")
        self.kappa = pn.pane.Bokeh(None)
        self.per_class = pn.pane.Bokeh(None)
        self.confusion = pn.pane.Bokeh(None)
        a0 = names[0] if names else None
        b0 = names[1] if len(names) > 1 else a0
        self.pick_a = pn.widgets.Select(label="annotator (rows)", options=names, value=a0)
        self.pick_b = pn.widgets.Select(label="annotator (columns)", options=names, value=b0)
        self.pick_a.param.watch(self._on_pick, "value")
        self.pick_b.param.watch(self._on_pick, "value")
        # filled when the Disagreements tab is first drawn (the list is made then)
        self.disagree_table = pn.pane.DataFrame(None, index=False, sizing_mode="stretch_width")
        self.pick_item = pn.widgets.Select(label="item", options={})
        self.item_view = pn.Column(sizing_mode="stretch_width")
        self.pick_item.param.watch(self._on_item, "value")
        self._drawn: set[str] = set()
        self.layout = self._layout()
        self.tabs.param.watch(self._on_tab, "active")
        self.draw()
        self._callback: Any = None
        if refresh_s:
            self.start(refresh_s)

    def start(self, refresh_s: float) -> None:
        """Re-read the project every ``refresh_s`` seconds (in the Panel session or
        notebook that is current when this is called), in the background (see
        :meth:`refresh`): the page stays responsive while a change is read."""
        self.stop()
        self.refresh_s = refresh_s
        self._callback = self._pn.state.add_periodic_callback(
            lambda: self.refresh(background=True), period=int(refresh_s * 1000))

    # --- layout ----------------------------------------------------------------------
    #: the tabs, in order; only the shown one is drawn (``pn.Tabs(dynamic=True)``)
    TABS = ("Overview", "Agreement", "Disagreements")

    def _layout(self) -> Any:
        pn = self._pn

        def section(title: str, *objs: Any) -> Any:
            return pn.Column(pn.pane.HTML(f"<h3>{html.escape(title)}</h3>"), *objs,
                             sizing_mode="stretch_width")

        # the first view has as few parts as it can (each Panel model costs the browser
        # its own element and styles): the charts carry their headings as titles
        overview = pn.Column(pn.Row(self.queue, self.throughput, sizing_mode="stretch_width"),
                             self.annotators, self.accuracy, sizing_mode="stretch_width")
        agreement = pn.Row(
            section("Pairwise Cohen's kappa", self.kappa),
            section("Per-class agreement (share of items all annotators agree on)",
                    self.per_class),
            section("Confusion between two annotators", pn.Row(self.pick_a, self.pick_b),
                    self.confusion),
            sizing_mode="stretch_width")
        disagreements = section("Disagreements (lowest agreement first)",
                                self.disagree_table, self.pick_item, self.item_view)
        self.tabs = pn.Tabs(*zip(self.TABS, (overview, agreement, disagreements),
                                 strict=True),
                            dynamic=True, sizing_mode="stretch_width")
        return pn.Column(self.header, self.tabs, sizing_mode="stretch_width",
                         css_classes=["labelnb-dashboard"])

    def draw(self, tab: str | None = None) -> None:
        """Draw the charts of ``tab`` (default: the one shown) from the current numbers,
        unless already drawn. Each tab is drawn when first shown, and again after a
        refresh changed the numbers."""
        tab = tab or self.TABS[self.tabs.active]
        if tab in self._drawn:
            return
        s = self.summary
        if tab == "Overview":
            self.queue.object = self._queue_html()
            self.annotator_frame = self._annotator_display()
            self.annotators.object = ("<h3>Annotators</h3>" + self.annotator_frame.to_html(
                index=False, escape=True, border=0, classes="lnb-annotators"))
            self.throughput.object = render(self._throughput_plot())
            self.accuracy.object = render(self._accuracy_plot())
        elif tab == "Agreement":
            names = list(s.kappa.index)
            for w, fallback in ((self.pick_a, 0), (self.pick_b, 1)):
                keep = w.value
                w.options = names
                if keep not in names:
                    w.value = names[min(fallback, len(names) - 1)] if names else None
            self.kappa.object = render(self._kappa_plot())
            self.per_class.object = render(self._per_class_plot())
            self.confusion.object = render(self._confusion_plot())
        else:
            self.disagree_table.object = self._disagreement_display()
            keep_item = self.pick_item.value
            opts = self._item_options()
            self.pick_item.options = opts
            if keep_item in opts.values():
                self.pick_item.value = keep_item
            else:  # the first (lowest agreement) item, or none
                self.pick_item.value = next(iter(opts.values()), None)
            self.item_view[:] = [self._item_view(self.pick_item.value)]
        self._drawn.add(tab)

    # --- pieces ----------------------------------------------------------------------
    def _header_html(self) -> str:
        s = self.summary
        f = s.frames
        n_h = int((f.annotations["source"] == "human").sum()) if len(f.annotations) else 0
        pct = 100.0 * f.items_done / f.items if f.items else 0.0
        return (f'<h2 class="lnb-title">{html.escape(self.project.name)}: labeling quality</h2>'
                f'<p class="lnb-stats">{html.escape(f.kind)} · {f.items} items · '
                f'{f.items_done} done ({pct:.1f}%) · {n_h} human annotations · '
                f'{len(s.kappa)} annotators · consensus on {len(s.reference)} items · '
                f'updated {f.loaded_at:%Y-%m-%d %H:%M:%S} UTC'
                f'{self._pending_note()}</p>')

    def _note_pending(self) -> None:
        """Redraw the header if whether newer numbers are being read changed."""
        note = self._pending_note()
        if note != self._shown_note:
            self._shown_note = note
            self.header.object = self._header_html()

    def _pending_note(self) -> str:
        try:
            busy = dd.reading(self.project, top_n=self.top_n)
        except Exception:  # a closed project: nothing is being read for it
            busy = False
        return (' · <span class="lnb-updating">reading new annotations …</span>'
                if busy else "")

    def _queue_html(self) -> str:
        t = self.summary.frames.tasks.drop(columns="total", errors="ignore")
        return "<h3>Queue</h3>" + queue_table([str(x) for x in t.index],
                                              [str(c) for c in t.columns],
                                              t.to_numpy(dtype="int64").tolist())

    def _throughput_plot(self) -> Any:
        hv = self._hv
        tp = self.summary.throughput
        if tp.empty:
            now = pd.Timestamp.now(tz="UTC").floor("h")
            tp = pd.DataFrame({"hour": [now], "annotations": [0]})
        # a time axis (a few ticks), not one categorical label per hour
        hours = tp["hour"].dt.tz_localize(None).to_numpy()
        edges = np.append(hours, hours[-1] + np.timedelta64(1, "h"))
        return hv.Histogram((edges, tp["annotations"].to_numpy()), kdims="hour (UTC)",
                            vdims="annotations").opts(
            height=300, responsive=True, tools=["hover"], color="#4e79a7", line_color=None,
            title="Throughput (human annotations per hour, UTC)", **_ZOOM)

    def _annotator_display(self) -> pd.DataFrame:
        a = self.summary.annotators.copy()
        if a.empty:
            return pd.DataFrame({"annotator": ["(no human annotations yet)"]})
        for col in ("accuracy", "mean_kappa"):
            a[col] = [_fmt(v) for v in a[col]]
        a["mean_s"] = [_fmt(v, 1) for v in a["mean_s"]]
        a["flagged"] = ["⚠ below 0.90" if f else "" for f in a["flagged"]]
        return a.rename(columns={"annotations": "annotations", "items": "items",
                                 "scored": "scored items", "mean_kappa": "mean pairwise κ",
                                 "mean_s": "s / annotation", "flagged": "calibration"})

    def _heatmap(self, m: pd.DataFrame, xname: str, yname: str, vname: str, *,
                 clim: tuple[float, float] | None, cmap: str, fmt: str) -> Any:
        hv = self._hv
        # fixed column names, the shown names as labels: an annotator against themself
        # (both pickers on one name, or a project with one annotator so far) or one named
        # like the value would make two columns of one name
        if xname == yname:  # HoloViews finds dimensions by label too: keep them apart
            xname, yname = f"{xname} (columns)", f"{yname} (rows)"
        if vname in (xname, yname):
            vname = f"{vname} (value)"
        kx, ky = hv.Dimension("lnb_col", label=xname), hv.Dimension("lnb_row", label=yname)
        kv = hv.Dimension("lnb_value", label=vname)
        if m.empty:
            return hv.HeatMap([], kdims=[kx, ky], vdims=[kv]).opts(
                height=320, width=380, title="(not enough data)", **_STATIC)
        vals = m.to_numpy(dtype=float)
        df = pd.DataFrame({"lnb_col": np.tile(np.asarray(m.columns, dtype=str), len(m.index)),
                           "lnb_row": np.repeat(np.asarray(m.index, dtype=str), len(m.columns)),
                           "lnb_value": vals.ravel()})
        labels = df.assign(text=[("–" if np.isnan(v) else format(v, fmt))
                                 for v in df["lnb_value"]])
        heat = hv.HeatMap(df, [kx, ky], kv).opts(
            cmap=cmap, colorbar=True, tools=["hover"], height=340, width=420, xrotation=45,
            invert_yaxis=True, **_STATIC, **({"clim": clim} if clim else {}))
        text = hv.Labels(labels, [kx, ky], "text").opts(text_font_size="9pt",
                                                              text_color="black", **_STATIC)
        return (heat * text).opts(**_STATIC)

    def _kappa_plot(self) -> Any:
        return self._heatmap(self.summary.kappa, "other", "annotator", "kappa",
                             clim=(-0.2, 1.0), cmap="RdYlGn", fmt=".2f")

    def _per_class_plot(self) -> Any:
        hv = self._hv
        pc = self.summary.per_class
        df = pd.DataFrame({"label": list(pc["label"]) or ["(none)"],
                           "agreement": [float(x) if pd.notna(x) else 0.0
                                         for x in pc["agreement"]] or [0.0],
                           "items": list(pc["items"]) or [0]})
        return hv.Bars(df, "label", ["agreement", "items"]).opts(
            ylim=(0, 1), height=340, width=380, tools=["hover"], xrotation=45,
            color="#59a14f", **_STATIC)

    def _confusion_plot(self) -> Any:
        a, b = self.pick_a.value, self.pick_b.value
        m = (dd.confusion(self.summary.human, a, b, matrix=self.summary.keys) if a and b
             else pd.DataFrame())
        m = m.astype(float) if len(m) else m
        return self._heatmap(m, str(b or "b"), str(a or "a"), "items", clim=None,
                             cmap="Blues", fmt=".0f")

    def _accuracy_plot(self) -> Any:
        hv = self._hv
        at = self.summary.accuracy_time
        if at.empty:
            return hv.Curve([], "submitted_at", "accuracy").opts(
                height=300, responsive=True, **_ZOOM,
                title="Accuracy over time: no item has a consensus yet")
        curves = {name: hv.Curve(g, "submitted_at", ["accuracy", "n"], label=str(name)).opts(
            color=self.colors.get(str(name), "#333"), tools=["hover"], **_ZOOM)
            for name, g in at.groupby("annotator", sort=True)}
        return hv.NdOverlay(curves, kdims="annotator").opts(
            height=320, responsive=True, legend_position="right", ylim=(0, 1.02),
            title="Accuracy over time (rolling, against consensus)", **_ZOOM)

    def _disagreement_display(self) -> pd.DataFrame:
        d = self.summary.disagreements
        if d.empty:
            return pd.DataFrame({"item_id": ["(no item has two annotators yet)"]})
        return pd.DataFrame({
            "item": d["item_id"], "annotators": d["annotators"],
            "agreement": [_fmt(v, 2) for v in d["agreement"]],
            "labels": ["; ".join(f"{k}: {v}" for k, v in sorted(x.items())) for x in d["keys"]],
        })

    def _item_options(self) -> dict[str, int]:
        d = self.summary.disagreements
        return {f"item {int(i)} (agreement {a:.2f})": int(i)
                for i, a in zip(d["item_id"], d["agreement"], strict=True) if a < 1.0}

    def _item_view(self, item_id: int | None) -> Any:
        pn = self._pn
        if item_id is None:
            return pn.pane.HTML("<p>No disagreements to show.</p>")
        try:
            return item_view(self.project, int(item_id), self.summary.human, self.colors)
        except (LabelnbError, OSError) as e:
            return pn.pane.HTML(f"<p>item {int(item_id)}: cannot show it "
                                f"({html.escape(str(e))})</p>")

    # --- updates ---------------------------------------------------------------------
    def _on_tab(self, _event: Any) -> None:
        self.draw()

    def _on_pick(self, _event: Any) -> None:
        if "Agreement" in self._drawn:
            self.confusion.object = render(self._confusion_plot())

    def _on_item(self, event: Any) -> None:
        if "Disagreements" in self._drawn:
            self.item_view[:] = [self._item_view(event.new)]

    def refresh(self, *, force: bool = False, background: bool = False) -> bool:
        """Re-read the project and redraw; skipped (``False``) when nothing changed
        since the last read (unless ``force``). ``background``: nothing is read in the
        caller's thread (:func:`~labelnb.dashboard.data.poll`): the project is checked
        for a change, and a change read, in a background thread, and this returns
        ``False`` at once (the header says when newer numbers are being read); the
        first call after that read finished draws them. The periodic refresh works
        this way, so the server's event loop never waits for the database."""
        try:
            if force:
                self._fingerprint, self.summary = dd.recompute(self.project, top_n=self.top_n)
            else:
                got = (dd.poll(self.project, top_n=self.top_n) if background
                       else dd.cached_summary(self.project, top_n=self.top_n))
                if got is None:  # nothing cached (evicted): being read in the background
                    self._note_pending()
                    return False
                fp, summary = got
                if fp == self._fingerprint:
                    self._note_pending()
                    return False
                self._fingerprint, self.summary = fp, summary
        except Exception:  # a transient database error must not kill the session
            log.exception("labelnb dashboard: refresh failed")
            return False
        s = self.summary
        names = list(s.kappa.index)
        for i, n in enumerate(names):
            self.colors.setdefault(n, PALETTE[i % len(PALETTE)])
        # no tab shows the new numbers: redraw the one shown, the others when shown next
        # (a hidden tab is left alone: it has no models in the page to update)
        self._drawn = set()
        self.header.object = self._header_html()
        self._shown_note = self._pending_note()
        self.draw()
        return True

    def stop(self) -> None:
        """Stop refreshing."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None


def served_layout(project: Project, *, refresh_s: float | None = DEFAULT_REFRESH_S,
                  top_n: int = 20) -> Any:
    """The layout a served session returns at once: a placeholder, while a worker
    thread reads the project and builds the :class:`Dashboard`. When both the browser
    has loaded the page (``pn.state.onload``) and the worker is done, the placeholder is
    replaced by the dashboard and its refresh starts. The page's JavaScript thus loads
    while the data is read, instead of after, and the server's event loop never waits
    for the worker (other sessions' pages keep being served meanwhile)."""
    pn, _ = require()
    root = pn.Column(pn.pane.HTML('<p class="lnb-loading">Loading the dashboard of '
                                  f'{html.escape(project.name)} …</p>'),
                     sizing_mode="stretch_width", css_classes=["labelnb-dashboard-root"])
    built: dict[str, Any] = {}
    steps = {"loaded": False, "filled": False}
    lock = threading.Lock()
    # the worker thread builds Panel objects for this session: it must see this
    # session's document, not whichever one the server's thread is serving then (Panel
    # falls back to Bokeh's global document, and another session can swap it mid-read)
    doc = pn.state.curdoc

    def fill() -> None:
        """On the event loop: put the dashboard in, once the page is loaded and the
        worker is done (whichever comes last calls this with both true)."""
        with lock:
            if steps["filled"] or not steps["loaded"] or not built:
                return
            steps["filled"] = True
        if "error" in built:
            e = built["error"]
            root[:] = [pn.pane.HTML(f"<p>The dashboard of {html.escape(project.name)} "
                                    f"failed to load: {html.escape(type(e).__name__)}: "
                                    f"{html.escape(str(e))}</p>")]
            return
        d: Dashboard = built["dashboard"]
        root[:] = [d.layout]
        if refresh_s:
            d.start(refresh_s)
        # numbers older than the project: read the change once the page is drawn, and
        # show it at the next refresh (also without a periodic refresh: the next
        # page then finds it)
        pn.state.add_periodic_callback(lambda: d.refresh(background=True),
                                       period=STALE_CHECK_MS, count=1)
        pn.state.on_session_destroyed(lambda _ctx: d.stop())

    def fill_in_doc() -> None:
        from panel.io.state import set_curdoc

        with set_curdoc(doc):
            fill()

    def build() -> None:
        from panel.io.state import set_curdoc

        try:
            with set_curdoc(doc):
                made = Dashboard(project, refresh_s=None, top_n=top_n, stale_ok=True)
            with lock:
                built["dashboard"] = made
        except Exception as e:  # shown in the page (and logged) instead of a blank page
            log.exception("labelnb dashboard: building it failed")
            with lock:
                built["error"] = e
        if doc is None:  # no session, no event loop: fill from here
            fill()
            return
        try:  # onto the session's event loop (thread-safe)
            doc.add_next_tick_callback(fill_in_doc)
        except Exception:  # e.g. the session was closed meanwhile
            log.info("labelnb dashboard: the built dashboard could not be handed to its "
                     "session (closed?)", exc_info=True)

    def loaded() -> None:
        with lock:
            steps["loaded"] = True
        fill()

    worker = threading.Thread(target=build, name="labelnb-dashboard-build", daemon=True)
    worker.start()
    pn.state.onload(loaded)
    return root


# --- the disagreement browser ---------------------------------------------------------
def _own_annotations(project: Project, item_id: int, human: pd.DataFrame
                     ) -> list[tuple[str, str, list[Region]]]:
    """``(annotator, key, regions)`` of each annotator's own annotation of the item,
    by annotator name."""
    mine = human.loc[human["item_id"] == item_id, ["id", "author", "key"]]
    rows = project.annotations(item_id=item_id)
    regions = dict(zip(rows["id"], rows["regions"], strict=True)) if len(rows) else {}
    return [(str(author), str(key), [Region.from_json(r) for r in regions.get(aid, [])])
            for aid, author, key in sorted(zip(mine["id"], mine["author"], mine["key"],
                                               strict=True), key=lambda x: str(x[1]))]


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = css_color(color).lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _mask_layer(masks: list[Mask], color: str, size: tuple[int, int]) -> np.ndarray:
    """One annotator's masks as an RGBA image of the display ``size`` (w, h): their
    colour at 40% opacity where any mask is set."""
    from PIL import Image

    w, h = size
    union = np.zeros((h, w), dtype=bool)
    for m in masks:
        dense = m.to_array()
        if dense.shape != (h, w):
            dense = np.asarray(Image.fromarray(dense).resize((w, h), Image.Resampling.NEAREST))
        union |= dense
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[union, :3] = _hex_rgb(color)
    rgba[union, 3] = 102
    return rgba


def item_view(project: Project, item_id: int, human: pd.DataFrame,
              colors: dict[str, str]) -> Any:
    """Each annotator's annotation of one item, each annotator in their own colour:
    boxes and polygons drawn over the image (masks as a translucent layer with their
    bounding box), with a legend; spans highlighted in the text (inserted as escaped
    text, never as markup); choices listed beside the media. Beside each name: the
    labels and the agreement key (``(other boxes)`` marks labels that match the
    majority's but geometry that does not)."""
    pn, hv = require()
    item = project.item(item_id)
    own = _own_annotations(project, item_id, human)
    label_colors = {n: (project.schema[n].color or "#ffe08a") for n in project.schema.names}

    def color(who: str) -> str:
        return colors.get(who, PALETTE[len(colors) % len(PALETTE)])

    def note(key: str, regs: list[Region]) -> str:
        """What the agreement key adds to the labels, e.g. ``(other boxes)``."""
        plain = dd.label_key([r.label for r in regs], project.schema.kind)
        if key == plain:
            return ""
        extra = key[len(plain):].strip() if key.startswith(plain) else key
        return f' <i class="lnb-key">{html.escape(extra)}</i>'

    def summary(key: str, regs: list[Region]) -> str:
        labels = ", ".join(r.label for r in regs) or "(nothing)"
        return html.escape(labels) + note(key, regs)

    labels_html = annotator_rows([(who, color(who), summary(key, regs))
                                  for who, key, regs in own])
    title = pn.pane.HTML(f"<h4>item {item_id}</h4>")
    if item.media == "text" or item.uri is None:
        text = item.text or ""
        if any(isinstance(r, Span) for _, _, regs in own for r in regs):
            rows = [(who, color(who), highlight_spans(
                text, [r for r in regs if isinstance(r, Span)], label_colors)
                + note(key, regs)) for who, key, regs in own]
            legend = " ".join(
                f'<mark style="background:{css_color(c)}">{html.escape(n)}</mark>'
                for n, c in label_colors.items())
            return pn.Column(title, pn.pane.HTML(f"<p>labels: {legend}</p>"
                                                 + annotator_rows(rows),
                                                 sizing_mode="stretch_width"),
                             sizing_mode="stretch_width")
        return pn.Column(title, pn.pane.HTML(text_block(text) + labels_html,
                                             sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
    img = project.load_image(item_id).convert("RGB")
    w, h = img.size
    # drawn about _MAX_IMAGE_SIDE wide or high: large images are downscaled (the
    # coordinates stay in original pixels), small ones magnified up to 8x
    scale = min(8.0, _MAX_IMAGE_SIDE / max(w, h))
    frame = (max(1, round(w * scale)), max(1, round(h * scale)))
    shown = frame if scale < 1.0 else (w, h)
    if scale < 1.0:
        img = img.resize(shown)
    plot = hv.RGB(np.asarray(img), bounds=(0, 0, w, h)).opts(
        xaxis=None, yaxis=None, frame_width=frame[0], frame_height=frame[1], **_CANVAS)
    for who, _key, regs in own:
        masks = [r for r in regs if isinstance(r, Mask)]
        boxes = [r if isinstance(r, Box) else r.bbox for r in regs if isinstance(r, Box | Mask)]
        polys = [r for r in regs if isinstance(r, Polygon)]
        if masks:
            plot = plot * hv.RGB(_mask_layer(masks, color(who), shown), bounds=(0, 0, w, h),
                                 vdims=["R", "G", "B", "A"])
        if boxes:
            plot = plot * hv.Rectangles(
                [(b.x0, h - b.y1, b.x1, h - b.y0, b.label) for b in boxes],
                vdims="label", label=who).opts(fill_alpha=0.0, line_color=color(who),
                                               line_width=2, tools=["hover"],
                                               line_dash="dashed" if masks else "solid")
        if polys:
            plot = plot * hv.Polygons(
                [{"x": p.xy[:, 0], "y": h - p.xy[:, 1], "label": p.label} for p in polys],
                vdims="label", label=who).opts(fill_alpha=0.15, fill_color=color(who),
                                               line_color=color(who), line_width=2,
                                               tools=["hover"])
    if isinstance(plot, hv.Overlay):
        plot = plot.opts(legend_position="right", show_legend=True, **_CANVAS)
    if any(isinstance(r, Choice) for _, _, regs in own for r in regs) or not own:
        plot = plot.opts(title="labels on the right")
    return pn.Column(title, pn.Row(pn.pane.Bokeh(render(plot)), pn.pane.HTML(labels_html)),
                     sizing_mode="stretch_width")


__all__ = ["DEFAULT_REFRESH_S", "Dashboard", "item_view", "render", "require",
           "served_layout"]
