"""SpanAnnotator render time in a real Chromium: a 5,000-token document with 500 spans.

The widget's own ES module (``esm_source("span.js")``, exactly what anywidget loads)
and CSS run in a page of Debian's Chromium (Playwright, headless), driven through a
minimal stand-in for anywidget's model (``get``/``set``/``on``/``off``/``send``;
no kernel, so the numbers are the browser's work only). The document is generated
with a fixed seed: ``--tokens`` tokens (5,000) of words, with about 2% emoji, CJK and
combining marks, and CRLF line breaks every 60 tokens, so that the code point and
UTF-16 offsets differ. ``--spans`` spans (500) over 1 to 3 tokens each, a fifth of
them nested in or crossing another span (so they stack), over 4 classes; then the
same with ``--suggestions`` (100) pre-annotations added.

Each row is the median (and p90) over ``--runs`` fresh renders, rows interleaved in
each round; every render goes into a new, empty host element:

* **baseline: one text node**: the same text set as a single text node in the same
  styled container (``.lnb-span .lnb-scroll .lnb-text``: pre-wrap, same font and
  size), no spans. The floor the browser needs to lay out and paint the text.
* **SpanAnnotator** rows: ``render({model, el})``, the widget's whole start (palette,
  toolbar, the OffsetMap, stacking levels, segments, styled elements).

Columns: ``build+layout`` is from just before the call until a forced layout
(``offsetHeight``) returns; ``to paint`` is until the next frame has been produced
(``requestAnimationFrame`` and then a task queued from it; this waits for the next
frame, up to 16.7 ms at 60 Hz, which is most of the baseline's time). ``vs baseline`` is the
widget's ``to paint`` over the baseline's. The **edit** row times one edit after the
start: a span added from Python (``model.set("_spans", ...)``) redraws the text,
which is what every span change costs. Target (from the issue): < 200 ms to paint.

Run from the repository root::

    .venv/bin/python benchmarks/span_render.py             # 5,000 tokens, 500 spans
    .venv/bin/python benchmarks/span_render.py --runs 40 --tokens 20000 --spans 2000

The Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelnb.types import Span  # noqa: E402
from labelnb.widgets._esm import css_source, esm_source  # noqa: E402
from labelnb.widgets.span import SpanAnnotator  # noqa: E402

LABELS = ["PER", "ORG", "LOC", "MISC"]
WORDS = ("the of and to in a is that for it as was with be by on not he this are or his "
         "from at which but have an they you were her she there been one all we their "
         "Zürich Ada Lovelace Paris Berlin Acme Corp University Department Minister").split()
RARE = ["😀", "👩\u200d💻", "東京", "大学", "e\u0301cole", "Zu\u0308rich", "🇨🇭", "naïve"]


def make_document(n_tokens: int, n_spans: int, n_sugg: int, seed: int = 0
                  ) -> tuple[str, list[Span], list[Span]]:
    rng = random.Random(seed)
    parts: list[str] = []
    starts: list[tuple[int, int]] = []  # token offsets in code points
    pos = 0
    for i in range(n_tokens):
        w = rng.choice(RARE) if rng.random() < 0.02 else rng.choice(WORDS)
        if i:
            sep = "\r\n" if i % 60 == 0 else " "
            parts.append(sep)
            pos += len(sep)
        parts.append(w)
        starts.append((pos, pos + len(w)))
        pos += len(w)
    text = "".join(parts)
    spans: set[tuple[int, int, str]] = set()
    n_flat = n_spans - n_spans // 5
    slots = sorted(rng.sample(range(0, n_tokens - 4, 4), n_flat))  # disjoint: 4 tokens apart
    for t in slots:
        k = rng.randint(1, 3)
        spans.add((starts[t][0], starts[t + k - 1][1], rng.choice(LABELS)))
    flat = sorted(spans)
    while len(spans) < n_spans:  # nested in or crossing a flat span: they stack
        s, e, _ = rng.choice(flat)
        t0 = next(i for i, (a, _b) in enumerate(starts) if a == s)
        kind = rng.random()
        if kind < 0.5:
            cand = (s, e, rng.choice(LABELS))  # the same offsets, another class
        else:
            cand = (starts[t0][0], starts[min(t0 + 4, n_tokens - 1)][1], rng.choice(LABELS))
        spans.add(cand)
    sugg: set[tuple[int, int, str]] = set()
    while len(sugg) < n_sugg:
        t = rng.randrange(n_tokens - 2)
        sugg.add((starts[t][0], starts[t + rng.randint(0, 1)][1], rng.choice(LABELS)))
    return (text, [Span(s, e, lab) for s, e, lab in sorted(spans)],
            [Span(s, e, lab, score=0.5) for s, e, lab in sorted(sugg)])


PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>%(css)s</style></head>
<body><div id="hosts" style="width: 900px"></div>
<script type="module">
const SRC = %(src)s;
const mod = await import(URL.createObjectURL(new Blob([SRC], { type: "text/javascript" })));
/** a stand-in for anywidget's model: traits in a dict, change events, no kernel */
function fakeModel(state) {
  state = JSON.parse(JSON.stringify(state));
  const listeners = {};
  return {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; for (const f of (listeners["change:" + k] || []).slice()) f(); },
    on: (ev, f) => { (listeners[ev] ||= []).push(f); },
    off: (ev, f) => { listeners[ev] = (listeners[ev] || []).filter((g) => g !== f); },
    save_changes: () => {}, send: () => {},
  };
}
const nextPaint = () => new Promise((res) => requestAnimationFrame(() => setTimeout(res, 0)));
function host() {
  const hosts = document.getElementById("hosts");
  hosts.replaceChildren();
  const el = document.createElement("div");
  hosts.append(el);
  return el;
}
window.bench = {
  async baseline(text) {
    const el = host();
    await nextPaint();
    const t0 = performance.now();
    const root = document.createElement("div"); root.className = "lnb-span";
    const scroll = document.createElement("div"); scroll.className = "lnb-scroll";
    const t = document.createElement("div"); t.className = "lnb-text";
    t.append(document.createTextNode(text));
    scroll.append(t); root.append(scroll); el.append(root);
    void root.offsetHeight;
    const t1 = performance.now();
    await nextPaint();
    return [t1 - t0, performance.now() - t0];
  },
  async widget(state) {
    const el = host();
    const model = fakeModel(state);
    await nextPaint();
    const t0 = performance.now();
    const cleanup = mod.default.render({ model, el });
    void el.offsetHeight;
    const t1 = performance.now();
    await nextPaint();
    const t2 = performance.now();
    const segs = el.querySelectorAll(".lnb-seg").length;
    const ok = el.querySelector(".lnb-text").textContent === state._item.text;
    // one edit: a span added from Python redraws the text
    const spans = [...state._spans, state._extra];
    await nextPaint();
    const t3 = performance.now();
    model.set("_spans", spans);
    void el.offsetHeight;
    await nextPaint();
    const t4 = performance.now();
    const after = Number(el.querySelector(".lnb-span").dataset.spans);
    cleanup();
    return { build: t1 - t0, paint: t2 - t0, edit: t4 - t3, segs, ok, after };
  },
};
window.ready = true;
</script></body></html>"""


