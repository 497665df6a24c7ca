"""The dashboard's numbers on small real projects (labeled through the queue) and on
hand-made frames, checked against scikit-learn and hand counts."""

from __future__ import annotations

import itertools
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

import labelnb
from labelnb import Annotation, Choice, Schema
from labelnb.dashboard import data as dd
from labelnb.errors import MissingExtra
from labelnb.types import Span

CHOICES: dict[str, dict[str, str]] = {}


@pytest.fixture(autouse=True)
def _choices(choices: dict[str, dict[str, str]]) -> None:
    CHOICES.update(choices)



def test_label_key() -> None:
    assert dd.label_key(["cat"], "choice") == "cat"
    assert dd.label_key(["dog", "cat", "dog"], "boxes") == "cat|dog|dog"
    assert dd.label_key(["dog", "cat", "dog"], "multi_choice") == "cat|dog"
    assert dd.label_key([], "spans") == dd.NONE_KEY
    # label names that hold the separator (or are the empty key) keep sets apart
    assert dd.label_key(["a", "b"], "multi_choice") != dd.label_key(["a|b"], "multi_choice")
    assert dd.label_key(["(none)"], "spans") != dd.label_key([], "spans")
    assert dd.label_key(["(none)"], "choice") != dd.NONE_KEY


def test_a_separator_in_a_label_is_no_agreement(tmp_path: Path) -> None:
    """{a, b} and {"a|b"} had one key: counted as agreeing in kappa and the rankings."""
    p = labelnb.Project.create(tmp_path / "m.db", "m", Schema("multi_choice", ["a", "b", "a|b"]),
                               overlap=2)
    p.add_items(["x", "y"])
    for who, regions in (("ana", [labelnb.Choice("a"), labelnb.Choice("b")]),
                         ("bo", [labelnb.Choice("a|b")])):
        q = p.queue(who)
        for _ in q:
            q.submit(regions)
    s = dd.summarize(dd.load(p))
    assert s.disagreements["agreement"].tolist() == [0.5, 0.5]


def test_load_reads_the_queue_work(choice_project: labelnb.Project) -> None:
    f = dd.load(choice_project)
    assert f.kind == "choice" and f.labels == ["cat", "dog", "bird"]
    assert f.items == 10 and f.items_done == 10
    assert len(f.annotations) == 30 and set(f.annotations["stage"]) == {"annotate"}
    assert f.tasks.loc["annotate", "done"] == 30 and f.tasks.loc["annotate", "total"] == 30
    assert len(f.human) == 30
    texts = dict(zip(choice_project.items()["id"], choice_project.items()["text"],
                     strict=True))
    for r in f.human.itertuples():
        assert r.key == CHOICES[r.author][texts[r.item_id]]


def test_pairwise_kappa_equals_sklearn(choice_project: labelnb.Project) -> None:
    s = dd.summarize(dd.load(choice_project))
    texts = sorted(CHOICES["ana"])
    assert list(s.kappa.index) == ["ana", "bob", "cy"]
    for a, b in itertools.permutations(CHOICES, 2):
        want = cohen_kappa_score([CHOICES[a][t] for t in texts], [CHOICES[b][t] for t in texts])
        assert s.kappa.loc[a, b] == pytest.approx(want, abs=1e-12)
    assert (s.kappa.to_numpy().diagonal() == 1.0).all()
    assert s.shared.loc["ana", "cy"] == 10
    mean = s.annotators.set_index("annotator")["mean_kappa"]
    assert mean["ana"] == pytest.approx((s.kappa.loc["ana", "bob"] + s.kappa.loc["ana", "cy"]) / 2)


def test_pairwise_kappa_only_on_shared_items() -> None:
    rows = [{"item_id": i, "author": a, "labels": [lab]} for i, a, lab in [
        (1, "a", "x"), (1, "b", "x"), (2, "a", "y"), (2, "b", "x"), (3, "a", "y"),
        (3, "c", "y"), (4, "b", "y"), (4, "c", "x"), (5, "a", "x"), (5, "b", "y")]]
    human = dd.annotation_frame(rows, "choice")
    k = dd.pairwise_kappa(human)
    assert k.loc["a", "b"] == pytest.approx(cohen_kappa_score(["x", "y", "x"], ["x", "x", "y"]))
    assert pd.isna(k.loc["a", "c"])  # one shared item, one category: undefined
    assert k.loc["b", "c"] == pytest.approx(cohen_kappa_score(["y"], ["x"]))


def test_throughput_per_hour_counts() -> None:
    times = ["2026-11-02 09:05", "2026-11-02 09:59:59", "2026-11-02 11:00", "2026-11-02 11:30",
             "2026-11-02 11:45", "2026-11-02 08:59"]
    rows = [{"item_id": i, "author": "a", "labels": ["x"], "submitted_at": t}
            for i, t in enumerate(times)]
    rows.append({"item_id": 9, "author": "consensus", "source": "consensus", "labels": ["x"],
                 "submitted_at": "2026-11-02 10:10"})
    tp = dd.throughput_per_hour(dd.annotation_frame(rows, "choice"))
    assert [h.strftime("%H") for h in tp["hour"]] == ["08", "09", "10", "11"]
    assert tp["annotations"].tolist() == [1, 2, 0, 3]  # consensus rows are not human work
    assert tp["hour"].iloc[0].tzinfo is not None
    assert dd.throughput_per_hour(dd.annotation_frame(rows, "choice"), max_hours=2
                                  )["annotations"].tolist() == [0, 3]


def test_throughput_on_the_project(choice_project: labelnb.Project) -> None:
    tp = dd.throughput_per_hour(dd.load(choice_project).annotations)
    assert tp["annotations"].sum() == 30
    now = datetime.now(UTC)
    assert tp["hour"].iloc[-1] <= pd.Timestamp(now) < tp["hour"].iloc[-1] + pd.Timedelta("1h") \
        or len(tp) >= 1  # the run may straddle an hour boundary


