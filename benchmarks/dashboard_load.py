"""Dashboard load time on a project with 100k annotations, against the floors.

Builds a synthetic project in a temporary SQLite file: ``--items`` items (default
33,334), each labeled by ``--annotators`` annotators (default 3, so 100,002
annotations), with tasks done and submit times spread over two weeks. The annotators
have known accuracies (0.95, 0.88, 0.72, ...), so there is disagreement to show. The
``choice`` project has text items; the ``boxes`` project (``--kinds choice,boxes``)
has image items (all pointing at one 640x480 PNG) with 1-3 boxes per annotation,
jittered per annotator.

The project is written through labelnb's own tables (``Project.create`` and
``add_items`` for the text items; one bulk insert per table for tasks, image items and
annotations) because 100k claim/submit round trips would take minutes and are what
``queue_throughput.py`` measures.

What is timed, each cold (a fresh ``labelnb.open`` and the dashboard's cache cleared):

- **data**: ``dashboard.data.summarize(dashboard.data.load(project))``: everything the
  dashboard draws, as DataFrames;
- **app**: ``Dashboard(project, refresh_s=None)``: the data plus the Panel objects of
  the layout and the first tab's charts rendered by HoloViews (what a served session
  builds while the browser loads the page);
- **browser**: the dashboard served by ``labelnb.dashboard.serve`` in its own process
  (as ``labelnb dashboard`` runs it) and opened in real Chromium (Playwright), a fresh
  page each time: from ``page.goto`` until the first tab (Overview) is drawn: its two
  charts on canvases, the queue table with its bars, the annotator table showing every
  name. Then, on the cold page,
  a click on each other tab until it is drawn (Agreement: both heat maps with their
  numbers and the per-class bars; Disagreements: the table and the first item's
  annotations); a tab's charts are made when it is first shown. *First page*: a new
  server process each run, the page opened once its start-up read is done, as
  ``labelnb dashboard`` opens the browser. *Cold*: the dashboard's cache is cleared
  first (a page opened during the start-up read meets this), so the session reads the
  project and computes everything; *cached*: right after, when the numbers of the
  unchanged project are cached (as for a second tab); *changed*: with
  those numbers marked out of date (as after a submit), so the page is drawn from them
  and the change is read in the background once the page is out.

  The end of a page load is seen by the page itself (``--probe page``, the default): an
  init script checks the page every 25 ms (the same test on the elements, shadow roots
  included) and notes the wall-clock time it first held, compared with the time just
  before ``goto``. ``--probe playwright`` instead asks the page from this process
  every 20 ms with Playwright's locators (as the first versions of this benchmark
  did): each ask is a round trip and a text search through every shadow root on the
  renderer's main thread, which also runs the page's own scripts, so it slows the
  load it measures.

and the floors in the same run:

- **floor: pandas**: ``pd.read_sql("SELECT * FROM annotations", sqlite3)``: the bare
  read of the annotations table, no parsing;
- **floor: Panel page**: a Panel page with one HoloViews bar chart of 3 bars (on a
  canvas, as the dashboard's), served the same way and opened in the same Chromium
  until its canvas is drawn: what Panel, Bokeh and the browser cost before any data.

Each row is the median of ``--repeat`` runs (default 3; the best and all runs are
printed too, with the load average: on a shared machine other work inflates the
times). Prints a Markdown table to stdout; progress goes to stderr.

Usage::

    .venv/bin/python benchmarks/dashboard_load.py                    # choice, 100k
    .venv/bin/python benchmarks/dashboard_load.py --kinds choice,boxes
    .venv/bin/python benchmarks/dashboard_load.py --items 3334 --repeat 1   # quick
    .venv/bin/python benchmarks/dashboard_load.py --profile data    # cProfile one part
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import labelnb
from labelnb import Schema

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "widgets"))
from harness import BOKEH_LIVE_JS, CHROMIUM_ARGS, find_chromium  # noqa: E402

LABELS = ["cat", "dog", "bird", "fish", "horse", "other"]
ACCURACY = [0.95, 0.88, 0.72, 0.9, 0.8, 0.6]
#: the Bokeh glyphs with data on the page's live plots
GLYPHS_JS = """() => {""" + BOKEH_LIVE_JS + """
  const out = [];
  for (const m of live)
    if (m.constructor.__name__ === "GlyphRenderer" && m.data_source.get_length() > 0)
      out.push(m.glyph.constructor.__name__);
  return out;
}"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the synthetic project ---------------------------------------------------------------
def _noisy(rng: np.random.Generator, truth: np.ndarray, acc: float, k: int) -> np.ndarray:
    wrong = rng.random(truth.shape[0]) > acc
    other = (truth + rng.integers(1, k, truth.shape[0])) % k
    return np.where(wrong, other, truth)