def widget_state(w: SpanAnnotator, extra: Span) -> dict[str, Any]:
    keys = ["_labels", "_item", "_spans", "_suggestions", "_tokens", "mode", "snap",
            "current_label", "_keymap", "_status", "_message", "_bound", "_done",
            "_heartbeat_s"]
    state = {k: getattr(w, k) for k in keys}
    state["_extra"] = extra.to_json()
    return state


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=5000)
    ap.add_argument("--spans", type=int, default=500)
    ap.add_argument("--suggestions", type=int, default=100)
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("chromium is not installed (scripts/ensure_chromium.sh)")
    text, spans, sugg = make_document(args.tokens, args.spans, args.suggestions)
    extra = Span(0, 1, LABELS[0]) if Span(0, 1, LABELS[0]) not in spans else Span(0, 2, "MISC")
    w = SpanAnnotator(text=text, labels=LABELS, annotations=spans, tokens="words")
    plain = widget_state(w, extra)
    w.suggestions = sugg
    with_sugg = widget_state(w, extra)
    n_cp, n_units = len(text), len(text.encode("utf-16-le")) // 2
    print(f"document: {args.tokens} tokens, {n_cp} code points ({n_units} UTF-16 units), "
          f"{len(spans)} spans, {len(sugg)} suggestions; {args.runs} runs", file=sys.stderr)

    html = PAGE % {"css": css_source("span.css"), "src": json.dumps(esm_source("span.js"))}
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        page_path = Path(tmp) / "bench.html"
        page_path.write_text(html, encoding="utf-8")
        browser = pw.chromium.launch(executable_path=exe, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        version = browser.version
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri())
        page.wait_for_function("window.ready === true")
        cases: list[tuple[str, str, Any]] = [
            ("baseline: one text node, no spans", "baseline", text),
            (f"SpanAnnotator, {len(spans)} spans", "widget", plain),
            (f"SpanAnnotator, {len(spans)} spans + {len(sugg)} suggestions", "widget",
             with_sugg),
        ]
        segs: dict[str, int] = {}
        for i in range(args.warmup + args.runs):
            for name, fn, arg in cases:
                res = page.evaluate(f"(a) => window.bench.{fn}(a)", arg)
                if i < args.warmup:
                    continue
                row = rows.setdefault(name, {"build": [], "paint": [], "edit": []})
                if fn == "baseline":
                    row["build"].append(res[0])
                    row["paint"].append(res[1])
                else:
                    if not res["ok"]:
                        sys.exit(f"{name}: the rendered text differs from the document")
                    if res["after"] != len(arg["_spans"]) + 1:
                        sys.exit(f"{name}: the edit did not add a span ({res['after']})")
                    row["build"].append(res["build"])
                    row["paint"].append(res["paint"])
                    row["edit"].append(res["edit"])
                    segs[name] = res["segs"]
            print(f"round {i + 1}/{args.warmup + args.runs}", file=sys.stderr)
        browser.close()
    if errors:
        sys.exit("page errors: " + "; ".join(errors))

    base = statistics.median(rows[cases[0][0]]["paint"])
    print(f"\nChromium {version}, {platform.machine()}, Python {platform.python_version()}; "
          f"median (p90) of {args.runs} renders, milliseconds\n")
    print("| render | elements | build+layout | to paint | vs baseline | edit (+1 span) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _fn, _arg in cases:
        r = rows[name]
        med = statistics.median(r["paint"])
        edit = (f"{statistics.median(r['edit']):.1f} ({pct(r['edit'], 0.9):.1f})"
                if r["edit"] else "–")
        print(f"| {name} | {segs.get(name, 1)} | {statistics.median(r['build']):.1f} "
              f"({pct(r['build'], 0.9):.1f}) | {med:.1f} ({pct(r['paint'], 0.9):.1f}) | "
              f"{med / base:.2f}x | {edit} |")
    worst = max(statistics.median(rows[n]["paint"]) for n, _f, _a in cases[1:])
    print(f"\ntarget: < 200 ms to paint; worst widget median {worst:.1f} ms: "
          f"{'met' if worst < 200 else 'NOT met'}")
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    print(f"(machine: {cpu} CPUs)")


if __name__ == "__main__":
    main()