def test_disagreement_ranking(choice_project: labelnb.Project) -> None:
    s = dd.summarize(dd.load(choice_project))
    ids = dict(zip(choice_project.items()["text"], choice_project.items()["id"], strict=True))
    d = s.disagreements
    # t4 and t8: three different labels; then the 2-vs-1 items; unanimous ones last
    assert d["item_id"].head(2).tolist() == sorted([ids["t4"], ids["t8"]])
    assert d["agreement"].head(2).tolist() == pytest.approx([1 / 3, 1 / 3])
    assert d["distinct"].head(2).tolist() == [3, 3]
    unanimous = {ids[t] for t in ("t0", "t3", "t5", "t7")}
    assert set(d["item_id"].tail(4)) == unanimous and (d["agreement"].tail(4) == 1.0).all()
    assert d["agreement"].is_monotonic_increasing
    assert d.loc[0, "keys"] == {"ana": "dog", "bob": "cat", "cy": "bird"}
    assert len(dd.disagreements(s.human, n=3)) == 3


def test_per_class_agreement_and_confusion(choice_project: labelnb.Project) -> None:
    s = dd.summarize(dd.load(choice_project))
    pc = s.per_class.set_index("label")
    # items where someone said bird: t3 (all agree), t4, t6, t8 (not)
    assert pc.loc["bird", "items"] == 4 and pc.loc["bird", "agreement"] == pytest.approx(0.25)
    # cat: t0, t5 unanimous; t1, t2, t4, t8, t9 not
    assert pc.loc["cat", "items"] == 7 and pc.loc["cat", "agreement"] == pytest.approx(2 / 7)
    cm = dd.confusion(s.human, "ana", "cy")
    texts = sorted(CHOICES["ana"])
    want = pd.crosstab(pd.Series([CHOICES["ana"][t] for t in texts]),
                       pd.Series([CHOICES["cy"][t] for t in texts]))
    for a in want.index:
        for b in want.columns:
            assert cm.loc[a, b] == want.loc[a, b]
    assert int(cm.to_numpy().sum()) == 10
    assert dd.confusion(s.human, "ana", "nobody").empty


def test_reference_and_accuracy_without_side_effects(choice_project: labelnb.Project) -> None:
    p = choice_project
    tasks_before, anns_before = len(p.tasks()), len(p.annotations())
    profile_before = p.annotators.profile("cy")
    s = dd.summarize(dd.load(p))
    assert (len(p.tasks()), len(p.annotations())) == (tasks_before, anns_before)
    assert p.annotators.profile("cy") == profile_before
    ref = s.reference.set_index("item_id")["key"]
    ids = dict(zip(p.items()["text"], p.items()["id"], strict=True))
    assert ids["t4"] not in ref.index and ids["t8"] not in ref.index  # no majority
    assert ref[ids["t1"]] == "dog" and set(s.reference["origin"]) == {"majority"}
    a = s.annotators.set_index("annotator")
    # 8 items have a majority; ana agrees with all 8, cy with 3 (t0, t3, t5, t7 minus none...)
    scored = {w: [CHOICES[w][t] == ref[ids[t]] for t in sorted(CHOICES["ana"])
                  if ids[t] in ref.index] for w in CHOICES}
    for w in CHOICES:
        assert a.loc[w, "scored"] == 8
        assert a.loc[w, "accuracy"] == pytest.approx(sum(scored[w]) / 8)
    assert a.loc["ana", "accuracy"] == 1.0 and not a.loc["ana", "flagged"]
    assert bool(a.loc["cy", "flagged"])
    assert a.loc["ana", "annotations"] == 10 and a.loc["ana", "mean_s"] >= 0
    at = s.accuracy_time
    assert set(at["annotator"]) == set(CHOICES)
    last = at.groupby("annotator").tail(1).set_index("annotator")["accuracy"]
    assert last["cy"] == pytest.approx(a.loc["cy", "accuracy"])


def test_stored_consensus_is_the_reference(choice_project: labelnb.Project) -> None:
    p = choice_project
    p.consensus()  # the lead's own call: stores consensus labels, queues reviews
    s = dd.summarize(dd.load(p))
    stored = s.reference[s.reference["origin"] == "stored"]
    assert len(stored) == 8
    # consensus rows are neither an annotator nor throughput
    assert "consensus" not in set(s.annotators["annotator"])
    assert s.throughput["annotations"].sum() == 30


def test_build_refresh_and_no_tasks_queued(choice_project: labelnb.Project) -> None:
    pytest.importorskip("panel")
    from labelnb.dashboard import dashboard

    p = choice_project
    n_tasks = len(p.tasks())
    d = dashboard(p, refresh_s=None)
    assert d.layout is not None
    assert "ana" in d.annotator_frame["annotator"].tolist()
    assert d.pick_a.value == "ana" and d.pick_b.value == "bob"
    assert d.pick_item.options == {}  # filled when the Disagreements tab is first shown
    assert d.summary._disagreements is None  # and the list is made then
    assert d.refresh() is False  # nothing changed: nothing re-read
    p.add_items(["t10"])
    q = p.queue("dee")
    q.claim()
    q.submit(labelnb.Choice("cat"))
    assert d.refresh() is True
    assert "dee" in d.annotator_frame["annotator"].tolist()
    assert "dee" not in d.pick_a.options  # the Agreement tab is updated when shown
    assert len(p.tasks()) == n_tasks + 3
    # only the tab shown is drawn; the others when first shown
    assert d.accuracy.object is not None and d.confusion.object is None
    assert len(d.item_view) == 0
    d.tabs.active = 1
    assert "dee" in d.pick_a.options
    assert d.kappa.object is not None and d.per_class.object is not None
    first = d.confusion.object
    d.pick_a.value = "cy"
    assert d.confusion.object is not None and d.confusion.object is not first
    d.tabs.active = 2
    assert len(d.pick_item.options) == 6  # the items the annotators disagree on
    assert d.pick_item.value == next(iter(d.pick_item.options.values()))
    assert len(d.item_view) == 1
    d.stop()


def test_agreement_tab_with_one_annotator_or_one_name_twice(tmp_path: Path) -> None:
    """The confusion heat map's columns were named after the two annotators: one
    annotator so far (a common start), both pickers on one name, or an annotator called
    'items' (the value's name) crashed the Agreement tab."""
    pytest.importorskip("panel")
    from labelnb.dashboard import dashboard

    p = labelnb.Project.create(tmp_path / "one.db", "one", Schema("choice", ["a", "b"]))
    p.add_items(["x", "y"])
    q = p.queue("ana")
    for _ in q:
        q.submit(labelnb.Choice("a"))
    d = dashboard(p, refresh_s=None)
    d.tabs.active = 1
    assert d.confusion.object is not None and d.pick_a.value == d.pick_b.value == "ana"
    d.stop()
    two = labelnb.Project.create(tmp_path / "two.db", "two", Schema("choice", ["a", "b"]),
                                 overlap=2)
    two.add_items(["x", "y"])
    for who in ("items", "bo"):
        q = two.queue(who)
        for _ in q:
            q.submit(labelnb.Choice("a"))
    d = dashboard(two, refresh_s=None)
    d.tabs.active = 1
    d.pick_b.value = d.pick_a.value
    assert d.confusion.object is not None and d.kappa.object is not None
    d.stop()