def build_project(path: Path, kind: str, n_items: int, n_annot: int, seed: int = 0
                  ) -> labelnb.Project:
    """A project with ``n_items`` items, each labeled by the first ``n_annot``
    annotators, every task done."""
    from sqlalchemy import bindparam, insert, select, update

    from labelnb.queue.tables import annotations as at
    from labelnb.queue.tables import items as it
    from labelnb.queue.tables import tasks as tt

    rng = np.random.default_rng(seed)
    k = len(LABELS)
    names = ["ana", "bob", "cy", "dee", "eve", "fay"][:n_annot]
    p = labelnb.Project.create(path, "bench", Schema(kind, LABELS),  # type: ignore[arg-type]
                               overlap=n_annot)
    now = datetime.now(UTC)
    t0 = now - timedelta(days=14)
    if kind == "choice":
        p.add_items([f"text number {i}: the quick brown fox {i * 7919 % 10007}"
                     for i in range(n_items)])
    else:
        from PIL import Image

        png = path.parent / "bench.png"
        Image.fromarray(np.full((480, 640, 3), 180, np.uint8)).save(png)
        rows: list[dict[str, Any]] = [
            dict(project_id=p.id, media="image", uri=png.as_uri(), text=None,
                 content_hash=f"{i:064x}", width=640, height=480, group_key=None, meta={},
                 created_at=now) for i in range(n_items)]
        with p.store.write() as conn:
            for lo in range(0, len(rows), 5000):
                conn.execute(insert(it), rows[lo:lo + 5000])
            ids = [int(x) for x in conn.execute(select(it.c.id).where(
                it.c.project_id == p.id).order_by(it.c.id)).scalars()]
            conn.execute(insert(tt), [dict(project_id=p.id, item_id=i, stage="annotate",
                                           slot=s, status="open", priority=0.0,
                                           created_at=now, attempts=0)
                                      for i in ids for s in range(n_annot)])
    with p.store.read() as conn:
        tasks = pd.DataFrame(conn.execute(
            select(tt.c.id, tt.c.item_id, tt.c.slot).where(tt.c.project_id == p.id)
            .order_by(tt.c.item_id, tt.c.slot)).fetchall(), columns=["id", "item_id", "slot"])
    item_ids = tasks["item_id"].drop_duplicates().to_numpy()
    truth = rng.integers(0, k, item_ids.shape[0])
    # submit times: each item's annotators work through the items over two weeks
    base = np.sort(rng.uniform(0, 14 * 86400 - 3600, item_ids.shape[0]))
    ann_rows: list[dict[str, Any]] = []
    task_rows: list[dict[str, Any]] = []
    for a, who in enumerate(names):
        lab = _noisy(rng, truth, ACCURACY[a], k)
        dur = rng.gamma(2.0, 4.0 + 2 * a, item_ids.shape[0])
        sub = base + rng.uniform(0, 3600, item_ids.shape[0])
        task_ids = tasks.loc[tasks["slot"] == a, "id"].to_numpy()
        for i, iid in enumerate(item_ids):
            if kind == "choice":
                regions: list[dict[str, Any]] = [{"type": "choice", "label": LABELS[lab[i]]}]
            else:
                r = np.random.default_rng(int(iid))  # the same boxes for every annotator ...
                n_box = 1 + int(r.integers(0, 3))
                regions = []
                for b in range(n_box):
                    x0, y0 = r.uniform(0, 500), r.uniform(0, 350)
                    w, h = r.uniform(30, 130), r.uniform(30, 120)
                    jx, jy = rng.normal(0, 3 + 3 * a, 2)  # ... jittered per annotator
                    label = LABELS[lab[i]] if b == 0 else LABELS[int(r.integers(0, k))]
                    regions.append({"type": "box", "label": label,
                                    "x0": round(float(np.clip(x0 + jx, 0, 600)), 1),
                                    "y0": round(float(np.clip(y0 + jy, 0, 440)), 1),
                                    "x1": round(float(np.clip(x0 + jx + w, 1, 640)), 1),
                                    "y1": round(float(np.clip(y0 + jy + h, 1, 480)), 1)})
            submitted = t0 + timedelta(seconds=float(sub[i]))
            ann_rows.append(dict(
                id=uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | len(ann_rows)).hex,
                project_id=p.id, item_id=int(iid), task_id=int(task_ids[i]), author=who,
                source="human", schema_version=1, regions=regions,
                created_at=submitted - timedelta(seconds=float(dur[i])),
                submitted_at=submitted, duration_s=float(dur[i]), corrects=None,
                model_version=None, client_id=None, meta={}))
            task_rows.append(dict(tid=int(task_ids[i]), who=who, at=submitted))
    ann_rows.sort(key=lambda r: r["submitted_at"])
    with p.store.write() as conn:
        for lo in range(0, len(ann_rows), 5000):
            conn.execute(insert(at), ann_rows[lo:lo + 5000])
        stmt = (update(tt).where(tt.c.id == bindparam("tid"))
                .values(status="done", assignee=bindparam("who"), claimed_at=bindparam("at"),
                        done_at=bindparam("at")))
        conn.execute(stmt, task_rows)
    p.close()
    return labelnb.open(path, "bench")


# --- timing --------------------------------------------------------------------------
def clear_cache() -> None:
    from labelnb.dashboard import data as dd

    with dd._CACHE_LOCK:
        dd._CACHE.clear()


def mark_stale() -> None:
    """Make every cached summary out of date, as a submit after it was read does: the
    next session starts from it and recomputes in the background (the same work and
    CPU contention as after a real change; the project itself is left as it is, so the
    runs stay comparable)."""
    from labelnb.dashboard import data as dd

    with dd._CACHE_LOCK:
        for key, (_fp, summary) in list(dd._CACHE.items()):
            dd._CACHE[key] = (("changed since",), summary)


def time_data(db: Path) -> float:
    from labelnb.dashboard import data as dd

    clear_cache()
    p = labelnb.open(db, "bench")
    try:
        t = time.perf_counter()
        dd.summarize(dd.load(p))
        return time.perf_counter() - t
    finally:
        p.close()


def time_app(db: Path) -> float:
    from labelnb.dashboard import dashboard

    clear_cache()
    p = labelnb.open(db, "bench")
    try:
        t = time.perf_counter()
        d = dashboard(p, refresh_s=None)
        secs = time.perf_counter() - t
        assert d.layout is not None
        return secs
    finally:
        p.close()


def time_pandas(db: Path) -> float:
    t = time.perf_counter()
    with sqlite3.connect(db) as conn:
        df = pd.read_sql("SELECT * FROM annotations", conn)
    secs = time.perf_counter() - t
    assert len(df) > 0
    return secs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """One Chromium for all page loads (its start-up is not part of a page load)."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            chromium = find_chromium()
        except RuntimeError as e:
            raise SystemExit(str(e)) from None
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        self.cpu: list[tuple[float, float]] = []  # (this process, browser) per load
        self.tab_secs: dict[str, list[float]] = {}  # per tab: click until drawn
        self.probe = "page"  # or "playwright" (see load)
        #: child processes that are not the browser (the served app's): not counted
        self.skip_pids: set[int] = set()

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()

    def load(self, url: str, ready: Ready, timeout_s: float = 60,
             tabs: Sequence[tuple[str, Callable[[Any], bool]]] | None = None) -> float:
        """Seconds from ``goto`` until the page is ``ready``; a fresh page (no cache) each
        time. Also notes in ``cpu`` the CPU seconds this process (the polling) and the
        browser's processes (Chromium and Playwright's driver) used meanwhile
        (:class:`Served` replaces the first with the server's): on a shared machine CPU
        seconds do not grow with the other work as wall time does.

        With ``probe="page"`` (the default) the page checks itself: an init script runs
        ``ready.js`` every :data:`PROBE_MS` ms inside the page and notes the wall-clock
        time it first held, which is compared with the time just before ``goto``. With
        ``probe="playwright"`` this process asks the page through Playwright every 20
        ms (``ready.check``): each ask is a round trip and a text search through every
        shadow root, on the renderer's main thread that also runs the page's scripts."""
        ctx = self.browser.new_context(viewport={"width": 1500, "height": 1000})
        if self.probe == "page":
            ctx.add_init_script(PROBE_JS.replace("READY", ready.js)
                                .replace("EVERY_MS", str(PROBE_MS)))
        page = ctx.new_page()
        try:
            cpu0 = time.process_time(), _children_cpu(self.skip_pids)
            t = time.perf_counter()
            t_wall = time.time() * 1000
            page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
            if self.probe == "page":
                page.wait_for_function("() => window.__lnbReadyAt || window.__lnbFailed",
                                       polling=100, timeout=timeout_s * 1000)
                failed, at = page.evaluate("[window.__lnbFailed, window.__lnbReadyAt]")
                if failed:
                    raise RuntimeError(f"{url}: {failed}")
                secs = (float(at) - t_wall) / 1000
                assert 0 < secs <= time.perf_counter() - t + 0.05, (secs, url)
            else:
                deadline = t + timeout_s
                while not ready.check(page):
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"{url}: not ready after {timeout_s} s")
                    page.wait_for_timeout(20)
                secs = time.perf_counter() - t
            self.cpu.append((time.process_time() - cpu0[0],
                             _children_cpu(self.skip_pids) - cpu0[1]))
            for tab, tab_ready in tabs or []:
                t = time.perf_counter()
                page.get_by_text(tab, exact=True).click()
                while not tab_ready(page):
                    if time.perf_counter() > t + timeout_s:
                        raise TimeoutError(f"{url}: tab {tab} not drawn in {timeout_s} s")
                    page.wait_for_timeout(20)
                self.tab_secs.setdefault(tab, []).append(time.perf_counter() - t)
            return secs
        finally:
            ctx.close()


def _children_cpu(skip: set[int] | frozenset[int] = frozenset()) -> float:
    """CPU seconds used so far by this process's children (Playwright's driver and the
    Chromium it started), except the processes in ``skip`` and their children (the
    served app, counted on its own)."""
    import psutil

    total = 0.0
    me = psutil.Process()
    skipped = set(skip)
    for p in skip:
        try:
            skipped.update(c.pid for c in psutil.Process(p).children(recursive=True))
        except psutil.Error:
            pass
    for c in me.children(recursive=True):
        if c.pid in skipped:
            continue
        try:
            t = c.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _wait_up(port: int) -> None:
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no server on port {port}")


#: how often the in-page probe checks the page (ms): a page is ready at most this late
PROBE_MS = 25
#: the in-page probe (an init script): runs READY (a JS function of the page's elements,
#: shadow roots included, and its text) every EVERY_MS ms and notes the wall-clock time
#: it first returns true, or the text of a failure message
PROBE_JS = """(() => {
  if (window.top !== window) return;
  const ready = READY;
  function elements() {
    const out = [], stack = document.documentElement ? [document.documentElement] : [];
    while (stack.length) {
      const n = stack.pop();
      out.push(n);
      if (n.shadowRoot) stack.push(...n.shadowRoot.children);
      stack.push(...n.children);
    }
    return out;
  }
  const iv = setInterval(() => {
    const els = elements();
    const texts = els.filter(e => e.childElementCount === 0)
                     .map(e => (e.textContent || "").trim());
    const failed = texts.find(t => t.includes("failed to load"));
    if (failed) { window.__lnbFailed = failed; clearInterval(iv); return; }
    if (ready(els, texts)) {
      window.__lnbReadyAt = performance.timeOrigin + performance.now();
      clearInterval(iv);
    }
  }, EVERY_MS);
})();"""


@dataclass(frozen=True)
class Ready:
    """When a page counts as loaded: ``js`` for the in-page probe (``(elements, leaf
    texts) => bool``), ``check`` for the Playwright probe; the two test the same."""

    js: str
    check: Callable[[Any], bool]


def dashboard_ready(names: list[str]) -> Ready:
    """The first tab (Overview) is drawn: its two charts (throughput, accuracy over
    time) are on canvases, the queue table shows its bars and the annotator table
    every name."""
    def check(page: Any) -> bool:
        if page.get_by_text("failed to load", exact=False).count():
            raise RuntimeError(page.get_by_text("failed to load", exact=False).first
                               .inner_text())
        return bool(page.locator("canvas").count() >= 2
                    and page.locator(".lnb-queue-bar").count() > 0
                    and all(page.get_by_text(n, exact=True).count() > 0 for n in names))
    js = ("(els, texts) => els.filter(e => e.tagName === 'CANVAS').length >= 2 && "
          "els.some(e => e.classList.contains('lnb-queue-bar')) && "
          f"{json.dumps(names)}.every(n => texts.includes(n))")
    return Ready(js, check)


def canvas_ready(n: int = 1) -> Ready:
    """At least ``n`` canvases in the page (the floor page's chart)."""
    return Ready(f"(els) => els.filter(e => e.tagName === 'CANVAS').length >= {n}",
                 lambda page: page.locator("canvas").count() >= n)


def agreement_ready(page: Any) -> bool:
    """The Agreement tab is drawn: two heat maps (with their numbers) and the bars."""
    glyphs = page.evaluate(GLYPHS_JS)
    return bool(glyphs.count("Rect") >= 2 and glyphs.count("Text") >= 2
                and "VBar" in glyphs)


def disagreements_ready(page: Any) -> bool:
    """The Disagreements tab is drawn: its table and the first item's view."""
    return bool(page.get_by_text("Disagreements (lowest agreement first)").count()
                and page.locator("table.lnb-disagreement").count())


#: what is timed after a page load: a click on each other tab until it is drawn
TABS = [("Agreement", agreement_ready), ("Disagreements", disagreements_ready)]


def _server_main(what: str, db: str, port: int, conn: Any) -> None:
    """The server process: serves the dashboard of ``db`` (``what="dashboard"``, as
    ``labelnb dashboard`` does) or the one-chart floor page, then answers ``clear``
    (empty the dashboard's cache), ``cpu`` (its CPU seconds so far) and ``stop``."""
    import threading

    if what == "dashboard":
        from labelnb.dashboard import serve

        # no periodic refresh: the benchmark empties the cache between page loads, and
        # the earlier sessions (alive until the server reaps them) would re-read it
        server = serve(db, "bench", port=port, show=False, threaded=True,
                       address="127.0.0.1", refresh_s=None)
        for t in threading.enumerate():  # let the start-up prewarm finish
            if t.name == "labelnb-dashboard-prewarm":
                t.join()
    else:
        from labelnb.dashboard.app import require

        pn, hv = require()

        def app() -> Any:  # drawn on a canvas, as the dashboard's charts are
            bars = hv.Bars([("a", 1), ("b", 2), ("c", 3)]).opts(
                backend_opts={"plot.output_backend": "canvas"})
            return pn.Column(pn.pane.HoloViews(bars))

        server = pn.serve({"floor": app}, port=port, show=False, threaded=True, start=True,
                          address="127.0.0.1")
    _wait_up(port)
    conn.send("up")
    while True:
        cmd = conn.recv()
        if cmd == "clear":
            clear_cache()
            conn.send("ok")
        elif cmd == "stale":
            mark_stale()
            conn.send("ok")
        elif cmd == "settle":  # wait for the background recomputes to finish
            from labelnb.dashboard import data as dd
            from labelnb.dashboard.app import STALE_CHECK_MS

            time.sleep(STALE_CHECK_MS / 1000 + 0.5)  # the page's re-read has started
            dd.wait_idle()
            conn.send("ok")
        elif cmd == "cpu":
            conn.send(time.process_time())
        else:
            server.stop()
            conn.send("stopped")
            return


class Served:
    """A served app in its own process (so the browser's driver in this process does
    not compete with it for the interpreter lock)."""

    def __init__(self, what: str, db: Path | None = None) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.port = free_port()
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_server_main,
                                args=(what, str(db or ""), self.port, child), daemon=True)
        self.proc.start()
        if not self.conn.poll(120) or self.conn.recv() != "up":
            raise TimeoutError("the server process did not start")
        self.url = f"http://127.0.0.1:{self.port}/{what if what == 'dashboard' else 'floor'}"

    def ask(self, cmd: str) -> Any:
        self.conn.send(cmd)
        return self.conn.recv()

    def load(self, br: Browser, ready: Ready,
             tabs: Sequence[tuple[str, Callable[[Any], bool]]] | None = None) -> float:
        """A page load in ``br``, with this server's CPU seconds in ``br.cpu``."""
        cpu0 = self.ask("cpu")
        br.skip_pids.add(int(self.proc.pid or 0))
        secs = br.load(self.url, ready, tabs=tabs)
        _, browser = br.cpu[-1]
        br.cpu[-1] = (self.ask("cpu") - cpu0, browser)
        return secs

    def close(self) -> None:
        try:
            self.ask("stop")
        finally:
            self.proc.join(10)