def test_missing_panel_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from labelnb.dashboard.app import require

    monkeypatch.setitem(sys.modules, "panel", None)
    with pytest.raises(MissingExtra, match=r"labelnb\[dashboard\]") as e:
        require()
    assert e.value.package == "panel" and e.value.extra == "dashboard"


def test_span_view_escapes_html(span_project: labelnb.Project) -> None:
    pytest.importorskip("panel")
    from labelnb.dashboard.app import item_view
    from labelnb.dashboard.render import highlight_spans

    html = highlight_spans("<b>Ann</b> & <i>", [Span(3, 6, "PER")], {"PER": "#ff0000"})
    assert "<b>" not in html and "&lt;b&gt;" in html and "&amp;" in html
    assert '<mark class="lnb-span" style="background:#ff0000" title="PER">Ann</mark>' in html
    evil = highlight_spans("x", [Span(0, 1, "<script>")], {"<script>": "red;}<script>"})
    assert "<script>" not in evil
    s = dd.summarize(dd.load(span_project))
    view = item_view(span_project, int(s.disagreements.loc[0, "item_id"]), s.human,
                     {"ana": "#4e79a7", "bob": "#f28e2b"})
    markup = "".join(getattr(o, "object", "") or "" for o in view.select()
                     if isinstance(getattr(o, "object", None), str))
    assert "&lt;b&gt;" in markup and "<b>Ann" not in markup
    assert markup.count('class="lnb-span"') == 3  # ana: PER + ORG, bob: ORG


def test_box_view_draws_each_annotator(box_project: labelnb.Project) -> None:
    pytest.importorskip("panel")
    from bokeh.models import GlyphRenderer, ImageRGBA, Legend, Quad

    from labelnb.dashboard.app import item_view

    s = dd.summarize(dd.load(box_project))
    d = s.disagreements
    assert d.loc[0, "keys"] == {"ana": "cat", "bob": "cat|dog"}
    colors = {"ana": "#4e79a7", "bob": "#f28e2b"}
    view = item_view(box_project, int(d.loc[0, "item_id"]), s.human, colors)
    (fig,) = [o.object for o in view.select() if type(o).__name__ == "Bokeh"]
    quads = {r.glyph.line_color: r.data_source.data for r in fig.select(GlyphRenderer)
             if isinstance(r.glyph, Quad)}
    assert set(quads) == {"#4e79a7", "#f28e2b"}  # one colour per annotator
    bob = quads["#f28e2b"]
    # y flipped into the plot's upward axis: image height 60
    assert sorted(zip(bob["left"], bob["bottom"], bob["right"], bob["top"],
                      strict=True)) == [(12.0, 30.0, 32.0, 50.0), (40.0, 10.0, 70.0, 40.0)]
    assert list(bob["label"]) == ["cat", "dog"]
    assert len([r for r in fig.select(GlyphRenderer) if isinstance(r.glyph, ImageRGBA)]) == 1
    legend = [item.label.value for lg in fig.select(Legend) for item in lg.items]
    assert legend == ["ana", "bob"]


def test_mask_and_polygon_view(tmp_path: Path, label: Any) -> None:
    """Masks: a translucent layer in the annotator's colour plus a dashed bounding box;
    polygons: drawn with their vertices (y flipped)."""
    pytest.importorskip("panel")
    import numpy as np
    from bokeh.models import GlyphRenderer, ImageRGBA, MultiPolygons, Quad
    from PIL import Image

    from labelnb.dashboard.app import item_view
    from labelnb.types import Mask, Polygon

    img = tmp_path / "m.png"
    Image.fromarray(np.full((40, 50, 3), 90, np.uint8)).save(img)
    m = np.zeros((40, 50), bool)
    m[5:15, 10:30] = True
    for kind, regions in (("masks", {"ana": [Mask.from_array(m, "cat")],
                                     "bob": [Mask.from_array(np.roll(m, 12, axis=0), "cat")]}),
                          ("polygons", {"ana": [Polygon((1, 1, 20, 1, 10, 30), "cat")],
                                        "bob": [Polygon((25, 5, 45, 5, 35, 35), "cat")]})):
        p = labelnb.Project.create(tmp_path / f"{kind}.db", kind, Schema(kind, ["cat"]),
                                   overlap=2)
        p.add_items([img])
        label(p, lambda who, item, r=regions: r[who], ["ana", "bob"])
        s = dd.summarize(dd.load(p))
        assert sorted(s.human["key"]) == ["cat", f"cat (other {kind})"]  # no overlap
        view = item_view(p, int(s.disagreements.loc[0, "item_id"]), s.human,
                         {"ana": "#4e79a7", "bob": "#f28e2b"})
        (fig,) = [o.object for o in view.select() if type(o).__name__ == "Bokeh"]
        glyphs = [r.glyph for r in fig.select(GlyphRenderer)]
        if kind == "masks":
            layers = [g for g in glyphs if isinstance(g, ImageRGBA)]
            assert len(layers) == 3  # the image and one layer per annotator
            boxes = sorted(g.line_dash for g in glyphs if isinstance(g, Quad))
            assert len(boxes) == 2 and all(d for d in boxes)  # dashed
        else:
            rings = [(list(map(float, xs[0][0][:3])), list(map(float, ys[0][0][:3])),
                      r.glyph.line_color)
                     for r in fig.select(GlyphRenderer) if isinstance(r.glyph, MultiPolygons)
                     for xs, ys in zip(r.data_source.data["xs"], r.data_source.data["ys"],
                                       strict=True)]
            # ana's triangle, y flipped (image height 40), in ana's colour
            assert ([1.0, 20.0, 10.0], [39.0, 39.0, 10.0], "#4e79a7") in rings
            assert len(rings) == 2
        html = "".join(getattr(o, "object", "") or "" for o in view.select()
                       if isinstance(getattr(o, "object", None), str))
        assert f"(other {kind})" in html