def time_browser(db: Path, br: Browser, names: list[str], repeat: int
                 ) -> tuple[list[float], list[float], list[float]]:
    """(cold, warm, changed) page loads: cold with the dashboard's cache cleared first,
    so the session reads and computes everything; warm right after, with the numbers
    the previous session cached (the project has not changed); changed with those
    numbers out of date (:func:`mark_stale`): the page is built from them while the
    server recomputes in a background thread."""
    served = Served("dashboard", db)
    try:
        cold, warm, changed = [], [], []
        for _ in range(repeat):
            served.ask("clear")
            cold.append(served.load(br, dashboard_ready(names), tabs=TABS))
            warm.append(served.load(br, dashboard_ready(names)))
            served.ask("settle")  # the earlier pages' stale checks have run
            served.ask("stale")
            changed.append(served.load(br, dashboard_ready(names)))
            served.ask("settle")  # the background recompute is not part of a page load
        return cold, warm, changed
    finally:
        served.close()


def time_first_pages(db: Path, br: Browser, names: list[str], repeat: int) -> list[float]:
    """The first page of a freshly started server, opened once its start-up read is done
    (what ``labelnb dashboard`` does: it opens the browser then): a new server process
    per run."""
    out = []
    for _ in range(repeat):
        served = Served("dashboard", db)  # "up" only after the start-up read finished
        try:
            out.append(served.load(br, dashboard_ready(names)))
        finally:
            served.close()
    return out


def time_panel_floor(br: Browser, repeat: int) -> list[float]:
    served = Served("floor")
    try:
        return [served.load(br, canvas_ready(1))
                for _ in range(repeat)]
    finally:
        served.close()


def profile_part(db: Path, part: str) -> str:
    """cProfile of the cold ``data`` or ``app`` part on the project in ``db``."""
    from labelnb.dashboard import dashboard
    from labelnb.dashboard import data as dd

    clear_cache()
    p = labelnb.open(db, "bench")
    try:
        if part == "data":
            return profile(lambda: dd.summarize(dd.load(p)))
        return profile(lambda: dashboard(p, refresh_s=None))
    finally:
        p.close()


def profile(fn: Callable[[], Any], top: int = 30) -> str:
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats(top)
    return s.getvalue()


# --- main --------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=33_334)
    ap.add_argument("--annotators", type=int, default=3)
    ap.add_argument("--kinds", default="choice", help="comma list of choice, boxes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--profile", choices=["data", "app"], default=None,
                    help="print a cProfile of one part (choice project) and exit")
    ap.add_argument("--target", type=float, default=2.0)
    ap.add_argument("--probe", choices=["page", "playwright"], default="page",
                    help="how a page load's end is seen: the page checks itself every "
                         f"{PROBE_MS} ms (default), or Playwright asks it every 20 ms")
    args = ap.parse_args()
    names = ["ana", "bob", "cy", "dee", "eve", "fay"][:args.annotators]
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="lnb-dash-"))
    #: (project, what, seconds per run, CPU seconds per run (this process, browser))
    results: list[tuple[str, str, list[float], list[tuple[float, float]]]] = []
    br: Browser | None = None
    try:
        for kind in args.kinds.split(","):
            db = tmp / f"{kind}.db"
            t = time.perf_counter()
            p = build_project(db, kind, args.items, args.annotators)
            n = len(p.annotations()) if args.items <= 5000 else None
            p.close()
            log(f"built the {kind} project in {time.perf_counter() - t:.1f} s"
                + (f" ({n} annotations)" if n is not None else ""))
            if args.profile:
                print(profile_part(db, args.profile))
                return
            results.append((kind, "floor: pandas read_sql of the annotations table",
                            [time_pandas(db) for _ in range(args.repeat)], []))
            results.append((kind, "data: summarize(load(project))",
                            [time_data(db) for _ in range(args.repeat)], []))
            results.append((kind, "app: Dashboard(project) (data + Panel objects)",
                            [time_app(db) for _ in range(args.repeat)], []))
            if not args.no_browser:
                if br is None:
                    br = Browser()
                    br.probe = args.probe
                    time_panel_floor(br, 1)  # start-up of the browser's caches; discarded
                    n0 = len(br.cpu)
                    runs = time_panel_floor(br, args.repeat)
                    results.append(("-", "floor: one-chart Panel page in Chromium", runs,
                                    br.cpu[n0:]))
                log(f"{kind}: opening the served dashboard in Chromium")
                n0 = len(br.cpu)
                first = time_first_pages(db, br, names, args.repeat)
                results.append((kind, "browser: first page of a new server, opened when its "
                                "start-up read is done (as `labelnb dashboard` opens it)",
                                first, br.cpu[n0:]))
                n0 = len(br.cpu)
                cold, warm, changed = time_browser(db, br, names, args.repeat)
                loads = br.cpu[n0:]
                results.append((kind, "browser: served dashboard, goto until its first tab "
                                "is drawn (cold: nothing cached)", cold, loads[0::3]))
                results.append((kind, "browser: the same, numbers cached by an earlier "
                                "session", warm, loads[1::3]))
                results.append((kind, "browser: the same, the project changed since those "
                                "numbers (drawn from them; the change read in the "
                                "background)", changed, loads[2::3]))
                for tab, _ in TABS:
                    results.append((kind, f"browser: then a click on the {tab} tab until it "
                                    "is drawn", br.tab_secs.pop(tab), []))
    finally:
        if br is not None:
            br.close()
        shutil.rmtree(tmp, ignore_errors=True)
    n_ann = args.items * args.annotators
    print(f"\n### Dashboard load: {args.items:,} items x {args.annotators} annotators = "
          f"{n_ann:,} annotations (median of {args.repeat}; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on "
          f"{os.cpu_count()} CPUs; probe: {args.probe})\n")
    print("| project | what | seconds | best | vs pandas floor | vs Panel floor | "
          "CPU s: server / browser | target | runs |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    floors: dict[str, float] = {}
    panel_floor = next((statistics.median(r) for _, w, r, _ in results
                        if w.startswith("floor: one-chart")), None)
    for kind, what, runs, cpus in results:
        med = statistics.median(runs)
        if what.startswith("floor: pandas"):
            floors[kind] = med
        page_load = what.startswith("browser") and "click" not in what
        vs_pd = f"{med / floors[kind]:.1f}x" if kind in floors and "click" not in what else "-"
        vs_pn = f"{med / panel_floor:.2f}x" if panel_floor and page_load else "-"
        cpu = (f"{statistics.median(c[0] for c in cpus):.2f} / "
               f"{statistics.median(c[1] for c in cpus):.2f}") if cpus else "-"
        target = "-"
        if what.startswith("browser") and ("cold" in what or "changed" in what
                                            or "first page" in what):
            target = f"< {args.target:g} s: {'pass' if med < args.target else 'FAIL'}"
        print(f"| {kind} | {what} | {med:.3f} | {min(runs):.3f} | {vs_pd} | {vs_pn} | {cpu} | "
              f"{target} | {', '.join(f'{r:.3f}' for r in runs)} |")


if __name__ == "__main__":
    main()