@pytest.mark.parametrize("name", ["labelnb.dashboard.data", "labelnb.dashboard.render"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


def test_project_dashboard_passes_its_options_through(choice_project: labelnb.Project) -> None:
    layout = choice_project.dashboard(refresh_s=None, top_n=5)
    assert layout is not None
    with pytest.raises(TypeError):
        choice_project.dashboard(no_such_option=1)


def test_background_refresh_serves_the_old_numbers_then_the_new(
        choice_project: labelnb.Project) -> None:
    """Stale-while-revalidate: a page built after a change starts from the cached
    numbers (``stale_ok``), the change is read in a background thread, and the next
    refresh after it draws the new numbers."""
    pytest.importorskip("panel")
    import time

    from labelnb.dashboard import data as dd
    from labelnb.dashboard.app import Dashboard

    p = choice_project
    d = Dashboard(p, refresh_s=None)
    before = d.summary
    p.add_items(["t10"])
    q = p.queue("dee")
    q.claim()
    q.submit(labelnb.Choice("cat"))
    stale = Dashboard(p, refresh_s=None, stale_ok=True)
    assert stale.summary is before  # at once, from the cache
    assert "dee" not in stale.annotator_frame["annotator"].tolist()
    assert not dd.refreshing(p)  # the re-read waits for the first refresh (page drawn)
    assert stale.refresh(background=True) is False  # starts it, returns at once
    deadline = time.monotonic() + 30
    while dd.refreshing(p) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not dd.refreshing(p)
    assert stale.refresh(background=True) is True  # the background read finished
    assert "dee" in stale.annotator_frame["annotator"].tolist()
    assert stale.summary.frames.items == before.frames.items + 1
    # a further change: the background refresh returns at once and says so
    assert dd.wait_idle(30)  # the check that refresh started has finished
    p.add_items(["t11"])
    q.claim()
    q.submit(labelnb.Choice("dog"))
    assert stale.refresh(background=True) is False  # at once: checked in the background
    while dd.refreshing(p) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stale.refresh(background=True) is True
    assert stale.summary.frames.items == before.frames.items + 2
    # nothing cached (evicted): a background refresh never reads in the caller's thread
    with dd._CACHE_LOCK:
        dd._CACHE.clear()
    assert dd.poll(p) is None  # nothing cached: read in the background, None at once
    assert stale.refresh(background=True) is False
    while dd.refreshing(p) and time.monotonic() < deadline:
        time.sleep(0.05)
    got = dd.poll(p)
    assert got is not None and got[1].frames.items == before.frames.items + 2
    # a fresh dashboard (not stale_ok) never starts from old numbers
    assert Dashboard(p, refresh_s=None).summary.frames.items == before.frames.items + 2
    # while newer numbers are read (not while the project is merely checked), the
    # header says so
    import threading

    key = dd._cache_key(p, stale.top_n)
    with dd._CACHE_LOCK:
        dd._CHECKING[key] = threading.Event()
    stale._note_pending()
    assert "reading new annotations" not in stale.header.object
    with dd._CACHE_LOCK:
        dd._INFLIGHT[key] = dd._CHECKING.pop(key)
    stale._note_pending()
    assert "reading new annotations" in stale.header.object
    with dd._CACHE_LOCK:
        dd._INFLIGHT.pop(key).set()
    stale._note_pending()
    assert "reading new annotations" not in stale.header.object
    stale.stop()
    d.stop()


def test_one_read_per_project_at_a_time(choice_project: labelnb.Project,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A page opened while the project's numbers are being read (the server's start-up
    read, another session's) waits for that read instead of making its own, and gets
    the same numbers; a page that may start from cached numbers does not even check the
    project for a change (its page asks once drawn)."""
    import threading
    import time

    p = choice_project
    with dd._CACHE_LOCK:
        dd._CACHE.clear()
    reads: list[float] = []
    release = threading.Event()
    real_load = dd.load

    def slow_load(project: labelnb.Project, **kw: Any) -> dd.Frames:
        reads.append(time.monotonic())
        release.wait(30)
        return real_load(project, **kw)

    monkeypatch.setattr(dd, "load", slow_load)
    got: dict[str, Any] = {}
    first = threading.Thread(target=lambda: got.setdefault("a", dd.cached_summary(p)))
    first.start()
    deadline = time.monotonic() + 30
    while not reads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dd.refreshing(p)  # the first read is under way
    second = threading.Thread(target=lambda: got.setdefault("b", dd.cached_summary(p)))
    second.start()
    time.sleep(0.2)
    assert second.is_alive() and len(reads) == 1  # waiting, not reading
    release.set()
    first.join(30)
    second.join(30)
    assert len(reads) == 1
    assert got["a"][1] is got["b"][1]
    assert not dd.refreshing(p) and dd.wait_idle(1)

    # with numbers cached, stale_ok needs no database round trip
    def no_fingerprint(project: labelnb.Project) -> tuple[Any, ...]:
        raise AssertionError("fingerprint read on the page's critical path")

    monkeypatch.setattr(dd, "fingerprint", no_fingerprint)
    assert dd.cached_summary(p, stale_ok=True)[1] is got["a"][1]
    with pytest.raises(AssertionError, match="critical path"):
        dd.cached_summary(p)  # a plain call does check


def test_serve_opens_the_browser_once_the_numbers_are_in(
        choice_project: labelnb.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("panel")
    import time
    import urllib.request
    import webbrowser

    from labelnb.dashboard import serve

    p = choice_project
    with dd._CACHE_LOCK:
        dd._CACHE.clear()
    opened: list[tuple[str, bool]] = []

    def fake_open(url: str, *a: Any, **k: Any) -> bool:
        with dd._CACHE_LOCK:
            cached = dd._cache_key(p, 20) in dd._CACHE
        opened.append((url, cached))
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    server = serve(p.store.url, "pets", show=True, threaded=True, address="127.0.0.1",
                   refresh_s=None)
    try:
        deadline = time.monotonic() + 60
        while not opened and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(opened) == 1
        url, cached = opened[0]
        assert cached  # the numbers were read before the browser was sent there
        assert url.startswith("http://127.0.0.1:") and url.endswith("/dashboard")
        with urllib.request.urlopen(url, timeout=30) as r:  # the server answers there
            assert r.status == 200
    finally:
        server.stop()
        dd.wait_idle(10)


def test_load_makes_the_fingerprint_of_what_it_read(choice_project: labelnb.Project) -> None:
    """The fingerprint a read makes from its own rows equals the fingerprint query, so a
    first read needs no separate one; after a submit both move on together."""
    p = choice_project
    assert dd.load(p).fingerprint == dd.fingerprint(p)
    p.add_items(["t10"])
    q = p.queue("ana")
    q.claim()
    q.submit(labelnb.Choice("cat"))
    frames = dd.load(p)
    assert frames.fingerprint == dd.fingerprint(p)
    assert frames.fingerprint is not None and frames.fingerprint[0] == len(frames.annotations)
    empty = labelnb.Project.create(p.store.url, "empty", Schema("choice", ["a", "b"]))
    assert dd.load(empty).fingerprint == dd.fingerprint(empty)


def test_poll_never_reads_in_the_callers_thread(choice_project: labelnb.Project,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The periodic refresh's poll answers from the cache at once; the change check and
    the read run in a background thread (one per project at a time)."""
    import threading

    p = choice_project
    first = dd.cached_summary(p)
    threads: list[str] = []
    real_fp, real_load = dd.fingerprint, dd.load

    def fp(project: labelnb.Project) -> tuple[Any, ...]:
        threads.append(threading.current_thread().name)
        return real_fp(project)

    def load(project: labelnb.Project) -> dd.Frames:
        threads.append(threading.current_thread().name)
        return real_load(project)

    monkeypatch.setattr(dd, "fingerprint", fp)
    monkeypatch.setattr(dd, "load", load)
    assert dd.poll(p) is first  # unchanged: the cached numbers, checked in the background
    assert dd.wait_idle(30)
    assert threads == ["labelnb-dashboard-check"]  # one check, no read
    assert dd.poll(p) is first and dd.wait_idle(30)
    p.add_items(["t10"])
    q = p.queue("ana")
    q.claim()
    q.submit(labelnb.Choice("dog"))
    threads.clear()
    assert dd.poll(p) is first  # still the old numbers at once
    assert dd.wait_idle(30)
    assert threads == ["labelnb-dashboard-check"] * 2  # the check found the change, read it
    new = dd.poll(p)
    assert new is not None and new is not first
    assert new[1].frames.items == first[1].frames.items + 1
    assert dd.wait_idle(30)
    assert threading.current_thread().name not in threads


def test_forced_reads_are_kept_for_every_session(choice_project: labelnb.Project) -> None:
    p = choice_project
    old = dd.cached_summary(p)
    new = dd.recompute(p)  # refresh(force=True): read now, changed or not
    assert new[1] is not old[1] and new[1].frames.loaded_at > old[1].frames.loaded_at
    assert dd.poll(p) is new  # the next periodic refresh of any session draws it
    assert dd.wait_idle(30)


def test_where_the_browser_is_sent() -> None:
    from labelnb.dashboard import _browse_host, _free_port

    assert [_browse_host(a) for a in (None, "", "0.0.0.0", "::", "127.0.0.1", "::1")] == [
        "localhost", "localhost", "localhost", "localhost", "127.0.0.1", "::1"]
    assert 0 < _free_port("127.0.0.1") < 65536
    assert 0 < _free_port(None) < 65536


def test_served_layout_builds_in_its_sessions_document(choice_project: labelnb.Project,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A served session's dashboard is built in a worker thread, which has no current
    document of its own: Panel would fall back to Bokeh's global one, which the server's
    thread swaps while it serves other sessions (a page then failed to load with
    "'NoneType' object has no attribute 'session_context'"). The worker builds with the
    session's document set."""
    pytest.importorskip("panel")
    import threading

    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from labelnb.dashboard import app

    seen: list[Any] = []
    real = app.Dashboard.__init__

    def spy(self: Any, *a: Any, **k: Any) -> None:
        seen.append((threading.current_thread().name, pn.state.curdoc))
        real(self, *a, **k)

    monkeypatch.setattr(app.Dashboard, "__init__", spy)
    doc = Document()
    with set_curdoc(doc):
        app.served_layout(choice_project, refresh_s=None)
    for t in threading.enumerate():
        if t.name == "labelnb-dashboard-build":
            t.join(60)
    assert seen == [("labelnb-dashboard-build", doc)]


def test_served_layout_fills_without_blocking_the_event_loop(
        choice_project: labelnb.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's onload does not wait for the worker: a page loaded before its numbers
    are ready returns at once (the server's event loop serves other sessions), and the
    finished worker hands the fill to the session's loop (a next-tick callback)."""
    pytest.importorskip("panel")
    import threading
    import time

    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from labelnb.dashboard import app

    release = threading.Event()
    real = app.Dashboard.__init__

    def slow(self: Any, *a: Any, **k: Any) -> None:
        assert release.wait(30)
        real(self, *a, **k)

    monkeypatch.setattr(app.Dashboard, "__init__", slow)
    onloads: list[Any] = []
    monkeypatch.setattr(pn.state, "onload", lambda cb, *a, **k: onloads.append(cb))
    doc = Document()
    with set_curdoc(doc):
        root = app.served_layout(choice_project, refresh_s=None)
        assert len(onloads) == 1
        t = time.perf_counter()
        onloads[0]()  # the page has loaded; the numbers are not ready
        assert time.perf_counter() - t < 1.0
        assert "Loading the dashboard" in root[0].object
    release.set()
    for th in threading.enumerate():
        if th.name == "labelnb-dashboard-build":
            th.join(60)
    ticks = list(doc.session_callbacks)
    assert len(ticks) == 1  # the fill, handed to the session's loop
    with set_curdoc(doc):
        ticks[0].callback()
    assert isinstance(root[0], pn.Column) and "labelnb-dashboard" in root[0].css_classes


def test_served_charts_belong_to_their_session(choice_project: labelnb.Project) -> None:
    """The charts a served session's worker renders are attached to that session's
    document, so they are released with it: HoloViews' default renderer ignores the
    document it is given and attaches every plot to Bokeh's process-wide one, which
    then kept each page's plots (three clean-up callbacks a page) for the server's life."""
    pytest.importorskip("panel")
    import threading
    import weakref

    from bokeh.document import Document
    from bokeh.io import curdoc as bokeh_curdoc
    from panel.io.document import MockSessionContext
    from panel.io.state import set_curdoc

    from labelnb.dashboard import app

    shared = bokeh_curdoc()
    before = len(shared.session_destroyed_callbacks)
    for _ in range(2):
        doc = Document()
        ctx = MockSessionContext(document=doc)
        doc._session_context = weakref.ref(ctx)  # as a served session's document
        with set_curdoc(doc):
            app.served_layout(choice_project, refresh_s=None)
        for t in threading.enumerate():
            if t.name == "labelnb-dashboard-build":
                t.join(60)
        assert len(doc.session_destroyed_callbacks) == 2  # the Overview tab's charts
    assert len(shared.session_destroyed_callbacks) == before


def test_served_layout_without_a_session_fills_itself(choice_project: labelnb.Project) -> None:
    """Outside a server (no current document, so Panel runs the onload callback at
    once, before the worker is done), the worker puts the dashboard in itself."""
    pytest.importorskip("panel")
    import threading

    import panel as pn

    from labelnb.dashboard import app

    assert pn.state.curdoc is None
    root = app.served_layout(choice_project, refresh_s=None)
    for t in threading.enumerate():
        if t.name == "labelnb-dashboard-build":
            t.join(60)
    assert isinstance(root[0], pn.Column) and "labelnb-dashboard" in root[0].css_classes


@pytest.mark.parametrize("kind, items", [("choice", ["a text"]), ("boxes", None),
                                         ("spans", ["Anna met Bob"])])
def test_a_new_project_without_annotations_has_a_dashboard(tmp_path: Path, kind: str,
                                                            items: list[str] | None) -> None:
    """A project just created (no annotations, even no items) shows its dashboard: empty
    tables, no kappa, nothing to browse; every tab draws."""
    pytest.importorskip("panel")
    from labelnb.dashboard import dashboard

    p = labelnb.Project.create(tmp_path / "new.db", "new", Schema(kind, ["x", "y"]))
    try:
        if items:
            p.add_items(items)
        s = dd.summarize(dd.load(p))
        assert s.annotators.empty and s.kappa.empty and s.disagreements.empty
        assert s.frames.items == len(items or [])
        d = dashboard(p, refresh_s=None)
        for tab in d.TABS:
            d.draw(tab)
        assert d.annotators.object is not None
    finally:
        p.close()


def test_a_taskless_import_does_not_replace_a_queued_label(tmp_path: Path) -> None:
    """As project.consensus() counts them: an annotator's label made through the queue
    is theirs, a later import of theirs without a task does not replace it."""
    p = labelnb.Project.create(tmp_path / "a.db", "pets", Schema("choice", ["cat", "dog"]),
                               overlap=3)
    p.add_items(["p1", "p2"])
    for who, lab in (("ana", "cat"), ("bo", "dog"), ("cy", "cat")):
        q = p.queue(who)
        for _ in q:
            q.submit(Choice(lab))
    p.add_annotations([Annotation(item_id=2, regions=(Choice("dog"),), author="ana")],
                      fill_tasks=True)  # she holds a slot: it fills none
    s = dd.summarize(dd.load(p))
    assert s.keys.loc[2, "ana"] == "cat"
    assert p.consensus(queue_tasks=False).set_index("item_id").loc[2, "labels"] == ["cat"]


def test_cached_numbers_belong_to_their_database_and_schema(tmp_path: Path) -> None:
    a = labelnb.Project.create(":memory:", "p", Schema("choice", ["cat", "dog"]))
    b = labelnb.Project.create(":memory:", "p", Schema("boxes", ["car"]))
    assert dd.cached_summary(a)[1].frames.kind == "choice"
    assert dd.cached_summary(b)[1].frames.kind == "boxes"
    db = tmp_path / "x.db"
    c = labelnb.Project.create(db, "p", Schema("choice", ["cat", "dog"]))
    assert dd.cached_summary(c)[1].frames.labels == ["cat", "dog"]
    c.close()
    db.unlink()
    d = labelnb.Project.create(db, "p", Schema("multi_choice", ["red", "blue"]))
    assert dd.cached_summary(d)[1].frames.labels == ["red", "blue"]


def _dashboard_vs_calibrate(p: labelnb.Project) -> tuple[dict[str, Any], dict[str, Any]]:
    """(dashboard, calibrate) per annotator: (scored items, accuracy)."""
    a = dd.summarize(dd.load(p)).annotators.set_index("annotator")
    cal = p.calibrate(retrain=False).set_index("annotator")
    dash = {w: (int(a.loc[w, "scored"]), round(float(a.loc[w, "accuracy"]), 4))
            for w in a.index if a.loc[w, "scored"]}
    return dash, {w: (int(cal.loc[w, "n"]), float(cal.loc[w, "accuracy"])) for w in cal.index}


def test_accuracy_grades_as_calibrate_does(tmp_path: Path) -> None:
    """The annotator table's accuracy is calibrate()'s, through gold answers, a rejected
    consensus, a reviewer's correction, adjudications and a label sent back for rework
    (the dashboard graded against the majority of every item, whatever a review said)."""
    p = labelnb.Project.create(tmp_path / "l.db", "pets",
                               Schema("choice", ["cat", "dog", "bird"]), overlap=3)
    p.add_items(sorted(CHOICES["ana"]))
    p.gold.add(["g0", "g1"], [Choice("bird"), Choice("cat")])
    p.configure(gold_rate=1.0)
    on_gold = {"ana": {"g0": "bird", "g1": "dog"}, "bob": {"g0": "dog", "g1": "dog"},
               "cy": {"g0": "dog", "g1": "cat"}}
    for who in CHOICES:
        q = p.queue(who)
        while (t := q.claim()) is not None:
            text = str(t.item.text)
            q.submit(Choice(on_gold[who].get(text) or CHOICES[who][text]))
    p.annotators.add("rev", role="reviewer")
    p.annotators.add("lead", role="lead")
    p.consensus()  # stores the consensus labels, queues reviews and adjudications
    dash, cal = _dashboard_vs_calibrate(p)
    assert dash == cal
    # gold answers grade: bob's two gold votes are wrong, the majority said otherwise
    assert cal["bob"][0] == 10 and cal["bob"][1] < 1.0
    rq = p.review_queue("rev")
    t = rq.claim()
    assert t is not None
    rq.reject("not a dog")  # the consensus goes to an expert: no reference meanwhile
    t = rq.claim()
    assert t is not None
    rq.correct(Choice("bird"))  # the reviewer's label is the reference
    dash, cal = _dashboard_vs_calibrate(p)
    assert dash == cal and cal["ana"][0] == 9
    aq = p.adjudication_queue("lead")
    adjudicated = []
    while (t := aq.claim()) is not None:
        adjudicated.append(aq.submit(Choice("cat")))
    dash, cal = _dashboard_vs_calibrate(p)
    assert dash == cal and cal["ana"][0] == 12
    # a reviewer corrects one adjudication: the correction is the reference
    p.request_review(str(adjudicated[0]))
    while (t := rq.claim()) is not None:
        if t.target_annotation_id == str(adjudicated[0]):
            fixed = rq.correct(Choice("dog"))
        else:
            rq.approve()
    final = p.consensus(queue_tasks=False).set_index("consensus_id")
    assert final.loc[fixed, "status"] == "corrected" and final.loc[fixed, "labels"] == ["dog"]
    dash2, cal2 = _dashboard_vs_calibrate(p)
    assert dash2 == cal2 and cal2 != cal
    before = {w: n for w, (n, _) in cal.items()}
    # cy's label of t9 is sent back to her: it is not graded while she reworks it
    ids = dict(zip(p.items()["text"], p.items()["id"], strict=True))
    anns = p.annotations()
    mine = anns[(anns["author"] == "cy") & (anns["item_id"] == ids["t9"])]
    p.request_review(str(mine["id"].iloc[-1]))
    sent_back = 0
    while (t := rq.claim()) is not None:  # the other consensus reviews are approved
        if t.target_annotation_id == str(mine["id"].iloc[-1]):
            rq.reject("look again")
            sent_back += 1
        else:
            rq.approve()
    assert sent_back == 1
    dash, cal = _dashboard_vs_calibrate(p)
    # t9 waits for cy's rework: nobody is graded on it meanwhile
    assert dash == cal and {w: n for w, (n, _) in cal.items()} == {
        w: n - 1 for w, n in before.items()}


def test_no_majority_reference_before_the_overlap_is_complete(tmp_path: Path) -> None:
    """Two of three annotators agreeing is no reference while the third's task is still
    to do: consensus() calls such an item pending and calibrate() grades nobody on it,
    so the dashboard's accuracy must not either (it graded the first two early)."""
    p = labelnb.Project.create(tmp_path / "o.db", "pets",
                               Schema("choice", ["cat", "dog", "bird"]), overlap=3)
    texts = sorted(CHOICES["ana"])
    p.add_items(texts)
    for who in ("ana", "bob"):
        q = p.queue(who)
        while (t := q.claim()) is not None:
            q.submit(Choice(CHOICES[who][str(t.item.text)]))
    frames = dd.load(p)
    assert frames.labeling == frozenset(p.items()["id"].astype(int))
    assert dd.reference_labels(frames).empty
    dash, cal = _dashboard_vs_calibrate(p)
    assert dash == cal == {}
    q = p.queue("cy")
    done = 0
    while done < 4 and (t := q.claim()) is not None:  # cy labels four items, so far
        q.submit(Choice(CHOICES["cy"][str(t.item.text)]))
        done += 1
    frames = dd.load(p)
    assert len(frames.labeling) == len(texts) - 4 and frames.items_done == 4
    ref = dd.reference_labels(frames)
    assert 0 < len(ref) <= 4 and not set(ref["item_id"]) & frames.labeling
    dash, cal = _dashboard_vs_calibrate(p)
    assert dash == cal and dash
    assert max(n for n, _ in dash.values()) <= 4


def test_an_import_without_a_task_has_no_vote(tmp_path: Path) -> None:
    """project.consensus() and calibrate() count the annotators' labels made through
    annotate tasks only: a third opinion imported without a task (``fill_tasks=False``)
    makes no majority, grades nobody and flags nobody on the dashboard either (it made
    the import's "cat" the majority, graded bo 0.0 and flagged him)."""
    p = labelnb.Project.create(tmp_path / "i.db", "pets", Schema("choice", ["cat", "dog"]),
                               overlap=2)
    ids = p.add_items([f"t{i}" for i in range(6)])
    for who, lab in (("ana", "cat"), ("bo", "dog")):
        q = p.queue(who)
        for _ in q:
            q.submit(Choice(lab))
    p.add_annotations([Annotation(item_id=i, regions=(Choice("cat"),), author="cy")
                       for i in ids], fill_tasks=False)
    final = p.consensus(queue_tasks=False)
    assert set(final["tier"]) == {"none"} and set(final["n_annotations"]) == {2}
    s = dd.summarize(dd.load(p))
    assert s.reference.empty and len(s.human) == 12 and "cy" not in s.keys.columns
    a = s.annotators.set_index("annotator")
    assert (a.loc["cy", "annotations"], a.loc["cy", "items"], a.loc["cy", "scored"]) == (
        6, 0, 0)
    assert not a["flagged"].any()
    dash, cal = _dashboard_vs_calibrate(p)
    assert dash == cal == {}
    # an expert adjudicates every item "cat": both grade ana 1.0 and bo 0.0, and flag bo
    p.annotators.add("lead", role="lead")
    p.consensus()  # queues the adjudications
    aq = p.adjudication_queue("lead")
    while aq.claim() is not None:
        aq.submit(Choice("cat"))
    dash, cal = _dashboard_vs_calibrate(p)
    assert dash == cal == {"ana": (6, 1.0), "bo": (6, 0.0)}
    flagged = p.calibrate(retrain=False).set_index("annotator")["flagged"]
    a = dd.summarize(dd.load(p)).annotators.set_index("annotator")
    assert a.loc[flagged.index, "flagged"].tolist() == flagged.tolist() == [False, True]


def test_only_the_newest_adjudication_settles_an_item() -> None:
    """As consensus() takes an item's adjudication: its newest one, and none while a
    reviewer's rejection of that one waits for the expert's rework (an older one the
    rework replaces does not count). Rows without a stage are annotators' own labels;
    a row whose stage is None was imported without a task and is no vote."""
    rows = [
        {"id": "a1", "item_id": 1, "author": "ana", "labels": ["cat"],
         "submitted_at": "2026-01-01T00:00:00", "stage": "annotate"},
        {"id": "a2", "item_id": 1, "author": "bo", "labels": ["dog"],
         "submitted_at": "2026-01-01T00:01:00", "stage": "annotate"},
        {"id": "a3", "item_id": 1, "author": "cy", "labels": ["dog"],
         "submitted_at": "2026-01-01T00:01:30", "stage": None},  # imported
        {"id": "x1", "item_id": 1, "author": "lead", "labels": ["cat"],
         "submitted_at": "2026-01-01T00:02:00", "stage": "adjudicate"},
        {"id": "x2", "item_id": 1, "author": "lead", "labels": ["dog"],
         "submitted_at": "2026-01-01T00:03:00", "stage": "adjudicate"},
    ]
    anns = dd.annotation_frame(rows, "choice")
    frames = dd.Frames("choice", ["cat", "dog"], anns, pd.DataFrame())
    assert frames.human["id"].tolist() == ["a1", "a2"]
    assert dd.reference_labels(frames).to_dict("records") == [
        {"item_id": 1, "key": "dog", "origin": "stored"}]
    # the newest adjudication rejected: no reference (the older "cat" does not count,
    # and one imported "dog" makes no majority of ana's "cat" and bo's "dog")
    rejected = dd.Frames("choice", ["cat", "dog"], anns, pd.DataFrame(),
                         rejected=frozenset({"x2"}))
    assert dd.reference_labels(rejected).empty
    # without a stage column every human row is an annotator's own label
    plain = dd.annotation_frame([{k: v for k, v in r.items() if k != "stage"}
                                 for r in rows[:3]], "choice")
    assert dd.reference_labels(plain, "choice").to_dict("records") == [
        {"item_id": 1, "key": "dog", "origin": "majority"}]


def test_changed_agreement_settings_are_not_served_from_the_cache(tmp_path: Path) -> None:
    """configure(agreement=...) changes no row, so no fingerprint: the cached numbers
    are those of the project's agreement setting (it kept showing two boxes at IoU
    0.667 as agreeing after the IoU was raised to 0.9)."""
    from PIL import Image

    from labelnb import Box

    img = tmp_path / "i.png"
    Image.new("RGB", (100, 100)).save(img)
    p = labelnb.Project.create(tmp_path / "s.db", "p", Schema("boxes", ["car"]), overlap=2)
    p.add_items([img])
    for who, x in (("ana", 0), ("bo", 2)):  # IoU 80 / 120 = 0.667
        q = p.queue(who)
        q.claim()
        q.submit([Box(x, 0, x + 10, 10, "car")])
    assert dd.cached_summary(p)[1].human["key"].tolist() == ["car", "car"]
    before = dd._cache_key(p, 20)
    p.configure(agreement={"iou": 0.9})
    assert dd._cache_key(p, 20) != before
    fresh = dd.summarize(dd.load(p)).human["key"].tolist()
    assert fresh == ["car", "car (other boxes)"]
    assert dd.cached_summary(p)[1].human["key"].tolist() == fresh
    assert dd.cached_summary(p, stale_ok=True)[1].human["key"].tolist() == fresh
    # the setting's keys in any order are one setting
    p.configure(agreement={"iou": 0.9, "dice": 0.5})
    key = dd._cache_key(p, 20)
    p.configure(agreement={"dice": 0.5, "iou": 0.9})
    assert dd._cache_key(p, 20) == key


def test_gold_questions_added_change_the_fingerprint(tmp_path: Path) -> None:
    """gold.add() makes items without tasks (and no annotation): the fingerprint counts
    items, so the header's item count and the gold answers are read again."""
    p = labelnb.Project.create(tmp_path / "g.db", "p", Schema("choice", ["cat", "dog"]),
                               overlap=2)
    p.add_items(["a", "b"])
    for who, lab in (("ana", "cat"), ("bo", "dog")):
        q = p.queue(who)
        for _ in q:
            q.submit(Choice(lab))
    fp, s = dd.cached_summary(p)
    assert s.frames.items == 2 and not s.frames.gold
    p.gold.add(["gold 1", "gold 2"], [Choice("cat"), Choice("dog")])
    assert dd.fingerprint(p) != fp
    fp2, s2 = dd.cached_summary(p)
    assert fp2 != fp and fp2 == dd.fingerprint(p) == dd.load(p).fingerprint
    assert s2.frames.items == len(p.items()) == 4 and len(s2.frames.gold) == 2


def test_rejected_annotations_are_those_whose_newest_review_rejects(db_url: str) -> None:
    """The newest review of an annotation (largest review id) decides, as the
    ``status`` of project.annotations() reads it: approve then reject is rejected,
    reject then approve is not; reviews of other annotations in between change
    nothing. On SQLite and PostgreSQL (the read uses the driver's cursor)."""
    from labelnb.queue import queries as q

    p = labelnb.Project.create(db_url, "p", Schema("choice", ["cat", "dog"]), overlap=1)
    p.add_items([f"t{i}" for i in range(5)])
    qa = p.queue("ana")
    for _ in qa:
        qa.submit(Choice("cat"))
    a, b, c, d, e = p.annotations()["id"].astype(str).tolist()
    decisions = [(a, "approve"), (b, "reject"), (c, "reject"), (a, "reject"),
                 (b, "approve"), (d, "approve"), (c, "correct"), (c, "reject"),
                 (e, "reject"), (e, "reject")]
    now = datetime.now(UTC)
    with p.store.write() as conn:
        for ann, decision in decisions:
            q.insert_review(conn, dict(project_id=p.id, task_id=None, annotation_id=ann,
                                       reviewer="rev", decision=decision,
                                       feedback="a long note " * 20, created_at=now))
    status = p.annotations().set_index("id")["status"]
    expected = frozenset(status.index[status == "reject"].astype(str))
    assert expected == {a, c, e}
    with p.store.read() as conn:
        assert dd.rejected_annotations(conn, p.id) == expected
    assert dd.load(p).rejected == expected
    empty = labelnb.Project.create(db_url, "empty", Schema("choice", ["cat"]))
    with empty.store.read() as conn:  # the other project's reviews are not its own
        assert dd.rejected_annotations(conn, empty.id) == frozenset()
    p.close()
    empty.close()
